"""Render report blocks as Markdown; figures are referenced as PNG files written beside it."""
from __future__ import annotations


def _cell(x) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def _table(headers: list, rows: list) -> list[str]:
    out = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "|".join(["---"] * len(headers)) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out + [""]


def render_markdown(blocks: list) -> tuple[str, dict[str, bytes]]:
    """(markdown text, {png file name: bytes}) for the report directory."""
    lines: list[str] = []
    files: dict[str, bytes] = {}
    for b in blocks:
        kind = b[0]
        if kind == "h":
            lines += ["#" * b[1] + " " + b[2], ""]
        elif kind == "p":
            lines += [b[1], ""]
        elif kind == "table":
            lines += _table(b[1], b[2])
        elif kind == "tree":
            lines += ["  " * depth + "- " + text for depth, text in b[1]] + [""]
        elif kind == "pre":
            lines += [f"<details><summary>{b[1]}</summary>", "", "```yaml", b[2].rstrip(), "```", "", "</details>", ""]
        elif kind == "fig":
            fig = b[1]
            fname = f"{fig.name}.png"
            files[fname] = fig.png
            lines += [f"![{fig.title}]({fname})", "", f"*{fig.title}.* {fig.caption}".rstrip(), ""]
        else:
            raise ValueError(f"render_markdown: unknown block kind {kind!r}")
    return "\n".join(lines), files
