"""The report's content as a list of format-neutral blocks, rendered by `html` and `markdown`.

Blocks are tuples: ("h", level, text), ("p", text), ("table", headers, rows),
("fig", Figure), ("tree", [(depth, text)]), ("pre", summary, text). Built only from `RunData`.
"""
from __future__ import annotations

from typing import Optional, Sequence

import yaml

from .collect import MEMORISATION_SETS, RunData, num, tree
from .figures import (
    midtrain_figure, passk_figure, rl_diagnostics_figure, rl_dynamics_figure, rl_passk_figure,
)

NOT_RUN = "not run: no {what} found under {where}"
DASH = "–"


def average(values: Sequence[Optional[float]]) -> Optional[float]:
    """Mean of a table row, or None when any cell is missing (a partial average would mislead)."""
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


def fmt(v: Optional[float], digits: int = 1) -> str:
    return DASH if v is None else f"{v:.{digits}f}"


def fmt_seconds(s: Optional[float]) -> str:
    if s is None:
        return DASH
    s = float(s)
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"


def is_rl_eval(model: str, ev: dict, data: RunData) -> bool:
    """An eval of an RL'd model: protocol rl_template, or (protocol unknown) a model named like an RL run."""
    if ev.get("protocol") in ("fewshot", "rl_template"):
        return ev["protocol"] == "rl_template"
    return model in data.rl or model.startswith("rl_") or model.startswith("rl-")


def results_table(evals: dict[str, dict], metric: str = "accuracy", digits: int = 1) -> tuple[list, list]:
    """(headers, rows): one row per model, one column per benchmark plus the average."""
    benches = sorted({b for ev in evals.values() for b in ev["benchmarks"]})
    rows = []
    for model, ev in sorted(evals.items()):
        vals = [num(ev["benchmarks"].get(b, {}).get(metric)) for b in benches]
        rows.append([model] + [fmt(v, digits) for v in vals] + [fmt(average(vals), digits)])
    return ["model"] + benches + ["average"], rows


def _benches(data: RunData) -> list[str]:
    """The RL validation benchmarks of a run: every validation set but the memorisation pair."""
    return sorted({b for rl in data.rl.values() for b in rl.validation if b not in MEMORISATION_SETS})


def final_validation_table(data: RunData) -> tuple[list, list]:
    """Last RL validation accuracy per benchmark for each RL run (used when no RL eval exists)."""
    benches = _benches(data)
    rows = []
    for name, rl in sorted(data.rl.items()):
        vals = [rl.validation[b]["accuracy"][-1] if rl.validation.get(b) else None for b in benches]
        steps = {int(rl.validation[b]["step"][-1]) for b in benches if rl.validation.get(b)}
        label = f"{name} (step {', '.join(map(str, sorted(steps)))})" if steps else name
        rows.append([label] + [fmt(v) for v in vals] + [fmt(average(vals))])
    return ["RL run"] + benches + ["average"], rows


def change(steps: Sequence[float], values: Optional[Sequence[Optional[float]]]) -> Optional[str]:
    """The cell `first → last (change) @ step→step` over the points with a value; None with fewer than two."""
    pts = [(s, v) for s, v in zip(steps, values or []) if v is not None]
    if len(pts) < 2:
        return None
    (s0, first), (s1, last) = pts[0], pts[-1]
    return f"{fmt(first)} → {fmt(last)} ({last - first:+.1f}) @ {int(s0)}→{int(s1)}"


def _delta(steps: Sequence[float], values: Optional[Sequence[Optional[float]]]) -> Optional[float]:
    pts = [v for v in (values or []) if v is not None]
    return pts[-1] - pts[0] if len(pts) >= 2 else None


def _has(v: Optional[dict], key: str) -> bool:
    return bool(v) and any(x is not None for x in v.get(key) or [])


def sample_counts(data: RunData) -> list[int]:
    """The distinct k (samples per problem) of the RL validation points that report avg@k."""
    return sorted({int(k) for rl in data.rl.values() for v in rl.validation.values()
                   for k, s in zip(v.get("samples") or [], v.get("sampled") or []) if k and s is not None})


def rl_effect_table(data: RunData) -> tuple[list, list]:
    """Per RL run and benchmark: validation accuracy at the first point (step 0 = before RL), the last, and the
    change -- the like-for-like RL effect (same template, problems and decoding at both ends). Greedy, and
    avg@k beside it where the run's validation sampled; the memorisation pair is left to `memorisation_table`."""
    benches = _benches(data)
    sampled = any(_has(rl.validation.get(b), "sampled") for rl in data.rl.values() for b in benches)
    rows = []
    for name, rl in sorted(data.rl.items()):
        cells = []
        for b in benches:
            v = rl.validation.get(b) or {"step": [], "accuracy": []}
            cells.append(change(v["step"], v["accuracy"]) or DASH)
            if sampled:
                cells.append(change(v["step"], v.get("sampled")) or DASH)
        rows.append([name] + cells)
    headers = [h for b in benches for h in ((f"{b} greedy", f"{b} avg@k") if sampled else (b,))]
    return ["RL run"] + headers, rows


CONTROL_IGNORED = ("reward_control", "variants", "init_from")  # settings a control arm may differ in from its treatment


def control_pairs(data: RunData) -> list[tuple[str, str]]:
    """(treatment, control) RL run names: a control (`reward_control` set) and the rewarded run that starts from the
    same checkpoint with the same settings otherwise; a control with no such run is left out."""
    def same(a, b) -> bool:
        ka = {k: v for k, v in a.config.items() if k not in CONTROL_IGNORED}
        kb = {k: v for k, v in b.config.items() if k not in CONTROL_IGNORED}
        return all(a.lineage.get(k) == b.lineage.get(k) for k in ("parent", "init")) and ka == kb

    pairs = []
    for cname, ctl in sorted(data.rl.items()):
        if ctl.config.get("reward_control") in (None, "none"):
            continue
        match = [t for t, run in sorted(data.rl.items())
                 if run.config and run.config.get("reward_control") in (None, "none") and same(run, ctl)]
        if match:
            pairs.append((match[0], cname))
    return pairs


def control_table(data: RunData) -> tuple[list, list]:
    """Per rewarded run with a control arm and per benchmark: both changes (avg@k where both sampled, else greedy)
    and their difference, the part of the RL effect the reward itself made."""
    rows = []
    for treat, ctl in control_pairs(data):
        for b in _benches(data):
            t, c = data.rl[treat].validation.get(b), data.rl[ctl].validation.get(b)
            if not t or not c:
                continue
            key = "sampled" if _has(t, "sampled") and _has(c, "sampled") else "accuracy"
            dt, dc = _delta(t["step"], t.get(key)), _delta(c["step"], c.get(key))
            gap = f"{dt - dc:+.1f}" if dt is not None and dc is not None else DASH
            rows.append([treat, ctl, b, "avg@k" if key == "sampled" else "greedy",
                         change(t["step"], t.get(key)) or DASH, change(c["step"], c.get(key)) or DASH, gap])
    return ["rewarded run", "control", "benchmark", "measure", "rewarded", "control", "rewarded change − control change"], rows


def memorisation_table(data: RunData) -> tuple[list, list]:
    """Per RL run with the memorisation pair: rl_seen and rl_fresh first → last and the difference of the two
    changes. avg@k where both sets have it, else greedy (one measure for both, so they compare)."""
    rows = []
    for name, rl in sorted(data.rl.items()):
        seen, fresh = (rl.validation.get(s) for s in MEMORISATION_SETS)
        if not seen and not fresh:
            continue
        key = "sampled" if _has(seen, "sampled") and _has(fresh, "sampled") else "accuracy"
        cells = [change(v["step"], v.get(key)) or DASH if v else DASH for v in (seen, fresh)]
        ds = [_delta(v["step"], v.get(key)) if v else None for v in (seen, fresh)]
        gap = f"{ds[0] - ds[1]:+.1f}" if None not in ds else DASH
        rows.append([name, "avg@k" if key == "sampled" else "greedy", *cells, gap])
    return ["RL run", "measure", "rl_seen (trained prompts)", "rl_fresh (never-used prompts)",
            "seen change − fresh change"], rows


def depth_table(data: RunData) -> tuple[list, list]:
    """Per RL run, benchmark and problem depth: avg@k (else greedy) first → last."""
    rows = []
    for name, rl in sorted(data.rl.items()):
        for b in sorted(b for b in rl.validation if b not in MEMORISATION_SETS):
            v = rl.validation[b]
            for dep, d in sorted((v.get("depth") or {}).items()):
                sampled = change(v["step"], d.get("sampled"))
                cell = sampled or change(v["step"], d.get("accuracy"))
                if cell:
                    rows.append([name, b, str(dep), "avg@k" if sampled else "greedy", cell])
    return ["RL run", "benchmark", "depth (steps)", "measure", "first → last (change)"], rows


def _rl_validation_blocks(data: RunData) -> list:
    """RL effect on the benchmarks, the pass@k figure, the memorisation check and the per-depth table."""
    if not any(len(v["accuracy"]) > 1 for r in data.rl.values() for v in r.validation.values()):
        return []
    out = [("h", 3, "RL effect on validation (accuracy %, first → last validation point)")]
    headers, rows = rl_effect_table(data)
    if any(h.endswith(" avg@k") for h in headers):
        ks = sample_counts(data)
        k = f"k = {', '.join(map(str, ks))}" if ks else "k"
        out.append(("p", "Greedy is one greedy response per problem; avg@k is the mean accuracy over "
                         f"{k} samples per problem at the validation temperature. Both ends use the same problems, "
                         "RL template, response budget and sampling seed, so the change is the RL effect. The tables "
                         "around it mix protocols: few-shot before RL, the zero-shot RL template after."))
    else:
        out.append(("p", "Both ends use the RL template, greedy decoding and the same problems, so the change is "
                         "the RL effect. The tables around it mix protocols: few-shot before RL, the zero-shot RL "
                         "template after."))
    out.append(("table", headers, rows))
    pk = rl_passk_figure(data)
    if pk:
        out.append(("fig", pk))
    headers, rows = control_table(data)
    if rows:
        out.append(("h", 3, "Reward against its control (accuracy %, first → last validation point)"))
        out.append(("p", "The control arm makes the same updates from the same model with its rewards shuffled across "
                         "each batch, so whatever it gains or loses is the updates' noise alone, and the last column "
                         "is what the reward itself did. One control run is one draw of that noise: in the toy demo "
                         "re-drawn controls of one model ended several points apart, either side of their start "
                         "(docs/rl.md), so judge the reward by the last column rather than by one control's sign."))
        out.append(("table", headers, rows))
    headers, rows = memorisation_table(data)
    if any(c != DASH for r in rows for c in r[2:4]):
        out.append(("h", 3, "Memorisation check (accuracy %, first → last validation point)"))
        out.append(("p", "rl_seen are RL prompts this run trains on; rl_fresh are prompts of the same distribution "
                         "that it never uses. A gain on the seen prompts that the fresh ones do not share is "
                         "memorisation, not a skill; equal gains mean what RL taught carries over."))
        out.append(("table", headers, rows))
    headers, rows = depth_table(data)
    if rows:
        out.append(("h", 3, "By depth (accuracy %, first → last validation point)"))
        out.append(("p", "Depth is a problem's number of reasoning steps. Depths above the largest depth among the "
                         "RL training prompts test extrapolation; few problems per depth make these numbers noisy."))
        out.append(("table", headers, rows))
    return out


def _lineage_blocks(data: RunData) -> list:
    items = tree(data.nodes)
    if not items:
        return [("p", NOT_RUN.format(what="lineage.json", where="midtrain/ or rl/"))]
    lines = []
    for depth, n in items:
        label = n.name if n.kind != "external" else f"{n.name} (outside this run)"
        lines.append((depth, f"{label}" + (f" — {n.detail}" if n.detail else "")))
    return [("tree", lines)]


def _data_blocks(data: RunData) -> list:
    if not data.manifests:
        return [("p", NOT_RUN.format(what="manifest.json", where="data/"))]
    rows = []
    for mix, m in sorted(data.manifests.items()):
        sources = m.get("sources") if isinstance(m.get("sources"), dict) else {}
        parts = [f"{s}: {v.get('tokens', '?')}" for s, v in sorted(sources.items()) if isinstance(v, dict)]
        rows.append([mix, str(m.get("tokens", DASH)), str(m.get("rows", DASH)), str(m.get("seq_len", DASH)), "; ".join(parts)])
    return [("table", ["mixture", "tokens", "rows", "seq_len", "tokens per source"], rows)]


def _midtrain_blocks(data: RunData) -> list:
    fig = midtrain_figure(data)
    if fig is None:
        return [("p", NOT_RUN.format(what="metrics.jsonl with tokens", where="midtrain/"))]
    rows = []
    for stage, mrows in data.midtrain.items():
        last = mrows[-1] if mrows else {}
        rows.append([stage, str(last.get("step", DASH)), str(last.get("tokens", DASH)), fmt(num(last.get("loss")), 3)])
    return [("fig", fig), ("table", ["stage", "last step", "tokens", "last loss"], rows)]


def _rl_blocks(runs: list[tuple[str, RunData]]) -> list:
    out = []
    dyn = rl_dynamics_figure(runs)
    out.append(("fig", dyn) if dyn else ("p", NOT_RUN.format(what="RL validation rows", where="rl/*/metrics.jsonl")))
    diag = rl_diagnostics_figure(runs)
    out.append(("fig", diag) if diag else ("p", NOT_RUN.format(what="RL training rows", where="rl/*/metrics.jsonl")))
    return out


def _results_blocks(data: RunData) -> list:
    base = {m: ev for m, ev in data.evals.items() if not is_rl_eval(m, ev, data)}
    rl = {m: ev for m, ev in data.evals.items() if is_rl_eval(m, ev, data)}
    out = [("h", 3, "Base models, few-shot (accuracy %)")]
    if base:
        out.append(("table", *results_table(base)))
        out.append(("p", "Mean response length (tokens) of the same evaluations:"))
        out.append(("table", *results_table(base, "mean_tokens", 0)))
    else:
        out.append(("p", NOT_RUN.format(what="few-shot eval summary.json", where="eval/")))
    out += _rl_validation_blocks(data)
    out.append(("h", 3, "After RL (accuracy %)"))
    if rl:
        out.append(("table", *results_table(rl)))
        out.append(("p", "Mean response length (tokens) of the same evaluations:"))
        out.append(("table", *results_table(rl, "mean_tokens", 0)))
    elif any(r.validation for r in data.rl.values()):
        out.append(("p", "No RL-template eval found; last RL validation point per run:"))
        out.append(("table", *final_validation_table(data)))
    else:
        out.append(("p", NOT_RUN.format(what="RL eval or validation", where="eval/ or rl/")))
    pk = passk_figure(data)
    out.append(("h", 3, "pass@k"))
    out.append(("fig", pk) if pk else ("p", "not computed: no eval summary has pass@k for two or more k"))
    return out


def _seeds(facts: dict) -> str:
    """Every seed in run.json: `seeds` (dict or int), `seed`, and each config section's `seed`."""
    seeds: dict[str, object] = {}
    cfg = facts.get("config") if isinstance(facts.get("config"), dict) else {}
    for section, values in cfg.items():
        if isinstance(values, dict) and values.get("seed") is not None:
            seeds[section] = values["seed"]
    top = facts.get("seeds", facts.get("seed"))
    if isinstance(top, dict):
        seeds.update(top)
    elif top is not None:
        seeds.setdefault("run", top)
    return ", ".join(f"{k}={v}" for k, v in seeds.items())


def compute_blocks(data: RunData) -> list:
    """The measured compute table (tokens, FLOPs, wall time, device-hours per stage and in total), as the
    dry-run budget gives it planned."""
    from ..budget import hours, si
    from .compute import device_peak, measured, run_shape

    rows = measured(data)
    if not rows:
        return []
    shape, peak = run_shape(data), device_peak(data)
    cell = lambda x, f: DASH if x is None else f(x)  # noqa: E731
    table = []
    for m in rows:
        table.append([m.stage, m.status or DASH, cell(m.train_tokens, si), cell(m.gen_tokens, si),
                      cell(m.flops, lambda x: f"{x:.3g}"), fmt_seconds(m.wall_s), cell(m.device_hours, hours),
                      cell(m.flops_per_s, lambda x: f"{x / 1e12:.3g}"),
                      cell(m.flops_per_s if peak else None, lambda x: f"{100 * x / peak:.1f}%")])
    keys = ("train_tokens", "gen_tokens", "flops", "wall_s")
    sums = {k: [getattr(m, k) for m in rows if getattr(m, k) is not None] for k in keys}
    total = {k: sum(v) if v else None for k, v in sums.items()}
    table.append(["total", DASH, cell(total["train_tokens"], si), cell(total["gen_tokens"], si),
                  cell(total["flops"], lambda x: f"{x:.3g}"), fmt_seconds(total["wall_s"]),
                  cell(total["wall_s"], lambda x: hours(x / 3600)), DASH, DASH])
    model = (f"model {si(shape.params)} parameters (N = {si(shape.matmul_params)} in matmuls, L = {shape.layers}, "
             f"d = {shape.attn_width})" if shape else "model shape unknown (no checkpoint config.json): no FLOPs")
    gpu = (f"utilisation against a {peak / 1e12:g} TFLOP/s peak" if peak
           else "no utilisation: not a GPU of the budget's table")
    note = (f"Measured from the run's files (octothinker.report.compute): {model}; FLOPs by the budget's formulas "
            "(training 6N + 6Lds per token, decoding 2N + 2LdR; prompts not counted); wall time from pipeline.json; "
            f"device-hours = wall time x 1 device (each stage runs in one process); {gpu}. "
            "`octothinker run <recipe> --dry-run` prints the same table planned.")
    head = ["stage", "status", "train tokens", "generated tokens", "FLOPs", "wall time", "device-hours", "TFLOP/s",
            "utilisation"]
    return [("h", 3, "Compute per stage"), ("p", note), ("table", head, table)]


def _facts_blocks(data: RunData) -> list:
    f = data.facts
    if not f:
        return [("p", NOT_RUN.format(what="run.json", where=str(data.root)))]
    rows = []
    for key in ("recipe", "command", "config_hash", "started", "finished"):
        if f.get(key) not in (None, ""):
            rows.append([key, str(f[key])])
    stages = f.get("stages") if isinstance(f.get("stages"), dict) else {}
    stage_walls = [num(st.get("wall_s")) for st in stages.values() if isinstance(st, dict)]
    if num(f.get("wall_s")) is not None:
        rows.append(["total wall time", fmt_seconds(num(f["wall_s"]))])
    elif stage_walls and None not in stage_walls:
        rows.append(["total wall time (stages run)", fmt_seconds(sum(stage_walls))])
    rows += [["seeds", s] for s in [_seeds(f)] if s]
    for group in ("versions", "hardware"):
        if isinstance(f.get(group), dict):
            rows.extend([f"{group}.{k}", str(v)] for k, v in f[group].items())
    out = [("table", ["fact", "value"], rows)] if rows else []
    out += compute_blocks(data)
    if isinstance(f.get("config"), dict):
        out.append(("pre", "resolved config", yaml.safe_dump(f["config"], sort_keys=False)))
    return out


def build_document(data: RunData, compare: Sequence[RunData] = (), title: str | None = None) -> list:
    """All report blocks for one run, plus a comparison section when other runs are given."""
    doc = [("h", 1, title or f"OctoThinker run: {data.name}"), ("p", f"Run directory: {data.root}")]
    doc += [("h", 2, "Lineage")] + _lineage_blocks(data)
    doc += [("h", 2, "Data mixtures")] + _data_blocks(data)
    doc += [("h", 2, "Mid-training")] + _midtrain_blocks(data)
    doc += [("h", 2, "RL dynamics")] + _rl_blocks([(data.name, data)])
    doc += [("h", 2, "Results")] + _results_blocks(data)
    if compare:
        runs = [(data.name, data)] + [(c.name, c) for c in compare]
        doc += [("h", 2, "Comparison: " + ", ".join(r for r, _ in runs))]
        dyn = rl_dynamics_figure(runs, "compare_rl_dynamics")
        diag = rl_diagnostics_figure(runs, "compare_rl_diagnostics")
        doc.append(("fig", dyn) if dyn else ("p", "no RL validation rows in the compared runs"))
        if diag:
            doc.append(("fig", diag))
    doc += [("h", 2, "Run facts")] + _facts_blocks(data)
    problems = data.problems + [p for c in compare for p in c.problems]
    if problems:
        doc += [("h", 2, "Unreadable files")] + [("p", p) for p in problems]
    return doc
