"""Grader throughput: octothinker.grading (isolated workers) vs math-verify called in-process.

Builds a mix of real-format answers from the benchmark files (MATH500 solutions, boxed and
perturbed answers, GSM8K chains, MathQA rationales, SVAMP phrases), then prints verdicts/s of
both, their ratio, p50/p99 latency of single ``grade`` calls and timeouts on a hostile set.

    python bench/grader.py [--n 10000] [--direct-n 2000] [--bench-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import time
from pathlib import Path

from tqdm import tqdm

from octothinker.grading import grade, grade_many
from octothinker.grading.grader import _prepare, clear_cache
from octothinker.grading.pool import get_pool

REPO = Path(__file__).resolve().parents[1]


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _wrong(gold: str) -> str:
    g = gold.strip()
    return str(int(g) + 1) if re.fullmatch(r"-?\d+", g) else g + "+1"


def build_mix(bench: Path, n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(response, gold, kind) triples in real formats, shuffled, at most ``n``."""
    items: list[tuple[str, str, str]] = []
    for r in _rows(bench / "math500" / "test.jsonl"):
        a = r["answer"]
        items += [(r["solution"], a, "math"), (f"So the answer is $\\boxed{{{_wrong(a)}}}$.", a, "math"),
                  (f"Final Answer: The final answer is ${a}$. I hope it is correct.", a, "math"),
                  (f"We get $\\boxed{{{a}}}$.", a, "math")]
    for r in _rows(bench / "gsm8k" / "test.jsonl"):
        a = r["answer"]
        items += [(f"{r['cot']}\n#### {a}", a, "gsm"), (f"{r['cot']}\n#### {_wrong(a)}", a, "gsm"),
                  (r["cot"], a, "gsm"), (f"The answer is {a}.", a, "gsm")]
    for r in _rows(bench / "mathqa" / "test.jsonl"):
        items += [(r["rationale"], r["correct"], "mc"), (f"The answer is ({r['correct'].upper()}).", r["correct"], "mc")]
    for r in _rows(bench / "svamp" / "test.jsonl"):
        items.append((f"The answer is {r['Answer']:g}.", f"{r['Answer']:g}", "gsm"))
    random.Random(seed).shuffle(items)
    return items[:n]


def run_isolated(items) -> float:
    """Seconds for grade_many over the mix (one call per kind)."""
    clear_cache()
    t0 = time.perf_counter()
    for kind in ("math", "gsm", "mc"):
        sub = [(r, g) for r, g, k in items if k == kind]
        grade_many([r for r, _ in sub], [g for _, g in sub], kind)
    return time.perf_counter() - t0


def run_direct(items) -> float:
    """Seconds for verify(parse(gold), parse(response)) in-process, main thread, on the mix."""
    from math_verify import parse, verify

    t0 = time.perf_counter()
    for r, g, _ in tqdm(items, desc="direct math-verify", leave=False, mininterval=2.0):
        try:
            verify(parse(g), parse(r))
        except Exception:
            pass
    return time.perf_counter() - t0


HOSTILE = [
    "\\boxed{10^{10^{10}}}", "\\boxed{9^9^9^9}", "\\boxed{" + "{" * 3000 + "1" + "}" * 3000 + "}",
    "x" * 1_000_000, "\\boxed{1}" * 5000, "\\boxed{__import__('os').system('true')}",
    "\\boxed{x^{x^{x^{x^{x^{x^{x}}}}}}}", "\\boxed{(10^{10})!}", "\\boxed{" + "\\frac{" * 200 + "1" + "}{2}" * 200 + "}",
    "\\boxed{" + "(" * 400 + "1" + ")" * 400 + "}", "The answer is " + "1+" * 300 + "1", "\\boxed{x^{x^{x^{x^{x^{x^{x^{x}}}}}}}!}",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--direct-n", type=int, default=2_000, help="direct math-verify is timed on this many items")
    ap.add_argument("--latency-n", type=int, default=500)
    ap.add_argument("--bench-dir", default=os.environ.get("OCTOTHINKER_BENCHMARK_DIR", str(REPO.parent / "shared" / "benchmarks")))
    args = ap.parse_args()
    items = build_mix(Path(args.bench_dir), args.n)
    pool = get_pool()
    grade("\\boxed{\\sqrt{2}}", "2^{1/2}")  # start the workers outside the timed region
    print(f"mix: {len(items)} answers, {len(set(items))} distinct; workers: {pool.size}")

    iso_s = run_isolated(items)
    iso_rate = len(items) / iso_s
    direct_items = items[: args.direct_n]
    direct_s = run_direct(direct_items)
    direct_rate = len(direct_items) / direct_s
    print(f"isolated grader : {iso_rate:9.1f} verdicts/s ({len(items)} in {iso_s:.1f}s)")
    print(f"direct in-proc  : {direct_rate:9.1f} verdicts/s ({len(direct_items)} in {direct_s:.1f}s)")
    print(f"ratio isolated/direct: {iso_rate / direct_rate:.2f} (goal >= 0.5)")

    sym = [x for x in items if _prepare(x[0], x[1], x[2])[1] is not None][: args.direct_n]
    sym_iso = len(sym) / run_isolated(sym)
    sym_direct = len(sym) / run_direct(sym)
    print(f"symbolic-only subset ({len(sym)} answers that reach math-verify): isolated {sym_iso:.1f}/s, "
          f"direct {sym_direct:.1f}/s, ratio {sym_iso / sym_direct:.2f}")

    clear_cache()
    lat = []
    for r, g, k in items[: args.latency_n]:
        t0 = time.perf_counter()
        grade(r, g, k)
        lat.append(time.perf_counter() - t0)
    lat.sort()
    print(f"single grade() latency: p50 {lat[len(lat) // 2] * 1e3:.1f} ms, p99 {lat[int(len(lat) * 0.99) - 1] * 1e3:.1f} ms")

    t0 = time.perf_counter()
    hv = grade_many(HOSTILE, ["3"] * len(HOSTILE), "math", timeout=2.0)
    hs = time.perf_counter() - t0
    print(f"hostile set: {len(HOSTILE)} inputs in {hs:.1f}s, timeouts {sum(v.reason == 'timeout' for v in hv)}, "
          f"correct {sum(v.correct for v in hv)}, worker kills {pool.kills}")
    for h, v in zip(HOSTILE, hv):
        print(f"  {h[:40]!r:44} -> {v.reason}")


if __name__ == "__main__":
    main()
