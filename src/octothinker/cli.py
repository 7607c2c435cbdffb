"""Command line: one subcommand per stage, each calling that stage's `run_<stage>` function.

Each stage package registers its own subcommand through `<package>/cli.py:register(subparsers)`,
so the command table lives here and the options live beside the code they drive. Nothing here
imports torch: `--help` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import os
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
    "octothinker.probe.cli",
]


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line on stderr (exit 2), like every other input error.

    Subparsers inherit the class, so every subcommand reports `octothinker <cmd>: error: ...`.
    """

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(text) -> str:
    """An error message as a single line (multi-line library messages joined with '; ')."""
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``, accepting ``key.sub=value`` overrides anywhere among the options.

    argparse fills the ``overrides`` positional only from the words right after the recipe, so an
    override after an option (``experiment r.yaml --seeds 7 run.seed=5``) comes back unrecognized;
    such words are appended, in order, to ``args.overrides`` of commands that take overrides. Anything
    else left over (an unknown option, a stray word) is still an error.
    """
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and not any(x.startswith("-") for x in extra):
            args.overrides = [*(args.overrides or []), *extra]
        else:
            parser.error("unrecognized arguments: " + " ".join(extra))
    return args


class InputError(ValueError):
    """Bad command-line input found by a subcommand (an option value, a name); shown as one line."""


def _input_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input, shown as one line, not a traceback.

    A file, a record, a benchmark name, an option value: the readers' and loaders' errors (which name
    file, line and field), missing files, and ValueError, which the stages raise for invalid settings
    (as `run` and `experiment` already treated it). Imported only when an error reaches `main`
    (these modules are light; none imports torch).
    """
    from .data.readers import BadRecordError
    from .data.templates import FieldError
    from .eval.benchmarks import BenchmarkError

    return (InputError, BadRecordError, FieldError, BenchmarkError, FileNotFoundError, NotADirectoryError,
            IsADirectoryError, PermissionError, ValueError)


def _debug() -> bool:
    return os.environ.get("OCTOTHINKER_TRACEBACK", "") not in ("", "0")


def error_text(exc: BaseException) -> str:
    """How a subcommand shows a failure: one line for bad input, also when a pipeline stage failed
    because of it (`StageFailed` from such a cause: its first line names the stage and the cause);
    other failures keep their full message (a failed stage's includes its traceback)."""
    cause = exc.__cause__
    if type(exc).__name__ == "StageFailed" and cause is not None and isinstance(cause, _input_errors()) and not _debug():
        return one_line(str(exc).splitlines()[0])
    if isinstance(exc, _input_errors()):
        return one_line(exc)
    return str(exc)


def add_recipe_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """The recipe file and dotted overrides shared by every recipe-driven command."""
    parser.add_argument("recipe", nargs=None if required else "?", help="recipe YAML file (see recipes/)")
    parser.add_argument(
        "overrides",
        nargs="*",
        default=[],  # with a default argparse does not list the overrides among the required arguments
        metavar="key.sub=value",
        help="override any recipe key (before or after the options), e.g. midtrain.stages.stable.lr=3e-4 run.name=try2",
    )


def load_recipe_from_args(args: argparse.Namespace):
    from .config import load_recipe

    return load_recipe(args.recipe, args.overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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


def _command_name(args: argparse.Namespace) -> str:
    """`octothinker data build`, `octothinker eval`, ... (the words that chose the subcommand)."""
    words = [args.command] + [v for k, v in vars(args).items() if k.endswith("_command") and isinstance(v, str)]
    return " ".join(["octothinker", *[w for w in words if w]])


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Bad input (recipe, files, records, names) is one line on stderr, exit 2;
    set OCTOTHINKER_TRACEBACK=1 to see the traceback instead."""
    parser = build_parser()
    args = parse_args(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = _debug()
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("octothinker: interrupted; completed checkpoints and outputs are kept", file=sys.stderr)
        return 130
    except ConfigError as exc:
        if debug:
            raise
        print(f"octothinker: recipe error: {one_line(exc)}", file=sys.stderr)
        return 2
    except _input_errors() as exc:
        if debug:
            raise
        print(f"{_command_name(args)}: {one_line(exc)}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
