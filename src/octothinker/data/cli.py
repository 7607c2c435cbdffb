"""`octothinker data build`: tokenize, pack and mix the recipe's sources into token shards."""
from __future__ import annotations


def register(sub) -> None:
    from ..cli import add_recipe_args

    p = sub.add_parser("data", help="build data mixtures (token shards + manifest)")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")
    b = dsub.add_parser(
        "build",
        help="tokenize, pack and mix every mixture of the recipe",
        description="Tokenize the recipe's sources, pack them into fixed-length token shards and "
        "write runs/<run>/data/<mixture>/ with a manifest (per-source docs, tokens, epochs, bad "
        "records, hashes, decontamination report).",
    )
    add_recipe_args(b)
    b.add_argument("--mixture", action="append", help="build only this mixture (repeatable)")
    b.add_argument("--skip-bad-records", action="store_true", help="skip and count malformed records instead of failing")
    b.set_defaults(func=_build)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _build(args) -> int:
    from ..cli import load_recipe_from_args

    recipe = load_recipe_from_args(args)
    from .build import run_data

    if args.skip_bad_records:
        recipe.data.on_bad_record = "skip"
    out = run_data(recipe, mixtures=args.mixture)
    print(f"data written to {out}")
    return 0
