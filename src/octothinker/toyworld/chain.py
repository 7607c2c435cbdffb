"""The process check: does a response contain the gold chain of steps of a toy problem?

The toy world knows every gold step, so a rewarded response can be told apart from a lucky one: a
response has a *valid chain* when each gold step `a op k = c` appears among its equations, in order
(written `a op k = c`, or `a op k is c` as in long CoT's corrections; checks and restatements in
between are allowed). A correct final answer without a valid chain is a lucky guess.
"""
from __future__ import annotations

import re

from .problems import Problem

_STEP = re.compile(r"(\d+)\s*([+\-*])\s*(\d+)\s*(?:=|is)\s*(\d+)")


def gold_steps(key: str) -> list[tuple[int, str, int, int]]:
    """`(a, op, k, c)` for each step of the problem with canonical key `key`."""
    p = Problem.from_key(key)
    vals = p.values()
    return [(vals[i], op, k, vals[i + 1]) for i, (op, k) in enumerate(p.steps)]


def written_steps(text: str) -> list[tuple[int, str, int, int]]:
    """Every `a op k = c` (or `a op k is c`) in `text`, in order."""
    return [(int(a), op, int(k), int(c)) for a, op, k, c in _STEP.findall(text)]


def valid_chain(text: str, key: str) -> bool:
    """True when the gold steps of `key` occur, in order, among the equations written in `text`."""
    want = gold_steps(key)
    i = 0
    for step in written_steps(text):
        if i < len(want) and step == want[i]:
            i += 1
    return i == len(want)
