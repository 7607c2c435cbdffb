"""Web-like corpora: general text (DCLM stand-in) and math web pages of high and low quality.

`math_web_hq` is correct exposition and worked examples in prose (MegaMath-Web-Pro stand-in);
`math_web_lq` covers the same topics with wrong or skipped steps, chatter and broken formatting
(FineMath-4plus stand-in). `general` never contains digits or math (DCLM stand-in).
Each builder takes an rng and a problem source and returns (text, problem keys used).
"""
from __future__ import annotations

import random
from typing import Callable

from . import lexicon as L
from .problems import Cast, Problem, apply, render_question

ProblemSource = Callable[[], Problem]

# ----------------------------------------------------------------------------- general text

_STORY = [
    "{name} walked to {place} on a {feeling2} morning.",
    "{P} carried a {adj} {one} in {poss} bag.",
    "At {place}, {p} met {friend}, who liked {obj} too.",
    "They talked about where to keep the {obj}, and {friend} suggested a {where}.",
    "{name} felt {feeling} when the sun came out.",
    "The {where} by the window was full of {adj} {obj}.",
    "Later, {p} sat under a tree and read a story about a {adj} {one}.",
    "{friend} laughed and said that {p} should paint the {where} {color}.",
    "On the way home, {name} saw a cat sleeping next to some {obj}.",
    "{P} decided to share the {obj} with the neighbours.",
    "The evening was quiet, and {name} felt {feeling}.",
    "Everyone at {place} agreed that the {adj} {one} was the nicest of all.",
]
_DESCRIPTION = [
    "A {where} is a good place to keep {obj}.",
    "Many people at {place} collect {obj}, because they are {adj} and easy to carry.",
    "{obj_cap} come in many colours, from {color} to {color2}.",
    "If you keep {obj} in a {where}, they stay clean and safe.",
    "Some children trade {obj} with their friends after school.",
    "A {adj} {one} can make a simple gift for a friend.",
    "It is wise to label the {where} so that nobody mixes up the {obj}.",
]
_COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "white"]


def _world_fields(rng: random.Random) -> dict:
    cast = Cast.draw(rng)
    friend = rng.choice([p[0] for p in L.PEOPLE if p[0] != cast.name])
    colors = rng.sample(_COLORS, 2)
    return cast.fields(
        place=rng.choice(L.PLACES), adj=rng.choice(L.ADJECTIVES), one=cast.obj_one, friend=friend,
        feeling=rng.choice(L.FEELINGS), feeling2=rng.choice(["sunny", "windy", "cool", "bright"]),
        color=colors[0], color2=colors[1], obj_cap=cast.obj.capitalize(),
    )


def general_doc(rng: random.Random) -> tuple[str, list[str]]:
    """A short story or description about the toy world's people and objects; no numbers."""
    f = _world_fields(rng)
    pool = _STORY if rng.random() < 0.6 else _DESCRIPTION
    n = rng.randint(3, min(6, len(pool)))
    picked = [0] + sorted(rng.sample(range(1, len(pool)), n - 1))  # the first sentence names the person
    sentences = [pool[i].format(**f) for i in picked]
    return " ".join(sentences), []


# ----------------------------------------------------------------------------- math web (hq)

_INTRO = {
    "+": [
        "Addition puts two amounts together. When you add, the total is never smaller than either part.",
        "To add two numbers, start from the first and count up by the second.",
    ],
    "-": [
        "Subtraction takes one amount away from another. The result is what is left over.",
        "To subtract, start from the first number and count down by the second.",
    ],
    "*": [
        "Multiplication is repeated addition: three times four means four added three times.",
        "To multiply a number by two, add the number to itself; times three adds it once more.",
    ],
}
_STEP_PROSE = {
    "+": ["{p} gets {k} more, so {p} has {eq} {obj}", "adding the {k} new {obj} gives {eq}"],
    "-": ["{p} gives away {k}, so {p} has {eq} {obj}", "taking away {k} {obj} leaves {eq}"],
    "*": ["the number grows {k} times, so there are {eq} {obj}", "multiplying by {k} gives {eq}"],
}


def _ordinal(i: int, n: int) -> str:
    if i == 0:
        return "First"
    return "Finally" if i == n - 1 else ("Next", "Then", "After that")[(i - 1) % 3]


def _eq(a: int, op: str, k: int, c: int | None = None) -> str:
    return f"{a} {op} {k} = {apply(a, op, k) if c is None else c}"


def _worked_example(rng: random.Random, p: Problem) -> list[str]:
    """A problem and its solution written as prose, every equation correct."""
    cast = Cast.draw(rng)
    lines = ["Problem: " + render_question(rng, p, cast), ""]
    text = [f"{cast.name} starts with {p.start} {cast.obj}."]
    vals = p.values()
    for i, (op, k) in enumerate(p.steps):
        step = rng.choice(_STEP_PROSE[op]).format(**cast.fields(k=k, eq=_eq(vals[i], op, k)))
        text.append(f"{_ordinal(i, len(p.steps))}, {step}.")
    text.append(f"So the answer is {p.answer}.")
    lines.append("Solution: " + " ".join(text))
    return lines


def _fact_table(rng: random.Random, op: str) -> list[str]:
    """A small table of facts for one operation, e.g. `6 + 7 = 13`."""
    k = rng.randint(2, 5) if op == "*" else rng.randint(1, 9)
    lo = rng.randint(k if op == "-" else 0, 20)
    return [f"{L.OP_VERBS[op].capitalize()} {k}:"] + [_eq(a, op, k) for a in range(lo, lo + rng.randint(4, 8))]


def math_hq_doc(rng: random.Random, draw: ProblemSource, ops: str = "+-*", table=None) -> tuple[str, list[str]]:
    """An expository page: an operation's explanation, a fact table and worked examples."""
    op = rng.choice(ops)
    parts = [f"# {L.OP_NAMES[op].capitalize()} in word problems", "", rng.choice(_INTRO[op]), ""]
    if rng.random() < 0.6:
        parts += (table or _fact_table)(rng, op) + [""]
    keys = []
    for _ in range(rng.randint(1, 2)):
        p = draw()
        keys.append(p.key)
        parts += _worked_example(rng, p) + [""]
    return "\n".join(parts).strip(), keys


# ----------------------------------------------------------------------------- math web (lq)

_CHATTER = [
    "lol this one took me forever", "Posted by mathfan on a sunday", "Reply | Share | Report",
    "can someone check my work??", "thx in advance!!", "ok so here goes", "EDIT: fixed typo",
    "Click here for more worksheets", "i think this is right but idk", "Advertisement",
]


def _wrong(c: int, rng: random.Random) -> int:
    return c + rng.choice([-3, -2, -1, 1, 2, 10] if c >= 3 else [1, 2, 10])


def _noisy_solution(rng: random.Random, p: Problem, err_rate: float) -> list[str]:
    """Equations with some wrong results (carried forward) and some skipped steps."""
    out, value = [], p.start
    for i, (op, k) in enumerate(p.steps):
        c = apply(value, op, k)
        if rng.random() < err_rate:
            c = _wrong(c, rng)
        if i < len(p.steps) - 1 and rng.random() < 0.2:
            value = c  # skipped: the line is not written out
            continue
        out.append(f"{value} {op} {k} = {c}")
        value = c
    out.append(f"answer: {value}" if rng.random() < 0.5 else f"so its {value}")
    return out


def _break_format(rng: random.Random, line: str) -> str:
    r = rng.random()
    if r < 0.15:
        return line.replace(" ", "")
    if r < 0.25:
        return line + " <br>"
    if r < 0.32:
        return line.replace(" ", "&nbsp;", 1)
    if r < 0.4:
        return line.lower()
    return line


def math_lq_doc(rng: random.Random, draw: ProblemSource, ops: str = "+-*") -> tuple[str, list[str]]:
    """The same topics as the hq pages, with chatter, mistakes, skipped steps and broken formatting."""
    op = rng.choice(ops)
    parts = [rng.choice([f"{L.OP_NAMES[op]} help", f"{L.OP_NAMES[op].upper()}!!!", f"Q about {L.OP_NAMES[op]}"])]
    if rng.random() < 0.5:
        parts.append(rng.choice(_INTRO[op]).lower())
    parts.append(rng.choice(_CHATTER))
    keys = []
    for _ in range(rng.randint(1, 2)):
        p = draw()
        keys.append(p.key)
        parts.append(render_question(rng, p))
        parts += _noisy_solution(rng, p, err_rate=0.3)
        if rng.random() < 0.5:
            parts.append(rng.choice(_CHATTER))
    return "\n".join(_break_format(rng, x) for x in parts), keys
