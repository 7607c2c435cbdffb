"""A small generator of fake but well-formed run directories for the report tests (tests only).

`make_run` writes the files each stage writes (manifest, metrics, lineage, validation rows,
eval summaries, run.json) with smooth synthetic curves; nothing here is a result.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

BENCHES = ("toy_gsm", "toy_math", "toy_olympiad")


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


def _midtrain(root: Path, stage: str, parent: str | None, steps: int, lr0: float, decay: bool, loss0: float) -> None:
    rows = []
    for s in range(1, steps + 1):
        lr = lr0 * 0.5 * (1 + math.cos(math.pi * s / steps)) if decay else lr0
        row = {"step": s, "tokens": s * 4096, "loss": loss0 * math.exp(-s / 30) + 1.0, "lr": lr,
               "grad_norm": 0.5, "tokens_per_s": 9000.0}
        if s % 10 == 0:  # the trainer's layout (train/loop.py)
            row["heldout_loss"] = {"general": row["loss"] + 0.1, "qa_short": row["loss"] + 0.2}
        rows.append(row)
    _jsonl(root / "midtrain" / stage / "metrics.jsonl", rows)
    lineage = {"stage": stage, "mixture": f"{stage}_mix", "init": {"kind": "tiny", "from": None}}
    if parent:  # the mid-training trainer's layout: parent inside `init`
        lineage["init"] = {"kind": "stage", "from": parent, "parent_step": 40,
                           "parent_checkpoint": str(root / "midtrain" / parent / "step_40")}
    _json(root / "midtrain" / stage / "lineage.json", lineage)


def _rl(root: Path, name: str, parent: str, strength: float, steps: int = 20, in_config: bool = False) -> None:
    rows = []
    for s in range(1, steps + 1):
        acc = min(0.95, strength * (1 - math.exp(-s / 8)))
        rows.append({"step": s, "reward_mean": acc, "accuracy": acc, "response_len_mean": 40 + s * strength * 3,
                     "truncation_rate": max(0.0, 0.3 - s * 0.01), "entropy": 1.5 - s * 0.02,
                     "reflection_rate": 0.01 * s * strength, "repetition_rate": 0.1, "boxed_rate": 0.5 + acc / 2})
        if s % 5 == 0:  # validation in the RL trainer's layout: flat keys, accuracy as a fraction
            for j, b in enumerate(BENCHES):
                rows[-1][f"val/{b}/accuracy"] = acc / (j + 1)
                rows[-1][f"val/{b}/response_len"] = 35 + s * strength
    _jsonl(root / "rl" / name / "metrics.jsonl", rows)
    lineage = {"init_from": str(root / "midtrain" / parent / "step_40"), "template": "simple"}
    if in_config:  # the RL trainer keeps lineage beside its config in rl_config.json
        _json(root / "rl" / name / "rl_config.json", {"config": {"steps": steps}, "seed": 0, **lineage})
    else:
        _json(root / "rl" / name / "lineage.json", lineage)


def _eval(root: Path, model: str, protocol: str, acc: float, passk: bool) -> None:
    benches = {}
    for j, b in enumerate(BENCHES):
        m = {"accuracy": acc / (j + 1), "n_problems": 50, "mean_tokens": 60.0 + j, "truncation_rate": 0.05}
        if passk:
            m.update({f"pass@{k}": min(100.0, acc / (j + 1) * (1 + math.log2(k) / 3)) for k in (1, 2, 4, 8)})
        benches[b] = m
    _json(root / "eval" / model / "summary.json", {"model": model, "protocol": protocol, "benchmarks": benches})


def make_run(parent_dir: Path, name: str = "runA", strength: float = 0.8, passk: bool = True) -> Path:
    """Write a complete fake run directory `parent_dir/name` and return it."""
    root = Path(parent_dir) / name
    _json(root / "data" / "stable_mix" / "manifest.json",
          {"seq_len": 64, "tokens": 163840, "rows": 2560,
           "sources": {"general": {"docs": 900, "tokens": 120000}, "qa_short": {"docs": 300, "tokens": 43840}}})
    _midtrain(root, "base", None, 40, 1e-3, False, 4.0)
    _midtrain(root, "stable", "base", 40, 1e-3, False, 2.0)
    _midtrain(root, "short", "stable", 20, 1e-3, True, 1.5)
    _midtrain(root, "long", "stable", 20, 1e-3, True, 1.6)
    _rl(root, "rl_base", "base", strength * 0.3)
    _rl(root, "rl_short", "short", strength, in_config=True)
    _eval(root, "base", "fewshot", 10.0 * strength, False)
    _eval(root, "short", "fewshot", 30.0 * strength, False)
    _eval(root, "rl_short", "rl_template", 60.0 * strength, passk)
    _json(root / "run.json", {
        "recipe": "recipes/toy_demo.yaml", "config_hash": "abc123", "seeds": {"run": 0, "toyworld": 0},
        "versions": {"python": "3.11", "octothinker": "0.1.0", "torch": "2.13.0"},
        "hardware": {"cpu": "fake", "cpu_count": 2, "gpus": []}, "wall_s": 540.0,
        "stages": {"data": {"status": "done", "wall_s": 30.0}, "midtrain/stable": {"status": "done", "wall_s": 200.0}},
        "config": {"run": {"name": name, "seed": 0}, "rl": {"steps": 20}},
    })
    return root


def test_make_run_writes_every_stage(tmp_path):
    root = make_run(tmp_path)
    for rel in ("run.json", "data/stable_mix/manifest.json", "midtrain/short/lineage.json",
                "rl/rl_short/metrics.jsonl", "eval/rl_short/summary.json"):
        assert (root / rel).is_file(), rel
