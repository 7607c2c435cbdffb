"""Arithmetic word problems: a start value and a chain of (op, operand) steps with a gold answer.

A problem's canonical key (start value + steps) names it regardless of surface form (names,
objects, phrasings); `split_of` hashes that key with the world seed to decide once and for all
whether it belongs to training, the benchmarks or the RL prompts.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from . import lexicon as L

OPS = ("+", "-", "*")


@dataclass(frozen=True)
class Size:
    """How large the numbers of a problem may get."""

    name: str
    rank: int  # added to the step count to grade difficulty
    start: tuple[int, int]
    operand: tuple[int, int]  # for + and -
    factor: tuple[int, int]  # for *
    max_value: int  # every intermediate value stays in [0, max_value]
    ops: str = "+-*"  # operations a problem of this size may use


SIZES = {
    "small": Size("small", 0, (1, 15), (1, 9), (2, 3), 20),
    "medium": Size("medium", 1, (5, 40), (2, 20), (2, 4), 99),
    "large": Size("large", 2, (10, 99), (5, 60), (2, 5), 199),
    # toy world v2: values 0-29, one-digit steps, no multiplication (each step one easy local fact)
    "wide": Size("wide", 0, (1, 29), (1, 9), (2, 2), 29, "+-"),
}


@dataclass(frozen=True)
class Problem:
    start: int
    steps: tuple[tuple[str, int], ...]
    size: str = "small"

    @classmethod
    def from_key(cls, key: str, size: str = "small") -> "Problem":
        """Inverse of `key`: `"7|+5|-3"` -> Problem(7, (("+", 5), ("-", 3)))."""
        start, *steps = key.split("|")
        return cls(int(start), tuple((s[0], int(s[1:])) for s in steps), size)

    @property
    def key(self) -> str:
        """Canonical identity: numbers and operations only, e.g. `7|+5|-3`."""
        return f"{self.start}|" + "|".join(f"{op}{k}" for op, k in self.steps)

    def values(self) -> list[int]:
        """The running value after the start and after each step."""
        vals = [self.start]
        for op, k in self.steps:
            vals.append(apply(vals[-1], op, k))
        return vals

    @property
    def answer(self) -> int:
        return self.values()[-1]

    @property
    def level(self) -> int:
        return difficulty(len(self.steps), self.size)

    def equations(self) -> list[str]:
        """One `a op b = c` line per step (the concise chain of thought)."""
        vals = self.values()
        return [f"{vals[i]} {op} {k} = {vals[i + 1]}" for i, (op, k) in enumerate(self.steps)]


def apply(value: int, op: str, k: int) -> int:
    if op == "+":
        return value + k
    if op == "-":
        return value - k
    if op == "*":
        return value * k
    raise ValueError(f"unknown operation {op!r}; expected one of {OPS}")


def difficulty(n_steps: int, size: str) -> int:
    """Difficulty level 1..5: more steps and larger numbers are harder."""
    return max(1, min(5, n_steps + SIZES[size].rank))


def random_problem(rng: random.Random, n_steps: int, size: str) -> Problem:
    """A problem of `n_steps` whose values all stay within the size's range (never negative)."""
    s = SIZES[size]
    start = value = rng.randint(*s.start)
    steps = []
    for _ in range(n_steps):
        choices = []
        if "+" in s.ops and value + s.operand[0] <= s.max_value:
            choices += ["+"] * 2
        if "-" in s.ops and value - s.operand[0] >= 0:
            choices += ["-"] * 2
        if "*" in s.ops and value * s.factor[0] <= s.max_value and value > 0:
            choices += ["*"]
        op = rng.choice(choices)
        if op == "+":
            k = rng.randint(s.operand[0], min(s.operand[1], s.max_value - value))
        elif op == "-":
            k = rng.randint(s.operand[0], min(s.operand[1], value))
        else:
            k = rng.randint(s.factor[0], min(s.factor[1], s.max_value // value))
        steps.append((op, k))
        value = apply(value, op, k)
    return Problem(start, tuple(steps), size)


SPLITS = ("train", "benchmark", "rl")


def split_of(key: str, seed: int, benchmark_frac: float, rl_frac: float) -> str:
    """Seeded hash of the canonical key -> train / benchmark / rl (fixed for a seed, never overlapping)."""
    h = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    u = int.from_bytes(h, "big") / 2**64
    if u < benchmark_frac:
        return "benchmark"
    if u < benchmark_frac + rl_frac:
        return "rl"
    return "train"


@dataclass
class Mix:
    """A distribution over (steps, size) from which problems are drawn."""

    steps: dict[int, float]
    sizes: dict[str, float] = field(default_factory=lambda: {"small": 1.0})

    def draw(self, rng: random.Random) -> tuple[int, str]:
        n = rng.choices(list(self.steps), weights=list(self.steps.values()))[0]
        size = rng.choices(list(self.sizes), weights=list(self.sizes.values()))[0]
        return n, size


# Training problems cover every level; benchmarks pick slices of it.
# Dense in the easy end (1-2 small steps: the single-digit facts every longer chain is built from).
TRAIN_MIX = Mix({1: 0.4, 2: 0.4, 3: 0.1, 4: 0.06, 5: 0.04}, {"small": 0.9, "medium": 0.06, "large": 0.04})


def draw_problems(rng: random.Random, mix: Mix, split: str, seed: int, benchmark_frac: float,
                  rl_frac: float, n: int, unique: bool = False, max_tries: int = 200):
    """Yield `n` problems from `mix` whose key falls in `split` (rejection sampling)."""
    seen: set[str] = set()
    made = 0
    misses = 0
    while made < n:
        p = random_problem(rng, *mix.draw(rng))
        if split_of(p.key, seed, benchmark_frac, rl_frac) != split or (unique and p.key in seen):
            misses += 1
            if misses > max_tries * max(n, 1):
                raise RuntimeError(f"could draw only {made} of {n} distinct {split} problems from {mix}")
            continue
        seen.add(p.key)
        made += 1
        yield p


# ----------------------------------------------------------------------------- surface forms


@dataclass(frozen=True)
class Cast:
    """Who and what a problem is about: one person, one kind of object."""

    name: str
    subj: str
    obj_pron: str
    poss: str
    obj: str
    obj_one: str
    where: str

    @classmethod
    def draw(cls, rng: random.Random, people=L.PEOPLE, objects=L.OBJECTS) -> "Cast":
        name, subj, o, poss = rng.choice(people)
        obj, one, where = rng.choice(objects)
        return cls(name, subj, o, poss, obj, one, where)

    def fields(self, **extra) -> dict:
        return dict(name=self.name, p=self.subj, P=self.subj.capitalize(), o=self.obj_pron,
                    poss=self.poss, obj=self.obj, where=self.where, **extra)


def step_sentence(rng: random.Random, cast: Cast, op: str, k: int) -> str:
    pool = {"+": L.ADD, "-": L.SUB, "*": L.MUL}[op]
    f = cast.fields(k=k)
    if k == 1 and op != "*":
        f["obj"] = cast.obj_one
    return rng.choice(pool).format(**f)


BARE_SHARE = 0.3  # share of questions written as a bare procedure (the shortest form)


def question_parts(rng: random.Random, p: Problem, cast: Cast | None = None) -> list[str]:
    """The sentences of a question: the start, one per step, then the ask (a story or a bare procedure)."""
    if cast is None and rng.random() < BARE_SHARE:
        parts = [rng.choice(L.BARE_START).format(n=p.start)]
        parts += [rng.choice(L.BARE_OPS[op]).format(k=k) for op, k in p.steps]
        parts.append(rng.choice(L.BARE_QUESTION))
        return parts
    cast = cast or Cast.draw(rng, L.PROBLEM_PEOPLE, L.PROBLEM_OBJECTS)
    start = cast.fields(n=p.start)
    if p.start == 1:
        start["obj"] = cast.obj_one
    parts = [rng.choice(L.START).format(**start)]
    parts += [step_sentence(rng, cast, op, k) for op, k in p.steps]
    parts.append(rng.choice(L.QUESTION).format(**cast.fields()))
    return parts


def render_question(rng: random.Random, p: Problem, cast: Cast | None = None) -> str:
    """Natural-language question for a problem: a short story (most often) or a bare procedure."""
    return " ".join(question_parts(rng, p, cast))


def restated_steps(p: Problem, parts: list[str]) -> list[str]:
    """One line per step that repeats the step's sentence before its equation ("She finds 6 more: 9 + 6 = 15").

    Repeating the question sentence by sentence keeps every copy local, which tiny models learn far faster
    than fetching the k-th operand from the question.
    """
    return [f"{sentence.rstrip('.')}: {eq}" for sentence, eq in zip(parts[1 : 1 + len(p.steps)], p.equations())]


def short_solution(p: Problem, parts: list[str] | None = None) -> str:
    """Concise chain of thought, then the boxed answer: with the question's `parts`, the start sentence and each
    step restated before its equation; without, one bare equation per line."""
    lines = [parts[0], *restated_steps(p, parts)] if parts else p.equations()
    return "\n".join(lines + [f"The answer is \\boxed{{{p.answer}}}."])
