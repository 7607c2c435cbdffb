"""Reads the data stage's packed token shards (CONTRACTS.md "Token shards") row by row.

The trainer's data position is the next global row index. A step consumes `global_rows` rows;
rank r of W takes rows pos + r, pos + r + W, ... so the union over ranks equals the rows a single
process would read for the same step. Past the end the stream wraps (a new epoch, counted).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_DTYPES = {"uint16": np.uint16, "uint32": np.uint32}


@dataclass
class ShardData:
    """A mixture directory: manifest fields plus memmapped shards, addressed by global row index."""

    root: Path
    manifest: dict
    shards: list[np.memmap]
    offsets: list[int]  # first global row of each shard

    @property
    def seq_len(self) -> int:
        return int(self.manifest["seq_len"])

    @property
    def rows(self) -> int:
        return self.offsets[-1] + (len(self.shards[-1]) if self.shards else 0)

    @property
    def eos_id(self) -> int:
        return int(self.manifest["eos_id"])

    @property
    def pad_id(self) -> int:
        return int(self.manifest["pad_id"])

    def row(self, index: int) -> np.ndarray:
        """Row `index` of the stream, wrapping around past the end."""
        index %= self.rows
        s = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.shards[s][index - self.offsets[s]]

    def take(self, indices) -> np.ndarray:
        return np.stack([self.row(i) for i in indices]).astype(np.int64)

    def heldout(self, max_rows: int) -> dict[str, np.ndarray]:
        """Per-source held-out rows (at most `max_rows` each) for the held-out loss."""
        out = {}
        dtype = _DTYPES[self.manifest["dtype"]]
        for source, info in sorted((self.manifest.get("heldout") or {}).items()):
            path = self.root / info["file"]
            rows = int(info["rows"])
            if rows <= 0 or not path.exists():
                continue
            arr = np.memmap(path, dtype=dtype, mode="r", shape=(rows, self.seq_len))
            out[source] = np.asarray(arr[:max_rows]).astype(np.int64)
        return out


def open_shards(root: str | Path) -> ShardData:
    """Open a mixture directory written by the data stage; errors name the file and field."""
    root = Path(root)
    mpath = root / "manifest.json"
    if not mpath.is_file():
        raise FileNotFoundError(f"{mpath}: no manifest; build the mixture first (octothinker data build)")
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    for key in ("seq_len", "dtype", "eos_id", "pad_id", "shards"):
        if key not in manifest:
            raise ValueError(f"{mpath}: missing field {key!r}")
    if manifest["dtype"] not in _DTYPES:
        raise ValueError(f"{mpath}: dtype: must be uint16 or uint32, got {manifest['dtype']!r}")
    dtype = _DTYPES[manifest["dtype"]]
    seq_len = int(manifest["seq_len"])
    shards, offsets, total = [], [], 0
    for i, sh in enumerate(manifest["shards"]):
        path = root / sh["file"]
        rows = int(sh["rows"])
        expect = rows * seq_len * np.dtype(dtype).itemsize
        if not path.is_file() or path.stat().st_size != expect:
            size = path.stat().st_size if path.is_file() else "missing"
            raise ValueError(f"{mpath}: shards[{i}] {sh['file']}: expected {expect} bytes ({rows} rows), found {size}")
        shards.append(np.memmap(path, dtype=dtype, mode="r", shape=(rows, seq_len)))
        offsets.append(total)
        total += rows
    if total == 0:
        raise ValueError(f"{mpath}: the mixture has no rows")
    return ShardData(root, manifest, shards, offsets)


def rank_rows(position: int, micro_batch: int, micro_index: int, rank: int, world: int) -> list[int]:
    """Global row indices of one micro-batch of one rank within the step starting at `position`.

    Micro-batch m of rank r covers the step's rows m*B*W + r + W*j for j < B, so a step reads
    rows [position, position + accum*B*W) exactly once across all ranks and micro-batches.
    """
    base = position + micro_index * micro_batch * world + rank
    return [base + world * j for j in range(micro_batch)]
