"""`octothinker rl <recipe>`, `rl export-verl --out DIR` and `rl import-verl <recipe> --run NAME --from DIR`.

`export-verl` / `import-verl` take the place of the recipe argument, so every form shares one
subcommand (no torch at import time).
"""
from __future__ import annotations

import argparse
import sys

EXPORT = "export-verl"
IMPORT = "import-verl"


def _run(args: argparse.Namespace) -> int:
    if args.recipe == EXPORT:
        return _export(args)
    if args.recipe == IMPORT:
        return _import(args)
    from ..cli import load_recipe_from_args
    from .run import run_rl

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


def _import(args: argparse.Namespace) -> int:
    """Import a finished (or stopped) verl run into rl/<run>/ of the recipe's run directory."""
    from ..config import load_recipe

    words = list(args.overrides or [])
    recipe_path = args.from_recipe or (words.pop(0) if words and "=" not in words[0] else None)
    if not recipe_path or not args.run or not args.from_dir:
        print("octothinker rl import-verl: usage: rl import-verl <recipe> --run NAME --from DIR [--metrics FILE]",
              file=sys.stderr)
        return 2
    recipe = load_recipe(recipe_path, words)
    runs = recipe.rl.runs() or {"base": ("base", recipe.rl)}
    if args.run not in runs:
        raise ValueError(f"--run: {args.run!r} is not an RL run of {recipe_path} ({', '.join(runs)})")
    from .verl_engine import import_run

    target, cfg = runs[args.run]
    out = import_run(recipe, args.run, target, cfg, args.from_dir, args.metrics)
    print(f"import-verl: wrote {out}")
    return 0


def register(sub) -> None:
    from ..cli import add_recipe_args

    p = sub.add_parser(
        "rl",
        help="R1-Zero RL (GRPO) from mid-trained checkpoints; `rl export-verl` / `rl import-verl` for verl jobs",
        description=(
            "Run GRPO-family RL with verifiable rewards on each rl.init_from target (mid-training stage "
            "names, checkpoint directories, or 'base'), writing runs/<run>/rl/<name>/ (step dirs, "
            "metrics.jsonl, rollouts/). `octothinker rl export-verl --out DIR [--prompts FILE] "
            "[--recipe FILE] [--model PATH]` writes verl parquet prompts, a compute_score reward module "
            "and a verl config with the paper's RL settings instead. `octothinker rl import-verl <recipe> "
            "--run NAME --from DIR [--metrics FILE]` imports a verl run (its checkpoints and file-logger "
            "metrics) into runs/<run>/rl/NAME/ as a native run lays it out (rl.engine: verl does this itself)."
        ),
    )
    add_recipe_args(p)
    p.add_argument("--only", action="append", metavar="NAME", help="RL only this init target (repeatable)")
    g = p.add_argument_group("export-verl")
    g.add_argument("--out", help="export-verl: output directory")
    g.add_argument("--prompts", help="export-verl: JSONL of {question, answer} (default: the toy RL prompts)")
    g.add_argument("--recipe", dest="from_recipe",
                   help="export-verl: recipe whose rl section sets template and lengths; import-verl: the recipe")
    g.add_argument("--model", help="export-verl: model path written into the verl config")
    g = p.add_argument_group("import-verl")
    g.add_argument("--run", help="import-verl: the RL run name (rl/<run>/) to write")
    g.add_argument("--from", dest="from_dir", metavar="DIR",
                   help="import-verl: the verl job dir (rl/<run>/verl) or verl's trainer.default_local_dir")
    g.add_argument("--metrics", metavar="FILE", help="import-verl: verl's file-logger JSONL (default: DIR/tracking.jsonl)")
    p.set_defaults(func=_run)
