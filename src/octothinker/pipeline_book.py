"""The pipeline's bookkeeping: progress lines, stage status in `pipeline.json`, run facts in `run.json`."""
from __future__ import annotations

import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .configio import to_dict
from .paths import atomic_write_json

if TYPE_CHECKING:
    from .config import Recipe
    from .pipeline import Stage


class StageFailed(RuntimeError):
    """A stage raised; the message names the stage, its output directory and the cause."""


def fmt_s(seconds: float) -> str:
    if not math.isfinite(seconds):  # no estimate
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


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


class Book:
    """The pipeline's bookkeeping: progress lines, `pipeline.json` (stage status) and `run.json` (run facts)."""

    def __init__(self, recipe: Recipe, stages: list[Stage], state: dict, force: bool, echo: Callable[[str], None]):
        self.run_dir = Path(recipe.run_dir)
        self.state_path, self.facts_path = self.run_dir / "pipeline.json", self.run_dir / "run.json"
        self.stages, self.state, self.force, self.echo = stages, state, force, echo
        self.index = {s.id: i for i, s in enumerate(stages, 1)}
        facts = json.loads(self.facts_path.read_text()) if self.facts_path.exists() else {}
        facts.update(recipe=recipe.source, seed=recipe.run.seed, hardware=run_facts(), config=to_dict(recipe))
        facts.setdefault("stages", {})
        self.facts = facts
        self.t_start = time.time()
        self.finished: set[str] = set()
        self.recipe = recipe

    @property
    def remaining(self) -> float:
        """Estimated seconds of the stages not finished or skipped yet (a serial run's ETA)."""
        return sum(s.estimate_s for s in self.stages if s.id not in self.finished)

    def refresh(self, stages: list[Stage], state: dict | None = None) -> None:
        """Re-estimate `stages` from every finished stage so far (`pipeline_eta.recalibrate`): of this run, or of
        `state` (e.g. every seed of an experiment, pooled)."""
        from .pipeline_eta import default_rates, recalibrate

        recalibrate([s for s in stages if s.id not in self.finished], self.state if state is None else state,
                    default_rates(self.recipe))

    def _tag(self, s: Stage) -> str:
        return f"[{self.index[s.id]}/{len(self.stages)}] {s.id}"

    def skip(self, s: Stage) -> None:
        from . import __version__

        made_by = self.state.get(s.id, {}).get("octothinker")
        other = f"; made by octothinker {made_by}, this is {__version__} (--force reruns it)" \
            if made_by and made_by != __version__ else ""
        self.echo(f"{self._tag(s)}: cached (same config), skipped{other}")
        self.finished.add(s.id)

    def start(self, s: Stage, threads: int | None, eta_s: float | None = None) -> None:
        """Record and print a stage's start; `eta_s` is the scheduler's simulated wall time left for everything
        scheduled together (a parallel run); serially it is the sum of the estimates still to run."""
        elapsed = time.time() - self.t_start
        on = f" on {threads} thread(s)" if threads else ""
        eta = self.remaining if eta_s is None else eta_s
        self.echo(f"{self._tag(s)}: running (stage ~{fmt_s(s.estimate_s)}{on}; elapsed {fmt_s(elapsed)}, "
                  f"ETA for the rest ~{fmt_s(eta)})")
        moved = _supersede(s, self.state.get(s.id), self.force)
        if moved:
            self.echo(f"{self._tag(s)}: its config changed; the old output was moved to {moved}")
        from . import __version__

        self.state[s.id] = {"hash": s.hash, "status": "running", "started": time.time(), "work": s.work,  # work: for ETAs
                            "octothinker": __version__}  # a later version skipping it says so
        if threads:
            self.state[s.id]["threads"] = threads
        atomic_write_json(self.state_path, self.state)

    def done(self, s: Stage, wall: float) -> None:
        self.finished.add(s.id)
        self.state[s.id].update(status="done", wall_s=round(wall, 2), finished=time.time())
        atomic_write_json(self.state_path, self.state)
        self.facts["stages"][s.id] = {"wall_s": round(wall, 2), "output": str(s.output)}
        atomic_write_json(self.facts_path, self.facts)
        self.echo(f"{self._tag(s)}: done in {fmt_s(wall)}")

    def failed(self, s: Stage, failure) -> None:
        err = failure if isinstance(failure, str) else failure.error
        self.state[s.id].update(status="failed", error=err)
        atomic_write_json(self.state_path, self.state)
        if not isinstance(failure, str):
            self.echo(f"{self._tag(s)}: FAILED after {fmt_s(failure.wall_s)}: {err}")

    def interrupted(self, s: Stage) -> None:
        self.state[s.id]["status"] = "interrupted"
        atomic_write_json(self.state_path, self.state)

    def interrupt_running(self) -> None:
        """Mark every stage still running as interrupted (its own checkpoints resume it next time)."""
        for st in self.state.values():
            if st.get("status") == "running":
                st["status"] = "interrupted"
        atomic_write_json(self.state_path, self.state)

    def failure(self, s: Stage, err: str, wall: float, tb: str) -> StageFailed:
        return StageFailed(
            f"stage {s.id} failed after {fmt_s(wall)}: {err}\n"
            f"  output directory: {s.output}\n  finished stages are kept; fix the cause and rerun the same "
            f"command to resume from this stage.\n{tb}"
        )
