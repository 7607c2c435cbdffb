"""Checkpoints: an HF model dir (safetensors, config, tokenizer) plus `trainer_state/`, written atomically.

Layout of a stage directory (CONTRACTS.md "Checkpoints"):
    step_<n>/            HF model dir + trainer_state/{state.pt, state.json}
    LATEST               the name of the newest complete step dir (atomic pointer file)
    final -> step_<n>    symlink written when the stage completes
A step dir is built in a temp dir and renamed into place, then LATEST is replaced, so a crash at
any point leaves the previous checkpoint as the one `latest_checkpoint` returns.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from ..paths import atomic_dir, atomic_write_text

STEP_RE = re.compile(r"^step_(\d+)$")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "vocab.json", "merges.txt", "chat_template.jinja")


def step_dir(stage_dir: str | Path, step: int) -> Path:
    return Path(stage_dir) / f"step_{step}"


def _is_complete(step: Path) -> bool:
    """A step dir whose model config and trainer state are both written (what a resume can load)."""
    return (step / "config.json").is_file() and (step / "trainer_state" / "state.json").is_file()


def list_checkpoints(stage_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete step dirs of a stage (those with config.json and trainer_state), by step."""
    out = []
    stage_dir = Path(stage_dir)
    if not stage_dir.is_dir():
        return out
    try:
        entries = list(stage_dir.iterdir())
    except FileNotFoundError:  # the directory was swapped out under us (a writer's atomic_dir rename)
        return out
    for p in entries:
        m = STEP_RE.match(p.name)
        if m and p.is_dir() and _is_complete(p):
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest_checkpoint(stage_dir: str | Path) -> Path | None:
    """The checkpoint LATEST points at; if the pointer is missing or stale, the highest complete step."""
    stage_dir = Path(stage_dir)
    pointer = stage_dir / "LATEST"
    try:
        cand = stage_dir / pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:  # no pointer yet, or a concurrent writer is replacing it: scan instead
        cand = None
    if cand is not None and _is_complete(cand):
        return cand
    found = list_checkpoints(stage_dir)
    return found[-1][1] if found else None


def checkpoint_at(stage_dir: str | Path, step: int | None) -> Path:
    """The checkpoint of `stage_dir` at `step` (None: the latest); a clear error when absent."""
    if step is None:
        ck = latest_checkpoint(stage_dir)
        if ck is None:
            raise FileNotFoundError(f"{stage_dir}: no checkpoint found (run that stage first)")
        return ck
    ck = step_dir(stage_dir, step)
    if not (ck / "config.json").is_file():
        have = ", ".join(str(s) for s, _ in list_checkpoints(stage_dir)) or "none"
        raise FileNotFoundError(f"{ck}: no checkpoint at step {step}; steps available: {have}")
    return ck


def copy_tokenizer(src: str | Path, dest: str | Path) -> None:
    src, dest = Path(src), Path(dest)
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)


def save_checkpoint(stage_dir: str | Path, step: int, model_state: dict, model_config, tokenizer_dir: str | Path | None,
                    trainer_state: dict[str, Any], summary: dict[str, Any], keep: int | None = None) -> Path:
    """Write step_<step>/ atomically (model weights, config, tokenizer, trainer state), then LATEST.

    `model_state` is a full (unsharded) state dict; `trainer_state` goes to state.pt (torch.save),
    `summary` (JSON-able) to state.json. `keep` prunes older step dirs beyond the newest `keep`.
    """
    import torch
    from safetensors.torch import save_file

    final = step_dir(stage_dir, step)
    with atomic_dir(final) as tmp:
        tensors = _dedupe_tied({k: v.detach().contiguous().cpu() for k, v in model_state.items()}, model_config)
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        model_config.save_pretrained(str(tmp))
        if tokenizer_dir is not None:
            copy_tokenizer(tokenizer_dir, tmp)
        (tmp / "trainer_state").mkdir()
        torch.save(trainer_state, tmp / "trainer_state" / "state.pt")
        (tmp / "trainer_state" / "state.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    atomic_write_text(Path(stage_dir) / "LATEST", final.name + "\n")
    if keep is not None:
        for s, p in list_checkpoints(stage_dir)[:-keep]:
            if s != step:
                shutil.rmtree(p, ignore_errors=True)
    return final


def _dedupe_tied(tensors: dict, model_config) -> dict:
    """Drop the output head when embeddings are tied (safetensors refuses shared storage)."""
    if getattr(model_config, "tie_word_embeddings", False) and "lm_head.weight" in tensors:
        tensors = dict(tensors)
        del tensors["lm_head.weight"]
    return tensors


def load_trainer_state(ckpt: str | Path) -> dict:
    import torch

    return torch.load(Path(ckpt) / "trainer_state" / "state.pt", map_location="cpu", weights_only=False)


def read_summary(ckpt: str | Path) -> dict:
    return json.loads((Path(ckpt) / "trainer_state" / "state.json").read_text(encoding="utf-8"))


def mark_final(stage_dir: str | Path, ckpt: str | Path) -> None:
    """Point `final` at the last step dir (symlink replaced atomically)."""
    stage_dir = Path(stage_dir)
    tmp = stage_dir / ".final.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(Path(ckpt).name, tmp)
    os.replace(tmp, stage_dir / "final")


def resolve_model_dir(path: str | Path) -> Path:
    """A step dir as is; a stage dir resolves to its latest checkpoint."""
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    ck = latest_checkpoint(path)
    if ck is None:
        raise FileNotFoundError(f"{path}: neither a model dir (config.json) nor a stage dir with checkpoints")
    return ck


def resolve_model(run_dir: str | Path, name: str) -> Path:
    """A recipe's model name -> HF model directory.

    `rl-<run>` is the latest checkpoint of RL run <run>; a mid-training stage name is that stage's
    latest checkpoint; anything else must be a model directory or a stage directory.
    """
    from ..paths import RunPaths

    paths = RunPaths(run_dir)
    if name.startswith("rl-") and paths.rl(name[3:]).is_dir():
        return resolve_model_dir(paths.rl(name[3:]))
    if "/" not in name and paths.midtrain(name).is_dir():
        return resolve_model_dir(paths.midtrain(name))
    if Path(name).is_dir():
        return resolve_model_dir(name)
    raise FileNotFoundError(
        f"model {name!r}: not a mid-training stage ({paths.root / 'midtrain'}), not an RL run "
        f"(rl-<name> under {paths.root / 'rl'}) and not a directory"
    )


def load_for_inference(path: str | Path, device: str = "cpu", dtype=None):
    """(model, tokenizer) from a step dir or a stage dir (its latest checkpoint), in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = resolve_model_dir(path)
    kwargs = {"dtype": dtype} if dtype is not None else {}
    model = AutoModelForCausalLM.from_pretrained(str(d), **kwargs).to(device).eval()
    tok = AutoTokenizer.from_pretrained(str(d))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok
