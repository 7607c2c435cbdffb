"""Assemble the report directory atomically: index.html (self-contained), report.md and its PNGs."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..paths import RunPaths, atomic_dir
from .collect import collect
from .document import build_document
from .html import render_html
from .markdown import render_markdown


def build_report(run_dir, compare: Sequence[str | Path] | None = None, out: str | Path | None = None,
                 title: str | None = None) -> Path:
    """Collect `run_dir` (and the `compare` runs), render both formats and swap the directory in whole.

    `run_dir` may be a path or a Recipe (its run directory and `report.title` are used).
    """
    if hasattr(run_dir, "run_dir"):
        title = title or getattr(getattr(run_dir, "report", None), "title", None)
        run_dir = run_dir.run_dir
    run_dir = Path(run_dir)
    data = collect(run_dir)
    others = [collect(Path(c)) for c in (compare or [])]
    blocks = build_document(data, others, title)
    md, pngs = render_markdown(blocks)
    html = render_html(blocks)
    final = Path(out) if out is not None else RunPaths(run_dir).report
    with atomic_dir(final) as tmp:
        (tmp / "index.html").write_text(html, encoding="utf-8")
        (tmp / "report.md").write_text(md, encoding="utf-8")
        for name, png in pngs.items():
            (tmp / name).write_bytes(png)
    return final
