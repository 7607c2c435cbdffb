"""`octothinker run` and `octothinker demo`: the whole recipe, stage by stage, with caching and resume."""
from __future__ import annotations

import sys
from pathlib import Path


def demo_recipe() -> Path:
    """recipes/toy_demo.yaml as shipped inside the package (package data `octothinker/recipes/`, which in a
    checkout is a link to the repo-root recipes/), so `demo` works from a wheel as from a checkout."""
    from importlib.resources import files

    shipped = files("octothinker").joinpath("recipes", "toy_demo.yaml")
    if shipped.is_file():
        return Path(str(shipped)).resolve()
    return Path(__file__).resolve().parents[2] / "recipes" / "toy_demo.yaml"  # a checkout without the link


DEMO_RECIPE = demo_recipe()


def register(sub) -> None:
    from .cli import add_recipe_args

    p = sub.add_parser(
        "run",
        help="run a recipe end to end (data -> midtrain -> rl -> eval -> report)",
        description="Run the stages a recipe lists. A stage whose output exists with the same resolved "
        "config is skipped; an interrupted stage resumes from its last checkpoint; a failure names "
        "the stage and its directory. Progress shows the stage and an ETA.",
    )
    add_recipe_args(p)
    _common(p)
    p.set_defaults(func=_run)
    d = sub.add_parser(
        "demo",
        help="the toy world end to end on a CPU (recipes/toy_demo.yaml)",
        description="Run recipes/toy_demo.yaml: toy corpora -> base model -> stable -> decay branches -> "
        "RL from the base and from the branches -> eval on toy benchmarks -> report. CPU, no downloads.",
    )
    d.add_argument("overrides", nargs="*", default=[], metavar="key.sub=value", help="override recipe keys, e.g. rl.steps=10")
    _common(d, default_jobs="auto")
    d.set_defaults(func=_demo)


def _common(p, default_jobs: str = "1") -> None:
    p.add_argument("--only", help="comma list of stage kinds or ids to run (e.g. data,midtrain or rl:base)")
    p.add_argument("--from", dest="start", help="start at this stage id or kind and run everything after it")
    p.add_argument("--dry-run", action="store_true", help="print the plan and estimated work; run nothing")
    p.add_argument("--force", action="store_true", help="rerun stages even when cached")
    p.add_argument("--jobs", default=default_jobs, metavar="N|auto",
                   help="run up to N independent stages at once as separate processes, the CPU cores split between "
                   "them (never more threads than cores); auto = one per core, at most 4 (default: %(default)s)")
    add_budget_args(p)


def add_budget_args(p) -> None:
    """`--gpu/--gpus/--mfu/--gen-mfu`: the compute budget's assumptions (recipe keys `budget.*`) for `--dry-run`."""
    g = p.add_argument_group("compute budget (printed by --dry-run; same as budget.* recipe keys)")
    g.add_argument("--gpu", help="accelerator whose peak dense bf16 FLOP/s the budget assumes, e.g. H100, A100, B200 "
                   "(budget.gpu; budget.peak_tflops=T for another)")
    g.add_argument("--gpus", type=int, help="GPUs mid-training is spread over (budget.gpus)")
    g.add_argument("--mfu", type=float, help="training model-FLOPs utilisation, e.g. 0.4 (budget.train_mfu)")
    g.add_argument("--gen-mfu", type=float, help="decoding utilisation, e.g. 0.1 (budget.generation_mfu)")


def budget_overrides(args) -> list[str]:
    """The budget flags as dotted recipe overrides (appended after the command line's own)."""
    keys = {"gpu": "budget.gpu", "gpus": "budget.gpus", "mfu": "budget.train_mfu", "gen_mfu": "budget.generation_mfu"}
    return [f"{key}={getattr(args, name)}" for name, key in keys.items() if getattr(args, name, None) is not None]


def _go(recipe, args) -> int:
    from .cli import error_text
    from .pipeline import StageFailed, run_pipeline

    only = [x.strip() for x in args.only.split(",")] if args.only else None
    try:
        jobs = parse_jobs(args.jobs)
        out = run_pipeline(recipe, only=only, start=args.start, dry_run=args.dry_run, force=args.force, jobs=jobs)
    except (StageFailed, ValueError) as exc:
        print(f"octothinker: {error_text(exc)}", file=sys.stderr)
        return 1
    report = Path(out) / "report" / "index.html"
    if report.exists() and not args.dry_run:
        print(f"report: {report}")
    return 0


def parse_jobs(value: str) -> int:
    """`--jobs`: a positive count or `auto`; 1 under torchrun (its ranks already share the work)."""
    import os

    from .scheduler import auto_jobs

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return 1
    if str(value).strip().lower() == "auto":
        return auto_jobs()
    try:
        jobs = int(value)
    except ValueError:
        raise ValueError(f"--jobs: expected a positive number or 'auto', got {value!r}") from None
    if jobs < 1:
        raise ValueError(f"--jobs: expected a positive number or 'auto', got {value!r}")
    return jobs


def _run(args) -> int:
    from .cli import load_recipe_from_args

    args.overrides = [*args.overrides, *budget_overrides(args)]
    return _go(load_recipe_from_args(args), args)


def _demo(args) -> int:
    from .config import load_recipe

    recipe = demo_recipe()
    if not recipe.is_file():
        print(f"octothinker: demo recipe not found at {recipe} (this install lacks its package data; reinstall octothinker)",
              file=sys.stderr)
        return 2
    return _go(load_recipe(recipe, [*args.overrides, *budget_overrides(args)]), args)
