"""Render report blocks as one self-contained HTML page: inline CSS, figures as base64 data URIs."""
from __future__ import annotations

import base64
from html import escape

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f2f2f2}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.85em}
ul.tree{font-family:monospace;list-style:none;padding-left:0}ul.tree li{white-space:pre}
"""


def _tree(lines: list[tuple[int, str]]) -> str:
    items = []
    for depth, text in lines:
        prefix = ("   " * (depth - 1) + "└─ ") if depth else ""
        items.append(f"<li>{escape(prefix + text)}</li>")
    return '<ul class="tree">' + "".join(items) + "</ul>"


def _table(headers: list, rows: list) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(blocks: list) -> str:
    """The whole page; it makes no network request (no scripts, fonts or remote images)."""
    title = next((b[2] for b in blocks if b[0] == "h" and b[1] == 1), "OctoThinker report")
    parts = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            parts.append(f"<h{b[1]}>{escape(b[2])}</h{b[1]}>")
        elif kind == "p":
            parts.append(f"<p>{escape(b[1])}</p>")
        elif kind == "table":
            parts.append(_table(b[1], b[2]))
        elif kind == "tree":
            parts.append(_tree(b[1]))
        elif kind == "pre":
            parts.append(f"<details><summary>{escape(b[1])}</summary><pre>{escape(b[2])}</pre></details>")
        elif kind == "fig":
            fig = b[1]
            data = base64.b64encode(fig.png).decode("ascii")
            parts.append(
                f'<figure id="{escape(fig.name)}"><img alt="{escape(fig.title)}" src="data:image/png;base64,{data}">'
                f"<figcaption><b>{escape(fig.title)}.</b> {escape(fig.caption)}</figcaption></figure>"
            )
        else:
            raise ValueError(f"render_html: unknown block kind {kind!r}")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
