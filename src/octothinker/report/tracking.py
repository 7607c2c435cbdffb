"""Experiment tracking: metrics.jsonl always, plus optional W&B / trackio / TensorBoard sinks.

Sinks are off by default and imported only when enabled (`report.tracking.sinks` in the recipe);
an enabled sink whose package is missing fails at start with the pip command that fixes it.
Nothing here imports torch unless the tensorboard sink is enabled without tensorboardX installed.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Optional

from ..paths import append_jsonl

INSTALL_HINT = {
    "wandb": "pip install wandb",
    "trackio": "pip install trackio",
    "tensorboard": "pip install tensorboard (used through torch.utils.tensorboard) or pip install tensorboardX",
}


class TrackingError(RuntimeError, ValueError):
    """An enabled tracking sink cannot start (package missing or unknown sink name)."""


def _import(sink: str, module: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise TrackingError(
            f"tracking sink {sink!r} is enabled in report.tracking.sinks but {module!r} cannot be imported "
            f"({exc}); install it with `{INSTALL_HINT[sink]}` or remove {sink!r} from the sinks"
        ) from None


def _numeric(row: dict) -> dict[str, float]:
    """The scalar numbers of a metrics row (trackers take scalars; strings/lists stay in the JSONL); a nested
    mapping of numbers (mid-training's `heldout_loss: {source: loss}`) as `key/sub`."""
    out = {}
    for k, v in row.items():
        if isinstance(v, dict):
            out.update({f"{k}/{sub}": float(x) for sub, x in v.items()
                        if isinstance(x, (int, float)) and not isinstance(x, bool)})
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = float(v)
    return out


class _Wandb:
    def __init__(self, project: str, name: str, config: dict, log_dir: Path):
        self.mod = _import("wandb", "wandb")
        self.run = self.mod.init(project=project, name=name, config=config, dir=str(log_dir))

    def log(self, row: dict, step: Optional[int]) -> None:
        self.run.log(_numeric(row), step=step)

    def close(self) -> None:
        self.run.finish()


class _Trackio:
    def __init__(self, project: str, name: str, config: dict, log_dir: Path):
        self.mod = _import("trackio", "trackio")
        self.mod.init(project=project, name=name, config=config)

    def log(self, row: dict, step: Optional[int]) -> None:
        self.mod.log(_numeric(row), step=step)

    def close(self) -> None:
        self.mod.finish()


class _TensorBoard:
    def __init__(self, project: str, name: str, config: dict, log_dir: Path):
        try:
            writer_cls = importlib.import_module("tensorboardX").SummaryWriter
        except ImportError:
            writer_cls = _import("tensorboard", "torch.utils.tensorboard").SummaryWriter
        self.writer = writer_cls(log_dir=str(log_dir / "tensorboard" / name))
        self.step = 0

    def log(self, row: dict, step: Optional[int]) -> None:
        self.step = self.step + 1 if step is None else step
        for k, v in _numeric(row).items():
            if k != "step":
                self.writer.add_scalar(k, v, self.step)

    def close(self) -> None:
        self.writer.close()


SINKS = {"wandb": _Wandb, "trackio": _Trackio, "tensorboard": _TensorBoard}


class Tracker:
    """Append every metrics row to `jsonl_path` and forward its numbers to the enabled sinks.

    Use as a context manager (or call `close()`); `log(row)` takes the row's `step` field as the
    tracker step. All sinks are started in `__init__`, so a missing package fails before training.
    """

    def __init__(self, jsonl_path: str | Path, sinks: list[str] | tuple = (), project: str = "octothinker",
                 name: str = "run", config: dict[str, Any] | None = None, log_dir: str | Path | None = None):
        self.path = Path(jsonl_path)
        log_dir = Path(log_dir) if log_dir else self.path.parent / "tracking"
        unknown = [s for s in sinks if s not in SINKS]
        if unknown:
            raise TrackingError(f"unknown tracking sink(s) {unknown}; choose from {', '.join(SINKS)}")
        self.sinks = []
        try:
            for s in sinks:
                self.sinks.append(SINKS[s](project, name, config or {}, log_dir))
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_config(cls, tracking, jsonl_path: str | Path, name: str, config: dict | None = None) -> "Tracker":
        """From a `TrackingConfig` (recipe `report.tracking`)."""
        return cls(jsonl_path, tracking.sinks, tracking.project, name, config, tracking.dir)

    @classmethod
    def open(cls, tracking, jsonl_path: str | Path, name: str, config: dict | None = None) -> "Tracker":
        """The tracker a stage logs its `metrics.jsonl` rows through: the recipe's sinks, or none (`tracking`
        None or without sinks: the JSONL only)."""
        if tracking is None or not tracking.sinks:
            return cls(jsonl_path)
        return cls.from_config(tracking, jsonl_path, name, config)

    def log(self, row: dict) -> None:
        append_jsonl(self.path, row)
        self.send(row)

    def send(self, row: dict) -> None:
        """Forward a row to the sinks only (a row already in the JSONL, e.g. one written there out of order)."""
        step = row.get("step")
        step = int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else None
        for sink in self.sinks:
            sink.log(row, step)

    def close(self) -> None:
        sinks, self.sinks = self.sinks, []
        for sink in sinks:
            sink.close()

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
