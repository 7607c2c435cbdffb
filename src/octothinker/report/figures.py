"""Report figures as PNG bytes (matplotlib, Agg backend; no display, no torch).

Each function returns None when there is nothing to plot, so the caller can say "not run".
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from matplotlib.lines import Line2D  # noqa: E402

from .collect import (  # noqa: E402
    MEMORISATION_SETS, RL_DIAGNOSTICS, RunData, heldout_keys, midtrain_tokens, pass_at_k, series, token_offset,
)

DPI = 90


@dataclass
class Figure:
    name: str  # file stem, e.g. "rl_dynamics"
    title: str
    png: bytes
    caption: str = ""


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)  # the figures use constrained layout; "tight" would draw each twice
    plt.close(fig)
    return buf.getvalue()


def _grid(n: int, ncols: int, w: float = 4.0, h: float = 3.0):
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows), squeeze=False, layout="constrained")
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def midtrain_figure(data: RunData) -> Optional[Figure]:
    """Loss and LR against tokens seen, one line per stage/branch; held-out loss per source."""
    stages = [s for s in data.midtrain if midtrain_tokens(data, s)[0]]
    if not stages:
        return None
    hkeys = sorted({k for s in stages for k in heldout_keys(data.midtrain[s])})
    fig, axes = _grid(2 + len(hkeys), 3)
    color = {s: f"C{i % 10}" for i, s in enumerate(stages)}  # one colour per stage in every panel
    for s in stages:
        toks, loss, lr = midtrain_tokens(data, s)
        for ax, ys in ((axes[0], loss), (axes[1], lr)):
            pts = [(t, y) for t, y in zip(toks, ys) if y is not None]
            if pts:
                ax.plot(*zip(*pts), label=s, color=color[s])
        for ax, key in zip(axes[2:], hkeys):
            xs, ys = series(data.midtrain[s], "tokens", key)
            if xs:
                shift = token_offset(data, s)
                ax.plot([x + shift for x in xs], ys, marker=".", label=s, color=color[s])
    titles = ["training loss", "learning rate"] + [k.split("/", 1)[1] + " held-out loss" for k in hkeys]
    for ax, t in zip(axes, titles):
        ax.set_title(t)
        ax.set_xlabel("tokens seen")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return Figure("midtrain", "Mid-training: loss and learning rate vs tokens", _png(fig),
                  "Decay branches continue the stable stage's token axis from their branch point.")


LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")


def _rl_lines(runs: list[tuple[str, RunData]]):
    """(label, style, RLRun, index of the compared run) per RL run: colour by RL-run name, line style by
    compared run."""
    several = len(runs) > 1
    names = sorted({n for _, data in runs for n in data.rl})
    for i, (run_label, data) in enumerate(runs):
        for name, rl in data.rl.items():
            style = {"color": f"C{names.index(name) % 10}", "linestyle": LINESTYLES[i % len(LINESTYLES)]}
            yield (f"{run_label}: {name}" if several else name), style, rl, i


def _present(v: dict, key: str) -> list[tuple[float, float]]:
    return [(s, y) for s, y in zip(v["step"], v.get(key) or []) if y is not None]


def rl_dynamics_figure(runs: list[tuple[str, RunData]], name: str = "rl_dynamics") -> Optional[Figure]:
    """Paper-style RL curves: per benchmark, accuracy and mean response length vs RL step.

    Where validation sampled, avg@k (and its length) is drawn dashed beside the solid greedy line in the same
    colour (compared runs then differ by marker), and a third row shows the lucky rate where it was measured.
    """
    lines = list(_rl_lines(runs))
    present = {b for _, _, rl, _ in lines for b in rl.validation}
    benches = sorted(present - set(MEMORISATION_SETS)) + [m for m in MEMORISATION_SETS if m in present]
    if not benches:
        return None
    sampled = any(_present(v, "sampled") for _, _, rl, _ in lines for v in rl.validation.values())
    lucky = any(_present(v, "lucky") for _, _, rl, _ in lines for v in rl.validation.values())
    nrows = 3 if lucky else 2
    fig, axes = plt.subplots(nrows, len(benches), figsize=(4.0 * len(benches), 3.0 * nrows), squeeze=False,
                             layout="constrained")
    for j, bench in enumerate(benches):
        for label, style, rl, i in lines:
            v = rl.validation.get(bench)
            if not v:
                continue
            if sampled:  # solid greedy, dashed avg@k: the compared run is told apart by its marker instead
                style = {"color": style["color"], "linestyle": "-", "marker": MARKERS[i % len(MARKERS)]}
            else:
                style = {**style, "marker": "o"}
            dashed = {**style, "linestyle": "--"}
            axes[0][j].plot(v["step"], v["accuracy"], ms=3, label=label, **style)
            for row, key, st in ((0, "sampled", dashed), (1, "length", style), (1, "sampled_length", dashed),
                                 (2, "lucky", style)):
                pts = _present(v, key)
                if pts and row < nrows:
                    axes[row][j].plot(*zip(*pts), ms=3, label=label if key == "length" else None, **st)
        axes[0][j].set_title(f"{bench}: accuracy (%)")
        axes[1][j].set_title(f"{bench}: mean response length")
        if lucky:
            axes[2][j].set_title(f"{bench}: lucky (% of correct samples)")
            if not axes[2][j].lines:
                axes[2][j].text(0.5, 0.5, "not measured", ha="center", va="center", transform=axes[2][j].transAxes)
        for i in range(nrows):
            axes[i][j].set_xlabel("RL step")
            axes[i][j].grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if sampled:
        handles += [Line2D([], [], color="k", linestyle="-"), Line2D([], [], color="k", linestyle="--")]
        labels += ["greedy (solid)", "avg@k (dashed)"]
    axes[0][0].legend(handles, labels, fontsize=7)
    title = "RL dynamics per benchmark" + (" (compared runs)" if len(runs) > 1 else "")
    caption = "Validation accuracy and mean response length, one line per RL run."
    if sampled:
        caption += (" Solid: greedy; dashed: avg@k, the mean over k samples per problem at the validation "
                    "temperature.")
    if lucky:
        caption += " Lucky: correct samples that do not write out the gold chain of steps."
    return Figure(name, title, _png(fig), caption)


def rl_diagnostics_figure(runs: list[tuple[str, RunData]], name: str = "rl_diagnostics") -> Optional[Figure]:
    """Training-rollout dynamics: accuracy, reward, length, truncation, reflection words, entropy, ..."""
    lines = list(_rl_lines(runs))
    panels = []
    for keys, title, scale in RL_DIAGNOSTICS:
        if any(series(rl.rows, "step", keys)[0] for _, _, rl, _ in lines):
            panels.append((keys, title, scale))
    if not panels:
        return None
    fig, axes = _grid(len(panels), 4, 3.6, 2.8)
    for ax, (keys, title, scale) in zip(axes, panels):
        for label, style, rl, _ in lines:
            xs, ys = series(rl.rows, "step", keys, scale)
            if xs:
                ax.plot(xs, ys, label=label, **style)
        ax.set_title(title)
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return Figure(name, "RL training dynamics (rollouts)", _png(fig),
                  "Computed on each step's training rollouts.")


def passk_figure(data: RunData) -> Optional[Figure]:
    """pass@k vs k (log scale), one panel per benchmark, one line per evaluated model."""
    curves: dict[str, list[tuple[str, dict[int, float]]]] = {}
    for model, ev in data.evals.items():
        for bench, m in ev["benchmarks"].items():
            pk = pass_at_k(m)
            if len(pk) >= 2:
                curves.setdefault(bench, []).append((model, pk))
    if not curves:
        return None
    fig, axes = _grid(len(curves), 3)
    for ax, (bench, lines) in zip(axes, sorted(curves.items())):
        for model, pk in lines:
            ax.plot(list(pk), list(pk.values()), marker="o", ms=3, label=model)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{bench}: pass@k (%)")
        ax.set_xlabel("k")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return Figure("pass_at_k", "pass@k", _png(fig), "Unbiased pass@k estimates from the eval summaries.")


def _passk_ends(v: dict) -> list[tuple[float, dict[int, float]]]:
    """(step, {J: pass@J %}) at the first and the last validation point with pass@J for two or more J."""
    pts = [(s, pk) for s, pk in zip(v["step"], v.get("passk") or []) if len(pk) >= 2]
    return pts[:1] + pts[1:][-1:]


def rl_passk_figure(data: RunData) -> Optional[Figure]:
    """pass@k before and after RL: per benchmark (not the memorisation pair), each RL run's validation pass@k
    curve at the first validation point (dashed) and at the last (solid); k on a log2 axis."""
    names = sorted(data.rl)
    panels: dict[str, list[tuple[str, list]]] = {}
    for name in names:
        for bench, v in data.rl[name].validation.items():
            ends = _passk_ends(v)
            if bench not in MEMORISATION_SETS and ends:
                panels.setdefault(bench, []).append((name, ends))
    if not panels:
        return None
    fig, axes = _grid(len(panels), 3)
    for ax, (bench, curves) in zip(axes, sorted(panels.items())):
        for name, ends in curves:
            colour = f"C{names.index(name) % 10}"
            for (step, pk), ls in zip(ends, ("--", "-") if len(ends) == 2 else ("-",)):
                ax.plot(list(pk), list(pk.values()), marker="o", ms=3, color=colour, linestyle=ls,
                        label=f"{name} @ step {int(step)}")
        ax.set_xscale("log", base=2)
        ax.set_title(f"{bench}: pass@k (%)")
        ax.set_xlabel("k")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return Figure("rl_pass_at_k", "pass@k before and after RL", _png(fig),
                  "Unbiased validation pass@k from the k samples per problem at the validation temperature: "
                  "dashed at the first validation point (step 0 is the policy before RL), solid at the last.")
