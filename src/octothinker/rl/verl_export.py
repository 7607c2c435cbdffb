"""`octothinker rl export-verl`: the prompt set, reward function and GRPO config as a verl job.

Writes `train.parquet` (verl's RLHF dataset schema), `octothinker_reward.py` (a shim exposing
`compute_score` from our grader), `verl_grpo.yaml` (the paper's RL settings as a nested config)
and `run_verl.sh` (the same settings as Hydra overrides of `verl.trainer.main_ppo`).
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from ..paths import atomic_write_bytes, atomic_write_text
from .templates import render

# The template is already rendered into the user message, so the chat template must pass it through.
IDENTITY_CHAT_TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}"

REWARD_SHIM = '''"""verl custom reward function: OctoThinker's grader (needs `pip install octothinker` on every node)."""
from octothinker.rl.verl_reward import compute_score

__all__ = ["compute_score"]
'''


def verl_rows(records: list[dict], template: str, data_source: str, answer_kind: str = "math") -> list[dict]:
    """verl dataset rows: data_source, prompt (chat list), ability, reward_model {style, ground_truth}, extra_info."""
    rows = []
    for i, rec in enumerate(records):
        rows.append({
            "data_source": data_source,
            "prompt": [{"role": "user", "content": render(template, rec["question"])}],
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": str(rec["answer"])},
            "extra_info": {"split": "train", "index": i, "id": str(rec.get("id", i)), "question": rec["question"],
                           "template": template, "answer_kind": answer_kind},
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


def export_verl(out: str | Path, prompts_path: str | None = None, recipe=None, model_path: str | None = None) -> Path:
    """Write the verl job files into `out` and return it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .trainer import load_prompts

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    template = recipe.rl.template if recipe is not None else "simple"
    kind = recipe.rl.answer_kind if recipe is not None else "math"
    if prompts_path:
        records, source = load_prompts(prompts_path), f"octothinker/{Path(prompts_path).stem}"
    else:
        from ..config import ToyWorldConfig
        from ..toyworld import rl_prompts

        records, source = rl_prompts(recipe.toyworld if recipe is not None else ToyWorldConfig()), "octothinker/toy_rl"
    rows = verl_rows(records, template, source, kind)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    atomic_write_bytes(out / "train.parquet", sink.getvalue().to_pybytes())
    atomic_write_text(out / "octothinker_reward.py", REWARD_SHIM)
    max_resp = recipe.rl.max_response_tokens if recipe is not None and recipe.rl.max_response_tokens > 4096 else 4096
    cfg = verl_config(str(out / "train.parquet"), str(out / "octothinker_reward.py"),
                      model_path or "meta-llama/Llama-3.2-3B", max_response=max_resp)
    header = ("# verl GRPO config written by `octothinker rl export-verl` (OctoThinker's R1-Zero settings).\n"
              "# Newer verl releases read the reward function from reward.custom_reward_function.\n")
    atomic_write_text(out / "verl_grpo.yaml", header + yaml.safe_dump(cfg, sort_keys=False))
    args = " \\\n  ".join(shlex.quote(f"{k}={_hydra_value(v)}") for k, v in flatten(cfg))
    atomic_write_text(out / "run_verl.sh", "#!/usr/bin/env bash\n# R1-Zero GRPO with verl; extra overrides pass through.\n"
                      f"set -euo pipefail\npython3 -m verl.trainer.main_ppo \\\n  {args} \\\n  \"$@\"\n")
    (out / "run_verl.sh").chmod(0o755)
    return out
