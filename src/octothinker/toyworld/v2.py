"""Toy world v2: a world in which RL has something general to select (`toyworld.version: 2`, the default).

What changes from v1 (see docs/toyworld.md "Version 2"):
- problems: a start of 1-29 and 1-4 trained steps of `+ k` / `- k` with a one-digit `k`, every value kept
  in 0-29, so answers spread over 30 values while each step is one easy, local fact (a two-digit range was
  measured first: a 2M model did not learn it within the demo's token budget, docs/toyworld.md);
- solution *styles* RL can select among, as real QA corpora carry them: `qa_short` worked solutions that
  restate each step before its equation, `qa_direct` answers given without any working (a guess on a
  multi-step problem) and `qa_long` long thinking with checks and corrected slips; mixtures set their shares,
  and the general-text base has none of them;
- benchmarks reach deeper than training (`toy_olympiad`: 5 steps, never trained), and the RL prompt set
  is a stream of distinct problems from the rl split (never repeated, disjoint from every benchmark).
"""
from __future__ import annotations

import random

from .problems import SIZES, Mix, Problem, apply, question_parts, short_solution
from .qa import long_solution

SIZE = "wide"
TRAIN_MIX = Mix({1: 0.35, 2: 0.35, 3: 0.2, 4: 0.1}, {SIZE: 1.0})
TRAINED_DEPTH = max(TRAIN_MIX.steps)
BENCHMARK_MIX = {
    "toy_gsm": Mix({2: 1.0}, {SIZE: 1.0}),
    "toy_math": Mix({3: 1.0}, {SIZE: 1.0}),
    "toy_olympiad": Mix({5: 1.0}, {SIZE: 1.0}),  # deeper than anything trained on
    "toy_depth4": Mix({4: 1.0}, {SIZE: 1.0}),  # deeper than the RL stream (2-3 steps), within mid-training's 1-4
}
RL_MIX = Mix({2: 0.5, 3: 0.5}, {SIZE: 1.0})
FEWSHOT_MIX = Mix({2: 0.5, 3: 0.5}, {SIZE: 1.0})


def direct_solution(p: Problem) -> str:
    """The answer without any working (answer-only QA pages): on a multi-step problem, a guess."""
    return f"The answer is \\boxed{{{p.answer}}}."


def qa_short_doc(rng: random.Random, draw) -> tuple[dict, list[str]]:
    """A worked QA record: each step's sentence restated before its equation, then the boxed answer."""
    p = draw()
    parts = question_parts(rng, p)
    return {"problem": " ".join(parts), "solution": short_solution(p, parts)}, [p.key]


def qa_direct_doc(rng: random.Random, draw) -> tuple[dict, list[str]]:
    """An answer-only QA record (the answer pages and answer keys of real QA corpora): no working at all."""
    p = draw()
    return {"problem": " ".join(question_parts(rng, p)), "solution": direct_solution(p)}, [p.key]


def qa_long_doc(rng: random.Random, draw) -> tuple[dict, list[str]]:
    """Long thinking with checks and corrected slips, each step's sentence restated, then the boxed answer."""
    p = draw()
    parts = question_parts(rng, p)
    return {"problem": " ".join(parts), "solution": long_solution(rng, p, parts)}, [p.key]


def qa_long_chat_doc(rng: random.Random, draw) -> tuple[dict, list[str]]:
    """Long thinking as a User/Assistant dialogue in the complex (Open-Reasoner-Zero style) RL template's own
    format, as such transcripts appear on the web: so a model RL'd under that template has seen its format."""
    from ..rl.templates import render

    p = draw()
    parts = question_parts(rng, p)
    solution = long_solution(rng, p, parts)  # starts with "<think>", where the template's prompt ends
    return {"text": render("complex", " ".join(parts)) + solution[len("<think>"):]}, [p.key]


def fact_table(rng: random.Random, op: str) -> list[str]:
    """A run of facts for one operation within the v2 value range, e.g. `17 + 8 = 25`, `18 + 8 = 26`."""
    top = SIZES[SIZE].max_value
    k = rng.randint(1, 9)
    lo = rng.randint(k if op == "-" else 0, top - 8 - (k if op == "+" else 0))
    return [f"{'Add' if op == '+' else 'Subtract'} {k}:"] + [f"{a} {op} {k} = {apply(a, op, k)}"
                                                           for a in range(lo, lo + rng.randint(4, 8))]


def chance_rates(answers: list[str]) -> dict:
    """How often a guess is right on a set of answers: `best_constant` (always answer the most common value)
    and `random_guess` (answer a value drawn from the set's own answer distribution: sum of squared shares)."""
    from collections import Counter

    counts = Counter(answers)
    n = max(len(answers), 1)
    return {"best_constant": max(counts.values(), default=0) / n,
            "random_guess": sum((c / n) ** 2 for c in counts.values()), "distinct_answers": len(counts)}
