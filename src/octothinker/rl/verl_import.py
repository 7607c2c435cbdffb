"""Import a verl GRPO run into `rl/<run>/` laid out as `RLTrainer` writes it, so eval and the report read it as is.

Writes `step_<n>/` (HF model dir + `trainer_state/state.json` + `checksums.json`) per imported verl
checkpoint, `LATEST` and `final` -> the newest, `tokenizer/`, `metrics.jsonl` (our metric names, the
verl row kept under `verl`), `rollouts/step_<n>.jsonl` when verl dumped rollouts, and `rl_config.json`
(config, seed, lineage, `engine: verl`, where the results came from).

What verl writes, as read from volcengine/verl (main, January 2026):
- verl/trainer/ppo/ray_trainer.py `_save_checkpoint`: `<trainer.default_local_dir>/global_step_<n>/actor/`,
  then `<default_local_dir>/latest_checkpointed_iteration.txt` holding `n`
  (verl/utils/checkpoint/checkpoint_manager.py `find_latest_ckpt_path` reads it back the same way).
- verl/utils/checkpoint/fsdp_checkpoint_manager.py `save_checkpoint`: `actor/` holds FSDP shards
  `model_world_size_<W>_rank_<r>.pt` and `fsdp_config.json`; `actor/huggingface/` always holds the
  config and tokenizer, and the full HF weights only when `actor.checkpoint.save_contents` lists
  `hf_model`. Megatron writes `actor/dist_ckpt/` instead (docs/advance/checkpoint.rst).
- verl/model_merger/__main__.py: `python -m verl.model_merger merge --backend fsdp|megatron
  --local_dir <actor> --target_dir <dir>` writes HF weights, config and tokenizer (base_model_merger.py).
- verl/utils/tracking.py `FileLogger` (logger `file`): one line `{"step": s, "data": {...}}` per
  `Tracking.log` call, to `$VERL_FILE_LOGGER_PATH` (else `$VERL_FILE_LOGGER_ROOT/<project>/<experiment>.jsonl`);
  it opens the file with "wb", so a restart truncates it (our run_verl.sh renames the old one first).
- Metric names: verl/trainer/ppo/metric_utils.py `compute_data_metrics` (critic/score/*, critic/rewards/*,
  response_length/{mean,max,clip_ratio}) and `compute_timing_metrics` (timing_s/<stage>,
  timing_per_token_ms/<stage>); verl/workers/actor/dp_actor.py `update_policy` (actor/pg_loss,
  actor/kl_loss, actor/kl_coef when use_kl_loss, actor/grad_norm); verl/trainer/ppo/core_algos.py
  (actor/pg_clipfrac, actor/ppo_kl); ray_trainer.py `fit` (actor/entropy from the old-log-prob pass);
  verl/workers/fsdp_workers.py (actor/lr); ray_trainer.py `_val_metrics_update`
  (`val-core|val-aux/<data_source>/<reward|acc>/mean@<n>`, n = rollout.val_kwargs.n); ray_trainer.py
  `_dump_generations` (`<trainer.rollout_data_dir>/<step>.jsonl` rows {input, output, gts, score, step}).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ..configio import to_dict
from ..paths import atomic_dir, atomic_write_json, atomic_write_text

# (our metrics.jsonl key, verl's key): the same quantity under another name
TRAIN_KEYS = (
    ("reward_mean", "critic/rewards/mean"),
    ("accuracy", "critic/score/mean"),  # our reward shim scores 1.0 correct / 0.0 wrong
    ("response_len_mean", "response_length/mean"),
    ("response_len_max", "response_length/max"),
    ("truncation_rate", "response_length/clip_ratio"),
    ("entropy", "actor/entropy"),
    ("clip_frac", "actor/pg_clipfrac"),
    ("grad_norm", "actor/grad_norm"),
    ("loss", "actor/pg_loss"),
    ("lr", "actor/lr"),
    ("time_gen", "timing_s/gen"),
    ("time_reward", "timing_s/reward"),
    ("time_old_logp", "timing_s/old_log_prob"),
    ("time_update", "timing_s/update_actor"),
    ("time_step", "timing_s/step"),
)
VAL_RE = re.compile(r"^val-(?:core|aux)/(.+)/(acc|reward)/mean@(\d+)$")
STEP_DIR_RE = re.compile(r"^global_step_(\d+)$")
WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin")


class VerlImportError(ValueError):
    """verl's files are missing, malformed or need a step we cannot do here; the message is one line."""


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def map_train(data: dict) -> dict:
    """Our training-row metrics from one verl logged row (keys verl did not log are left out)."""
    row = {ours: _number(data[theirs]) for ours, theirs in TRAIN_KEYS if _number(data.get(theirs)) is not None}
    if "actor/kl_coef" in data and _number(data.get("actor/kl_loss")) is not None:  # a KL term was in the loss
        row["kl"] = _number(data["actor/kl_loss"])
    per_token = _number(data.get("timing_per_token_ms/gen"))
    if per_token:
        row["gen_tokens_per_s"] = 1000.0 / per_token
    return row


def bench_name(data_source: str) -> str:
    """Our validation-set name of a verl data_source (its last path part: `octothinker/toy_rl` -> `toy_rl`)."""
    return data_source.rstrip("/").rsplit("/", 1)[-1]


def map_validation(data: dict) -> dict:
    """`val/<set>/accuracy` (n = 1: greedy) or `val/<set>/sampled_accuracy` (n > 1) and `val_samples`."""
    found: dict[str, dict[int, tuple[int, float]]] = {}
    for k, v in data.items():
        m = VAL_RE.match(k)
        if m and _number(v) is not None:
            rank = 1 if m.group(2) == "acc" else 0  # a reward function reporting `acc` beats the raw score
            prev = found.setdefault(bench_name(m.group(1)), {}).get(int(m.group(3)))
            if prev is None or rank > prev[0]:
                found[bench_name(m.group(1))][int(m.group(3))] = (rank, _number(v))
    out: dict = {}
    samples = 0
    for bench, by_n in sorted(found.items()):
        for n, (_, value) in sorted(by_n.items()):
            out[f"val/{bench}/{'accuracy' if n == 1 else 'sampled_accuracy'}"] = value
            samples = max(samples, n if n > 1 else 0)
    if out:
        out["val_samples"] = samples
    return out


def tracking_files(src: Path, metrics: str | Path | None = None) -> list[Path]:
    """verl's file-logger files for `src`, oldest first: `NAME.<k>.jsonl` (earlier attempts) then `NAME.jsonl`.

    `metrics` names the current file; else `tracking.jsonl` in `src` or its parent (a checkpoints dir)."""
    if metrics is not None:
        current = Path(metrics)
        if not current.is_file():
            raise VerlImportError(f"{current}: no such verl metrics file")
    else:
        current = next((d / "tracking.jsonl" for d in (src, src.parent) if (d / "tracking.jsonl").is_file()), None)
        if current is None:
            raise VerlImportError(f"{src}: no verl metrics file (tracking.jsonl); pass --metrics FILE (verl's file "
                                  f"logger: trainer.logger=[console,file], path in VERL_FILE_LOGGER_PATH)")
    stem = current.name[: -len(".jsonl")] if current.name.endswith(".jsonl") else current.name
    pat = re.compile(re.escape(stem) + r"\.(\d+)\.jsonl$")
    older = sorted((int(m.group(1)), p) for p in current.parent.iterdir() if (m := pat.match(p.name)))
    return [p for _, p in older] + [current]


def read_tracking(files: list[Path]) -> dict[int, dict]:
    """verl's logged metrics by step, files in order: a later row of a step adds to (and overrides) earlier ones."""
    steps: dict[int, dict] = {}
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                step, data = int(rec["step"]), rec["data"]
                if not isinstance(data, dict):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                if i == len(lines):  # a torn last line: verl was killed while writing it
                    break
                raise VerlImportError(f"{path}:{i}: not a verl file-logger row ({{\"step\": int, \"data\": {{...}}}})")
            steps.setdefault(step, {}).update(data)
    return steps


def checkpoint_root(src: Path) -> Path:
    """The directory holding `global_step_<n>/`: `src/checkpoints` (a job dir) or `src` itself."""
    for d in (src / "checkpoints", src):
        if d.is_dir() and any(STEP_DIR_RE.match(p.name) for p in d.iterdir()):
            return d
    raise VerlImportError(f"{src}: no verl checkpoints (global_step_<n>/ under it or under its checkpoints/)")


def latest_step(root: Path) -> int | None:
    """The step of `latest_checkpointed_iteration.txt` under `root` (None when there is none)."""
    tracker = Path(root) / "latest_checkpointed_iteration.txt"
    try:
        return int(tracker.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        return None
    except ValueError:
        raise VerlImportError(f"{tracker}: not a step number") from None


def hf_weights(actor: Path) -> Path | None:
    """`actor/huggingface` when it holds full HF weights (verl saved `hf_model`), else None."""
    hf = actor / "huggingface"
    if (hf / "config.json").is_file() and any(any(hf.glob(g)) for g in WEIGHT_GLOBS):
        return hf
    return None


def merge_command(actor: Path, target: Path, python: str = "python3") -> list[str]:
    """verl's model merger turning `actor`'s shards into an HF model dir at `target`."""
    backend = "megatron" if (actor / "dist_ckpt").is_dir() else "fsdp"
    return [python, "-m", "verl.model_merger", "merge", "--backend", backend, "--local_dir", str(actor),
            "--target_dir", str(target)]


def _link_or_copy(src: Path, dest: Path) -> None:
    """A hard link where the filesystem allows it (model weights are large), else a copy."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _write_step(out: Path, step: int, actor: Path, summary: dict) -> Path:
    """`out/step_<step>/` from verl's `actor/` dir: its HF weights as they are, else merged from its shards."""
    import importlib.util

    from ..model.checkpoint import step_dir, write_checksums

    hf = hf_weights(actor)
    if hf is None and importlib.util.find_spec("verl") is None:
        cmd = " ".join(merge_command(actor, actor / "huggingface"))
        raise VerlImportError(f"{actor}: only sharded weights and verl is not importable here to merge them; "
                              f"run `{cmd}` where verl is installed, then import again")
    with atomic_dir(step_dir(out, step)) as tmp:
        if hf is not None:
            for f in sorted(p for p in hf.iterdir() if p.is_file()):
                _link_or_copy(f, tmp / f.name)
        else:
            done = subprocess.run(merge_command(actor, tmp, sys.executable), capture_output=True, text=True)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise VerlImportError(f"{actor}: verl's model merger failed ({tail[0]})")
        (tmp / "trainer_state").mkdir()
        (tmp / "trainer_state" / "state.json").write_text(
            json.dumps({**summary, "step": step, "merged": hf is None}, indent=2, sort_keys=True, default=str) + "\n")
        write_checksums(tmp)
    return step_dir(out, step)


def _rollouts(dump_dir: Path, step: int, keep: int, kind: str) -> tuple[list[dict], dict]:
    """(our rollout rows, the first `keep`; text rates over all of them) from verl's dump of `step`, if any."""
    from ..grading import extract_answer
    from .metrics import has_boxed, has_reflection, repetition_rate

    path = dump_dir / f"{step}.jsonl"
    if not path.is_file():
        return [], {}
    recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [str(r.get("output", "")) for r in recs]
    if not texts:
        return [], {}
    rates = {"repetition_rate": sum(map(repetition_rate, texts)) / len(texts),
             "reflection_rate": sum(map(has_reflection, texts)) / len(texts),
             "boxed_rate": sum(map(has_boxed, texts)) / len(texts)}
    rows = [{"prompt_id": None, "question": r.get("input"), "gold": r.get("gts"), "response": t,
             "extracted": extract_answer(t, kind), "reward": r.get("score"), "correct": (r.get("score") or 0) >= 1.0,
             "truncated": None, "tokens": None} for r, t in zip(recs[:keep], texts[:keep])]
    return rows, rates


def _max_response(src: Path, cfg) -> int:
    """The response budget verl ran with: `data.max_response_length` of the job's verl_grpo.yaml, else the recipe's."""
    import yaml

    for d in (src, src.parent):
        try:
            return int(yaml.safe_load((d / "verl_grpo.yaml").read_text(encoding="utf-8"))["data"]["max_response_length"])
        except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
            continue
    return cfg.max_response_tokens


def metric_rows(steps: dict[int, dict], last: int, max_response: int) -> list[dict]:
    """Our metrics.jsonl rows (steps up to `last`) from verl's logged rows by step."""
    rows = []
    for step in sorted(s for s in steps if s <= last):
        data = steps[step]
        train, val = map_train(data), map_validation(data)
        if not train and not val:
            continue
        row: dict = {"step": step}
        if train:
            row.update(max_response_tokens=max_response, **train)
        if val:
            row.update(val, val_max_tokens=max_response)
        row["verl"] = data
        rows.append(row)
    return rows


def import_verl(src: str | Path, out: str | Path, cfg, seed: int, lineage: dict,
                metrics: str | Path | None = None) -> Path:
    """Import the verl run under `src` (a job dir or a `default_local_dir`) into `out`; returns `out`.

    Every checkpoint with HF weights becomes `step_<n>/`; the latest is merged from its shards when it
    has none. Metrics rows past the latest checkpoint are dropped, as a native resume drops them."""
    from ..model.checkpoint import checkpoint_problem, copy_tokenizer, mark_final, read_summary, step_dir

    src, out = Path(src).resolve(), Path(out)
    root = checkpoint_root(src)
    have = sorted((int(m.group(1)), p) for p in root.iterdir() if (m := STEP_DIR_RE.match(p.name)) and p.is_dir())
    last = latest_step(root) or have[-1][0]
    if not (root / f"global_step_{last}" / "actor").is_dir():
        raise VerlImportError(f"{root}: latest_checkpointed_iteration.txt names step {last}, but "
                              f"global_step_{last}/actor/ is missing")
    files = tracking_files(src, metrics)
    steps = read_tracking(files)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"stage": "rl", "engine": "verl", "seed": seed, "config": to_dict(cfg), **lineage}
    imported, sharded = [], []
    for step, d in have:
        actor = d / "actor"
        if step > last or not actor.is_dir():
            continue
        if step != last and hf_weights(actor) is None:
            sharded.append(step)  # merging every older checkpoint would cost a full model write each
            continue
        mine = step_dir(out, step)
        if (mine / "config.json").is_file() and checkpoint_problem(mine, full=False) is None and \
                read_summary(mine).get("verl_checkpoint") == str(actor):
            imported.append(step)  # imported before from the same verl checkpoint
            continue
        _write_step(out, step, actor, {**summary, "verl_checkpoint": str(actor)})
        imported.append(step)
    if sharded:
        print(f"import-verl: steps {', '.join(map(str, sharded))} hold only sharded weights; imported the latest "
              f"({last}) and those with HF weights", file=sys.stderr)
    final = step_dir(out, last)
    (out / "tokenizer").mkdir(exist_ok=True)
    copy_tokenizer(final, out / "tokenizer")
    atomic_write_text(out / "LATEST", final.name + "\n")
    mark_final(out, final)

    rows = metric_rows(steps, last, _max_response(src, cfg))
    dump = src / "rollouts"
    for row in (r for r in rows if "accuracy" in r):  # training rows
        samples, rates = _rollouts(dump, row["step"], cfg.rollout_samples, cfg.answer_kind)
        row.update({k: v for k, v in rates.items() if k not in row})
        if samples:
            text = "".join(json.dumps(r) + "\n" for r in samples)
            atomic_write_text(out / "rollouts" / f"step_{row['step']}.jsonl", text)
    atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(r, default=float) + "\n" for r in rows))
    atomic_write_json(out / "rl_config.json", {
        "config": to_dict(cfg), "seed": seed, **lineage, "engine": "verl",
        "verl": {"source": str(src), "checkpoints": str(root), "step": last, "steps_imported": imported,
                 "metrics_files": [str(f) for f in files]}})
    return out
