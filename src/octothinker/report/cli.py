"""`octothinker report <run-dir> [--compare runB ...] [--out DIR]` (no torch import)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="build report/index.html and report.md from a run directory",
        description="Read a run directory's artifacts (data manifests, mid-training and RL metrics, "
        "lineage, eval summaries, run.json) and write a self-contained index.html (figures embedded) "
        "and report.md with PNG figures. Missing stages are reported as 'not run'.",
    )
    p.add_argument("run_dir", help="run directory, e.g. runs/toy_demo")
    p.add_argument("--compare", nargs="+", metavar="RUN_DIR", default=[],
                   help="other run directories whose RL curves are overlaid (labelled by run name)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: <run-dir>/report)")
    p.add_argument("--title", help="report title (default: 'OctoThinker run: <run name>')")
    p.set_defaults(func=_report)


def _report(args) -> int:
    import sys

    from . import run_report

    try:
        out = run_report(args.run_dir, compare=args.compare, out=args.out, title=args.title)
    except FileNotFoundError as exc:
        print(f"octothinker report: {exc}", file=sys.stderr)
        return 2
    print(f"report written to {out / 'index.html'} and {out / 'report.md'}")
    return 0
