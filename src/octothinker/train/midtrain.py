"""`run_midtrain`: run a recipe's mid-training stages in order (base, stable, decay branches, ablations).

Per stage: skip when complete with the same config hash; resume exactly when the stage dir holds a
checkpoint of an unfinished run with the same hash; otherwise initialise (fresh model, a previous
stage's checkpoint, or a directory) with a new optimizer and schedule. Writes lineage.json and
stage.json beside the step dirs (see docs/midtrain.md).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..config import Recipe
from ..model import checkpoint as ckpt
from ..paths import RunPaths, atomic_write_json
from .plan import StagePlan, format_plan, resolve_plans


class StageConflictError(RuntimeError):
    """The stage dir holds checkpoints of a different configuration."""


def tokenizer_dir(recipe: Recipe, data_dir: Path) -> Path:
    """`runs/<run>/data/tokenizer`, else the tokenizer path recorded in the mixture manifest."""
    own = RunPaths(recipe.run_dir).tokenizer
    if (own / "tokenizer_config.json").is_file() or (own / "tokenizer.json").is_file():
        return own
    mpath = data_dir / "manifest.json"
    if mpath.is_file():
        tok = json.loads(mpath.read_text(encoding="utf-8")).get("tokenizer")
        if tok and Path(tok).is_dir():
            return Path(tok)
    raise FileNotFoundError(f"no tokenizer: neither {own} nor the 'tokenizer' field of {mpath} names a directory")


def weights_hash(state: dict) -> str:
    """sha256 over a state dict's tensors (sorted names, raw bytes): proves which weights a stage began from."""
    import torch

    h = hashlib.sha256()
    for k in sorted(state):
        if k == "lm_head.weight" and "model.embed_tokens.weight" in state and state[k].data_ptr() == state["model.embed_tokens.weight"].data_ptr():
            continue
        t = state[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes())
    return h.hexdigest()


def init_source(plan: StagePlan, recipe: Recipe) -> Path | None:
    """The checkpoint dir a stage starts from (None: a fresh model from recipe.model)."""
    if plan.init_kind == "fresh":
        return None
    if plan.init_kind == "stage":
        parent = RunPaths(recipe.run_dir).midtrain(plan.init_from)
        if plan.init_step is None:  # the parent's end: only a parent that finished, with its current settings
            status = _status(parent)
            want = next(p.config_hash for p in resolve_plans(recipe, plan.world) if p.name == plan.init_from)
            if not status.get("complete") or status.get("config_hash") != want:
                why = "was trained with other settings" if status.get("complete") else "has not finished"
                raise FileNotFoundError(f"midtrain {plan.name}: its parent stage {plan.init_from!r} {why} ({parent}); "
                                        f"run it to the end first (init_step names an earlier checkpoint on purpose)")
        return ckpt.checkpoint_at(parent, plan.init_step)
    d = Path(plan.init_from)
    return ckpt.resolve_model_dir(d) if plan.init_step is None else ckpt.checkpoint_at(d, plan.init_step)


def load_model(recipe: Recipe, tok_dir: Path, weights: Path | None):
    """fp32 model from a checkpoint dir, or fresh from the recipe's model section."""
    import torch
    from transformers import AutoModelForCausalLM

    from ..data.tokenizer import load_tokenizer
    from ..model.build import build_model

    if weights is not None:
        return AutoModelForCausalLM.from_pretrained(str(weights), dtype=torch.float32, attn_implementation=recipe.model.attn_implementation)
    model = build_model(recipe.model, load_tokenizer(tok_dir), seed=recipe.run.seed)
    return model.float()


def _status(stage_dir: Path) -> dict:
    p = stage_dir / "stage.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def run_stage(recipe: Recipe, plan: StagePlan, dist, stop_after: int | None = None) -> Path | None:
    """Train one stage (or skip/resume it); returns its final checkpoint, or the last one if stopped early."""
    from ..model.checkpoint import latest_checkpoint
    from .data import open_shards
    from .distributed import wrap_model
    from .loop import LoopSpec, train_loop

    mc = recipe.midtrain
    status = _status(plan.stage_dir)
    latest = latest_checkpoint(plan.stage_dir)
    if status.get("complete") and status.get("config_hash") == plan.config_hash and latest is not None:
        if dist.is_main:
            print(f"midtrain {plan.name}: complete with the same config ({plan.config_hash}); skipped")
        return latest
    resume, weights = None, None
    if latest is not None:
        latest = ckpt.resume_checkpoint(plan.stage_dir, f"midtrain {plan.name}", echo=dist.is_main)  # newest that verifies
        have = ckpt.read_summary(latest).get("config_hash")
        if have != plan.config_hash or status.get("complete"):
            raise StageConflictError(
                f"{plan.stage_dir}: holds checkpoints of another configuration (hash {have}, this recipe {plan.config_hash}); "
                f"delete that directory or choose another run.name"
            )
        resume, weights = ckpt.load_trainer_state(latest), latest
    else:
        weights = init_source(plan, recipe)
    data = open_shards(plan.data_dir)
    tok_dir = tokenizer_dir(recipe, plan.data_dir)
    model = load_model(recipe, tok_dir, weights)
    lineage_path = plan.stage_dir / "lineage.json"
    if resume is None and dist.is_main:
        parent = None if weights is None else str(weights)
        lineage = {
            "stage": plan.name, "mixture": plan.mixture, "data_dir": str(plan.data_dir),
            "data_config_hash": data.manifest.get("config_hash"), "tokens_planned": plan.tokens, "steps_planned": plan.total_steps,
            "init": {"kind": plan.init_kind, "from": plan.init_from, "parent_checkpoint": parent,
                     "parent_step": ckpt.read_summary(weights).get("step") if weights else None,
                     "weights_sha256": weights_hash(model.state_dict())},
            "schedule": plan.schedule, "config_hash": plan.config_hash, "complete": False,
        }
        atomic_write_json(lineage_path, lineage)
        atomic_write_json(plan.stage_dir / "stage.json", {"config_hash": plan.config_hash, "complete": False})
        metrics = plan.stage_dir / "metrics.jsonl"
        metrics.unlink(missing_ok=True)
    elif resume is not None and dist.is_main:
        _truncate_metrics(plan.stage_dir / "metrics.jsonl", int(resume["step"]))
        print(f"midtrain {plan.name}: resuming from {latest} (step {resume['step']} of {plan.total_steps})")
    model = wrap_model(model, dist, mc.activation_checkpointing)
    spec = LoopSpec(
        stage=plan.name, stage_dir=plan.stage_dir, total_steps=plan.total_steps, micro_batch=plan.micro_batch,
        grad_accum=plan.grad_accum, seq_len=plan.seq_len, checkpoint_every_steps=plan.checkpoint_every_steps,
        schedule=plan.schedule, weight_decay=mc.weight_decay, betas=tuple(mc.betas), grad_clip=mc.grad_clip,
        precision=mc.precision, doc_attention_mask=mc.doc_attention_mask, eval_every_steps=mc.eval_every_steps,
        heldout_rows=mc.heldout_rows, config_hash=plan.config_hash, tracking=recipe.report.tracking, run_name=recipe.run.name,
        summary={"mixture": plan.mixture, "parent_checkpoint": None if resume else (str(weights) if weights else None)},
    )
    result = train_loop(model, data, spec, dist, tok_dir, resume=resume, stop_after=stop_after)
    last = latest_checkpoint(plan.stage_dir)
    if result["complete"] and dist.is_main:
        ckpt.mark_final(plan.stage_dir, last)
        lineage = json.loads(lineage_path.read_text(encoding="utf-8"))
        lineage.update({"complete": True, "final_checkpoint": str(last), "final_step": result["step"],
                        "tokens_trained": result["step"] * plan.tokens_per_step})
        atomic_write_json(lineage_path, lineage)
        atomic_write_json(plan.stage_dir / "stage.json", {"config_hash": plan.config_hash, "complete": True, "final_checkpoint": last.name})
    dist.barrier()
    return last


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric rows past the resumed step (written after the last checkpoint before a crash)."""
    from ..paths import atomic_write_text, read_jsonl

    rows = [r for r in read_jsonl(path) if r.get("step", 0) <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def run_midtrain(recipe: Recipe, stages: list[str] | None = None, dry_run: bool = False, stop_after: int | None = None,
                 world_size: int | None = None) -> Path:
    """Run (or with dry_run, plan and print) the recipe's mid-training stages; returns runs/<run>/midtrain.

    `stages` restricts the run to those names (their parents must already be trained); `stop_after`
    stops each stage after that many optimizer steps with a checkpoint (resume testing);
    `world_size` only affects the dry-run plan (default: WORLD_SIZE or 1).
    """
    import os

    out = RunPaths(recipe.run_dir).root / "midtrain"
    if not recipe.midtrain.stages:
        raise ValueError("midtrain.stages: the recipe declares no mid-training stage")
    unknown = [s for s in stages or [] if s not in recipe.midtrain.stages]
    if unknown:
        raise ValueError(f"--stage: unknown stage(s) {', '.join(unknown)}; declared: {', '.join(recipe.midtrain.stages)}")
    if dry_run:
        world = world_size or int(os.environ.get("WORLD_SIZE", "1"))
        plans = resolve_plans(recipe, world)
        print(format_plan(recipe, [p for p in plans if not stages or p.name in stages], world))
        return out
    from .distributed import init_distributed

    dist = init_distributed(recipe.run.device)
    unfinished: set[str] = set()  # stages stopped early (`stop_after`): their branches wait for their end
    for plan in resolve_plans(recipe, dist.world):
        if stages and plan.name not in stages:
            continue
        if plan.init_kind == "stage" and plan.init_from in unfinished and (plan.init_step is None or not (
                ckpt.step_dir(RunPaths(recipe.run_dir).midtrain(plan.init_from), plan.init_step) / "config.json").is_file()):
            if dist.is_main:
                print(f"midtrain {plan.name}: not started: its parent {plan.init_from!r} stopped before "
                      f"{'its end' if plan.init_step is None else f'step {plan.init_step}'}")
            unfinished.add(plan.name)
            continue
        run_stage(recipe, plan, dist, stop_after)
        if not _status(plan.stage_dir).get("complete"):
            unfinished.add(plan.name)
    return out
