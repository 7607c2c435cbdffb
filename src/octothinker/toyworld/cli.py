"""`octothinker toyworld show|check`: print samples of the toy world and its disjointness report."""
from __future__ import annotations

import json
import sys


def _positive(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def register(sub) -> None:
    p = sub.add_parser("toyworld", help="inspect the generated toy world (corpora, benchmarks, disjointness)")
    tsub = p.add_subparsers(dest="toyworld_command", metavar="ACTION")
    s = tsub.add_parser("show", help="print samples of a corpus or benchmark",
                        description="Print samples of a toy corpus (general, math_web_hq, math_web_lq, qa_short, "
                        "qa_long, qa_direct, qa_long_chat, instruct), a toy benchmark (toy_gsm, toy_math, toy_olympiad, toy_depth4) or rl.")
    s.add_argument("name", help="corpus, benchmark or 'rl'")
    s.add_argument("--n", type=_positive, default=3, help="how many samples")
    s.add_argument("--seed", type=int, default=0, help="world seed")
    s.set_defaults(func=_show)
    c = tsub.add_parser("check", help="generate everything and report split disjointness and n-gram overlap",
                        description="Generate every corpus, benchmark and RL prompt at the default sizes and "
                        "intersect their canonical problem keys; also count 13-gram overlaps of benchmark "
                        "questions with training text. Exit status 1 if any problem key is shared.")
    c.add_argument("--seed", type=int, default=0, help="world seed")
    c.add_argument("--ngram", type=_positive, default=13, help="n-gram length for the overlap count")
    c.set_defaults(func=_check)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _show(args) -> int:
    from ..config import ToyWorldConfig
    from . import BENCHMARKS, CORPORA, benchmark, corpus, rl_prompts

    cfg = ToyWorldConfig(seed=args.seed)
    if args.name in CORPORA:
        recs = list(corpus(args.name, cfg, args.n))
    elif args.name in BENCHMARKS:
        recs = benchmark(args.name, cfg)[: args.n]
    elif args.name == "rl":
        recs = rl_prompts(cfg)[: args.n]
    else:
        known = ", ".join([*CORPORA, *BENCHMARKS, "rl"])
        print(f"octothinker toyworld show: unknown name {args.name!r}; known: {known}", file=sys.stderr)
        return 2
    for i, rec in enumerate(recs):
        print(f"--- {args.name} #{i}")
        for k, v in rec.items():
            if k == "messages":
                for m in v:
                    print(f"[{m['role']}]\n{m['content']}")
            else:
                print(f"[{k}]\n{v}")
    return 0


def _check(args) -> int:
    from ..config import ToyWorldConfig
    from .disjoint import check_disjoint

    report = check_disjoint(ToyWorldConfig(seed=args.seed), ngram=args.ngram)
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1
