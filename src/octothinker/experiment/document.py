"""The findings report as blocks (the report package's block format), its figures, and their rendering.

Top table of every comparison, then per finding its claim, comparison table and a figure of its RL
runs' curves (mean over seeds with a min-max band), then the toy world's limits and the run facts.
Percent values carry one decimal; differences of percentages are in percentage points (pp).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..report.figures import Figure, _png  # noqa: E402
from ..report.html import render_html  # noqa: E402
from ..report.markdown import render_markdown  # noqa: E402

LIMITS_DOC = Path("docs") / "toy_findings_limits.md"
REPO_ROOT = Path(__file__).resolve().parents[3]


def find_limits_text(extra_roots: tuple[Path, ...] = ()) -> Optional[str]:
    """Text of docs/toy_findings_limits.md from the given roots, the current directory or the source checkout."""
    for root in (*extra_roots, Path.cwd(), REPO_ROOT):
        path = Path(root) / LIMITS_DOC
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def fmt_value(x: Optional[float], unit: str) -> str:
    if x is None:
        return "—"
    return f"{x:.1f}%" if unit == "pp" else f"{x:.1f} tok"


def _signed(x: float) -> str:
    return f"{round(x, 1) + 0.0:+.1f}"  # + 0.0 turns a rounded -0.0 into +0.0


def fmt_diff(x: Optional[float], unit: str) -> str:
    if x is None:
        return "—"
    return f"{_signed(x)} {'pp' if unit == 'pp' else 'tok'}"


def fmt_ci(c: dict) -> str:
    if c["ci_low"] is None:
        return f"n/a ({c['note'] or 'no values'})" if c["n"] else "—"
    return f"[{_signed(c['ci_low'])}, {_signed(c['ci_high'])}] {'pp' if c['unit'] == 'pp' else 'tok'}"


def claim_text(c: dict) -> str:
    return f"{c['a']} {'>' if c['expect'] == 'greater' else '<'} {c['b']}"


def comparison_cell(c: dict) -> str:
    return f"{c['name']} ({c['metric']}, {c['benchmark']}; claim {claim_text(c)})"


def per_seed_diffs(c: dict) -> str:
    cells = {int(seed): f"s{seed} {_signed(v['diff'])}" for seed, v in c["per_seed"].items()}
    cells.update({int(seed): f"s{seed} missing" for seed in c["missing"]})
    return ", ".join(cells[s] for s in sorted(cells)) or "—"


def per_seed_pairs(c: dict) -> str:
    parts = [f"s{seed} {v['a']:.1f} / {v['b']:.1f}" for seed, v in c["per_seed"].items()]
    return ", ".join(parts) or "—"


def verdict_cell(c: dict) -> str:
    """The comparison's verdict, saying over how many seeds when some seeds lack a run."""
    if c["missing"] and c["n"]:
        return f"{c['verdict']} ({c['n']} of {c['n'] + len(c['missing'])} seeds)"
    return c["verdict"]


def finding_verdict_text(f: dict) -> str:
    if f["verdict"] == "incomplete":
        return f"incomplete (measured comparisons: {f['verdict_measured']})"
    return f["verdict"]


def curves_figure(fname: str, title: str, curves: dict) -> Optional[Figure]:
    """Validation accuracy and response length vs RL step (and truncation when logged), mean + min-max band."""
    runs = {n: c for n, c in curves.items() if c["val_accuracy"]["x"] or c["truncation_rate"]["x"]}
    if not runs:
        return None
    panels = [("val_accuracy", "validation accuracy (%, benchmark avg)"),
              ("val_response_len", "validation response length (tokens)")]
    if any(max(c["truncation_rate"]["max"], default=0.0) > 0 for c in runs.values()):  # only when something truncates
        panels.append(("truncation_rate", "training truncation rate (%)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False, layout="constrained")
    for i, (name, c) in enumerate(runs.items()):
        color = f"C{i % 10}"
        for ax, (key, _) in zip(axes[0], panels):
            b = c[key]
            if not b["x"]:
                continue
            ax.plot(b["x"], b["mean"], marker="o", ms=3, color=color, label=f"{name} (n={max(b['n_seeds'])})")
            ax.fill_between(b["x"], b["min"], b["max"], color=color, alpha=0.18, linewidth=0)
    for ax, (_, t) in zip(axes[0], panels):
        ax.set_title(t, fontsize=10)
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return Figure(f"finding_{fname}", f"{title}: RL curves", _png(fig),
                  f"Panels: {'; '.join(t for _, t in panels)}. Mean over seeds (line) and min-max over seeds "
                  "(band); n = seeds with that run.")


def _fmt_s(seconds: Optional[float]) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def build_blocks(result: dict, facts: dict, title: str, limits: Optional[str]) -> list:
    """Blocks for render_html / render_markdown from `analysis.analyze` output and the experiment facts."""
    findings = result["findings"]
    blocks: list = [("h", 1, title)]
    seeds = ", ".join(str(s) for s in result["seeds"])
    blocks.append(("p", f"Seeds: {seeds} (n = {len(result['seeds'])}); scale {facts.get('scale', 1.0):g}. Each "
                        "comparison is the per-seed difference metric(a) - metric(b); its 95% interval is the "
                        "two-sided Student-t interval of the mean difference. Reproduced: the interval lies on the "
                        "paper's side of zero; not reproduced: wholly on the other side; inconclusive: it contains "
                        "zero (or fewer than two seeds)."))
    if not findings:
        blocks.append(("p", "The recipe's experiment section lists no findings."))
    rows = []
    for f in findings.values():
        for c in f["comparisons"]:
            rows.append([f["title"], f["claim"], comparison_cell(c), fmt_diff(c["mean_diff"], c["unit"]),
                         fmt_ci(c), fmt_resolvable(c), per_seed_diffs(c), verdict_cell(c)])
        if not f["comparisons"]:
            rows.append([f["title"], f["claim"], "(no comparisons)", "—", "—", "—", "—", f["verdict"]])
    if rows:
        blocks.append(("h", 2, "Findings"))
        blocks.append(("p", "Resolvable: the interval's half-width, the smallest true difference these seeds can "
                            "separate from zero (a difference about this size is reproduced half the time)."))
        blocks.append(("table", ["finding", "paper's claim", "comparison", "mean difference", "95% CI",
                                 "resolvable", "per-seed values", "verdict"], rows))
    blocks += readiness_blocks(result.get("readiness"))
    for fname, f in findings.items():
        blocks.append(("h", 2, f"{f['title']}: {finding_verdict_text(f)}"))
        if f["claim"]:
            blocks.append(("p", f"Paper's claim: {f['claim']}"))
        crow = [[c["name"], f"{c['metric']} ({c['benchmark']})", claim_text(c), fmt_value(c["mean_a"], c["unit"]),
                 fmt_value(c["mean_b"], c["unit"]), fmt_diff(c["mean_diff"], c["unit"]), fmt_ci(c),
                 per_seed_pairs(c), verdict_cell(c)] for c in f["comparisons"]]
        if crow:
            blocks.append(("table", ["comparison", "metric", "claim", "mean a", "mean b", "mean difference",
                                     "95% CI", "per seed (a / b)", "verdict"], crow))
        for c in f["comparisons"]:
            for seed, why in c["missing"].items():
                blocks.append(("p", f"Missing for {c['name']}, seed {seed}: {why}"))
        fig = curves_figure(fname, f["title"], f["curves"])
        if fig is not None:
            blocks.append(("fig", fig))
        elif f["curves"]:
            blocks.append(("p", f"No curves: none of {', '.join(f['curves'])} has logged RL metrics in any seed."))
    blocks.append(("h", 2, "What the toy world can and cannot show"))
    blocks += _limits_blocks(limits)
    blocks.append(("h", 2, "Facts"))
    blocks.append(("table", ["fact", "value"], _fact_rows(facts)))
    return blocks


def fmt_resolvable(c: dict) -> str:
    r = c.get("resolvable")
    return "—" if r is None else f"±{r:.1f} {'pp' if c['unit'] == 'pp' else 'tok'}"


def readiness_blocks(r: Optional[dict]) -> list:
    """The probe-vs-gain table: does a measure taken before RL rank the runs by the gain RL then gave them?"""
    if not r:
        return []
    out = [("h", 2, "RL readiness: does the probe predict the RL gain?"),
           ("p", f"Spearman's rho between each measure of the initial model (probe: `octothinker probe` under the "
                 f"run's RL settings, before RL; few-shot: its eval) and the realised RL gain (final minus step-0 "
                 f"validation accuracy), over {len(r['points'])} (seed, run) pairs of the runs "
                 f"{', '.join(r['runs'])}; 95% percentile-bootstrap interval over pairs (2000 resamples). Runs of "
                 "one seed share a base model, so pairs are not independent and the interval is optimistic. The last "
                 "column ranks inside each seed only (the branches of one stable model), averaged over seeds, with a "
                 "bootstrap within seeds: a seed whose every arm did better cannot make it large.")]
    for key, target in (("correlations", "greedy accuracy gain"), ("correlations_sampled", "avg@k gain")):
        if key not in r:
            continue
        rows = [[c["what"], str(c["n"]), "—" if c["rho"] is None else f"{c['rho']:+.2f}",
                 "—" if c["rho"] is None else f"[{c['low']:+.2f}, {c['high']:+.2f}]", c["reading"], _within(c)]
                for c in r[key]]
        out.append(("p", f"Against the realised {target}:"))
        out.append(("table", ["measure", "pairs", "Spearman rho", "95% bootstrap CI", "reading",
                              "within-seed rho [95% CI]"], rows))
    for pair, why in sorted(r["missing"].items()):
        out.append(("p", f"Missing pair {pair}: {why}"))
    return out


def _within(c: dict) -> str:
    if c.get("rho_within") is None:
        return "—"
    return f"{c['rho_within']:+.2f} [{c['low_within']:+.2f}, {c['high_within']:+.2f}] ({c['seeds_within']} seeds)"


def _limits_blocks(text: Optional[str]) -> list:
    if not text:
        return [("p", f"({LIMITS_DOC} is not written yet.)")]
    out = []
    for para in text.strip().split("\n\n"):
        para = para.strip()
        if para.startswith("#"):
            head, _, rest = para.partition("\n")
            out.append(("h", 3, head.lstrip("#").strip()))
            para = rest.strip()
        if para:
            out.append(("p", para))
    return out


def _fact_rows(facts: dict) -> list:
    rows = [["experiment directory", facts.get("experiment_dir", "—")], ["recipe", facts.get("recipe") or "—"],
            ["seeds", ", ".join(str(s) for s in facts.get("seeds", []))], ["scale", f"{facts.get('scale', 1.0):g}"]]
    if facts.get("scale_factors"):
        rows.append(["scale factors", ", ".join(f"{k} x{v:g}" for k, v in facts["scale_factors"].items())])
    for seed, s in facts.get("seed_runs", {}).items():
        rows.append([f"seed {seed}", f"{s.get('status', '?')}; wall {_fmt_s(s.get('wall_s'))} this call, "
                                     f"stage compute {_fmt_s(s.get('compute_s'))}; {s.get('run_dir', '')}"])
    if facts.get("total_wall_s") is not None:
        rows.append(["total wall time (last call)", _fmt_s(facts["total_wall_s"])])
    if facts.get("total_compute_s") is not None:
        rows.append(["total stage compute", _fmt_s(facts["total_compute_s"])])
    for k, v in sorted(facts.get("versions", {}).items()):
        rows.append([f"version: {k}", str(v)])
    return rows


def render(blocks: list) -> tuple[str, str, dict[str, bytes]]:
    """(html, markdown, {png name: bytes}) of the blocks."""
    md, pngs = render_markdown(blocks)
    return render_html(blocks), md, pngs
