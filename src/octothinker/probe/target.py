"""Which model a probe measures and under which RL run's settings (a stage, `rl-<run>`, a directory, or 'base')."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..config import RLConfig
from ..paths import RunPaths

STEP_NAMES = ("final", "LATEST")


@dataclass
class Target:
    """A resolved probe target: output label, model directory (None: the recipe's fresh base) and RL settings."""

    label: str
    model_dir: Optional[Path]
    rl_run: str  # the RL run whose settings apply, or "rl" for the recipe's rl section as written
    cfg: RLConfig


def _inside(path: Path, parent: Path) -> bool:
    try:
        return path.resolve().is_relative_to(parent.resolve())
    except OSError:
        return False


def _origin(rp: RunPaths, target: str, model_dir: Path) -> tuple[str, Optional[str], Optional[str]]:
    """(label, mid-training stage it comes from, RL run it comes from) of a resolved model."""
    if target.startswith("rl-") and "/" not in target and rp.rl(target[3:]).is_dir():
        return target, None, target[3:]
    if "/" not in target and rp.midtrain(target).is_dir():
        return target, target, None
    for kind in ("midtrain", "rl"):
        parent = rp.root / kind
        if parent.is_dir():
            for d in sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")):
                if _inside(model_dir, d):
                    return (d.name, d.name, None) if kind == "midtrain" else (f"rl-{d.name}", None, d.name)
    path = Path(target)
    name = path.name
    if name in STEP_NAMES or name.startswith("step_"):
        name = path.resolve().parent.name
    return name, None, None


def _settings(recipe, target: str, stage: Optional[str], rl_origin: Optional[str],
              rl_run: Optional[str]) -> tuple[str, RLConfig]:
    """The RL run whose settings the probe uses: `--rl-run`, the run an RL'd model came from, the (non-control)
    run starting from the model's stage, else the recipe's rl section without variants."""
    runs = recipe.rl.runs()
    if rl_run is not None:
        if rl_run not in runs:
            raise ValueError(f"--rl-run: {rl_run!r} is not an RL run of {recipe.source or 'the recipe'} "
                             f"({', '.join(runs) or 'none'})")
        return rl_run, runs[rl_run][1]
    if rl_origin in runs:
        return rl_origin, runs[rl_origin][1]
    starts = [n for n, (src, _) in runs.items() if src in (stage, target)]
    starts.sort(key=lambda n: runs[n][1].reward_control != "none")  # a control arm only when nothing else starts there
    if starts:
        return starts[0], runs[starts[0]][1]
    return "rl", dataclasses.replace(recipe.rl, variants={})


def resolve_target(recipe, target: str, rl_run: Optional[str] = None) -> Target:
    """Resolve `target` like `octothinker rl`/`eval` do; a bad name or path is a one-line FileNotFoundError."""
    from ..model.checkpoint import resolve_model

    rp = RunPaths(recipe.run_dir)
    if target == "base" and not rp.midtrain("base").is_dir():
        name, cfg = _settings(recipe, target, "base", None, rl_run)
        return Target("base", None, name, cfg)
    if not target or target.startswith("-"):
        raise ValueError(f"model {target!r}: expected a stage name, rl-<run> or a model directory")
    model_dir = resolve_model(rp.root, target)
    label, stage, rl_origin = _origin(rp, target, model_dir)
    name, cfg = _settings(recipe, target, stage, rl_origin, rl_run)
    return Target(label, model_dir, name, cfg)
