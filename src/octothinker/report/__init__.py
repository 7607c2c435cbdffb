"""The run report: reads a run directory's files and writes report/index.html and report.md.

Never imports torch or transformers (tested): a report can be built on any machine from the files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence


def run_report(run_dir, compare: Sequence[str | Path] | None = None, out: str | Path | None = None,
               title: str | None = None) -> Path:
    """Build the report of `run_dir` (a path or a Recipe) into `out` (default <run>/report); returns that dir."""
    from .build import build_report

    return build_report(run_dir, compare=compare, out=out, title=title)


__all__ = ["run_report"]
