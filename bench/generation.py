"""Generation throughput: the shared KV-cache sampler (`octothinker.model.sampling.sample`) vs `model.generate`.

Same tiny random Llama, same prompts, same batch size, measured in the same run; prints new
tokens/s of each and the ratio (goal >= 1.0x). Usage: python bench/generation.py [--prompts 128]
"""
from __future__ import annotations

import argparse
import time

import torch

from octothinker.config import ModelConfig
from octothinker.data.tokenizer import train_toy_tokenizer
from octothinker.model.sampling import sample


def hf_generate_loop(model, tok, prompts, max_new_tokens, batch_size, temperature):
    """Baseline: plain `model.generate` over left-padded batches; returns generated (non-pad) tokens."""
    tok.padding_side = "left"
    total = 0
    for i in range(0, len(prompts), batch_size):
        enc = tok(prompts[i:i + batch_size], return_tensors="pt", padding=True)
        kwargs = {"do_sample": True, "temperature": temperature, "top_p": 1.0} if temperature > 0 else {"do_sample": False}
        out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id, **kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        for row in new.tolist():
            n = len(row)
            if tok.eos_token_id in row:
                n = row.index(tok.eos_token_id)
            total += n
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prompts", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    texts = [f"Question: what is {a} + {b}?\nAnswer: {a} + {b} = {a + b}. The answer is {a + b}." for a in range(30) for b in range(30)]
    tok = train_toy_tokenizer(texts, vocab_size=384)
    from octothinker.model.build import build_model, count_parameters

    cfg = ModelConfig(hidden_size=args.hidden, intermediate_size=3 * args.hidden, num_layers=args.layers, num_heads=4,
                      num_kv_heads=4)
    model = build_model(cfg, tok).eval()
    prompts = [texts[(7 * i) % len(texts)].split("Answer:")[0] + "Answer:" for i in range(args.prompts)]
    print(f"model {count_parameters(model) / 1e6:.2f}M params, {args.prompts} prompts x {args.max_new_tokens} new tokens, "
          f"batch {args.batch_size}, threads {torch.get_num_threads()}")
    for temperature in (0.0, 1.0):
        best = {"ours": 0.0, "hf": 0.0}
        for rep in range(args.repeats):
            for which in (("ours", "hf") if rep % 2 == 0 else ("hf", "ours")):  # alternate order against drift
                t = time.perf_counter()
                if which == "ours":
                    outs = sample(model, tok, prompts, max_new_tokens=args.max_new_tokens, temperature=temperature,
                                  batch_size=args.batch_size)
                    n = sum(s.n_tokens for p in outs for s in p)
                else:
                    with torch.inference_mode():
                        n = hf_generate_loop(model, tok, prompts, args.max_new_tokens, args.batch_size, temperature)
                best[which] = max(best[which], n / (time.perf_counter() - t))
        mode = "greedy" if temperature == 0 else f"sampling T={temperature}"
        print(f"{mode:>16}: ours {best['ours']:8.0f} tok/s | model.generate {best['hf']:8.0f} tok/s | "
              f"ratio {best['ours'] / best['hf']:.2f}x")


if __name__ == "__main__":
    main()
