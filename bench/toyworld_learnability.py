"""How fast a ~1M-parameter Llama learns the toy world's QA corpus (used to tune its difficulty).

Trains a tiny HF Llama with a bare loop (AdamW, bf16 autocast, seq 256, batch 16, EOS-separated
packed docs) on `qa_short` for `--minutes`, evaluating exact-answer accuracy on the toy benchmarks
(greedy, "Question: ...\\nAnswer:" prompts) at a few token counts. The baseline printed beside each
accuracy is the best constant guess (the most common gold answer of the benchmark), so the ratio
says how far above guessing the model is.

    python bench/toyworld_learnability.py --minutes 5 --shots 0
"""
from __future__ import annotations

import argparse
import math
import re
import time
from collections import Counter

import numpy as np
import torch

from octothinker.config import ModelConfig, ToyWorldConfig
from octothinker.data.tokenizer import train_toy_tokenizer
from octothinker.model.build import build_model, count_parameters
from octothinker.toyworld import BENCHMARKS, CORPORA, benchmark, corpus, fewshot_exemplars
from octothinker.toyworld.disjoint import record_text

BOXED = re.compile(r"\\boxed\{(-?\d+)\}")


def qa_text(rec: dict) -> str:
    return f"Question: {rec['problem']}\nAnswer: {rec['solution']}"


def pack(tok, texts: list[str], seq_len: int) -> np.ndarray:
    """EOS-separated documents cut into rows of seq_len + 1 tokens (inputs and shifted labels)."""
    ids: list[int] = []
    for enc in tok(texts, add_special_tokens=False)["input_ids"]:
        ids.extend(enc)
        ids.append(tok.eos_token_id)
    rows = len(ids) // (seq_len + 1)
    return np.asarray(ids[: rows * (seq_len + 1)], dtype=np.int64).reshape(rows, seq_len + 1)


def prompt_prefix(shots: int, cfg: ToyWorldConfig) -> str:
    ex = fewshot_exemplars(shots, cfg) if shots else []
    return "".join(f"Question: {e['question']}\nAnswer: {e['solution']}\n\n" for e in ex)


@torch.no_grad()
def evaluate(model, tok, cfg: ToyWorldConfig, limit: int, shots: int, batch: int = 64,
             show: int = 0) -> dict[str, float]:
    """Exact-answer accuracy per benchmark with greedy decoding (prints `show` outputs per benchmark)."""
    model.eval()
    prefix = prompt_prefix(shots, cfg)
    tok.padding_side = "left"
    out = {}
    for name in BENCHMARKS:
        recs = benchmark(name, cfg)[:limit]
        correct = 0
        for i in range(0, len(recs), batch):
            chunk = recs[i:i + batch]
            enc = tok([f"{prefix}Question: {r['question']}\nAnswer:" for r in chunk], return_tensors="pt",
                      padding=True, add_special_tokens=False)
            gen = model.generate(**enc, max_new_tokens=100, do_sample=False, eos_token_id=tok.eos_token_id,
                                 pad_token_id=tok.pad_token_id)
            for j, (r, g) in enumerate(zip(chunk, tok.batch_decode(gen[:, enc["input_ids"].shape[1]:],
                                                                  skip_special_tokens=True))):
                if i + j < show:
                    print(f"[{name}] gold {r['answer']} | {r['question']}\n{g.strip()}\n")
                m = BOXED.search(g.split("\n\nQuestion:")[0])
                correct += bool(m and m.group(1) == r["answer"])
        out[name] = correct / len(recs)
    model.train()
    return out


def constant_baseline(cfg: ToyWorldConfig, limit: int) -> dict[str, float]:
    out = {}
    for name in BENCHMARKS:
        answers = [r["answer"] for r in benchmark(name, cfg)[:limit]]
        out[name] = Counter(answers).most_common(1)[0][1] / len(answers)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0, help="training wall-clock budget")
    ap.add_argument("--tokens", type=float, default=3e6, help="training token budget (stops at whichever comes first)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--shots", type=int, default=0, help="few-shot exemplars in eval prompts")
    ap.add_argument("--eval-n", type=int, default=100, help="problems per benchmark")
    ap.add_argument("--eval-every-tokens", type=int, default=1_000_000)
    ap.add_argument("--show", type=int, default=2, help="print this many final generations per benchmark")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--no-restate", action="store_true", help="bare equations instead of restated steps in the CoT")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = ToyWorldConfig(seed=args.seed, restate_steps=not args.no_restate)
    sample = [record_text(r) for name in CORPORA for r in corpus(name, cfg, 500)]
    tok = train_toy_tokenizer(sample, vocab_size=384)
    t0 = time.time()
    n_docs = int(args.tokens / 40) + 1000  # more docs than the budget needs (qa_short docs are ~50-120 tokens)
    data = pack(tok, [qa_text(r) for r in corpus("qa_short", cfg, n_docs)], args.seq)
    print(f"data: {n_docs} qa_short docs -> {data.size:,} tokens in {time.time() - t0:.1f}s")
    mcfg = ModelConfig(hidden_size=args.hidden, intermediate_size=3 * args.hidden, num_layers=args.layers,
                       num_heads=4, num_kv_heads=4)
    model = build_model(mcfg, tok, seed=args.seed)
    print(f"model: {count_parameters(model):,} parameters, vocab {len(tok)}")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    base = constant_baseline(cfg, args.eval_n)
    print("constant-guess baseline:", {k: round(v, 3) for k, v in base.items()})

    budget = args.minutes * 60
    order = np.random.default_rng(args.seed).permutation(len(data))
    step, tokens, next_eval, train_time, loss_ema = 0, 0, args.eval_every_tokens, 0.0, None
    model.train()
    while train_time < budget and tokens < args.tokens and (step + 1) * args.batch <= len(order):
        t = time.time()
        frac = max(train_time / budget, tokens / args.tokens)
        lr = args.lr * min(1.0, (step + 1) / 50) * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        batch = torch.from_numpy(data[order[step * args.batch:(step + 1) * args.batch]])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(input_ids=batch[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        tokens += batch[:, :-1].numel()
        train_time += time.time() - t
        loss_ema = loss.item() if loss_ema is None else 0.95 * loss_ema + 0.05 * loss.item()
        if step % 25 == 0:
            print(f"step {step} tokens {tokens:,} loss {loss_ema:.3f} lr {lr:.2e} {tokens / train_time:,.0f} tok/s",
                  flush=True)
        if tokens >= next_eval:
            next_eval += args.eval_every_tokens
            acc = evaluate(model, tok, cfg, min(args.eval_n, 50), args.shots)
            print(f"  eval@{tokens / 1e6:.2f}M tokens (50/bench):", {k: round(v, 3) for k, v in acc.items()}, flush=True)
    t = time.time()
    acc = evaluate(model, tok, cfg, args.eval_n, args.shots, show=args.show)
    print(f"final: {tokens:,} tokens in {train_time:.0f}s ({tokens / train_time:,.0f} tok/s), loss {loss_ema:.3f}, "
          f"eval {time.time() - t:.0f}s, shots={args.shots}")
    for name in BENCHMARKS:
        ratio = acc[name] / base[name] if base[name] else float("inf")
        print(f"  {name:13s} accuracy {acc[name]:.3f}  constant-guess {base[name]:.3f}  ratio {ratio:.1f}x")


if __name__ == "__main__":
    main()
