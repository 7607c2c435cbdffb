"""Text-level RL-dynamics metrics (pure): repetition, reflection words, boxed answers, length summaries."""
from __future__ import annotations

import re
from statistics import mean
from typing import Sequence

REFLECTION_WORDS = ("wait", "verify", "check", "recheck", "re-check", "double-check", "reconsider", "mistake", "however", "alternatively")
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)?|\d+|[^\sA-Za-z\d]")
_REFLECT = re.compile(r"\b(" + "|".join(re.escape(w) for w in REFLECTION_WORDS) + r")\b", re.IGNORECASE)


def repetition_rate(text: str, n: int = 4) -> float:
    """Share of the text's word n-grams that repeat an earlier n-gram (0 = no repeats, ->1 = a loop)."""
    words = _WORD.findall(text)
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def has_reflection(text: str) -> bool:
    """Whether the text uses a self-reflection word (wait, verify, check, ...)."""
    return _REFLECT.search(text) is not None


def has_boxed(text: str) -> bool:
    return "\\boxed{" in text


def _mean(xs: Sequence[float]) -> float:
    return float(mean(xs)) if xs else 0.0


def text_metrics(texts: Sequence[str], lengths: Sequence[int], correct: Sequence[bool], truncated: Sequence[bool]) -> dict:
    """Per-batch summaries of responses: lengths overall / of correct / of wrong, truncation and text rates."""
    if not texts:
        return {}
    right = [n for n, ok in zip(lengths, correct) if ok]
    wrong = [n for n, ok in zip(lengths, correct) if not ok]
    return {
        "response_len_mean": _mean(lengths),
        "response_len_max": max(lengths),
        "response_len_correct": _mean(right),
        "response_len_wrong": _mean(wrong),
        "truncation_rate": _mean([float(t) for t in truncated]),
        "repetition_rate": _mean([repetition_rate(t) for t in texts]),
        "reflection_rate": _mean([float(has_reflection(t)) for t in texts]),
        "boxed_rate": _mean([float(has_boxed(t)) for t in texts]),
    }
