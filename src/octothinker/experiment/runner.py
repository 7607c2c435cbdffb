"""`octothinker experiment`: run a recipe once per training seed through the pipeline, then write the findings.

Layout: `<run.root>/<run.name>/` holds `seed_<s>/` (an ordinary run directory per seed, so `octothinker
run`'s caching and resume apply: a rerun skips finished stages), `experiment.json` (seeds, scale, wall
times, versions), `findings.json`, `findings.md` with its PNGs and a self-contained `index.html`.
The toy world's seed stays as the recipe says (the world is fixed); only `run.seed` varies.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional, Sequence

from .. import pipeline
from ..config import Recipe
from ..paths import atomic_write_bytes, atomic_write_json, atomic_write_text
from .scale import scale_factors, scale_recipe

__all__ = ["experiment_dir", "pending_estimate", "run_experiment", "scale_recipe", "seed_recipe", "write_findings"]


def experiment_dir(recipe: Recipe) -> Path:
    return Path(recipe.run.root) / recipe.run.name


def seed_dir(exp_dir: Path, seed: int) -> Path:
    return Path(exp_dir) / f"seed_{seed}"


def seed_recipe(recipe: Recipe, seed: int, exp_dir: Path) -> Recipe:
    """The recipe of one seed: run directory `<exp_dir>/seed_<seed>` and `run.seed = seed`; all else unchanged."""
    run = dataclasses.replace(recipe.run, root=str(exp_dir), name=f"seed_{seed}", seed=int(seed))
    return dataclasses.replace(recipe, run=run)


def pending_estimate(recipe: Recipe) -> float:
    """Estimated seconds of the stages `run_pipeline` would not skip (same rule as its dry-run plan)."""
    state = pipeline.read_state(recipe.run_dir)
    return sum(s.estimate_s for s in pipeline.plan(recipe) if not pipeline.is_cached(s, state))


def _compute_s(run_dir: Path) -> Optional[float]:
    """Sum of the finished stages' wall times recorded in the seed's pipeline.json (across calls)."""
    if not (run_dir / "pipeline.json").is_file():
        return None
    state = pipeline.read_state(run_dir)
    return round(sum(float(s.get("wall_s") or 0.0) for s in state.values() if s.get("status") == "done"), 2)


def versions() -> dict:
    """Package versions without importing them (the analysis side never imports torch)."""
    out = {"python": sys.version.split()[0]}
    for pkg in ("octothinker", "torch", "transformers", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _load_facts(exp_dir: Path) -> dict:
    path = exp_dir / "experiment.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _run_seeds_side_by_side(per_seed: dict, runs: dict, facts: dict, exp_dir: Path, jobs: int, echo) -> None:
    """Every seed's pending stages as one graph (`--jobs`): the seeds and the arms within a seed run side by side."""
    prepared = []
    for s, r in per_seed.items():
        stages = pipeline.plan(r, time_probe=False)
        book, todo = pipeline.prepare(r, stages, pipeline.read_state(r.run_dir), False, echo)
        prepared.append((r, book, todo))
        runs[str(s)] = {"run_dir": str(r.run_dir), "status": "running", "started": time.time()}
    atomic_write_json(exp_dir / "experiment.json", facts)
    t0 = time.time()
    try:
        pipeline.run_side_by_side(prepared, jobs, echo)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        for s, r in per_seed.items():
            runs[str(s)].update(status=status, wall_s=round(time.time() - t0, 2), error=str(exc).splitlines()[0],
                                compute_s=_compute_s(Path(r.run_dir)))
        facts["total_wall_s"] = round(time.time() - t0, 2)
        atomic_write_json(exp_dir / "experiment.json", facts)
        raise
    for s, r in per_seed.items():
        runs[str(s)].update(status="done", wall_s=round(time.time() - t0, 2), compute_s=_compute_s(Path(r.run_dir)))
    facts["jobs"] = jobs
    echo(f"== {len(per_seed)} seed(s) done in {pipeline.fmt_s(time.time() - t0)} ({jobs} jobs) ==")


def run_experiment(recipe: Recipe, seeds: Optional[Sequence[int]] = None, scale: float = 1.0, dry_run: bool = False,
                   analyze_only: bool = False, echo: Callable[[str], None] = print, jobs: int = 1) -> Path:
    """Run every seed's pipeline (unless `analyze_only`), then analyse and write the findings; returns the dir.

    A seed whose pipeline fails stops the experiment with the pipeline's `StageFailed`; finished
    stages and seeds are kept, so rerunning the same command resumes.
    """
    seeds = [int(s) for s in (seeds if seeds else recipe.experiment.seeds)]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: need distinct seeds, got {seeds}")
    factors = scale_factors(scale)
    exp_dir = experiment_dir(recipe)
    scaled = scale_recipe(recipe, scale)
    per_seed = {s: seed_recipe(scaled, s, exp_dir) for s in seeds}
    if dry_run:
        from ..budget import budget_text, hours, stage_seconds, total as budget_total

        total, gpu_h, flops = 0.0, 0.0, 0.0
        for i, (s, r) in enumerate(per_seed.items(), 1):
            echo(f"== seed {s} ({i}/{len(seeds)}) ==")
            pipeline.run_pipeline(r, dry_run=True, echo=echo)
            stages, state = pipeline.plan(r), pipeline.read_state(r.run_dir)
            rows = budget_text(r, stages)[1]
            seconds = stage_seconds(r, stages, rows)  # the seed's plan: GPU stages of a pretrained model from the budget
            total += sum(seconds[st.id] for st in stages if not pipeline.is_cached(st, state))
            if rows:
                gpu_h, flops = gpu_h + budget_total(rows).gpu_hours, flops + budget_total(rows).flops
        est = f"{hours(total / 3600)} h" if recipe.model.init == "pretrained" else pipeline.fmt_s(total)
        echo(f"experiment {recipe.run.name!r}: {len(seeds)} seed(s), scale {scale:g} "
             f"(data x{factors['data']:g}, RL steps x{factors['rl_steps']}, width x{factors['width']}); "
             f"estimated work for all seeds: ~{est} (rough); outputs in {exp_dir}")
        if flops:
            echo(f"compute budget for all seeds: {flops:.3g} FLOPs, {hours(gpu_h)} GPU-hours on {recipe.budget.gpu} "
                 f"(the per-seed tables above)")
        return exp_dir
    facts = _load_facts(exp_dir)
    if analyze_only:
        if not exp_dir.is_dir():
            raise FileNotFoundError(f"{exp_dir}: experiment directory not found (run the experiment first)")
    else:
        exp_dir.mkdir(parents=True, exist_ok=True)
        facts.update(name=recipe.run.name, recipe=recipe.source, experiment_dir=str(exp_dir), seeds=seeds,
                     scale=scale, scale_factors=factors, versions=versions())
        runs = facts.setdefault("seed_runs", {})
        t_all = time.time()
        if jobs > 1:
            _run_seeds_side_by_side(per_seed, runs, facts, exp_dir, jobs, echo)
        for i, (s, r) in enumerate(per_seed.items() if jobs == 1 else [], 1):
            echo(f"== seed {s} ({i}/{len(seeds)}): {r.run_dir} ==")
            runs[str(s)] = {"run_dir": str(r.run_dir), "status": "running", "started": time.time()}
            atomic_write_json(exp_dir / "experiment.json", facts)
            t0 = time.time()
            try:
                pipeline.run_pipeline(r, echo=echo)
            except BaseException as exc:
                status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                runs[str(s)].update(status=status, wall_s=round(time.time() - t0, 2), error=str(exc).splitlines()[0],
                                    compute_s=_compute_s(Path(r.run_dir)))
                facts["total_wall_s"] = round(time.time() - t_all, 2)
                atomic_write_json(exp_dir / "experiment.json", facts)
                raise
            runs[str(s)].update(status="done", wall_s=round(time.time() - t0, 2), compute_s=_compute_s(Path(r.run_dir)))
            echo(f"== seed {s} done in {pipeline.fmt_s(runs[str(s)]['wall_s'])} ==")
        facts["total_wall_s"] = round(time.time() - t_all, 2)
        atomic_write_json(exp_dir / "experiment.json", facts)
    facts.setdefault("experiment_dir", str(exp_dir))
    facts.setdefault("recipe", recipe.source)
    facts.setdefault("scale", scale)
    facts.setdefault("versions", versions())
    write_findings(recipe, exp_dir, seeds, facts)
    echo(f"findings: {exp_dir / 'index.html'} and {exp_dir / 'findings.md'}")
    return exp_dir


def write_findings(recipe: Recipe, exp_dir: Path, seeds: Sequence[int], facts: dict) -> dict:
    """Analyse the seed directories and write findings.json, findings.md (+ PNGs) and index.html."""
    from .analysis import analyze
    from .document import build_blocks, find_limits_text, render

    seed_dirs = {s: seed_dir(exp_dir, s) for s in seeds}
    result = analyze(recipe, seed_dirs)
    facts = dict(facts, seeds=list(seeds))
    computes = [facts.get("seed_runs", {}).get(str(s), {}).get("compute_s") for s in seeds]
    if any(c is not None for c in computes):
        facts["total_compute_s"] = round(sum(c for c in computes if c is not None), 2)
    roots = tuple(Path(recipe.source).resolve().parents[1:2]) if recipe.source else ()  # recipes/x.yaml -> checkout
    blocks = build_blocks(result, facts, f"OctoThinker findings: {recipe.run.name}", find_limits_text(roots))
    html, md, pngs = render(blocks)
    atomic_write_json(exp_dir / "findings.json", {**result, "facts": facts})
    for name, png in pngs.items():
        atomic_write_bytes(exp_dir / name, png)
    atomic_write_text(exp_dir / "findings.md", md)
    atomic_write_text(exp_dir / "index.html", html)
    return result
