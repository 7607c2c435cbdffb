"""`octothinker experiment <recipe> [k=v ...] [--seeds 0,1,2] [--scale S] [--dry-run] [--analyze-only]` (no torch import)."""
from __future__ import annotations

import argparse
import sys


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"need distinct seeds, got {text!r}")
    return seeds


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def register(sub) -> None:
    from ..cli import add_recipe_args
    from ..pipeline_cli import add_budget_args

    p = sub.add_parser(
        "experiment",
        help="run a recipe over several seeds and measure its findings (95%% intervals, verdicts)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run the recipe once per training seed (experiment.seeds, or --seeds) through the same\n"
            "pipeline as `octothinker run`, into <run.root>/<run.name>/seed_<s>/ with run.seed=<s>\n"
            "(the toy world's seed is kept: the world is fixed, the training seed varies). Finished\n"
            "stages are cached, so a rerun resumes. Then each finding of the recipe's `experiment:`\n"
            "section is measured: per comparison the per-seed difference metric(a) - metric(b), its\n"
            "mean and 95% Student-t interval, and a verdict (reproduced / not reproduced /\n"
            "inconclusive; per finding also mixed).\n\n"
            "Writes into <run.root>/<run.name>/: experiment.json (seeds, scale, wall times,\n"
            "versions), findings.json, findings.md (+ PNG figures) and a self-contained index.html.\n"
            "See docs/experiment.md."
        ),
    )
    add_recipe_args(p)
    p.add_argument("--seeds", type=_seeds, metavar="0,1,2", help="comma list of training seeds (default: experiment.seeds)")
    p.add_argument("--scale", type=_scale, default=1.0, metavar="S",
                   help="multiply data (tokens, toy docs) by S, RL steps by ceil(sqrt(S)), model width by "
                        "round(sqrt(S)) (default 1: the recipe as written)")
    p.add_argument("--dry-run", action="store_true", help="print each seed's stage plan and the total estimated time; run nothing")
    p.add_argument("--analyze-only", action="store_true",
                   help="skip training; re-analyse the seed directories already there and rewrite the findings")
    p.add_argument("--jobs", default="1", metavar="N|auto",
                   help="run up to N stages at once across all seeds and arms as separate processes, the CPU cores "
                        "split between them (never more threads than cores); auto = one per core, at most 4 (default 1)")
    add_budget_args(p)
    p.set_defaults(func=_experiment)


def _experiment(args) -> int:
    from ..cli import error_text, load_recipe_from_args
    from ..pipeline import StageFailed
    from ..pipeline_cli import budget_overrides, parse_jobs
    from .runner import run_experiment

    args.overrides = [*args.overrides, *budget_overrides(args)]
    recipe = load_recipe_from_args(args)
    try:
        run_experiment(recipe, seeds=args.seeds, scale=args.scale, dry_run=args.dry_run, analyze_only=args.analyze_only,
                       jobs=parse_jobs(args.jobs))
    except (StageFailed, ValueError, FileNotFoundError) as exc:
        print(f"octothinker experiment: {error_text(exc)}", file=sys.stderr)
        return 1
    return 0
