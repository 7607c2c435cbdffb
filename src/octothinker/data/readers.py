"""Streaming record readers (JSONL, Parquet, hub) with explicit bad-input handling.

Readers yield `(line, record)` one at a time (Parquet batch-wise), so memory does not grow with the
file. A malformed line, non-UTF-8 bytes, a non-object record or an empty file goes to a `BadRecords`
policy: by default it raises `BadRecordError` naming file, line and field; with `on_bad="skip"` it
is counted (and the first few examples kept for the manifest). Nothing is dropped silently.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
MAX_EXAMPLES = 5


class BadRecordError(ValueError):
    """A record that cannot be used; the message reads `file:line: field 'x': problem`."""


@dataclass
class BadRecords:
    """Policy and tally for unusable records: raise (on_bad='error') or count (on_bad='skip')."""

    on_bad: str = "error"
    count: int = 0
    examples: list[str] = field(default_factory=list)
    hint: str = " (set data.on_bad_record=skip to skip and count such records)"  # appended to raised errors

    def __post_init__(self) -> None:
        if self.on_bad not in ("error", "skip"):
            raise ValueError(f"on_bad_record: must be error or skip, got {self.on_bad!r}")

    def report(self, where: str, line: int | None, message: str, field_name: str | None = None) -> None:
        loc = f"{where}:{line}" if line is not None else str(where)
        what = f"field {field_name!r}: {message}" if field_name and not message.startswith("field ") else message
        text = f"{loc}: {what}"
        if self.on_bad == "error":
            raise BadRecordError(text + self.hint)
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)

    def to_dict(self) -> dict:
        return {"count": self.count, "examples": list(self.examples)}


def list_files(path: str | Path) -> list[Path]:
    """A data file, or every JSONL/Parquet file under a directory (sorted, so order is stable)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(JSONL_SUFFIXES + PARQUET_SUFFIXES))
        if not files:
            raise FileNotFoundError(f"{path}: directory holds no .jsonl/.jsonl.gz/.parquet files")
        return files
    raise FileNotFoundError(f"{path}: no such file or directory")


def files_stamp(path: str | Path, every: bool = False) -> list[list]:
    """[name, size, mtime_ns] of the data files under `path` (with `every`, of all its files): cheap, and it changes
    when a file is edited, added or removed, so a cache keyed on it is not reused for other contents. [] when the
    path does not exist (the reader says so when it is used)."""
    root = Path(path)
    try:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if every and root.is_dir() else list_files(root)
    except FileNotFoundError:
        return []
    out = []
    for f in files:
        st = f.stat()
        out.append([str(f.relative_to(root)) if f != root else f.name, st.st_size, st.st_mtime_ns])
    return out


def data_files_stamp(recipe) -> dict:
    """`files_stamp` of every source with a local path and of the decontamination benchmark folder ({} for the
    toy world): what the data stages read besides the recipe."""
    out = {name: files_stamp(src.path) for name, src in recipe.data.sources.items() if src.path}
    bdir = recipe.data.decontamination.benchmark_dir
    if bdir:
        out["decontamination.benchmark_dir"] = files_stamp(bdir, every=True)
    return {k: v for k, v in out.items() if v}


def read_jsonl(path: str | Path, bad: BadRecords) -> Iterator[tuple[int, dict]]:
    """Yield (1-based line, object) per non-blank line; undecodable or non-object lines go to `bad`."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    n_ok = 0
    with opener(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")  # a byte-order mark may open the file
            except UnicodeDecodeError as exc:
                bad.report(path, lineno, f"not valid UTF-8 (byte {exc.start} of the line: {raw[exc.start:exc.start + 4]!r})")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                bad.report(path, lineno, f"malformed JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(obj, dict):
                bad.report(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
                continue
            n_ok += 1
            yield lineno, obj
    if n_ok == 0:
        bad.report(path, None, "empty file (no records)")


def read_parquet(path: str | Path, bad: BadRecords, batch_size: int = 1024) -> Iterator[tuple[int, dict]]:
    """Yield (1-based row, record) batch-wise with pyarrow; an unreadable or empty file goes to `bad`."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        bad.report(path, None, f"not a readable Parquet file ({type(exc).__name__}: {exc})")
        return
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=batch_size):
            for rec in batch.to_pylist():
                row += 1
                yield row, rec
    except Exception as exc:
        if isinstance(exc, (BadRecordError, GeneratorExit)):
            raise
        bad.report(path, row + 1, f"unreadable Parquet data ({type(exc).__name__}: {exc})")
        return
    if row == 0:
        bad.report(path, None, "empty file (no records)")


def read_files(path: str | Path, bad: BadRecords) -> Iterator[tuple[str, int, dict]]:
    """Yield (file, line, record) over a file or a directory of JSONL/Parquet files."""
    for f in list_files(path):
        name = f.name
        if name.endswith(PARQUET_SUFFIXES):
            it = read_parquet(f, bad)
        elif name.endswith(JSONL_SUFFIXES):
            it = read_jsonl(f, bad)
        else:
            raise ValueError(f"{f}: unknown data format (expected .jsonl, .jsonl.gz or .parquet)")
        for line, rec in it:
            yield str(f), line, rec


def read_hub(hub_id: str, config: str | None, split: str, data_dir: str | None = None) -> Iterator[tuple[str, int, Any]]:
    """Stream a hub dataset with `datasets.load_dataset(..., streaming=True)` (datasets is optional)."""
    try:
        from datasets import load_dataset
    except ImportError as exc:
        raise ImportError(
            f"reading {hub_id} from the hub needs the optional `datasets` package "
            "(pip install 'octothinker[hub]'), or set the source's `path` to a local JSONL/Parquet copy"
        ) from exc
    kwargs: dict[str, Any] = {"split": split, "streaming": True}
    if data_dir:
        kwargs["data_dir"] = data_dir
    ds = load_dataset(hub_id, config, **kwargs)
    where = f"hf://{hub_id}" + (f"/{config}" if config else "") + f"[{split}]"
    for i, rec in enumerate(ds, start=1):
        yield where, i, rec
