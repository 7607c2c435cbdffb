"""Seeded mixture of sources under a token budget, with upsampling and a saveable position.

`split_budget` turns weights into per-source token targets. `MixtureSampler` takes the next document
from the source furthest behind its target share (seeded ties): every prefix of the stream stays within
one document per source of the weights, in tokens, whatever the sources' document lengths. `SourceCursor` replays a source
endlessly, counting epochs when a small source must be upsampled. `MixedStream` ties them together;
its `state_dict()` restored into a fresh stream continues the exact same sequence.
"""
from __future__ import annotations

import math
import random
from typing import Any, Callable, Iterator


# What a mixture's shards hold for a given recipe; bumped when the build changes it, so cached data (and what
# was trained on it) is rebuilt: 2 = token-balanced sampler, held-out copies skipped (session 10).
BUILD_VERSION = 2


def split_budget(weights: dict[str, float], tokens: int) -> dict[str, int]:
    """Per-source token targets proportional to the weights, summing exactly to `tokens`.

    Largest-remainder rounding (ties broken by name) so the split is exact and deterministic;
    zero-weight sources get 0.
    """
    total = float(sum(weights.values()))
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
    exact = {k: tokens * w / total for k, w in weights.items()}
    out = {k: math.floor(v) for k, v in exact.items()}
    left = tokens - sum(out.values())
    order = sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))
    for k in order[:left]:
        out[k] += 1
    return out


class MixtureSampler:
    """Pick the next source: the one whose emitted tokens are the smallest fraction of its target.

    Balancing tokens, not documents, keeps every prefix of the stream at the weights (within one
    document per source) whether a source's documents are 50 or 1000 tokens long; a draw per document
    in proportion to the remaining target front-loads long-document sources. Exact ties (the start,
    equal progress) go to a seeded random pick, so the seed still sets the order.
    """

    def __init__(self, targets: dict[str, int], seed: int):
        self.names = sorted(k for k, v in targets.items() if v > 0)
        self.targets = {k: int(targets[k]) for k in self.names}
        self.emitted = {k: 0 for k in self.names}
        self.docs = {k: 0 for k in self.names}
        self._rng = random.Random(seed)

    @property
    def done(self) -> bool:
        return all(self.emitted[k] >= self.targets[k] for k in self.names)

    def choose(self) -> str:
        open_ = [k for k in self.names if self.emitted[k] < self.targets[k]]
        if not open_:
            raise RuntimeError("mixture budget already reached")
        best = [open_[0]]
        for k in open_[1:]:  # compare emitted/target exactly: e_k * t_b vs e_b * t_k
            lhs, rhs = self.emitted[k] * self.targets[best[0]], self.emitted[best[0]] * self.targets[k]
            if lhs < rhs:
                best = [k]
            elif lhs == rhs:
                best.append(k)
        return best[0] if len(best) == 1 else best[self._rng.randrange(len(best))]

    def record(self, name: str, n_tokens: int) -> None:
        self.emitted[name] += n_tokens
        self.docs[name] += 1

    def state_dict(self) -> dict[str, Any]:
        version, internal, gauss = self._rng.getstate()
        return {"emitted": dict(self.emitted), "docs": dict(self.docs), "rng": [version, list(internal), gauss]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.emitted = {k: int(state["emitted"][k]) for k in self.names}
        self.docs = {k: int(state["docs"][k]) for k in self.names}
        version, internal, gauss = state["rng"]
        self._rng.setstate((version, tuple(internal), gauss))


class SourceCursor:
    """An endless replay of one source: `open_fn(epoch, skip)` yields the epoch's items after `skip`.

    When an epoch runs out the next one starts (upsampling); `epoch`, `index` (items taken in the
    current epoch) and `epoch_size` (items in a full pass, once known) are the saved position.
    """

    def __init__(self, name: str, open_fn: Callable[[int, int], Iterator[Any]]):
        self.name = name
        self.open_fn = open_fn
        self.epoch = 0
        self.index = 0
        self.epoch_size: int | None = None
        self._it: Iterator[Any] | None = None

    def next(self) -> Any:
        if self._it is None:
            self._it = self.open_fn(self.epoch, self.index)
        for _ in range(2):
            try:
                item = next(self._it)
            except StopIteration:
                if self.index == 0:
                    break
                self.epoch_size = self.index
                self.epoch += 1
                self.index = 0
                self._it = self.open_fn(self.epoch, 0)
                continue
            self.index += 1
            return item
        raise ValueError(f"source {self.name!r} has no documents to train on (is everything held out or skipped?)")

    @property
    def epochs(self) -> float:
        """Passes over the source: whole epochs done plus the fraction of the current one when known."""
        if self.epoch_size is None:
            return 1.0 if self.epoch == 0 else float(self.epoch)
        return round(self.epoch + self.index / self.epoch_size, 4)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "index": self.index, "epoch_size": self.epoch_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.index, self.epoch_size = state["epoch"], state["index"], state["epoch_size"]
        self._it = None


class MixedStream:
    """Iterate `(source, item)` in mixed order until every source meets its target."""

    def __init__(self, sampler: MixtureSampler, cursors: dict[str, SourceCursor], length: Callable[[Any], int]):
        missing = set(sampler.names) - set(cursors)
        if missing:
            raise ValueError(f"no cursor for sources {sorted(missing)}")
        self.sampler = sampler
        self.cursors = cursors
        self.length = length

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        while not self.sampler.done:
            name = self.sampler.choose()
            item = self.cursors[name].next()
            self.sampler.record(name, self.length(item))
            yield name, item

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict(), "cursors": {k: c.state_dict() for k, c in self.cursors.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
        for k, c in self.cursors.items():
            c.load_state_dict(state["cursors"][k])
