"""`octothinker probe <model-or-stage> [--recipe R] [k=v ...]`: RL readiness of a model in seconds (no torch at import)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "probe",
        help="measure a model's RL readiness before any RL (pass@k, learnable groups, format, lucky guesses)",
        description=(
            "Sample the first prompts of the recipe's RL prompt stream from MODEL, k times each at the RL "
            "temperature plus greedily, under the RL run's template and response budget, grade them with RL's "
            "rewards and report unbiased pass@1..k, the share of prompts GRPO can learn from, format, "
            "termination, repetition, lucky-guess rate (toy prompts), lengths and greedy accuracy. MODEL is a "
            "mid-training stage of the recipe's run (e.g. short), rl-<run>, a model directory, or base. Writes "
            "runs/<run>/probe/<model>/probe.json (seeded: the same model, recipe and seed give the same file) "
            "and timing.json, and prints a table and a one-line verdict. See docs/probe.md."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", help="stage name, rl-<run>, model directory, or base")
    p.add_argument("overrides", nargs="*", default=[], metavar="key.sub=value", help="recipe overrides, e.g. rl.temperature=0.7")
    p.add_argument("--recipe", help="recipe YAML whose run and rl settings apply (default: the packaged toy_demo.yaml)")
    p.add_argument("--prompts", type=int, default=64, help="prompts from the start of the RL prompt stream")
    p.add_argument("--samples", type=int, default=16, help="samples per prompt at the RL temperature (k of pass@k)")
    p.add_argument("--seed", type=int, help="sampling seed (default: run.seed)")
    p.add_argument("--rl-run", help="use this RL run's settings (a variant name; default: the run starting from MODEL)")
    p.add_argument("--batch-size", type=int, help="prompts per generation batch (default: 256 // samples)")
    p.add_argument("--out", help="output directory (default: runs/<run>/probe/<model>/)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..config import load_recipe
    from .runner import run_probe
    from .summary import format_table, table_rows

    recipe_path = args.recipe
    if recipe_path is None:
        from ..pipeline_cli import DEMO_RECIPE

        recipe_path = DEMO_RECIPE
    recipe = load_recipe(recipe_path, args.overrides)
    report, path = run_probe(recipe, args.model, n_prompts=args.prompts, k=args.samples, seed=args.seed, out=args.out,
                             rl_run=args.rl_run, batch_size=args.batch_size)
    s, m = report["settings"], report["measures"]
    print(f"probe {report['model']}: {m['n_prompts']} RL prompts x {m['samples_per_prompt']} samples at "
          f"T={s['temperature']} + greedy, template {s['template']}, {s['max_response_tokens']} tokens "
          f"(settings of {s['rl_run']})")
    print(format_table(table_rows(m, s["group_size"], s["max_response_tokens"])))
    print(f"verdict: {report['verdict']}")
    if report["reward_timeouts"]:
        print(f"note: the grader timed out on {report['reward_timeouts']} samples (counted wrong or masked as in RL)")
    print(f"probe written to {path}")
    return 0
