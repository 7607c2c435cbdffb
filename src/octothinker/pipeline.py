"""`octothinker run`: chain the stages of a recipe, skipping finished ones and resuming interrupted ones.

Each stage is identified as `kind:name` (data:stable, midtrain:short, rl:base, eval:rl-short, report).
A stage is skipped when `pipeline.json` records it done with the same config hash (the hash covers
the recipe sections it reads and the hashes of the stages it depends on); otherwise its `run_<stage>`
function is called, which itself resumes from the last checkpoint of an interrupted run. Output made
under another config is moved aside first (`<dir>.superseded-<hash>`), never resumed.
"""
from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .config import Recipe
from .configio import to_dict
from .paths import RunPaths, atomic_write_json, atomic_write_text

KINDS = ("data", "midtrain", "rl", "eval", "report")


class StageFailed(RuntimeError):
    """A stage raised; the message names the stage, its output directory and the cause."""


@dataclass
class Stage:
    kind: str
    name: str
    deps: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)  # the recipe values this stage reads
    estimate_s: float = 0.0
    output: Path | None = None
    hash: str = ""

    @property
    def id(self) -> str:
        return self.kind if self.kind == "report" else f"{self.kind}:{self.name}"


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _train_tokens_per_s(recipe: Recipe) -> float:
    """Rough CPU throughput for ETAs (measured in the demo on a 2-core machine: ~7k tok/s at ~1M params)."""
    m = recipe.model
    params = 12 * m.num_layers * m.hidden_size**2
    return max(300.0, 7_000.0 * (1_000_000 / max(params + 200_000, 1)) ** 0.8)


def plan(recipe: Recipe) -> list[Stage]:
    """The ordered stage list of a recipe, with dependencies, hashes and time estimates."""
    paths = RunPaths(recipe.run_dir)
    stages: list[Stage] = []
    world = to_dict(recipe.toyworld)
    data_common = {"toyworld": world, "tokenizer": to_dict(recipe.tokenizer), "data": to_dict(recipe.data)}
    used_mixtures = [st.mixture for st in recipe.midtrain.stages.values()]
    for mix in dict.fromkeys(used_mixtures or list(recipe.data.mixtures)):
        tokens = recipe.data.mixtures[mix].tokens
        stages.append(Stage("data", mix, [], data_common, estimate_s=5 + tokens / 400_000, output=paths.data(mix)))
    tps = _train_tokens_per_s(recipe)
    trainer_common = {k: v for k, v in to_dict(recipe.midtrain).items() if k != "stages"}
    for name, st in recipe.midtrain.stages.items():
        deps = [f"data:{st.mixture}"]
        if st.init_from and st.init_from in recipe.midtrain.stages:
            deps.append(f"midtrain:{st.init_from}")
        tokens = st.tokens or recipe.data.mixtures[st.mixture].tokens
        cfg = {"stage": to_dict(st), "trainer": trainer_common, "model": to_dict(recipe.model), "seed": recipe.run.seed}
        stages.append(Stage("midtrain", name, deps, cfg, estimate_s=tokens / tps, output=paths.midtrain(name)))
    rl = recipe.rl
    rl_runs = rl.runs()
    for name, (src, run_cfg) in rl_runs.items():
        deps = [f"midtrain:{src}"] if src in recipe.midtrain.stages else []
        cfg = {"rl": to_dict(run_cfg), "source": src, "seed": recipe.run.seed}
        rl_tokens = run_cfg.steps * run_cfg.prompts_per_step * run_cfg.group_size * run_cfg.max_response_tokens
        stages.append(Stage("rl", name, deps, cfg, estimate_s=rl_tokens / 2500, output=paths.rl(name)))
    ev = recipe.eval
    eval_models = ev.models or list(dict.fromkeys([*(src for src, _ in rl_runs.values()), *(f"rl-{n}" for n in rl_runs)]))
    n_bench = len(ev.benchmarks) * (ev.limit or 200)
    for model in eval_models:
        if model.startswith("rl-") and f"rl:{model[3:]}" in {s.id for s in stages}:
            deps = [f"rl:{model[3:]}"]
        elif model in recipe.midtrain.stages:
            deps = [f"midtrain:{model}"]
        else:
            deps = []
        template = rl.template_for(model[3:]) if model.startswith("rl-") else rl.template
        cfg = {"eval": to_dict(ev), "model": model, "toyworld": world, "rl_template": template}
        est = n_bench * ev.max_new_tokens * ev.n_samples / 2500
        stages.append(Stage("eval", model, deps, cfg, estimate_s=est, output=paths.eval(model)))
    stages.append(Stage("report", "report", [s.id for s in stages], {"report": to_dict(recipe.report)}, 5, paths.report))
    by_id = {}
    for s in stages:
        s.hash = _hash({"id": s.id, "config": s.config, "deps": [by_id[d].hash for d in s.deps if d in by_id]})
        by_id[s.id] = s
    return stages


def select(stages: list[Stage], only: list[str] | None = None, start: str | None = None) -> list[Stage]:
    """Filter by `--only` (kinds or stage ids) and `--from` (a stage id or kind: it and all later)."""
    ids = [s.id for s in stages]
    if start:
        match = [i for i, s in enumerate(stages) if s.id == start or s.kind == start]
        if not match:
            raise ValueError(f"--from {start!r}: no such stage; stages are: {', '.join(ids)}")
        stages = stages[match[0]:]
    if only:
        unknown = [o for o in only if o not in ids and o not in KINDS]
        if unknown:
            raise ValueError(f"--only {unknown[0]!r}: no such stage or kind; stages are: {', '.join(ids)}")
        stages = [s for s in stages if s.id in only or s.kind in only]
    return stages


def read_state(run_dir: str | Path) -> dict:
    """`pipeline.json` of a run directory: stage id -> {hash, status, wall_s, ...} ({} before the first run)."""
    path = Path(run_dir) / "pipeline.json"
    return json.loads(path.read_text()) if path.exists() else {}


def is_cached(stage: Stage, state: dict) -> bool:
    """Whether `state` records `stage` finished with its current config hash."""
    prev = state.get(stage.id, {})
    return prev.get("status") == "done" and prev.get("hash") == stage.hash


def fmt_s(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def describe_plan(recipe: Recipe, stages: list[Stage], state: dict) -> str:
    lines = [f"plan for run {recipe.run.name!r} in {recipe.run_dir} ({len(stages)} stages):"]
    total = 0.0
    for s in stages:
        done = is_cached(s, state)
        total += 0 if done else s.estimate_s
        mark = "cached" if done else f"~{fmt_s(s.estimate_s)}"
        lines.append(f"  {s.id:<24} {mark:>10}   -> {s.output}")
    lines.append(f"estimated work: ~{fmt_s(total)} on this machine (rough)")
    return "\n".join(lines)


def _runner(kind: str) -> Callable:
    if kind == "data":
        from .data.build import run_data

        return lambda r, s: run_data(r, mixtures=[s.name])
    if kind == "midtrain":
        from .train.midtrain import run_midtrain

        return lambda r, s: run_midtrain(r, stages=[s.name])
    if kind == "rl":
        from .rl.trainer import run_rl

        return lambda r, s: run_rl(r, names=[s.name])
    if kind == "eval":
        from .eval.runner import run_eval

        return lambda r, s: run_eval(r, models=[s.name])
    if kind == "report":
        from .report import run_report

        return lambda r, s: run_report(r)
    raise ValueError(kind)


def run_facts() -> dict:
    facts = {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine()}
    try:
        import os

        facts["cpu_count"] = os.cpu_count()
        import torch
        import transformers

        facts.update(torch=torch.__version__, transformers=transformers.__version__, cuda=torch.cuda.is_available())
        if torch.cuda.is_available():
            facts["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    from . import __version__

    facts["octothinker"] = __version__
    return facts


def _supersede(stage: Stage, prev: dict | None, force: bool) -> Path | None:
    """Move a stage's output aside when it was made with another config (or `--force`), so the stage
    starts fresh instead of resuming checkpoints of the old config; an interrupted run with the same
    config keeps its output and resumes. Returns where the old output went, or None."""
    if stage.output is None or not stage.output.exists():
        return None
    if not force and (prev is None or prev.get("hash") == stage.hash):
        return None
    tag = (prev or {}).get("hash", "unknown")[:8] if not force else f"forced-{int(time.time())}"
    dest = stage.output.with_name(f"{stage.output.name}.superseded-{tag}")
    n = 1
    while dest.exists():
        dest = stage.output.with_name(f"{stage.output.name}.superseded-{tag}-{n}")
        n += 1
    stage.output.rename(dest)
    return dest


def run_pipeline(
    recipe: Recipe,
    only: list[str] | None = None,
    start: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    echo: Callable[[str], None] = print,
) -> Path:
    """Run the recipe's stages in order; returns the run directory."""
    run_dir = Path(recipe.run_dir)
    state_path = run_dir / "pipeline.json"
    state = read_state(run_dir)
    stages = select(plan(recipe), only, start)
    echo(describe_plan(recipe, stages, state))
    if dry_run:
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.resolved.yaml", recipe.to_yaml())
    facts_path = run_dir / "run.json"
    facts = json.loads(facts_path.read_text()) if facts_path.exists() else {}
    facts.update(recipe=recipe.source, seed=recipe.run.seed, hardware=run_facts(), config=to_dict(recipe))
    facts.setdefault("stages", {})
    t_start = time.time()
    remaining = sum(s.estimate_s for s in stages)
    for i, s in enumerate(stages, 1):
        if not force and is_cached(s, state) and s.output and s.output.exists():
            echo(f"[{i}/{len(stages)}] {s.id}: cached (same config), skipped")
            remaining -= s.estimate_s
            continue
        elapsed = time.time() - t_start
        echo(f"[{i}/{len(stages)}] {s.id}: running (stage ~{fmt_s(s.estimate_s)}; elapsed {fmt_s(elapsed)}, "
             f"ETA for the rest ~{fmt_s(remaining)})")
        moved = _supersede(s, state.get(s.id), force)
        if moved:
            echo(f"[{i}/{len(stages)}] {s.id}: its config changed; the old output was moved to {moved}")
        state[s.id] = {"hash": s.hash, "status": "running", "started": time.time()}
        atomic_write_json(state_path, state)
        t0 = time.time()
        try:
            _runner(s.kind)(recipe, s)
        except KeyboardInterrupt:
            state[s.id]["status"] = "interrupted"
            atomic_write_json(state_path, state)
            raise
        except Exception as exc:
            state[s.id].update(status="failed", error=f"{type(exc).__name__}: {exc}")
            atomic_write_json(state_path, state)
            tb = traceback.format_exc(limit=-3)
            raise StageFailed(
                f"stage {s.id} failed after {fmt_s(time.time() - t0)}: {type(exc).__name__}: {exc}\n"
                f"  output directory: {s.output}\n  finished stages are kept; fix the cause and rerun the same "
                f"command to resume from this stage.\n{tb}"
            ) from exc
        wall = time.time() - t0
        remaining -= s.estimate_s
        state[s.id].update(status="done", wall_s=round(wall, 2), finished=time.time())
        atomic_write_json(state_path, state)
        facts["stages"][s.id] = {"wall_s": round(wall, 2), "output": str(s.output)}
        atomic_write_json(facts_path, facts)
        echo(f"[{i}/{len(stages)}] {s.id}: done in {fmt_s(wall)}")
    echo(f"run {recipe.run.name!r} finished in {fmt_s(time.time() - t_start)}: {run_dir}")
    return run_dir
