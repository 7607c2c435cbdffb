"""`octothinker rl export-verl`: the prompt set, reward function and GRPO config as a verl job.

Writes `train.parquet` (verl's RLHF dataset schema; `val.parquet` too when validation sets are
given), `octothinker_reward.py` (a shim exposing `compute_score` from our grader), `verl_grpo.yaml`
(the paper's RL settings as a nested config) and `run_verl.sh` (the same settings as Hydra overrides
of `verl.trainer.main_ppo`). The script finds its own directory at run time, so paths inside the job
directory stay valid when the directory is copied to a cluster. `rl.engine: verl` writes the same
files through `write_job` (see `verl_engine.py`).
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from ..paths import atomic_write_bytes, atomic_write_text

# The template is already rendered into the user message, so the chat template must pass it through.
IDENTITY_CHAT_TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}"

REWARD_SHIM = '''"""verl custom reward function: OctoThinker's grader (needs `pip install octothinker` on every node)."""
from octothinker.rl.verl_reward import compute_score

__all__ = ["compute_score"]
'''


def verl_rows(records: list[dict], template: str, data_source: str, answer_kind: str = "math",
              split: str = "train") -> list[dict]:
    """verl dataset rows: data_source, prompt (chat list), ability, reward_model {style, ground_truth}, extra_info.

    A record's own `kind` (benchmark records carry one) picks the grader kind over `answer_kind`; its prompt is
    eval's RL-template prompt (`validation_prompts`: a multiple-choice record shows its options). A record with
    several accepted answers (a list) keeps the first as `ground_truth` (verl's string field); every row lists its
    accepted answers in `extra_info.answers` (one schema for the parquet file), which `compute_score` grades against."""
    from .validation import validation_prompts

    rows = []
    for i, (rec, prompt) in enumerate(zip(records, validation_prompts(records, template))):
        answers = [str(a) for a in rec["answer"]] if isinstance(rec["answer"], (list, tuple)) else [str(rec["answer"])]
        extra = {"split": split, "index": i, "id": str(rec.get("id", i)), "question": rec["question"],
                 "template": template, "answer_kind": str(rec.get("kind") or answer_kind), "answers": answers}
        rows.append({
            "data_source": data_source,
            "prompt": [{"role": "user", "content": prompt}],
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": answers[0] if answers else ""},
            "extra_info": extra,
        })
    return rows


def verl_config(train_file: str, reward_file: str, model_path: str, max_response: int = 4096, max_prompt: int = 1024,
                n_gpus: int = 8, nnodes: int = 1) -> dict:
    """The paper's R1-Zero GRPO settings in verl's config keys (128 prompts x 16, mini-batch 64, T=1, LR 1e-6, no KL)."""
    return {
        "data": {
            "train_files": train_file,
            "val_files": train_file,
            "prompt_key": "prompt",
            "train_batch_size": 128,
            "max_prompt_length": max_prompt,
            "max_response_length": max_response,
            "filter_overlong_prompts": True,
            "truncation": "error",
        },
        "actor_rollout_ref": {
            "model": {"path": model_path, "custom_chat_template": IDENTITY_CHAT_TEMPLATE,
                      "use_remove_padding": True, "enable_gradient_checkpointing": True},
            "actor": {
                "optim": {"lr": 1e-6},
                "ppo_mini_batch_size": 64,
                "ppo_micro_batch_size_per_gpu": 4,
                "ppo_epochs": 1,
                "use_kl_loss": False,
                "kl_loss_coef": 0.0,
                "entropy_coeff": 0.0,
                "clip_ratio_low": 0.2,
                "clip_ratio_high": 0.2,
                "loss_agg_mode": "token-mean",
            },
            "rollout": {
                "name": "vllm",
                "n": 16,
                "temperature": 1.0,
                "top_p": 1.0,
                "tensor_model_parallel_size": 1,
                "gpu_memory_utilization": 0.6,
                "log_prob_micro_batch_size_per_gpu": 8,
            },
            "ref": {"log_prob_micro_batch_size_per_gpu": 8},
        },
        "algorithm": {"adv_estimator": "grpo", "norm_adv_by_std_in_grpo": True, "use_kl_in_reward": False,
                      "kl_ctrl": {"kl_coef": 0.0}},
        "custom_reward_function": {"path": reward_file, "name": "compute_score"},
        "trainer": {"project_name": "octothinker", "experiment_name": "r1zero_grpo", "logger": ["console"],
                    "n_gpus_per_node": n_gpus, "nnodes": nnodes, "total_epochs": 10, "save_freq": 50, "test_freq": 50,
                    "val_before_train": False},
    }


def flatten(cfg: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Dotted (key, value) pairs of a nested config, for Hydra command-line overrides."""
    out = []
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.extend(flatten(v, key + "."))
        else:
            out.append((key, v))
    return out


_PLAIN = re.compile(r"^[A-Za-z0-9_./:+-]*$")


def _hydra_value(v) -> str:
    """A value in Hydra's override grammar (strings with special characters double-quoted)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ",".join(_hydra_value(x) for x in v) + "]"
    if isinstance(v, str) and not _PLAIN.match(v):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(v)


def deep_update(base: dict, updates: dict) -> dict:
    """A copy of nested `base` with nested `updates` written over it (dicts merge, other values replace)."""
    out = dict(base)
    for k, v in updates.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def merge_overrides(args: list[str], extra: list[str]) -> list[str]:
    """`key=value` overrides with `extra` ones replacing those of the same key in place, new keys appended
    (so no key is given twice on the command line); `+key=` / `~key` forms are appended as they are."""
    out = list(args)
    index = {a.split("=", 1)[0]: i for i, a in enumerate(out)}
    for e in extra:
        key = e.split("=", 1)[0]
        if "=" in e and key in index:
            out[index[key]] = e
        else:
            index[key] = len(out)
            out.append(e)
    return out


def overrides(cfg: dict) -> list[str]:
    """The config as Hydra `key=value` override strings, in the config's order."""
    return [f"{k}={_hydra_value(v)}" for k, v in flatten(cfg)]


def _shell_arg(arg: str, job: Path) -> str:
    """One override as a shell word; a value inside the job directory is written relative to `$JOB`."""
    key, _, value = arg.partition("=")
    root = str(job)
    if value == root or value.startswith(root + "/"):
        return shlex.quote(key + "=") + '"$JOB"' + (shlex.quote(value[len(root):]) if value != root else "")
    return shlex.quote(arg)


SEGMENT_KEYS = ("data.max_response_length", "trainer.total_training_steps", "trainer.resume_mode")


def write_script(out: Path, args: list[str], file_logger: str | None = None,
                 segments: list[tuple[int, int]] | None = None) -> Path:
    """`run_verl.sh`: `$PYTHON -m verl.trainer.main_ppo` with `args` then the caller's own overrides.

    With `file_logger` (a file name in the job dir) it sets verl's `VERL_FILE_LOGGER_PATH` unless the
    caller did, and first renames a non-empty log to `<name>.<n>.jsonl` (verl's file logger truncates
    its file when it starts, so a resumed run would otherwise lose the rows of the attempt before).
    With `segments` `[(last step, max length)]` (a length schedule) it launches verl once per segment, each
    with `trainer.resume_mode=auto` continuing from the checkpoint the segment before saved at its last step."""
    lines = ["#!/usr/bin/env bash",
             "# R1-Zero GRPO with verl, written by octothinker; extra Hydra overrides pass through (\"$@\").",
             "# Paths inside this directory are relative to it: the directory can be copied to another machine.",
             "set -euo pipefail",
             'JOB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"']
    if file_logger:
        lines += [f'export VERL_FILE_LOGGER_PATH="${{VERL_FILE_LOGGER_PATH:-$JOB/{file_logger}}}"',
                  'if [ -s "$VERL_FILE_LOGGER_PATH" ]; then',
                  '  n=1; while [ -e "${VERL_FILE_LOGGER_PATH%.jsonl}.$n.jsonl" ]; do n=$((n + 1)); done',
                  '  mv "$VERL_FILE_LOGGER_PATH" "${VERL_FILE_LOGGER_PATH%.jsonl}.$n.jsonl"',
                  "fi"]
    if segments:
        args = [a for a in args if a.partition("=")[0].lstrip("+") not in SEGMENT_KEYS]
    body = " \\\n  ".join(_shell_arg(a, out) for a in args)
    if not segments:
        lines.append(f'"${{PYTHON:-python3}}" -m verl.trainer.main_ppo \\\n  {body} \\\n  "$@"')
    else:
        rotate = lines[-4:] if file_logger else []
        del lines[len(lines) - len(rotate):]
        lines += ["segment() {", *("  " + x for x in rotate),
                  f'  "${{PYTHON:-python3}}" -m verl.trainer.main_ppo \\\n    {body.replace(chr(10), chr(10) + "  ")} \\\n    "$@"',
                  "}"]
        for end, length in segments:
            lines.append(f"segment data.max_response_length={length} trainer.total_training_steps={end} "
                         f'trainer.resume_mode=auto "$@"')
    path = out / "run_verl.sh"
    atomic_write_text(path, "\n".join(lines) + "\n")
    path.chmod(0o755)
    return path


def _parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def write_job(out: str | Path, cfg: dict, rows: list[dict], val_rows: list[dict] | None = None,
              extra: list[str] | None = None, file_logger: str | None = None,
              segments: list[tuple[int, int]] | None = None) -> Path:
    """Write a verl job into `out`: parquet files, reward shim, `verl_grpo.yaml` and `run_verl.sh`.

    The data and reward paths of `cfg` are set here (validation reads `val.parquet` when `val_rows`
    are given, else the training file); `extra` Hydra overrides replace or follow the generated ones."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    _parquet(out / "train.parquet", rows)
    if val_rows:
        _parquet(out / "val.parquet", val_rows)
    atomic_write_text(out / "octothinker_reward.py", REWARD_SHIM)
    cfg = deep_update(cfg, {"data": {"train_files": str(out / "train.parquet"),
                                     "val_files": str(out / ("val.parquet" if val_rows else "train.parquet"))},
                            "custom_reward_function": {"path": str(out / "octothinker_reward.py")}})
    header = ("# verl GRPO config written by octothinker (its R1-Zero settings); run_verl.sh passes it as overrides.\n"
              + (f"# extra overrides, applied after these: {' '.join(extra)}\n" if extra else ""))
    atomic_write_text(out / "verl_grpo.yaml", header + yaml.safe_dump(cfg, sort_keys=False))
    write_script(out, merge_overrides(overrides(cfg), list(extra or [])), file_logger, segments)
    return out


def export_verl(out: str | Path, prompts_path: str | None = None, recipe=None, model_path: str | None = None) -> Path:
    """Write the verl job files into `out` and return it."""
    from .prompts import load_prompts

    template = recipe.rl.template if recipe is not None else "simple"
    kind = recipe.rl.answer_kind if recipe is not None else "math"
    if prompts_path:
        records, source = load_prompts(prompts_path), f"octothinker/{Path(prompts_path).stem}"
    elif recipe is not None and recipe.rl.prompt_set:
        from .prompt_sets import load_prompt_set

        records = load_prompt_set(recipe.rl, recipe.toyworld, recipe.eval.benchmark_dir,
                                  recipe.data.decontamination.ngram).prompts
        source = f"octothinker/{recipe.rl.prompt_set}"
    else:
        from ..config import ToyWorldConfig
        from ..toyworld import rl_prompts

        records, source = rl_prompts(recipe.toyworld if recipe is not None else ToyWorldConfig()), "octothinker/toy_rl"
    max_resp = recipe.rl.max_response_tokens if recipe is not None and recipe.rl.max_response_tokens > 4096 else 4096
    cfg = verl_config("train.parquet", "octothinker_reward.py", model_path or "meta-llama/Llama-3.2-3B", max_response=max_resp)
    return write_job(out, cfg, verl_rows(records, template, source, kind))
