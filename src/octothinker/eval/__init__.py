"""Evaluation: benchmark loaders (real + toy), few-shot/RL-template prompts, generation backends,
metrics (avg@k, pass@k, maj@k, length) and the runner behind `octothinker eval`."""
from .generation import Completion, generate

__all__ = ["Completion", "generate", "run_eval"]


def run_eval(recipe, models=None, progress: bool = True, explicit=None):
    """See `octothinker.eval.runner.run_eval` (imported lazily to keep `import octothinker.eval` light)."""
    from .runner import run_eval as _run_eval

    return _run_eval(recipe, models, progress, explicit)
