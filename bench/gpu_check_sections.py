"""bench/gpu_check.py's sections: one function per section that measures a hot path against its baseline in the
same run, and the recorder that keeps each row as soon as it is measured."""
from __future__ import annotations


import importlib.util
import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path
from unittest import mock

import torch

from gpu_check_numerics import _autocast, check_fast_decode, check_left_padding, check_scorer_left_padding
from gpu_check_report import Row, _dtype_name, judge, missing_requirements, resolve_peak, train_flops_per_token

from gpu_check_setup import (Settings, _bench_module, _check_rows, _free, _params, _sync, ensure_model_dir, prompt_texts, rl_model, rl_records, rl_tokenizer, train_config)

# ---------------------------------------------------------------------------------------------- sections
class Recorder:
    """Appends each row (and run facts) to the section's file as soon as it is measured, so a killed section keeps its rows."""

    def __init__(self, path: Path, section: str):
        self.path, self.section = path, section

    def _write(self, obj: dict) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(obj) + "\n")

    def add(self, name: str, status: str, value=None, unit: str = "", ratio=None, limit=None, detail: str = "") -> None:
        self._write({"row": asdict(Row(self.section, name, status, value, unit, ratio, limit, detail))})

    def row(self, row: Row) -> None:
        self._write({"row": asdict(row)})

    def meta(self, **kw) -> None:
        self._write({"meta": kw})


def section_device(s: Settings, ctx: dict, rec: Recorder) -> None:
    """Device facts, a measured matmul rate and the peak that MFU divides by."""
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "python": sys.version.split()[0]}
    if s.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        name = torch.cuda.get_device_name(0)
        detail = f"{props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs, capability {props.major}.{props.minor}"
        n, dtype = 8192, torch.bfloat16
    else:
        name, detail, n, dtype = "cpu", f"{torch.get_num_threads()} threads", 256, torch.float32
    measured = _bench_module("train_throughput").peak_matmul_flops(torch.device(s.device), dtype=dtype, n=n)
    peak, source = resolve_peak(name, s.peak_tflops, measured)
    rec.meta(device=name, peak_tflops=peak / 1e12 if peak else None, peak_source=source, versions=versions)
    rec.add("device", "OK", None, "", None, None, f"{name}; {detail}; torch {versions['torch']}, transformers {versions['transformers']}")
    missing = missing_requirements(Path(__file__).resolve().parents[1] / "pyproject.toml")
    rec.add("project requirements installed", "FAIL" if missing else "PASS", None, "", None, None,
            ("missing: " + "; ".join(missing)) if missing else "every pyproject.toml dependency satisfied")
    rec.add(f"matmul {n}^3 {_dtype_name(dtype)}", "OK", measured / 1e12, "TFLOP/s", measured / peak if peak else None, None,
            "ratio = measured / peak used for MFU")
    rec.add("peak used for MFU", "OK", peak / 1e12 if peak else None, "TFLOP/s", None, None, source)


def section_correctness(s: Settings, ctx: dict, rec: Recorder) -> None:
    """The CUDA-only risks, in the run's precision: left-padded rows under SDPA (with gradients) and the lean decoder."""
    tok = rl_tokenizer(s)
    vocab, pad = len(tok), tok.pad_token_id
    model = rl_model(s, tok, torch.float32).eval()
    mixed = s.dtype if s.dtype != torch.float32 else None  # the RL update: fp32 weights under bf16 autocast
    rows = _check_rows(vocab, s.check_lengths)
    rec.row(check_left_padding(model, rows, pad, s.tol["leftpad_logits"], mixed))
    responses = _check_rows(vocab, [max(2, n // 3) for n in s.check_lengths], seed=2)
    rec.row(check_scorer_left_padding(model, rows, responses, pad, s.tol["leftpad_logps"], mixed))
    if mixed is not None:  # RL rollouts: fp32 weights under bf16 autocast
        rec.row(check_fast_decode(model, rows, s.check_steps, pad, s.tol["fast_decode"], mixed))
    model = model.to(s.dtype)  # inference weights: bf16 on a GPU
    rec.row(check_fast_decode(model, rows, s.check_steps, pad, s.tol["fast_decode"]))


def one_rank_dist(device: str, workdir: Path):
    """A 1-process group (nccl/gloo) and a `Dist` whose `enabled` is True, so `wrap_model` and `train_loop` take their FSDP2 path."""
    import torch.distributed as td

    from octothinker.train.distributed import Dist

    class FSDPDist(Dist):
        @property
        def enabled(self) -> bool:
            return True

    dev = torch.device("cuda", 0) if device == "cuda" else torch.device("cpu")
    if device == "cuda":
        torch.cuda.set_device(0)
    if not td.is_initialized():
        td.init_process_group("nccl" if device == "cuda" else "gloo", init_method=f"file://{workdir}/pg_store", rank=0, world_size=1)
    return FSDPDist(rank=0, world=1, local_rank=0, device=dev)


def bare_loop(model, data, micro: int, steps: int, device, precision: str) -> tuple[list[float], list[float]]:
    """The baseline: plain model, HF loss, backward, clip, AdamW step; per-step seconds and losses."""
    from octothinker.train.data import rank_rows

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    times, losses = [], []
    for step in range(steps):
        t = time.perf_counter()
        ids = torch.from_numpy(data.take(rank_rows(step * micro, micro, 0, 0, 1))).to(device)
        with _autocast(torch.device(device), torch.bfloat16 if precision == "bf16" else None):
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        times.append(time.perf_counter() - t)
    return times, losses


def engine_loop(model, data, steps: int, micro: int, dist, precision: str, stage_dir: Path) -> tuple[list[float], list[float]]:
    """The project's `train_loop` for `steps` steps (checkpoint writing patched out of the measurement)."""
    from octothinker.train import loop

    spec = loop.LoopSpec(stage="gpu_check", stage_dir=stage_dir, total_steps=steps, micro_batch=micro, grad_accum=1,
                         seq_len=data.seq_len, checkpoint_every_steps=10**9, schedule={"schedule": "constant", "lr": 1e-4},
                         eval_every_steps=0, precision=precision)
    with mock.patch.object(loop, "save", lambda *a, **k: None):
        loop.train_loop(model, data, spec, dist, None)
    recs = [json.loads(x) for x in (stage_dir / "metrics.jsonl").read_text().splitlines()]
    return [micro * data.seq_len / r["tokens_per_s"] for r in recs], [r["loss"] for r in recs]


def _train_data(s: Settings, workdir: Path):
    from octothinker.data.tokenizer import train_toy_tokenizer
    from octothinker.train.data import open_shards
    from octothinker.train.synthetic import arithmetic_docs, write_mixture

    tok = train_toy_tokenizer(arithmetic_docs(200, 0) + arithmetic_docs(200, 0, "qa"), vocab_size=384)
    tok.save_pretrained(str(workdir / "tok"))
    n_docs = max(200, 12 * s.train_seq // 20)
    docs = arithmetic_docs(n_docs // 2, 1) + arithmetic_docs(n_docs // 2, 2, "qa")
    return open_shards(write_mixture(workdir / "mix", tok, workdir / "tok", {"mix": docs}, s.train_seq, heldout_docs=0))


def section_midtrain(s: Settings, ctx: dict, rec: Recorder) -> None:
    """tokens/s and MFU: bare torch loop vs the project's FSDP2 train_loop with activation checkpointing off and on."""
    from transformers import LlamaForCausalLM

    from octothinker.model.build import count_parameters
    from octothinker.train.distributed import wrap_model

    work = s.workdir / "midtrain"
    work.mkdir(exist_ok=True)
    data = _train_data(s, work)
    cfg = train_config(s)
    precision = "bf16" if s.device == "cuda" else "fp32"
    dist = one_rank_dist(s.device, work)
    steps = s.train_warmup + s.train_steps
    results = {}
    for kind in ("bare", "ac_off", "ac_on"):
        torch.manual_seed(0)
        with torch.device(dist.device):
            model = LlamaForCausalLM(cfg).float()
        n_params = count_parameters(model)
        if s.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        if kind == "bare":
            times, losses = bare_loop(model, data, s.train_micro, steps, dist.device, precision)
            sharded = None
        else:
            model = wrap_model(model, dist, activation_checkpointing=kind == "ac_on")
            sharded = type(model).__name__.startswith("FSDP")
            times, losses = engine_loop(model, data, steps, s.train_micro, dist, precision, work / kind)
        mem = torch.cuda.max_memory_allocated() / 2**30 if s.device == "cuda" else None
        timed = sorted(times[s.train_warmup:])
        results[kind] = {"tok_s": s.train_micro * s.train_seq / timed[len(timed) // 2], "losses": losses, "mem": mem, "sharded": sharded}
        del model
        _free()
    peak = ctx.get("peak_tflops")
    name = torch.cuda.get_device_name(0) if s.device == "cuda" else "cpu"
    peak = peak * 1e12 if peak else resolve_peak(name, s.peak_tflops)[0]
    fpt = train_flops_per_token(n_params, cfg.num_hidden_layers, cfg.num_attention_heads * cfg.head_dim, s.train_seq)
    base = results["bare"]["tok_s"]
    shape = f"{_params(n_params)} params, seq {s.train_seq}, micro {s.train_micro}, median of {s.train_steps} steps after {s.train_warmup}"
    labels = {"bare": "bare torch loop (baseline)", "ac_off": "FSDP2 train_loop, AC off", "ac_on": "FSDP2 train_loop, AC on"}
    for kind, r in results.items():
        mem = f"; peak mem {r['mem']:.1f} GiB" if r["mem"] is not None else ""
        status = "FAIL" if r["sharded"] is False else "OK"
        shard = "" if r["sharded"] is None else ("; fully_shard applied" if r["sharded"] else "; NOT sharded by wrap_model")
        rec.add(f"{labels[kind]} tokens/s", status, r["tok_s"], "tok/s", r["tok_s"] / base, None, f"{precision}, {shape}{mem}{shard}")
    for kind, r in results.items():
        mfu = fpt * r["tok_s"] / peak if peak else None
        rec.add(f"MFU {labels[kind].split(' (')[0]}", "OK", mfu, "MFU", None, None,
                f"(6N + 12*L*d*seq) x tok/s / peak; recompute not counted; {fpt:.3g} FLOP/token")
    a, b = results["ac_on"]["losses"][0], results["ac_off"]["losses"][0]
    rec.row(judge("midtrain", "AC on vs off: step-1 loss", abs(a - b) / max(abs(b), 1e-12), s.tol["ac_loss"],
                  f"{a:.6f} vs {b:.6f} (same init and rows; checkpointing must not change the forward)"))
    import torch.distributed as td

    td.destroy_process_group()


def _count_new(new: torch.Tensor, eos: int) -> int:
    """Generated tokens per row up to and including the first EOS (what the sampler counts)."""
    is_eos = new == eos
    after = (is_eos.long().cumsum(1) - is_eos.long()) > 0
    return int((~after).sum())


def hf_generate_rollouts(model, tok, prompts, n: int, max_new: int) -> int:
    """Baseline: `model.generate` sampling n per prompt (full softmax, T=1) on one left-padded batch; new tokens."""
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True).to(next(model.parameters()).device)
    with torch.inference_mode():
        out = model.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=max_new,
                             num_return_sequences=n, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return _count_new(out[:, enc["input_ids"].shape[1]:], tok.eos_token_id)


def section_rollout(s: Settings, ctx: dict, rec: Recorder) -> None:
    """Rollout tokens/s: the project's sampler (lean decoder) vs `model.generate`, same model, prompts, n and lengths."""
    from octothinker.rl.rollout import sample
    from octothinker.rl.templates import stop_strings

    tok = rl_tokenizer(s)
    model = rl_model(s, tok, s.dtype).eval()
    prompts = prompt_texts(s.roll_prompts)
    stop = stop_strings("plain")
    dev = torch.device(s.device)

    def ours() -> int:
        g = torch.Generator(device=dev).manual_seed(0)
        ro = sample(model, tok, prompts, s.roll_group, s.roll_max_tokens, 1.0, 1.0, stop, g)
        return sum(len(r) for r in ro.response_ids)

    sample(model, tok, prompts[:2], 2, 4, 1.0, 1.0, stop, torch.Generator(device=dev).manual_seed(0))  # warm-up
    hf_generate_rollouts(model, tok, prompts[:2], 2, 4)
    best = {"ours": 0.0, "hf": 0.0}
    for which in ("ours", "hf", "ours"):
        _sync(dev)
        t = time.perf_counter()
        n = ours() if which == "ours" else hf_generate_rollouts(model, tok, prompts, s.roll_group, s.roll_max_tokens)
        _sync(dev)
        best[which] = max(best[which], n / (time.perf_counter() - t))
    what = (f"{s.roll_prompts} prompts x {s.roll_group}, {s.roll_max_tokens} new tokens, T=1, {_dtype_name(s.dtype)} weights, "
            f"{_params(sum(p.numel() for p in model.parameters()))} params")
    rec.meta(rollout_ours_tok_s=best["ours"])
    rec.add("model.generate tokens/s (baseline)", "OK", best["hf"], "tok/s", 1.0, None, what)
    rec.add("lean-decoder sampler tokens/s", "OK", best["ours"], "tok/s", best["ours"] / best["hf"], None,
            "rl.rollout.sample (model.sampling + fast_decode); best of 2 runs")


def section_rl_step(s: Settings, ctx: dict, rec: Recorder) -> None:
    """One full GRPO step (`RLTrainer.train_step`) on the random model with the real grader, after one warm-up step."""
    from octothinker.config import RLConfig
    from octothinker.grading import grade_many, shutdown_pool
    from octothinker.rl.trainer import RLTrainer

    tok = rl_tokenizer(s)
    model = rl_model(s, tok, torch.float32)
    recs = rl_records(s.rl_prompts)
    precision = "bf16" if s.device == "cuda" else "fp32"
    cfg = RLConfig(template="plain", steps=2, prompts_per_step=s.rl_prompts, group_size=s.rl_group,
                   mini_batch_size=s.rl_prompts * s.rl_group, lr=1e-6, temperature=1.0, max_response_tokens=s.rl_max_tokens,
                   validate_every=0, save_every=0, rollout_samples=0, answer_kind="math", precision=precision, backend="hf")
    try:
        verdicts = grade_many(["so \\boxed{2\\sqrt{2}}", "so \\boxed{3\\sqrt{2}}"], ["\\sqrt{8}", "\\sqrt{8}"], "math", 10.0)
        got = [bool(v.correct) for v in verdicts]
        rec.add("reward path: grader on known answers", "PASS" if got == [True, False] else "FAIL", None, "", None, None,
                f"2sqrt2 vs sqrt8 -> {got[0]} (want True), 3sqrt2 -> {got[1]} (want False); reasons {[v.reason for v in verdicts]}")
        tr = RLTrainer(cfg, model, tok, recs, s.workdir / "rl_run", seed=0)
        tr.train_step(0)
        _sync(s.device)
        row = tr.train_step(1)
    finally:
        shutdown_pool()
    what = (f"{s.rl_prompts} prompts x {s.rl_group}, max {s.rl_max_tokens} tokens, {precision}, "
            f"{_params(sum(p.numel() for p in model.parameters()))} params; second step")
    split = (f"gen {row['time_gen']:.2f}s, old-logp {row['time_old_logp']:.2f}s, reward wait {row['time_reward_wait']:.2f}s, "
             f"update {row['time_update']:.2f}s")
    rec.add("RL train_step time", "OK", row["time_step"], "s", None, None, f"{split}; {what}")
    rec.add("RL rollout tokens/s inside the step", "OK", row["gen_tokens_per_s"], "tok/s", None, None,
            f"mean response {row['response_len_mean']:.0f} tokens, reward mean {row['reward_mean']:.3f}, timeouts {row['reward_timeouts']}")
    finite = all(math.isfinite(float(row.get(k, 0.0))) for k in ("loss", "grad_norm", "entropy"))
    rec.add("RL update finite (loss, grad norm)", "PASS" if finite and row.get("updates", 0) >= 1 else "FAIL",
            row.get("grad_norm"), "grad norm", None, None, f"loss {row.get('loss')}, updates {row.get('updates')}")


def section_eval(s: Settings, ctx: dict, rec: Recorder) -> None:
    """Eval generation tokens/s: the HF eval backend (greedy, batched) vs `model.generate` on the same batches."""
    from octothinker.eval.backends import HFBackend, Sampling

    hf_generate_loop = _bench_module("generation").hf_generate_loop
    backend = HFBackend(ensure_model_dir(s), device=s.device, batch_size=s.eval_batch)
    prompts = prompt_texts(s.eval_prompts, "simple")
    dev = torch.device(s.device)
    backend.generate(prompts[:2], Sampling(max_new_tokens=4))  # warm-up, both paths
    with torch.inference_mode():
        hf_generate_loop(backend.model, backend.tokenizer, prompts[:2], 4, 2, 0.0)
    _sync(dev)
    t = time.perf_counter()
    outs = backend.generate(prompts, Sampling(max_new_tokens=s.eval_max_tokens))
    _sync(dev)
    ours = sum(c.n_tokens for group in outs for c in group) / (time.perf_counter() - t)
    t = time.perf_counter()
    with torch.inference_mode():
        n = hf_generate_loop(backend.model, backend.tokenizer, prompts, s.eval_max_tokens, s.eval_batch, 0.0)
    _sync(dev)
    hf = n / (time.perf_counter() - t)
    what = f"{s.eval_prompts} prompts, greedy, {s.eval_max_tokens} new tokens, batch {s.eval_batch}, {backend.model.dtype}"
    rec.add("model.generate greedy tokens/s (baseline)", "OK", hf, "tok/s", 1.0, None, what)
    rec.add("eval HFBackend.generate tokens/s", "OK", ours, "tok/s", ours / hf, None, "eval.backends.HFBackend -> eval.generation.generate")


def section_vllm(s: Settings, ctx: dict, rec: Recorder) -> None:
    """vLLM rollouts through the RL backend (`rl.rollout.VLLMBackend`), and one in-place weight push, when vLLM imports."""
    if s.device != "cuda":
        rec.add("vLLM rollout tokens/s", "SKIP", detail="needs CUDA (vLLM has no CPU path here)")
        return
    if importlib.util.find_spec("vllm") is None:
        rec.add("vLLM rollout tokens/s", "SKIP", detail="vllm is not importable (pip install vllm)")
        return
    from octothinker.rl.rollout import VLLMBackend
    from octothinker.rl.templates import stop_strings

    mdir = ensure_model_dir(s)
    tok = rl_tokenizer(s)
    prompts = prompt_texts(s.roll_prompts)
    stop = stop_strings("plain")
    t = time.perf_counter()
    backend = VLLMBackend(str(mdir))
    init_s = time.perf_counter() - t
    backend.sample(tok, prompts[:2], 2, 4, 1.0, 1.0, stop, 0)  # warm-up
    t = time.perf_counter()
    ro = backend.sample(tok, prompts, s.roll_group, s.roll_max_tokens, 1.0, 1.0, stop, 1)
    tok_s = sum(len(r) for r in ro.response_ids) / (time.perf_counter() - t)
    ours = ctx.get("rollout_ours_tok_s")
    rec.add("vLLM rollout tokens/s", "OK", tok_s, "tok/s", tok_s / ours if ours else None, None,
            f"ratio vs the lean-decoder sampler of the rollout section; same prompts, n, lengths; engine start {init_s:.0f}s")
    model = rl_model(s, tok, torch.float32)
    t = time.perf_counter()
    backend.sync_weights(model)
    _sync(s.device)
    rec.add("vLLM weight push (sync_weights)", "OK", time.perf_counter() - t, "s", None, None, "fp32 policy -> engine, in place")


RUNNERS = {"device": section_device, "correctness": section_correctness, "midtrain": section_midtrain,
           "rollout": section_rollout, "rl_step": section_rl_step, "eval": section_eval, "vllm": section_vllm}
