"""`octothinker experiment`: a recipe run over several training seeds, each paper finding measured with 95% intervals.

`run_experiment` drives the ordinary pipeline once per seed and writes findings.json / findings.md /
index.html; `stats` (intervals, verdicts) and `metrics` (values read from run files) never import torch.
"""
from __future__ import annotations


def run_experiment(*args, **kwargs):
    """See `octothinker.experiment.runner.run_experiment`."""
    from .runner import run_experiment as _run

    return _run(*args, **kwargs)


__all__ = ["run_experiment"]
