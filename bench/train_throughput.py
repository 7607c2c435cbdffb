"""Training throughput of the mid-training engine vs a minimal hand-written loop, plus an MFU estimate.

Both loops train the same HF Llama (same init) on the same rows with AdamW, clipping and bf16
autocast; the figure is the median step time after warmup. Ratio = engine tokens/s / bare tokens/s
(goal >= 0.9). MFU = 6 * N * tokens/s over a matmul peak measured here (CPU) or given (--peak-tflops).

    python bench/train_throughput.py                       # ~1M and ~5M models on CPU
    python bench/train_throughput.py --llama1b --seq 4096  # Llama-3.2-1B shape, random init (GPU)
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from octothinker.config import ModelConfig
from octothinker.model.build import build_model, count_parameters
from octothinker.train.data import open_shards, rank_rows
from octothinker.train.distributed import Dist
from octothinker.train.loop import LoopSpec, train_loop
from octothinker.train.synthetic import arithmetic_docs, write_mixture

SIZES = {"1M": dict(hidden_size=128, intermediate_size=384, num_layers=4, num_heads=4, num_kv_heads=4),
         "5M": dict(hidden_size=256, intermediate_size=768, num_layers=6, num_heads=4, num_kv_heads=4)}


def peak_matmul_flops(device: torch.device, dtype=torch.bfloat16, n: int = 1024, reps: int = 10) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_loop(model, data, micro: int, steps: int, device) -> list[float]:
    """The minimal loop: forward with labels, backward, clip, AdamW step; per-step seconds."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    times = []
    for step in range(steps):
        t = time.perf_counter()
        ids = torch.from_numpy(data.take(rank_rows(step * micro, micro, 0, 0, 1))).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        float(loss.detach())
        times.append(time.perf_counter() - t)
    return times


def engine_loop(model, data, micro: int, steps: int, device, workdir: Path) -> list[float]:
    spec = LoopSpec(stage="bench", stage_dir=workdir, total_steps=steps, micro_batch=micro, grad_accum=1, seq_len=data.seq_len,
                    checkpoint_every_steps=10**9, schedule={"schedule": "constant", "lr": 1e-3}, eval_every_steps=0)
    train_loop(model, data, spec, Dist(device=device), None, stop_after=steps - 1)  # no final checkpoint in the timing
    rows = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [micro * data.seq_len / r["tokens_per_s"] for r in rows]


def measure(name: str, model_fn, data, micro: int, steps: int, warmup: int, device, peak: float, rounds: int) -> dict:
    results = {}
    for kind in ("bare", "engine") * rounds:  # interleaved: the CPU is shared, load drifts
        model = model_fn().to(device)
        with tempfile.TemporaryDirectory() as d:
            times = bare_loop(model, data, micro, steps, device) if kind == "bare" else engine_loop(model, data, micro, steps + 1, device, Path(d))
        results.setdefault(kind, []).extend(times[warmup:])
    n = count_parameters(model)
    tok = micro * data.seq_len
    bare, eng = tok / statistics.median(results["bare"]), tok / statistics.median(results["engine"])
    return {"model": name, "params": n, "bare_tokens_per_s": round(bare), "engine_tokens_per_s": round(eng),
            "ratio": round(eng / bare, 3), "mfu_engine": round(6 * n * eng / peak, 4), "peak_tflops": round(peak / 1e12, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--micro", type=int, default=16)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved bare/engine rounds")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--llama1b", action="store_true", help="Llama-3.2-1B shape, random init (needs a GPU)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak bf16 TFLOP/s for MFU (default: measured matmul)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    peak = args.peak_tflops * 1e12 if args.peak_tflops else peak_matmul_flops(device, n=4096 if device.type == "cuda" else 1024)
    from octothinker.data.tokenizer import train_toy_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tok = train_toy_tokenizer(arithmetic_docs(300, 0) + arithmetic_docs(300, 0, "qa"), vocab_size=384)
        tok.save_pretrained(str(tmp / "tok"))
        docs = arithmetic_docs(6000, 1) + arithmetic_docs(6000, 2, "qa")
        data = open_shards(write_mixture(tmp / "mix", tok, tmp / "tok", {"mix": docs}, args.seq, shard_rows=4096, heldout_docs=0))
        if args.llama1b:
            from octothinker.model.shapes import KNOWN_SHAPES

            from transformers import LlamaConfig, LlamaForCausalLM

            shape = {**KNOWN_SHAPES["meta-llama/Llama-3.2-1B"], "vocab_size": 128256}
            cfg = LlamaConfig(**shape)
            cfg._attn_implementation = "sdpa"
            model_fns = {"llama32-1b-shape": lambda: LlamaForCausalLM(cfg)}
        else:
            model_fns = {k: (lambda v=v: build_model(ModelConfig(**v, max_position_embeddings=max(1024, args.seq)), tok, seed=0)) for k, v in SIZES.items()}
        print(f"device {device}, threads {torch.get_num_threads()}, seq {args.seq}, micro {args.micro}, peak matmul {peak / 1e12:.3f} TFLOP/s")
        for name, fn in model_fns.items():
            print(json.dumps(measure(name, fn, data, args.micro, args.steps, args.warmup, device, peak, args.rounds)))


if __name__ == "__main__":
    main()
