"""`octothinker rl <recipe> [overrides]` and `octothinker rl export-verl --out DIR` (no torch at import time).

`export-verl` takes the place of the recipe argument, so both forms share one subcommand.
"""
from __future__ import annotations

import argparse
import sys

EXPORT = "export-verl"


def _run(args: argparse.Namespace) -> int:
    if args.recipe == EXPORT:
        return _export(args)
    from ..cli import load_recipe_from_args
    from .trainer import run_rl

    out = run_rl(load_recipe_from_args(args), args.only or None)
    print(f"rl: wrote {out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .verl_export import export_verl

    if not args.out:
        print("octothinker rl export-verl: --out DIR is required", file=sys.stderr)
        return 2
    recipe = None
    if args.from_recipe:
        from ..config import load_recipe

        recipe = load_recipe(args.from_recipe, args.overrides)
    elif args.overrides:
        print("octothinker rl export-verl: overrides need --recipe FILE", file=sys.stderr)
        return 2
    if args.prompts:
        from .prompts import read_prompts

        read_prompts(args.prompts)  # a bad prompt file fails here, before the output directory is made
    out = export_verl(args.out, prompts_path=args.prompts, recipe=recipe, model_path=args.model)
    print(f"export-verl: wrote {out}")
    return 0


def register(sub) -> None:
    from ..cli import add_recipe_args

    p = sub.add_parser(
        "rl",
        help="R1-Zero RL (GRPO) from mid-trained checkpoints; `rl export-verl` writes a verl job",
        description=(
            "Run GRPO-family RL with verifiable rewards on each rl.init_from target (mid-training stage "
            "names, checkpoint directories, or 'base'), writing runs/<run>/rl/<name>/ (step dirs, "
            "metrics.jsonl, rollouts/). `octothinker rl export-verl --out DIR [--prompts FILE] "
            "[--recipe FILE] [--model PATH]` writes verl parquet prompts, a compute_score reward module "
            "and a verl config with the paper's RL settings instead."
        ),
    )
    add_recipe_args(p)
    p.add_argument("--only", action="append", metavar="NAME", help="RL only this init target (repeatable)")
    g = p.add_argument_group("export-verl")
    g.add_argument("--out", help="export-verl: output directory")
    g.add_argument("--prompts", help="export-verl: JSONL of {question, answer} (default: the toy RL prompts)")
    g.add_argument("--recipe", dest="from_recipe", help="export-verl: recipe whose rl section sets template and lengths")
    g.add_argument("--model", help="export-verl: model path written into the verl config")
    p.set_defaults(func=_run)
