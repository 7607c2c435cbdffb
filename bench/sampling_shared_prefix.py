"""Sampled decoding with the prompt cache shared by a prompt's n rows vs one copy per row, same run.

Times `sample(n=k)` (the RL rollout and validation path) on a model and prompt set with the current
`FastDecoder` and with a variant whose `repeat(n)` copies the prompt cache for every row (the
behaviour before the shared cache), alternating, and prints each median and the ratio.

    python bench/sampling_shared_prefix.py --model runs/toy_demo/midtrain/short/final
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from octothinker.model import fast_decode
from octothinker.model.sampling import sample


class CopiedPromptDecoder(fast_decode.FastDecoder):
    """The baseline: `repeat(n)` gives every row its own copy of the prompt cache."""

    share_prompts = False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a model directory (e.g. a demo run's midtrain/short/final)")
    ap.add_argument("--benchmark", default="toy_math", help="toy benchmark whose RL-template prompts are sampled")
    ap.add_argument("--problems", type=int, default=200)
    ap.add_argument("--k", type=int, default=8, help="samples per prompt")
    ap.add_argument("--max-new", type=int, default=64)
    ap.add_argument("--rows", type=int, default=512, help="rows per batch (prompts per batch = rows // k)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from octothinker.config import ToyWorldConfig
    from octothinker.data.tokenizer import load_tokenizer
    from octothinker.rl.validation import validation_prompts
    from octothinker.toyworld.world import benchmark
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    tok = load_tokenizer(args.model)
    prompts = validation_prompts(benchmark(args.benchmark, ToyWorldConfig(version=2))[: args.problems], "plain")
    kw = dict(n=args.k, max_new_tokens=args.max_new, temperature=1.0, stop=["\nQuestion:"], seed=1,
              batch_size=max(1, args.rows // args.k))
    shared_cls = fast_decode.FastDecoder
    times = {"copied": [], "shared": []}
    outs = {}
    for _ in range(args.rounds):
        for name, cls in (("copied", CopiedPromptDecoder), ("shared", shared_cls)):
            fast_decode.FastDecoder = cls
            try:
                t = time.perf_counter()
                outs[name] = sample(model, tok, prompts, **kw)
                times[name].append(time.perf_counter() - t)
            finally:
                fast_decode.FastDecoder = shared_cls
    same = sum(a.token_ids == b.token_ids for ga, gb in zip(outs["copied"], outs["shared"]) for a, b in zip(ga, gb))
    total = sum(len(g) for g in outs["shared"])
    c, s = statistics.median(times["copied"]), statistics.median(times["shared"])
    print(f"{args.benchmark}: {len(prompts)} prompts x {args.k} samples, <= {args.max_new} tokens, {args.rows} rows/batch, "
          f"{args.threads} thread(s)")
    print(f"copied prompt cache {c:.2f} s, shared {s:.2f} s (medians of {args.rounds}); ratio shared/copied {s / c:.3f}; "
          f"identical samples {same}/{total}")


if __name__ == "__main__":
    main()
