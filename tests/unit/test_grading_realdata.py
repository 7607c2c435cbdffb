"""Grading checks on the real benchmark files (skipped when they are absent) and on written fixtures.

Reference solutions graded against their own gold must be judged correct; perturbed golds
(gold +/- 1, a wrong fraction, "+1" on a symbolic answer, a swapped letter) must be judged wrong.
"""

import json
import os
import re
from pathlib import Path

import pytest

from octothinker.grading import grade_many

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(os.environ.get("OCTOTHINKER_BENCHMARK_DIR", REPO.parent / "shared" / "benchmarks"))
needs_real = pytest.mark.skipif(
    not (BENCH_DIR / "math500" / "test.jsonl").exists(),
    reason=f"real benchmark files not found at {BENCH_DIR} (set OCTOTHINKER_BENCHMARK_DIR)",
)

MATH_FIXTURE = [
    {"solution": "Since $r=\\sqrt{9}=3$, we get $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$", "answer": "\\left( 3, \\frac{\\pi}{2} \\right)"},
    {"solution": "Thus the sum is $\\boxed{p - q}.$", "answer": "p - q"},
    {"solution": "So $x = \\boxed{\\dfrac{14}{3}}$.", "answer": "\\frac{14}{3}"},
    {"solution": "The angle is $\\boxed{90^\\circ}$.", "answer": "90^\\circ"},
    {"solution": "We find $\\boxed{\\text{Evelyn}}$.", "answer": "\\text{Evelyn}"},
    {"solution": "Hence $\\boxed{3\\sqrt{13}}$.", "answer": "3\\sqrt{13}"},
    {"solution": "Total: $\\boxed{10}$.", "answer": "10"},
]
GSM_FIXTURE = [
    {"cot": "She sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\nShe makes 9 * 2 = $<<9*2=18>>18 every day.", "answer": "18"},
    {"cot": "The profit is 200,000-130,000=$<<200000-130000=70000>>70,000", "answer": "70000"},
    {"cot": "It takes 2/2=<<2/2=1>>1 bolt\nSo the total is 2+1=<<2+1=3>>3 bolts of fabric", "answer": "3"},
]
MC_FIXTURE = [
    {"rationale": "log x = log 12 answer : a", "correct": "a"},
    {"rationale": "so 15 + 3 = 18 . answer is d", "correct": "d"},
]


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _perturb(gold: str) -> list[str]:
    """Answers that must not match ``gold``: +/-1 on a number, a changed fraction, or '+1'."""
    g = gold.strip()
    if re.fullmatch(r"-?\d+", g.replace(",", "")):
        n = int(g.replace(",", ""))
        return [str(n + 1), str(n - 1)]
    m = re.fullmatch(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}", g)
    if m:
        return [f"{m.group(1)}\\frac{{{int(m.group(2)) + 1}}}{{{m.group(3)}}}"]
    return [f"{g}+1"]


def _check_math(rows: list[dict]) -> tuple[float, int, int]:
    """(correct rate of reference solutions, false positives, perturbations tried)."""
    ok = grade_many([r["solution"] for r in rows], [r["answer"] for r in rows], "math", timeout=60.0)  # generous: verdicts must not depend on machine speed
    rate = sum(v.correct for v in ok) / len(rows)
    responses, golds = [], []
    for r in rows:
        for wrong in _perturb(r["answer"]):
            responses.append(f"The answer is $\\boxed{{{wrong}}}$.")
            golds.append(r["answer"])
    bad = grade_many(responses, golds, "math", timeout=60.0)  # generous: verdicts must not depend on machine speed
    return rate, sum(v.correct for v in bad), len(bad)


def _check_gsm(rows: list[dict]) -> tuple[float, float, int]:
    """(rate on bare chains via the fallback, rate on '#### answer' chains, false positives of gold+1)."""
    golds = [r["answer"] for r in rows]
    bare = grade_many([r["cot"] for r in rows], golds, "gsm")
    hub = grade_many([f"{r['cot']}\n#### {r['answer']}" for r in rows], golds, "gsm")
    wrong = grade_many([f"{r['cot']}\n#### {int(float(r['answer'].replace(',', ''))) + 1}" for r in rows], golds, "gsm")
    rate = lambda vs: sum(v.correct for v in vs) / len(vs)  # noqa: E731
    return rate(bare), rate(hub), sum(v.correct for v in wrong)


def _check_mc(rows: list[dict]) -> tuple[float, int]:
    """(rate of rationales matching their letter, false positives with a swapped letter)."""
    golds = [r["correct"] for r in rows]
    ok = grade_many([r["rationale"] for r in rows], golds, "mc")
    swapped = ["abcde"[("abcde".index(g.lower()) + 1) % 5] for g in golds]
    bad = grade_many([r["rationale"] for r in rows], swapped, "mc")
    return sum(v.correct for v in ok) / len(rows), sum(v.correct for v in bad)


def test_fixture_math():
    rate, false_pos, tried = _check_math(MATH_FIXTURE)
    assert rate == 1.0 and false_pos == 0 and tried >= len(MATH_FIXTURE)


def test_fixture_gsm():
    bare, hub, false_pos = _check_gsm(GSM_FIXTURE)
    assert (bare, hub, false_pos) == (1.0, 1.0, 0)


def test_fixture_mc():
    assert _check_mc(MC_FIXTURE) == (1.0, 0)


@needs_real
def test_real_math500():
    rows = _read_jsonl(BENCH_DIR / "math500" / "test.jsonl")
    rate, false_pos, tried = _check_math(rows)
    print(f"MATH500: reference solutions judged correct {rate:.4f}; false positives {false_pos}/{tried}")
    assert rate >= 0.995
    assert false_pos == 0


@needs_real
def test_real_gsm8k():
    rows = _read_jsonl(BENCH_DIR / "gsm8k" / "test.jsonl")
    bare, hub, false_pos = _check_gsm(rows)
    print(f"GSM8K: bare chains {bare:.4f}; '#### answer' chains {hub:.4f}; false positives {false_pos}/{len(rows)}")
    assert hub == 1.0
    assert bare >= 0.99  # bare chains sometimes end with words or units after the result
    assert false_pos == 0


@needs_real
def test_real_mathqa_letters():
    rows = _read_jsonl(BENCH_DIR / "mathqa" / "test.jsonl")
    rate, false_pos = _check_mc(rows)
    print(f"MathQA rationales: letter judged correct {rate:.4f}; swapped-letter false positives {false_pos}")
    assert rate >= 0.95  # rationales are free human text; some never name the letter
    assert false_pos == 0
