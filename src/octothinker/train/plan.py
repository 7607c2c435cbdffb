"""Resolve a recipe's mid-training stages into concrete plans (steps, accumulation, tokens per rank,
checkpoint cadence, config hash) and estimate per-GPU memory for `--dry-run`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import Recipe
from ..configio import to_dict
from ..paths import RunPaths

GiB = 1024**3


@dataclass
class StagePlan:
    name: str
    mixture: str
    data_dir: Path
    stage_dir: Path
    seq_len: int
    micro_batch: int
    grad_accum: int
    world: int
    tokens: int
    total_steps: int
    checkpoint_every_steps: int
    schedule: dict
    init_kind: str  # fresh | stage | dir
    init_from: str | None
    init_step: int | None
    config_hash: str

    @property
    def rows_per_step(self) -> int:
        return self.micro_batch * self.grad_accum * self.world

    @property
    def tokens_per_step(self) -> int:
        return self.rows_per_step * self.seq_len

    @property
    def tokens_per_rank(self) -> int:
        return self.total_steps * self.tokens_per_step // self.world


def _manifest(data_dir: Path) -> dict | None:
    p = data_dir / "manifest.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# midtrain settings that leave the trained weights as they are (logging cadence, checkpoint spacing)
WEIGHT_NEUTRAL = ("eval_every_steps", "heldout_rows", "checkpoint_every_tokens")


def trainer_settings(mc) -> dict:
    """The `midtrain:` settings (less its stages) that a stage's weights depend on: the part of its cache keys."""
    return {k: v for k, v in to_dict(mc).items() if k != "stages" and k not in WEIGHT_NEUTRAL}


def resolve_plans(recipe: Recipe, world: int = 1) -> list[StagePlan]:
    """One plan per stage in recipe order; errors name the recipe key at fault."""
    mc = recipe.midtrain
    paths = RunPaths(recipe.run_dir)
    common = trainer_settings(mc)
    plans: dict[str, StagePlan] = {}
    for name, st in mc.stages.items():
        data_dir = paths.data(st.mixture)
        manifest = _manifest(data_dir)
        seq_len = int(manifest["seq_len"]) if manifest else recipe.data.seq_len
        if mc.global_batch_tokens:
            per_micro = mc.micro_batch_size * seq_len * world
            if mc.global_batch_tokens % per_micro:
                raise ValueError(
                    f"midtrain.global_batch_tokens: {mc.global_batch_tokens} is not a multiple of micro_batch_size x "
                    f"seq_len x world = {mc.micro_batch_size} x {seq_len} x {world} = {per_micro}"
                )
            accum = mc.global_batch_tokens // per_micro
        else:
            accum = mc.grad_accum
        tokens = st.tokens or recipe.data.mixtures[st.mixture].tokens
        tps = mc.micro_batch_size * accum * world * seq_len
        steps = max(1, tokens // tps)
        if st.init_from is None:
            kind, parent_hash = "fresh", _hash(to_dict(recipe.model)) + f"/seed{recipe.run.seed}"
        elif st.init_from in plans:
            kind, parent_hash = "stage", f"{plans[st.init_from].config_hash}@{st.init_step}"
        elif st.init_from in mc.stages:
            raise ValueError(f"midtrain.stages.{name}.init_from: stage {st.init_from!r} must come earlier")
        else:
            kind, parent_hash = "dir", f"{Path(st.init_from).resolve()}@{st.init_step}"
        data_hash = (manifest or {}).get("config_hash") or recipe.section_hash("data")
        config_hash = _hash({"stage": to_dict(st), "midtrain": common, "model": to_dict(recipe.model),
                             "parent": parent_hash, "data": data_hash, "rows_per_step": tps // seq_len})
        schedule = {"schedule": st.schedule, "lr": st.lr, "min_lr": st.min_lr, "warmup_steps": st.warmup_steps}
        plans[name] = StagePlan(name, st.mixture, data_dir, paths.midtrain(name), seq_len, mc.micro_batch_size, accum, world,
                                tokens, steps, max(1, -(-mc.checkpoint_every_tokens // tps)), schedule, kind, st.init_from,
                                st.init_step, config_hash)
    return list(plans.values())


def memory_estimate(config, n_params: int, micro_batch: int, seq_len: int, world: int, activation_checkpointing: bool) -> dict[str, float]:
    """Rough per-GPU bytes (GiB) for FSDP2 training with fp32 master weights, AdamW and bf16 autocast.

    Sharded by world: fp32 params (4N), fp32 grads (4N), Adam moments (8N). Unsharded: two gathered
    decoder layers (prefetch), activations (per layer and token ~ 20h + 8I bytes in bf16, or only the
    fp32 layer input plus one layer when checkpointing) and the logits (bf16 + fp32 loss + grad).
    """
    h, inter = config.hidden_size, config.intermediate_size
    layers, vocab = config.num_hidden_layers, config.vocab_size
    tokens = micro_batch * seq_len
    per_layer_params = (n_params - vocab * h * (1 if config.tie_word_embeddings else 2)) / max(layers, 1)
    per_layer_act = tokens * (20 * h + 8 * inter)
    act = layers * tokens * 4 * h + per_layer_act if activation_checkpointing else layers * per_layer_act
    est = {
        "params": 4 * n_params / world,
        "grads": 4 * n_params / world,
        "optimizer": 8 * n_params / world,
        "gathered_layers": 2 * 4 * per_layer_params if world > 1 else 0.0,
        "activations": act,
        "logits": tokens * vocab * 10,
    }
    est = {k: v / GiB for k, v in est.items()}
    est["total"] = sum(est.values())
    return est


def format_plan(recipe: Recipe, plans: list[StagePlan], world: int) -> str:
    """Human-readable plan and memory table for `--dry-run`."""
    from ..model.shapes import hf_config, meta_model

    vocab = None
    if recipe.model.init == "tiny":
        manifests = [m for m in (_manifest(p.data_dir) for p in plans) if m]
        vocab = manifests[0]["vocab_size"] if manifests else recipe.tokenizer.vocab_size
    config = hf_config(recipe.model, vocab)
    model = meta_model(config)
    n = sum(p.numel() for p in model.parameters())
    lines = [f"model: {recipe.model.path or 'tiny llama'} ({type(model).__name__}, {n / 1e9:.3f}B parameters, built on meta device)",
             f"world size: {world}   precision: {recipe.midtrain.precision}   activation checkpointing: {recipe.midtrain.activation_checkpointing}", ""]
    for p in plans:
        base = f"pretrained {recipe.model.path}" if recipe.model.init == "pretrained" else "a new tiny model"
        init = {"fresh": f"recipe.model ({base})", "stage": f"stage {p.init_from} (step {p.init_step or 'last'})", "dir": f"dir {p.init_from}"}[p.init_kind]
        mem = memory_estimate(config, n, p.micro_batch, p.seq_len, world, recipe.midtrain.activation_checkpointing)
        lines += [
            f"stage {p.name}: mixture {p.mixture}, init from {init}",
            f"  tokens {p.tokens:,} = {p.total_steps:,} steps x {p.tokens_per_step:,} tokens/step "
            f"(micro {p.micro_batch} x accum {p.grad_accum} x world {p.world} x seq {p.seq_len}); {p.tokens_per_rank:,} tokens per rank",
            f"  schedule {p.schedule['schedule']} lr {p.schedule['lr']:g} -> min {p.schedule['min_lr']:g}, warmup {p.schedule['warmup_steps']}; "
            f"checkpoint every {p.checkpoint_every_steps} steps; hash {p.config_hash}",
            "  memory per GPU (GiB): " + ", ".join(f"{k} {v:.2f}" for k, v in mem.items()),
        ]
    return "\n".join(lines)


def plan_dicts(plans: list[StagePlan]) -> list[dict]:
    return [{**asdict(p), "data_dir": str(p.data_dir), "stage_dir": str(p.stage_dir), "tokens_per_step": p.tokens_per_step,
             "tokens_per_rank": p.tokens_per_rank} for p in plans]
