"""``grade`` / ``grade_many``: extraction, a fast exact/numeric path, then isolated math-verify.

Shared by evaluation, RL rewards and RL-time validation. Never raises, never hangs, never
executes text: every failure becomes a wrong ``Verdict`` with a reason.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

from octothinker.grading.extract import KINDS, extract_answer, mc_letter
from octothinker.grading.normalize import (
    hostile_reason,
    normalize,
    numbers_equal,
    parse_number,
    strip_assignment,
)
from octothinker.grading.pool import get_pool


@dataclass(frozen=True)
class Verdict:
    """Outcome of grading one response: correctness, the extracted answer and why."""

    correct: bool
    extracted: str | None
    reason: str


class _Cache:
    """Small thread-safe LRU of symbolic verdicts keyed by (golds, pred)."""

    def __init__(self, size: int = 65536) -> None:
        self.size = size
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        return None

    def put(self, key, value) -> None:
        with self._lock:
            self._d[key] = value
            if len(self._d) > self.size:
                self._d.popitem(last=False)


_CACHE = _Cache()


def clear_cache() -> None:
    """Forget cached symbolic verdicts (benchmarks use this to measure cold work)."""
    with _CACHE._lock:
        _CACHE._d.clear()


def _golds(gold) -> list[str]:
    if isinstance(gold, (list, tuple)):
        return [str(g) for g in gold if g is not None]
    return [] if gold is None else [str(gold)]


def _gold_letter(gold: str) -> str | None:
    g = gold.strip()
    if len(g) == 1 and g.isalpha():
        return g.upper()
    return mc_letter(g)


def _fast(golds: list[str], pred: str, kind: str) -> tuple[bool | None, str]:
    """Exact or numeric decision when both sides are plain; (None, "") when symbolic work is needed."""
    p = normalize(pred)
    for gold in golds:
        g = normalize(gold)
        if "=" not in g:
            p_eq = normalize(strip_assignment(pred))
        else:
            p_eq = p
        if g == p_eq:
            return True, "exact"
        gn, pn = parse_number(g), parse_number(p_eq)
        if gn is not None and pn is not None:
            (gv, gpct), (pv, ppct) = gn, pn
            # 25% and 0.25 are one value; the % side is divided by 100, never the other side
            if numbers_equal(gv, pv) or (gpct and not ppct and numbers_equal(gv / 100, pv)) \
                    or (ppct and not gpct and numbers_equal(gv, pv / 100)):
                return True, "numeric"
    all_numeric = all(parse_number(normalize(g)) is not None for g in golds)
    pred_numeric = parse_number(normalize(strip_assignment(pred))) is not None
    if all_numeric and pred_numeric:
        return False, "numeric"
    if kind == "gsm" and all_numeric:
        return False, "not a number"
    return None, ""


def _prepare(response, gold, kind: str) -> tuple[Verdict | None, tuple | None]:
    """Verdict if decided without math-verify, else the (golds, pred) pair to verify symbolically."""
    if kind not in KINDS:
        return Verdict(False, None, f"error: unknown kind {kind!r}"), None
    if not isinstance(response, str):
        return Verdict(False, None, "error: response is not text"), None
    golds = _golds(gold)
    if not golds:
        return Verdict(False, None, "error: no gold answer"), None
    pred = extract_answer(response, kind)
    if pred is None or not pred.strip():
        return Verdict(False, None, "no answer"), None
    if kind == "mc":
        letters = {_gold_letter(g) for g in golds}
        return Verdict(pred in letters, pred, "letter"), None
    why = hostile_reason(pred)
    if why is not None:
        return Verdict(False, pred[:200], why), None
    decided, reason = _fast(golds, pred, kind)
    if decided is not None:
        return Verdict(decided, pred, reason), None
    golds = [g for g in golds if hostile_reason(g) is None]
    if not golds:
        return Verdict(False, pred, "error: gold answer refused"), None
    return None, (tuple(normalize(g) for g in golds), normalize(pred))


def _symbolic(pairs: list[tuple], timeout: float, workers: int | None) -> list[tuple[bool, str]]:
    """Run the symbolic checks, cached, in the worker pool split over ``workers`` chunks."""
    out: list[tuple[bool, str] | None] = [_CACHE.get(p) for p in pairs]
    todo = [i for i, r in enumerate(out) if r is None]
    if not todo:
        return out  # type: ignore[return-value]
    unique: dict[tuple, list[int]] = {}
    for i in todo:
        unique.setdefault(pairs[i], []).append(i)
    keys = list(unique)
    tasks = [(k[0], k[1], timeout) for k in keys]
    try:
        pool = get_pool()
        n = max(1, min(workers or pool.size, pool.size, len(tasks)))
        if n == 1:
            res = pool.run(tasks)
        else:
            chunks = [tasks[j::n] for j in range(n)]
            with ThreadPoolExecutor(n) as ex:
                parts = list(ex.map(pool.run, chunks))
            res = [None] * len(tasks)
            for j, part in enumerate(parts):
                res[j::n] = part
    except Exception as exc:
        res = [(False, f"error: {type(exc).__name__}: {exc}"[:200])] * len(tasks)
    for k, r in zip(keys, res):
        if r[1] != "timeout" and not r[1].startswith("error: worker"):
            _CACHE.put(k, r)
        for i in unique[k]:
            out[i] = r
    return out  # type: ignore[return-value]


def grade_many(
    responses: Sequence[str],
    golds: Sequence,
    kind: str = "math",
    timeout: float = 5.0,
    workers: int | None = None,
) -> list[Verdict]:
    """Grade ``responses[i]`` against ``golds[i]`` (str or list of str); symbolic work is batched."""
    try:
        if len(responses) != len(golds):
            return [Verdict(False, None, "error: responses and golds differ in length")] * len(responses)
        verdicts: list[Verdict | None] = []
        pending: list[int] = []
        pairs: list[tuple] = []
        for i, (r, g) in enumerate(zip(responses, golds)):
            try:
                v, pair = _prepare(r, g, kind)
            except Exception as exc:
                v, pair = Verdict(False, None, f"error: {type(exc).__name__}"), None
            verdicts.append(v)
            if pair is not None:
                pending.append(i)
                pairs.append(pair)
        if pairs:
            for i, (ok, reason) in zip(pending, _symbolic(pairs, timeout, workers)):
                extracted = extract_answer(responses[i], kind)
                verdicts[i] = Verdict(ok, extracted, reason)
        return verdicts  # type: ignore[return-value]
    except Exception as exc:
        return [Verdict(False, None, f"error: {type(exc).__name__}")] * len(responses)


def grade(response: str, gold, kind: str = "math", timeout: float = 5.0) -> Verdict:
    """Grade one response against a gold answer (or list of accepted answers)."""
    return grade_many([response], [gold], kind, timeout)[0]
