"""Run-directory layout (DESIGN.md) and atomic writes: every artifact appears whole or not at all."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


class RunPaths:
    """Where each stage writes under `runs/<run>/`."""

    def __init__(self, run_dir: str | Path):
        self.root = Path(run_dir)

    def data(self, mixture: str) -> Path:
        return self.root / "data" / mixture

    @property
    def tokenizer(self) -> Path:
        return self.root / "data" / "tokenizer"

    def midtrain(self, stage: str) -> Path:
        return self.root / "midtrain" / stage

    def rl(self, name: str) -> Path:
        return self.root / "rl" / name

    def eval(self, model: str) -> Path:
        return self.root / "eval" / model

    @property
    def report(self) -> Path:
        return self.root / "report"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_sibling(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())  # mkstemp makes 0600; a finished file gets ordinary permissions
    return Path(name)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    tmp = _tmp_sibling(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Yield a temp directory beside `final`; on success swap it in, on failure remove it.

    The previous `final` (if any) survives until the new one is complete, so a failed build
    leaves the last good output intact.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a finished output gets ordinary permissions
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one JSON line and flush (metrics files are append-only logs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=float) + "\n")
        fh.flush()


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSONL log, ignoring a torn last line left by a crash."""
    rows = []
    path = Path(path)
    if not path.exists():
        return rows
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise
    return rows

