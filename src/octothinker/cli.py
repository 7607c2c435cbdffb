"""Command line: one subcommand per stage, each calling that stage's `run_<stage>` function.

Each stage package registers its own subcommand through `<package>/cli.py:register(subparsers)`,
so the command table lives here and the options live beside the code they drive. Nothing here
imports torch: `--help` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .configio import ConfigError

# (module holding `register`, in the order shown by --help)
STAGE_CLIS = [
    "octothinker.data.cli",
    "octothinker.train.cli",
    "octothinker.rl.cli",
    "octothinker.eval.cli",
    "octothinker.report.cli",
    "octothinker.pipeline_cli",
    "octothinker.toyworld.cli",
    "octothinker.experiment.cli",
]


def add_recipe_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """The recipe file and dotted overrides shared by every recipe-driven command."""
    parser.add_argument("recipe", nargs=None if required else "?", help="recipe YAML file (see recipes/)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key.sub=value",
        help="override any recipe key, e.g. midtrain.stages.stable.lr=3e-4 run.name=try2",
    )


def load_recipe_from_args(args: argparse.Namespace):
    from .config import load_recipe

    return load_recipe(args.recipe, args.overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="octothinker",
        description=(
            "Run the OctoThinker recipe end to end: build data mixtures, mid-train (Stable then "
            "Decay branches), R1-Zero RL with GRPO, evaluate on math benchmarks, and report. "
            "`octothinker demo` runs the whole toy world on a CPU."
        ),
    )
    parser.add_argument("--version", action="version", version=f"octothinker {__import__('octothinker').__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for modname in STAGE_CLIS:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name and modname.startswith(exc.name):
                continue  # that area is not part of this build
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except ConfigError as exc:
        print(f"octothinker: recipe error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("octothinker: interrupted; completed checkpoints and outputs are kept", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
