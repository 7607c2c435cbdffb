"""`rl.engine: verl`: each RL run as a verl job in `rl/<run>/verl/`, run by verl when it can be, imported after.

Per run: the job (prompts, validation benchmarks, reward shim, the run's RL settings as verl config,
`run_verl.sh`) is written into `rl/<run>/verl/`; verl's checkpoints go to `verl/checkpoints/`
(`trainer.default_local_dir`), its file logger to `verl/tracking.jsonl` (`VERL_FILE_LOGGER_PATH`, see
verl/utils/tracking.py `FileLogger`), its console output to `verl/verl.log`. When `import verl` works
and `rl.verl.launch` is `auto` the script runs as a subprocess (output streamed) and the results are
imported (`verl_import.import_verl`); otherwise the command is printed and the stage stops with one
line saying how to import the results later. A run whose checkpoints already reach `rl.steps` is
imported without launching; one already imported with the same settings is skipped.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from ..configio import to_dict
from ..paths import RunPaths

JOB_DIR = "verl"
FILE_LOGGER = "tracking.jsonl"
LOSS_AGG = {"token_mean": "token-mean", "seq_mean": "seq-mean-token-mean", "dr_grpo": "seq-mean-token-sum-norm"}
# settings verl is not given, with the value that means "off" (rl_settings maps the others)
UNMAPPED = (("truncation", "none"), ("format_reward", 0.0), ("reward_control", "none"),
            ("filter_zero_variance", False), ("require_valid_chain", False), ("validate_samples", 0),
            ("validate_rl_prompts", 0), ("validate_max_tokens", 0), ("micro_batch_size", 0))


class VerlNotRun(ValueError):
    """The verl job is written and its command printed, but verl was not launched here (a one-line stop)."""


def job_dir(run_dir: str | Path) -> Path:
    """Where an RL run's verl job, checkpoints and logs live: `rl/<run>/verl/`."""
    return Path(run_dir).resolve() / JOB_DIR


def has_verl() -> bool:
    return importlib.util.find_spec("verl") is not None


def rl_settings(cfg, n_prompts: int, seed: int) -> dict:
    """Our RL settings in verl's config keys (nested). verl counts a mini-batch in prompts, we in rollouts."""
    per_epoch = n_prompts // cfg.prompts_per_step
    if per_epoch == 0:
        raise ValueError(f"prompts_per_step: verl drops an incomplete batch; {cfg.prompts_per_step} exceeds the "
                         f"{n_prompts} prompts of the set")
    validate = cfg.validate_every > 0
    actor = {"optim": {"lr": cfg.lr, "weight_decay": cfg.weight_decay},
             "ppo_mini_batch_size": min(cfg.prompts_per_step, max(1, cfg.mini_batch_size // cfg.group_size)),
             "ppo_epochs": cfg.ppo_epochs, "clip_ratio_low": cfg.clip_low, "clip_ratio_high": cfg.clip_high,
             "entropy_coeff": cfg.entropy_coef, "loss_agg_mode": LOSS_AGG[cfg.loss_agg],
             "grad_clip": cfg.grad_clip if cfg.grad_clip > 0 else float("inf"),
             "use_kl_loss": cfg.kl_coef > 0, "kl_loss_coef": cfg.kl_coef, "kl_loss_type": "low_var_kl",
             "checkpoint": {"save_contents": ["model", "optimizer", "extra", "hf_model"]}}
    return {
        "data": {"train_batch_size": cfg.prompts_per_step, "max_response_length": cfg.max_response_tokens, "seed": seed},
        "actor_rollout_ref": {"actor": actor, "rollout": {
            "n": cfg.group_size, "temperature": cfg.temperature, "top_p": cfg.top_p,
            "val_kwargs": {"n": 1, "do_sample": False, "temperature": 0, "top_p": 1.0}}},
        "algorithm": {"norm_adv_by_std_in_grpo": cfg.loss_agg != "dr_grpo"},
        "trainer": {"total_training_steps": cfg.steps, "total_epochs": -(-cfg.steps // per_epoch),
                    "save_freq": cfg.save_every or cfg.steps, "test_freq": cfg.validate_every if validate else -1,
                    "val_before_train": validate},
    }


def length_segments(steps: int, default: int, schedule: dict[int, int] | None) -> list[tuple[int, int]]:
    """`[(last step, max response length)]` of consecutive runs at one length: a `length_schedule` becomes one verl
    launch per segment, each resuming the last one's checkpoint (verl saves at its final step) at a new length."""
    from .rollout import max_tokens_at

    out: list[tuple[int, int]] = []
    for step in range(steps):
        length = max_tokens_at(step, default, schedule)
        if out and out[-1][1] == length:
            out[-1] = (step + 1, length)
        else:
            out.append((step + 1, length))
    return out


def unmapped(cfg) -> list[str]:
    """`name=value` of the run's settings that are on but have no verl counterpart here."""
    out = [f"{name}={getattr(cfg, name)}" for name, off in UNMAPPED if getattr(cfg, name) != off]
    if cfg.mini_batch_size % cfg.group_size:
        out.append(f"mini_batch_size={cfg.mini_batch_size} (verl's mini-batch is whole groups of {cfg.group_size})")
    return out


def init_model(recipe, target: str) -> tuple[str, Path | None]:
    """(the model path verl starts from, the parent checkpoint for the lineage or None) of an init target."""
    from ..model.checkpoint import resolve_model_dir

    rp = RunPaths(recipe.run_dir)
    if "/" not in target and "\\" not in target and rp.midtrain(target).is_dir():
        path = resolve_model_dir(rp.midtrain(target))
        return str(path.resolve()), path
    if Path(target).is_dir():
        path = resolve_model_dir(target)
        return str(path.resolve()), path
    if target == "base" and recipe.model.init == "pretrained" and recipe.model.path:
        return str(recipe.model.path), None
    if target == "base":
        raise ValueError("rl.engine: verl starts from a Hugging Face model; a tiny base model built from model.* has "
                         "none: set rl.init_from to a mid-training stage or a model directory")
    raise FileNotFoundError(f"rl.init_from: {target!r} is neither a mid-training stage of {rp.root} nor a directory")


def _prompt_records(recipe, cfg, out: Path) -> tuple[list[dict], str]:
    """(the run's RL prompts, their verl data_source), read as a native run reads them (writes prompts.json)."""
    from .prompt_sets import prompts_for_run

    name = cfg.prompt_set or (Path(cfg.prompts_path).stem if cfg.prompts_path else "toy_rl")
    return prompts_for_run(recipe, cfg, out, {}), f"octothinker/{name}"


def _val_rows(recipe, cfg) -> list[dict]:
    """verl rows of the validation benchmarks, each benchmark its own data_source (verl's val metric key)."""
    from ..eval.benchmarks import load_benchmark
    from .verl_export import verl_rows

    if not cfg.validate_every:
        return []
    rows = []
    for b in cfg.validate_benchmarks or recipe.eval.benchmarks:
        recs = load_benchmark(b, recipe.eval.benchmark_dir, cfg.validate_limit or None, recipe.toyworld)
        rows += verl_rows(recs, cfg.template, b, cfg.answer_kind, split="val")
    return rows


def write_run_job(recipe, name: str, target: str, cfg) -> Path:
    """Write run `name`'s verl job into `rl/<name>/verl/` and return that directory."""
    from .verl_export import deep_update, verl_config, verl_rows, write_job

    run_out = RunPaths(recipe.run_dir).rl(name)
    out = job_dir(run_out)
    model_path, _ = init_model(recipe, target)
    records, source = _prompt_records(recipe, cfg, run_out)
    launch = cfg.verl
    base = verl_config("train.parquet", "octothinker_reward.py", model_path, n_gpus=launch.gpus_per_node,
                       nnodes=launch.nnodes)
    trainer = {"experiment_name": name, "logger": ["console", "file"], "default_local_dir": str(out / "checkpoints"),
               "nnodes": launch.nnodes, "n_gpus_per_node": launch.gpus_per_node}
    if cfg.rollout_samples > 0:
        trainer["rollout_data_dir"] = str(out / "rollouts")
    segments = length_segments(cfg.steps, cfg.max_response_tokens, cfg.length_schedule)
    settings = deep_update(rl_settings(cfg, len(records), recipe.run.seed), {"trainer": trainer})
    settings["data"]["max_response_length"] = max(length for _, length in segments)
    rows = verl_rows(records, cfg.template, source, cfg.answer_kind)
    return write_job(out, deep_update(base, settings), rows, _val_rows(recipe, cfg), list(launch.overrides), FILE_LOGGER,
                     segments=segments if len(segments) > 1 else None)


def launch(job: Path, log: Path) -> int:
    """Run `job/run_verl.sh` with this interpreter, streaming its output to stdout and to `log`; its exit code."""
    env = dict(os.environ, PYTHON=sys.executable)
    cmd = ["bash", str(job / "run_verl.sh")]
    with open(log, "a", encoding="utf-8") as fh, subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            fh.write(line)
    return proc.returncode


def command_text(recipe, name: str, cfg, job: Path) -> str:
    """What to run where verl is installed, and how to import the results afterwards."""
    src = recipe.source or "<recipe.yaml>"
    lines = [f"rl {name}: the verl job is in {job}; run it where verl is installed (a shared filesystem, or copy "
             f"the directory there and back; paths inside it are relative to it):",
             f"  bash {job / 'run_verl.sh'}"]
    if cfg.verl.nnodes > 1:
        lines.append(f"  (nnodes={cfg.verl.nnodes}: on the head of a running Ray cluster of that many nodes: "
                     "`ray start --head` there, `ray start --address=<head>:6379` on the others)")
    lines += ["then import its results (add the overrides this run was started with):",
              f"  octothinker rl import-verl {src} --run {name} --from {job}"]
    return "\n".join(lines)


def already_imported(out: Path, cfg) -> bool:
    """Whether `out` holds a verl run imported with these settings (rl_config.json and a checkpoint)."""
    from ..model.checkpoint import latest_checkpoint

    try:
        meta = json.loads((out / "rl_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("engine") == "verl" and meta.get("config") == to_dict(cfg) and latest_checkpoint(out) is not None


def import_run(recipe, name: str, target: str, cfg, src: str | Path, metrics: str | Path | None = None) -> Path:
    """Import the verl results under `src` into `rl/<name>/` with the run's lineage (see verl_import)."""
    from .verl_import import import_verl

    _, parent = init_model(recipe, target)
    lineage = {"parent": str(parent) if parent else None, "init": target, "template": cfg.template}
    return import_verl(src, RunPaths(recipe.run_dir).rl(name), cfg, recipe.run.seed, lineage, metrics=metrics)


def run_verl_runs(recipe, runs: dict[str, tuple]) -> dict[str, tuple]:
    """Handle the `rl.engine: verl` runs of `runs` (write, launch or print, import); return the other runs.

    Raises VerlNotRun after writing every pending job when verl cannot be launched here."""
    from .verl_import import latest_step

    pending = []
    for name, (target, cfg) in runs.items():
        if cfg.engine != "verl":
            continue
        out = RunPaths(recipe.run_dir).rl(name)
        if already_imported(out, cfg):
            print(f"rl {name}: verl results already imported into {out}", flush=True)
            continue
        job = write_run_job(recipe, name, target, cfg)
        skipped = unmapped(cfg)
        if skipped:
            print(f"rl {name}: not carried to verl (see docs/rl.md, verl engine): {', '.join(skipped)}", flush=True)
        if (latest_step(job / "checkpoints") or 0) >= cfg.steps:
            import_run(recipe, name, target, cfg, job)
            continue
        if cfg.verl.launch == "auto" and has_verl():
            print(f"rl {name}: launching verl (bash {job / 'run_verl.sh'}; log {job / 'verl.log'})", flush=True)
            if cfg.verl.nnodes > 1:
                print(f"rl {name}: nnodes={cfg.verl.nnodes}: this node must be the head of a running Ray cluster of "
                      f"that many nodes, and {job} on a filesystem they share", flush=True)
            code = launch(job, job / "verl.log")
            if code != 0:
                raise RuntimeError(f"rl {name}: verl exited with code {code}; its output is in {job / 'verl.log'}; "
                                   f"rerunning resumes from its last checkpoint in {job / 'checkpoints'}")
            import_run(recipe, name, target, cfg, job)
            continue
        why = "rl.verl.launch is never" if cfg.verl.launch == "never" else "verl is not importable here"
        print(f"{why}.\n{command_text(recipe, name, cfg, job)}", flush=True)
        pending.append(name)
    if pending:
        raise VerlNotRun(f"{len(pending)} verl job(s) written but not run here ({', '.join(pending)}); run the "
                         f"command(s) printed above, then `octothinker rl import-verl`")
    return {k: v for k, v in runs.items() if v[1].engine != "verl"}
