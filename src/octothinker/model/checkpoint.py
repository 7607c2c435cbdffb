"""Checkpoints: an HF model dir (safetensors, config, tokenizer) plus `trainer_state/`, written atomically.

Layout of a stage directory (CONTRACTS.md "Checkpoints"):
    step_<n>/            HF model dir + trainer_state/{state.pt, state.json}
    LATEST               the name of the newest complete step dir (atomic pointer file)
    final -> step_<n>    symlink written when the stage completes
A step dir is built in a temp dir and renamed into place, then LATEST is replaced, so a crash at
any point leaves the previous checkpoint as the one `latest_checkpoint` returns.

Every step dir also holds `checksums.json` (sha256 and size of each of its files). A file can still
be damaged after the write (a full disk, a bad copy, bit rot): a resume (`resume_checkpoint`) takes
the newest step dir that verifies (`latest_good_checkpoint`) and says in one line which file of a
newer one is damaged; model lookups (`resolve_model_dir`, `checkpoint_at`) refuse a damaged dir.
Step dirs written before checksums existed are checked by parsing their files instead.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any

from ..paths import atomic_dir, atomic_write_text

STEP_RE = re.compile(r"^step_(\d+)$")
CHECKSUMS = "checksums.json"
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


class CheckpointError(FileNotFoundError):
    """A checkpoint is damaged, or no checkpoint of a stage verifies; the message is one line."""


# ---------------------------------------------------------------------- verification


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _listing_digest(files: dict) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def write_checksums(ckpt: str | Path) -> dict:
    """Record sha256 and size of every file under `ckpt` in `ckpt/checksums.json` (which also carries
    the sha256 of that listing, so damage to the listing itself is seen too); returns the listing."""
    ckpt = Path(ckpt)
    files = {}
    for p in sorted(ckpt.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.relative_to(ckpt).as_posix() != CHECKSUMS:
            files[p.relative_to(ckpt).as_posix()] = {"sha256": _sha256(p), "size": p.stat().st_size}
    body = {"algorithm": "sha256", "files": files, "listing_sha256": _listing_digest(files)}
    (ckpt / CHECKSUMS).write_text(json.dumps(body, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return files


def _safetensors_problem(path: Path) -> str | None:
    """Whether a safetensors file is whole: its header parses and its tensors end exactly at the file's end."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"{size} bytes, too short for a safetensors header"
        n = int.from_bytes(head, "little")
        if n > size - 8:
            return f"{size} bytes, its header alone claims {n + 8}"
        try:
            header = json.loads(fh.read(n))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return "unreadable safetensors header"
    if 8 + n + end != size:
        return f"{size} bytes, its header expects {8 + n + end}"
    return None


def _unrecorded_problem(ckpt: Path, full: bool) -> str | None:
    """Checks of a step dir without checksums (written before they existed): parse what can be parsed.

    Safetensors headers against file sizes; JSON files parse; the torch state file's zip directory
    reads and (full) every member's CRC matches.
    """
    for p in sorted(ckpt.glob("*.safetensors")):
        problem = _safetensors_problem(p)
        if problem:
            return f"{p.name}: {problem}"
    for p in [*sorted(ckpt.glob("*.json")), *sorted((ckpt / "trainer_state").glob("*.json"))]:
        try:
            json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            return f"{p.relative_to(ckpt).as_posix()}: not valid JSON ({type(exc).__name__})"
    state = ckpt / "trainer_state" / "state.pt"
    if state.is_file():
        try:
            with zipfile.ZipFile(state) as zf:
                bad = zf.testzip() if full else None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            return f"trainer_state/state.pt: unreadable ({exc})"
        if bad is not None:
            return f"trainer_state/state.pt: member {bad} fails its CRC check"
    return None


def checkpoint_problem(ckpt: str | Path, full: bool = True) -> str | None:
    """None when the step dir `ckpt` verifies, else "<file>: <what is wrong>" for its first damaged file.

    With checksums.json: every recorded file is present with its recorded size and (full) sha256.
    Without (older checkpoints): the parse checks of `_unrecorded_problem`. `full=False` skips the
    hashing (sizes and headers only: cheap, catches truncation but not flipped bytes).
    """
    ckpt = Path(ckpt)
    listing = ckpt / CHECKSUMS
    try:
        if not listing.is_file():
            return _unrecorded_problem(ckpt, full)
        try:
            body = json.loads(listing.read_text(encoding="utf-8"))
            files = body["files"]
            ok = isinstance(files, dict) and body.get("listing_sha256") == _listing_digest(files)
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            ok = False
        if not ok:
            return f"{CHECKSUMS}: unreadable or altered"
        for rel, rec in files.items():
            p = ckpt / rel
            if not p.is_file():
                return f"{rel}: missing"
            size = p.stat().st_size
            if size != rec["size"]:
                return f"{rel}: {size} bytes, {rec['size']} recorded"
        if full:
            for rel, rec in files.items():
                if _sha256(ckpt / rel) != rec["sha256"]:
                    return f"{rel}: sha256 differs from the one recorded at save (same size, altered bytes)"
    except OSError as exc:  # unreadable, or removed while we looked
        return f"unreadable ({exc.strerror or exc})"
    return None


def latest_good_checkpoint(stage_dir: str | Path, full: bool = True) -> tuple[Path | None, list[tuple[Path, str]]]:
    """(the newest checkpoint that verifies or None, the newer damaged ones as (dir, problem), newest first).

    Candidates are `latest_checkpoint` and then every older complete step dir, newest first.
    """
    stage_dir = Path(stage_dir)
    first = latest_checkpoint(stage_dir)
    if first is None:
        return None, []
    m = STEP_RE.match(first.name)
    top = int(m.group(1)) if m else None
    cands = [first] + [p for s, p in reversed(list_checkpoints(stage_dir)) if p != first and (top is None or s < top)]
    damaged = []
    for ck in cands:
        problem = checkpoint_problem(ck, full)
        if problem is None:
            return ck, damaged
        damaged.append((ck, problem))
    return None, damaged


def resume_checkpoint(stage_dir: str | Path, what: str, echo: bool = True) -> Path | None:
    """The checkpoint a resume of `stage_dir` loads: the newest that verifies (None: no checkpoint at all).

    Damaged newer ones are named in one warning line on stderr (when `echo`); when checkpoints
    exist but none verifies, raises CheckpointError (one line) instead of resuming from nothing.
    """
    good, damaged = latest_good_checkpoint(stage_dir)
    if damaged and good is None:
        worst = "; ".join(f"{ck.name}/{problem}" for ck, problem in damaged)
        raise CheckpointError(
            f"{what}: no checkpoint in {stage_dir} verifies ({worst}); nothing to resume from: "
            f"move the damaged step dirs away (or the whole directory) and rerun"
        )
    if damaged and echo:
        names = ", ".join(f"{ck.name}/{problem}" for ck, problem in damaged)
        print(f"octothinker: warning: {what}: damaged checkpoint {names}; resuming from {good.name} instead",
              file=sys.stderr, flush=True)
    return good


def _checked(ck: Path) -> Path:
    """`ck` after the cheap check (sizes, headers); a CheckpointError naming the damaged file otherwise."""
    problem = checkpoint_problem(ck, full=False)
    if problem is None:
        return ck
    hint = ""
    if STEP_RE.match(ck.resolve().name):
        good, _ = latest_good_checkpoint(ck.resolve().parent, full=False)
        if good is not None and good.resolve() != ck.resolve():
            hint = f"; {good} passes the same check (use that directory, or rerun the stage)"
    raise CheckpointError(f"{ck}: damaged checkpoint: {problem}{hint}")


def checkpoint_at(stage_dir: str | Path, step: int | None) -> Path:
    """The checkpoint of `stage_dir` at `step` (None: the latest); a clear error when absent or damaged
    (sizes and headers are checked; see `checkpoint_problem`)."""
    if step is None:
        ck = latest_checkpoint(stage_dir)
        if ck is None:
            raise FileNotFoundError(f"{stage_dir}: no checkpoint found (run that stage first)")
        return _checked(ck)
    ck = step_dir(stage_dir, step)
    if not (ck / "config.json").is_file():
        have = ", ".join(str(s) for s, _ in list_checkpoints(stage_dir)) or "none"
        raise FileNotFoundError(f"{ck}: no checkpoint at step {step}; steps available: {have}")
    return _checked(ck)


def copy_tokenizer(src: str | Path, dest: str | Path) -> None:
    src, dest = Path(src), Path(dest)
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)


def save_checkpoint(stage_dir: str | Path, step: int, model_state: dict, model_config, tokenizer_dir: str | Path | None,
                    trainer_state: dict[str, Any], summary: dict[str, Any], keep: int | None = None,
                    generation_config=None) -> Path:
    """Write step_<step>/ atomically (model weights, config, tokenizer, trainer state, checksums.json), then LATEST.

    `model_state` is a full (unsharded) state dict; `trainer_state` goes to state.pt (torch.save),
    `summary` (JSON-able) to state.json. `keep` prunes older step dirs beyond the newest `keep`.
    `generation_config` (the model's) is saved as generation_config.json, as `save_pretrained` does: it
    carries a hub model's stop ids (Llama-3's `<|eot_id|>` beside `<|end_of_text|>`) to the checkpoint.
    """
    import torch
    from safetensors.torch import save_file

    final = step_dir(stage_dir, step)
    with atomic_dir(final) as tmp:
        tensors = _dedupe_tied({k: v.detach().contiguous().cpu() for k, v in model_state.items()}, model_config)
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        model_config.save_pretrained(str(tmp))
        if generation_config is not None:
            generation_config.save_pretrained(str(tmp))
        if tokenizer_dir is not None:
            copy_tokenizer(tokenizer_dir, tmp)
        (tmp / "trainer_state").mkdir()
        torch.save(trainer_state, tmp / "trainer_state" / "state.pt")
        (tmp / "trainer_state" / "state.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        write_checksums(tmp)
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
    """A step dir as is; a stage dir resolves to its latest checkpoint. Either is checked cheaply (file
    sizes against checksums.json, safetensors headers): a damaged one is a CheckpointError, never
    silently replaced by an older step."""
    path = Path(path)
    if (path / "config.json").is_file():
        return _checked(path)
    ck = latest_checkpoint(path)
    if ck is None:
        raise FileNotFoundError(f"{path}: neither a model dir (config.json) nor a stage dir with checkpoints")
    return _checked(ck)


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
