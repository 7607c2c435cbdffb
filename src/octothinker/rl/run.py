"""`octothinker rl` from a recipe: resolve each RL run's initial policy, prompts and validation sets, then train.

`RLTrainer` (trainer.py) works on in-memory objects; this module builds them from a recipe's run
directory (a mid-training stage, a model directory or the fresh base) for every run it selects.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import rl_run_name
from .trainer import RLTrainer

def rl_device(name: str) -> str:
    """The RL device: cuda when available for "auto", else the name as given."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def load_policy(recipe, target: str):
    """(model, tokenizer, parent dir or None) for an init target: stage name, directory or 'base'."""
    from ..data.tokenizer import load_tokenizer
    from ..model.build import build_model
    from ..model.checkpoint import resolve_model_dir
    from ..paths import RunPaths

    rp = RunPaths(recipe.run_dir)
    path = None
    if "/" not in target and "\\" not in target and rp.midtrain(target).is_dir():
        path = resolve_model_dir(rp.midtrain(target))
    elif Path(target).is_dir():
        path = resolve_model_dir(target)
    elif target != "base":
        stages = ", ".join(sorted(p.name for p in (rp.root / "midtrain").glob("*") if p.is_dir())) or "(none)"
        raise FileNotFoundError(f"rl.init_from: {target!r} is neither a mid-training stage of {rp.root} ({stages}) nor a directory")
    if path is not None:
        from transformers import AutoModelForCausalLM

        # fp32 weights whatever the directory holds (a hub dir is bf16): rl.precision=bf16 is autocast, not bf16 weights
        return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32), load_tokenizer(path), path
    if recipe.model.init == "pretrained":
        return build_model(recipe.model), load_tokenizer(recipe.model.path), None
    if not rp.tokenizer.is_dir():
        raise FileNotFoundError(f"{rp.tokenizer}: a tiny base model needs the run's tokenizer (run `octothinker data` first)")
    tok = load_tokenizer(rp.tokenizer)
    return build_model(recipe.model, tok, seed=recipe.run.seed), tok, None


def select_runs(runs: dict[str, tuple], names: list[str]) -> dict[str, tuple]:
    """The runs `names` ask for: a run's own name selects that run only (a pipeline stage `rl:<name>`);
    a name that is no run's name but an init source (e.g. a directory) selects every run starting from it."""
    out = {}
    for n in names:
        if n in runs:
            out[n] = runs[n]
        else:
            out.update({k: v for k, v in runs.items() if v[0] == n})
    return {k: runs[k] for k in runs if k in out}


def run_rl(recipe, names: list[str] | None = None, defer_step0: bool = False) -> Path:
    """RL every run of the recipe (init_from entries and variants), or those named by run name or init source.
    `defer_step0`: start training without the step-0 validation when it is not cached yet, and at the end read
    it from the shared cache (a run from the same model computed it meanwhile) or compute it from the
    reloaded initial policy (the pipeline's runs that share step 0, `pipeline.shared_validation`)."""
    from ..paths import RunPaths

    runs = recipe.rl.runs() or {"base": ("base", recipe.rl)}
    if names:
        unknown = [n for n in names if n not in runs and n not in {src for src, _ in runs.values()}]
        if unknown and not recipe.rl.variants:  # an ad-hoc target (`--only DIR`) with the recipe's settings
            runs.update({rl_run_name(n): (n, recipe.rl) for n in unknown})
        elif unknown:
            raise ValueError(f"rl: unknown run(s) {', '.join(unknown)}; this recipe has {', '.join(runs)}")
        runs = select_runs(runs, names)
    rp = RunPaths(recipe.run_dir)
    if any(c.backend == "vllm" and c.engine != "verl" for _, c in runs.values()):  # before any prompt or model loads
        from ..model.vllm_engine import require_vllm

        require_vllm("rl.backend")
    if any(cfg.engine == "verl" for _, cfg in runs.values()):  # verl trains these (rl/verl_engine.py); the rest below
        from .verl_engine import run_verl_runs

        runs = run_verl_runs(recipe, runs)
    device = rl_device(recipe.run.device)
    prompt_sets: dict = {}  # (prompt_set, prompts_path) -> RL prompts, and (benchmark, limit) -> records: loaded once per call
    for out_name, (target, cfg) in runs.items():
        from .prompt_sets import prompts_for_run

        prompts = prompts_for_run(recipe, cfg, rp.rl(out_name), prompt_sets)  # named set / file / toy; writes prompts.json
        if cfg.steps * cfg.prompts_per_step > len(prompts):
            print(f"rl {out_name}: {cfg.steps} steps x {cfg.prompts_per_step} prompts exceed the {len(prompts)} prompts "
                  f"of the set; prompts repeat from step {len(prompts) // cfg.prompts_per_step + 1}", flush=True)
        benchmarks = {}
        if cfg.validate_every:
            from ..eval.benchmarks import load_benchmark

            for b in cfg.validate_benchmarks or recipe.eval.benchmarks:
                key = (b, cfg.validate_limit)
                if key not in prompt_sets:
                    prompt_sets[key] = load_benchmark(b, recipe.eval.benchmark_dir, cfg.validate_limit or None, recipe.toyworld)
                benchmarks[b] = prompt_sets[key]
        model, tok, parent = load_policy(recipe, target)
        model.to(device)
        lineage = {"parent": str(parent) if parent else None, "init": target, "template": cfg.template}
        trainer = RLTrainer(cfg, model, tok, prompts, rp.rl(out_name), seed=recipe.run.seed, benchmarks=benchmarks,
                            lineage=lineage)
        trainer.step0_from = lambda target=target: load_policy(recipe, target)[0].to(device)
        trainer.defer_step0 = defer_step0
        from ..configio import to_dict
        from ..report.tracking import Tracker

        trainer.tracker = Tracker.open(recipe.report.tracking, rp.rl(out_name) / "metrics.jsonl",
                                       f"{recipe.run.name}/rl/{out_name}", {"rl": to_dict(cfg), "init": target})
        if cfg.backend == "vllm" or (cfg.backend == "auto" and device == "cuda" and _has_vllm()):
            from .rollout import VLLMBackend

            init_dir = parent or trainer.save(0)
            trainer.backend = VLLMBackend(str(init_dir))
        with trainer.tracker:
            trainer.train()
    return rp.root / "rl"


def _has_vllm() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None
