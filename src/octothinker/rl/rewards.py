"""Verifiable rewards: correctness through the shared grader, optional format bonus, truncation handling.

Grading runs on a daemon thread so the trainer can overlap it with the old-logprob pass, and the
trainer waits for it at most a fixed budget: a response that makes the grader slow or stuck costs
that response its reward (counted in `reward_timeouts`), never the step.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from .templates import format_ok

CHUNK = 16  # responses graded per grader call; a stuck chunk only loses itself and later ones


@dataclass
class RewardBatch:
    rewards: list[float]
    correct: list[bool]
    formatted: list[bool]
    extracted: list[str | None]
    loss_mask: list[float]  # 0 where a truncated (or, by default, ungraded) response is masked out of the loss
    timeouts: int = 0
    seconds: float = 0.0
    timed_out: list[bool] | None = None  # the grader gave no verdict in time (or reported a timeout)
    valid_chain: list[bool] | None = None  # toy problems: the gold steps are all written out (None: unknown)


def combine_rewards(
    correct: Sequence[bool],
    formatted: Sequence[bool],
    truncated: Sequence[bool],
    format_reward: float = 0.0,
    truncation: str = "none",
    truncation_penalty: float = 1.0,
) -> tuple[list[float], list[float]]:
    """Rewards and loss masks from verdicts: 1/0 correctness + format bonus, truncated ones penalised or masked."""
    if truncation not in ("none", "penalty", "mask"):
        raise ValueError(f"truncation: must be none, penalty or mask, got {truncation!r}")
    rewards, masks = [], []
    for ok, fmt, trunc in zip(correct, formatted, truncated, strict=True):
        r = (1.0 if ok else 0.0) + (format_reward if fmt else 0.0)
        if trunc and truncation == "penalty":
            r -= truncation_penalty
        rewards.append(r)
        masks.append(0.0 if trunc and truncation == "mask" else 1.0)
    return rewards, masks


def _default_grader() -> Callable:
    from ..grading import grade_many

    return grade_many


class PendingRewards:
    """Grading of one batch running on a daemon thread; `wait()` returns within the budget."""

    def __init__(self, responses: list[str], golds: list, kind: str, timeout: float, grader: Callable | None):
        self.n = len(responses)
        self.verdicts: list = [None] * self.n
        self.budget = 2.0 * timeout + 0.05 * self.n + 1.0
        self.started = time.perf_counter()
        grader = grader or _default_grader()

        def work():
            for lo in range(0, self.n, CHUNK):
                hi = min(lo + CHUNK, self.n)
                try:
                    out = grader(responses[lo:hi], golds[lo:hi], kind, timeout)
                except Exception:  # the grader promises not to raise; a bug here must not kill the run
                    out = [None] * (hi - lo)
                self.verdicts[lo:hi] = list(out)

        self.thread = threading.Thread(target=work, name="rl-reward", daemon=True)
        self.thread.start()

    def wait(self) -> tuple[list, int, float]:
        """(verdicts with None for ungraded, number timed out, seconds spent) after at most the budget."""
        left = self.budget - (time.perf_counter() - self.started)
        self.thread.join(timeout=max(left, 0.0))
        verdicts = list(self.verdicts)
        missing = sum(v is None for v in verdicts)
        return verdicts, missing, time.perf_counter() - self.started


def start_rewards(responses: list[str], golds: list, kind: str = "math", timeout: float = 5.0, grader=None) -> PendingRewards:
    """Start grading `responses` against `golds` off the calling thread."""
    return PendingRewards(list(responses), list(golds), kind, timeout, grader)


def finish_rewards(
    pending: PendingRewards,
    responses: Sequence[str],
    truncated: Sequence[bool],
    template: str,
    format_reward: float = 0.0,
    truncation: str = "none",
    truncation_penalty: float = 1.0,
    on_timeout: str = "mask",
    chains: Sequence[bool] | None = None,
    require_chain: bool = False,
) -> RewardBatch:
    """Wait for the grader (bounded) and turn verdicts into rewards and loss masks.

    A response without a verdict (timed out) is masked out of the loss under `on_timeout="mask"` (it is not
    known to be wrong), or scored 0 under "wrong". With `require_chain`, a correct answer is rewarded only if
    its `chains` entry says the gold steps are written out; `correct` still reports answer correctness.
    """
    if on_timeout not in ("mask", "wrong"):
        raise ValueError(f"reward_on_timeout: must be mask or wrong, got {on_timeout!r}")
    verdicts, _, seconds = pending.wait()
    timed_out = [v is None or getattr(v, "reason", "") == "timeout" for v in verdicts]
    correct = [bool(v is not None and v.correct) for v in verdicts]
    extracted = [v.extracted if v is not None else None for v in verdicts]
    formatted = [format_ok(template, r) for r in responses]
    earned = correct
    if require_chain:
        if chains is None:
            raise ValueError("require_valid_chain: the prompts carry no toy-world key to check the steps against")
        earned = [c and ok for c, ok in zip(correct, chains, strict=True)]
    rewards, masks = combine_rewards(earned, formatted, truncated, format_reward, truncation, truncation_penalty)
    if on_timeout == "mask":
        masks = [0.0 if t else m for m, t in zip(masks, timed_out)]
    return RewardBatch(rewards, correct, formatted, extracted, masks, sum(timed_out), seconds, timed_out,
                       list(chains) if chains is not None else None)

