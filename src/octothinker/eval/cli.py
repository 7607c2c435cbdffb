"""`octothinker eval`: evaluate an HF model directory, or a recipe's models, on math benchmarks."""
from __future__ import annotations

import argparse
import sys


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model directory (or a recipe's models) on math benchmarks",
        description="Evaluate any HF causal LM directory on the paper's benchmarks (gsm8k, math500, math, ocw, "
        "olympiad_bench, amc23, sat, mmlu_stem, mathqa, asdiv, mawps, svamp, tabmwp, gpqa) and the toy ones "
        "(toy_gsm, toy_math, toy_olympiad; toy_depth4 in toy world v2). TARGET is a model directory (toy benchmarks "
        "from the toy world of the run it belongs to, else world seed 0), or a recipe YAML followed by "
        "key=value overrides (then the recipe's eval section applies and options below override it). "
        "Writes <out>/<benchmark>.jsonl and summary.json and prints a table; interrupted runs resume.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("target", help="HF model directory, or recipe .yaml")
    p.add_argument("overrides", nargs="*", default=[], metavar="key.sub=value", help="recipe overrides (recipe mode only)")
    p.add_argument("--benchmarks", help="comma-separated benchmark names (default: recipe's, else the toy ones)")
    p.add_argument("--benchmark-dir", help="local benchmark folder (else $OCTOTHINKER_BENCHMARK_DIR, else the hub)")
    p.add_argument("--limit", type=int, help="first N problems of each benchmark")
    p.add_argument("--protocol", choices=["fewshot", "rl_template"], help="few-shot CoT or zero-shot RL template")
    p.add_argument("--template", choices=["simple", "complex", "plain"], help="RL template (protocol rl_template)")
    p.add_argument("--shots", type=int, help="few-shot exemplars (default: the paper's count per benchmark)")
    p.add_argument("--n-samples", type=int, help="samples per problem (avg@k, pass@k, maj@k)")
    p.add_argument("--temperature", type=float, help="0 = greedy")
    p.add_argument("--top-p", type=float)
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--batch-size", type=int, help="prompts per generation batch")
    p.add_argument("--backend", choices=["auto", "hf", "vllm"])
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (model-dir mode)")
    p.add_argument("--models", help="recipe mode: comma-separated model names/dirs (default: recipe's eval.models)")
    p.add_argument("--out", help="output dir (model-dir mode; default eval_out/<model name>)")
    p.set_defaults(func=_run)


_FIELDS = {"limit": "limit", "protocol": "protocol", "template": "template", "shots": "shots",
           "n_samples": "n_samples", "temperature": "temperature", "top_p": "top_p",
           "max_new_tokens": "max_new_tokens", "seed": "seed", "batch_size": "batch_size", "backend": "backend",
           "benchmark_dir": "benchmark_dir"}


def _apply(cfg, args, where: str = "eval options") -> dict:
    """Options over ``cfg``, then checks that fail before any model is loaded or file written.

    Returns the settings given on the command line (EvalConfig field -> value), which `run_eval` applies over
    every model's settings, so they also win over the recipe's `rl_*` values and RL template for `rl-*` models.
    """
    from ..cli import InputError
    from .backends import choose_backend
    from .benchmarks import BenchmarkError, canonical

    explicit = {}
    for arg, name in _FIELDS.items():
        value = getattr(args, arg)
        if value is not None:
            setattr(cfg, name, value)
            explicit[name] = value
    names_from = f"{where}: benchmarks"
    if args.benchmarks:
        cfg.benchmarks = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
        explicit["benchmarks"] = list(cfg.benchmarks)
        names_from = "--benchmarks"
    try:
        cfg.validate()
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    for name in cfg.benchmarks:
        try:
            canonical(name)
        except BenchmarkError as exc:
            raise InputError(f"{names_from}: {exc}") from None
    try:
        choose_backend(cfg.backend)  # vllm on a machine without it or a GPU: one line, before anything loads
    except ValueError as exc:
        raise InputError(str(exc) if args.backend else f"{where}: {exc}") from None
    return explicit


def _run_toyworld(model_dir):
    """The toy world of the run a model directory belongs to (its `config.resolved.yaml`, up to four levels up, e.g.
    runs/<name>/rl/short/final), so a model of world seed 1 is scored on world 1's benchmarks; None outside a run."""
    from ..config import load_recipe

    for parent in list(model_dir.resolve().parents)[:4]:
        path = parent / "config.resolved.yaml"
        if path.is_file():
            try:
                world = load_recipe(path).toyworld
            except Exception:  # an unreadable run config: the default world, as outside a run
                return None
            print(f"toy benchmarks of the run's toy world (seed {world.seed}, version {world.version}): {path}",
                  file=sys.stderr)
            return world
    return None


def _run(args) -> int:
    from pathlib import Path

    if args.target.endswith((".yaml", ".yml")):
        from ..config import load_recipe
        from .runner import run_eval

        recipe = load_recipe(args.target, args.overrides)
        if args.out:
            print(f"octothinker eval: --out is for a model directory; a recipe writes {recipe.run_dir / 'eval'}/<model>",
                  file=sys.stderr)
            return 2
        explicit = _apply(recipe.eval, args, where=f"{args.target}: eval")
        models = [m for m in args.models.split(",") if m] if args.models else None
        out = run_eval(recipe, models, explicit=explicit)
        print(f"eval written to {out}")
        return 0
    if args.overrides:
        print(f"octothinker eval: key=value overrides need a recipe .yaml target, got {args.target}", file=sys.stderr)
        return 2
    from ..config import EvalConfig, ToyWorldConfig
    from .runner import evaluate_model, format_table, sampling_from_config

    cfg = EvalConfig()
    _apply(cfg, args)
    model_dir = Path(args.target)
    if not (model_dir / "config.json").is_file():
        from ..model.checkpoint import resolve_model_dir

        model_dir = resolve_model_dir(model_dir)
    out = Path(args.out) if args.out else Path("eval_out") / model_dir.name
    toy_cfg = ToyWorldConfig()
    if any(b.startswith("toy_") for b in cfg.benchmarks):
        toy_cfg = _run_toyworld(model_dir) or toy_cfg
    summary = evaluate_model(
        model_dir, cfg.benchmarks, out, protocol=cfg.protocol, template=cfg.template, shots=cfg.shots, limit=cfg.limit,
        sampling=sampling_from_config(cfg), benchmark_dir=cfg.benchmark_dir, toy_cfg=toy_cfg,
        backend=cfg.backend, device=args.device, batch_size=cfg.batch_size,
    )
    print(format_table([summary]))
    print(f"eval written to {out}")
    return 0
