"""Compute budget arithmetic (octothinker.budget) and the report's measured table (report.compute), exact values."""
import json
import math
import re

import pytest

from octothinker import budget as B
from octothinker.config import ConfigError, recipe_from_dict
from octothinker.model.shapes import KNOWN_SHAPES
from octothinker.pipeline import Stage
from octothinker.report.collect import collect
from octothinker.report.compute import measured
from octothinker.report.document import compute_blocks

S = B.Shape(hidden=32, intermediate=64, layers=2, heads=4, kv_heads=2, head_dim=8, vocab=300, tied=False)
GiB = 1024**3


@pytest.mark.parametrize("shape, params, matmul", [
    (S, 37_792, 37_792 - 300 * 32),  # untied: the input embedding (300 x 32) is a lookup, not a matmul
    (B.Shape.from_hf(KNOWN_SHAPES["meta-llama/Llama-3.2-1B"]), 1_235_814_400, 1_235_814_400),  # tied: counted once
    (B.Shape.from_hf(KNOWN_SHAPES["meta-llama/Llama-3.2-3B"]), 3_212_749_824, 3_212_749_824),
])
def test_parameter_counts_match_the_meta_models(shape, params, matmul):
    assert (shape.params, shape.matmul_params) == (params, matmul)


@pytest.mark.parametrize("fn, args, expected", [
    (B.forward_flops, (S, 10, 8), 10 * (2 * 28_192 + 2 * 2 * 32 * 8)),  # 574,080
    (B.train_flops, (S, 10, 8), 3 * 574_080),
    (B.forward_flops, (S, 0, 8), 0),
    (B.gpu_hours, (3.6e15, 1e12, 0.5), 2.0),
    (B.kv_bytes_per_token, (S,), 2 * 2 * 2 * 8 * 2),
    (B.inference_memory_gib, (S, 4, 100), (2 * 37_792 + 4 * 100 * 128) / GiB),
])
def test_flops_and_memory_formulas(fn, args, expected):
    assert fn(*args) == pytest.approx(expected, rel=1e-12)


def test_llama32_1b_training_flops_per_token():
    shape = B.Shape.from_hf(KNOWN_SHAPES["meta-llama/Llama-3.2-1B"])
    assert B.train_flops(shape, 1, 8192) == 6 * 1_235_814_400 + 6 * 16 * 2048 * 8192


@pytest.mark.parametrize("steps, default, schedule, every, lengths, points", [
    (3, 10, {}, 2, [10, 10, 10], 3),  # step 0, step 2, the last step
    (3, 10, {1: 20}, 2, [10, 20, 20], 3),
    (6, 10, {0: 2, 2: 4, 4: 8}, 3, [2, 2, 4, 4, 8, 8], 3),
    (4, 10, {"2": 5}, 0, [10, 10, 5, 5], 0),
])
def test_step_lengths_and_validation_points(steps, default, schedule, every, lengths, points):
    cfg = recipe_from_dict({"rl": {"steps": steps, "max_response_tokens": default, "length_schedule": schedule,
                                   "validate_every": every}}).rl
    assert B.step_lengths(cfg) == lengths and B.validation_points(cfg) == points


@pytest.mark.parametrize("name, limit, toy, expected", [
    ("gsm8k", None, 8, 1319), ("gsm8k", 5, 8, 5), ("amc23", 100, 8, 40), ("toy_gsm", None, 8, 8), ("toy_gsm", 5, 8, 5),
])
def test_benchmark_problems(name, limit, toy, expected):
    assert B.benchmark_problems(name, limit, toy) == expected


@pytest.mark.parametrize("name, peak", [
    ("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12), ("NVIDIA A100-SXM4-80GB", 312e12),
    ("NVIDIA H200", 989e12), ("AMD Instinct MI300X", 1307e12), ("Tesla T4", None),
])
def test_gpu_peak_from_the_device_name(name, peak):
    assert B.gpu_peak(name) == peak


@pytest.mark.parametrize("fn, x, text", [
    (B.si, 200e9, "200B"), (B.si, 1_234, "1.23K"), (B.si, 2.52e9, "2.52B"), (B.si, 7, "7"), (B.si, 0, "0"),
    (B.si, None, "-"),
    (B.hours, 1266.6, "1,267"), (B.hours, 19.79, "19.8"), (B.hours, 0.1324, "0.132"), (B.hours, None, "-"),
    (B.memory, 23.94, "23.9 GiB"), (B.memory, 0.5, "512 MiB"), (B.memory, None, "-"),
])
def test_formatting(fn, x, text):
    assert fn(x) == text


def tiny(tmp_path, **sections) -> dict:
    """A tiny-model recipe whose shape is S (tokenizer vocab 300, no data built yet)."""
    d = {
        "run": {"name": "b", "root": str(tmp_path / "runs")},
        "tokenizer": {"vocab_size": 300},
        "toyworld": {"benchmark_size": 8},
        "data": {"seq_len": 64, "sources": {"g": {"kind": "toy", "corpus": "general"}},
                 "mixtures": {"m": {"weights": {"g": 1.0}, "tokens": 4096}}},
        "model": {"hidden_size": 32, "intermediate_size": 64, "num_layers": 2, "num_heads": 4, "num_kv_heads": 2,
                  "tie_embeddings": False},
        "midtrain": {"micro_batch_size": 2, "stages": {"a": {"mixture": "m"}}},
        "rl": {"init_from": ["a"], "steps": 3, "prompts_per_step": 2, "group_size": 4, "mini_batch_size": 4,
               "max_response_tokens": 10, "length_schedule": {1: 20}, "validate_every": 2, "validate_limit": 5,
               "validate_samples": 2, "validate_benchmarks": ["toy_gsm"]},
        "eval": {"benchmarks": ["toy_gsm", "gsm8k"], "limit": 5, "max_new_tokens": 16, "batch_size": 4,
                 "rl_benchmarks": ["gsm8k"], "rl_n_samples": 4, "rl_max_new_tokens": 32},
        "budget": {"gpu": "test", "peak_tflops": 1e-3, "gpus": 2, "train_mfu": 0.5, "generation_mfu": 0.25},
    }
    d.update(sections)
    return d


def test_planned_rows(tmp_path):
    r = recipe_from_dict(tiny(tmp_path))
    assert B.shape_of(r) == S
    stages = [Stage("data", "m"), Stage("midtrain", "a"), Stage("rl", "a"), Stage("eval", "a"), Stage("eval", "rl-a"),
              Stage("report", "report")]
    rows = {row.stage: row for row in B.plan_budget(r, stages)}
    mid = rows["midtrain:a"]  # 2 rows x 64 tokens x 2 GPUs = 256 tokens a step
    assert (mid.train_tokens, mid.steps, mid.gpus, mid.train_flops) == (4096, 16, 2, 3 * 4096 * (56_384 + 2 * 2 * 32 * 64))
    rl = rows["rl:a"]  # 8 rollouts x [10, 20, 20]; validation: 3 points x 5 problems x (greedy + 2) x 20 tokens
    rollout = 80 * (56_384 + 2 * 2 * 32 * 10) + 2 * 160 * (56_384 + 2 * 2 * 32 * 20)
    assert (rl.train_tokens, rl.gen_tokens, rl.steps, rl.gpus) == (400, 400 + 900, 6, 1)
    assert rl.train_flops == 4 * rollout  # 2 updates a step: 3 forwards + the old log-probs
    assert rl.gen_flops == rollout + 900 * (56_384 + 2 * 2 * 32 * 20)
    assert rl.gpu_hours == pytest.approx((rl.train_flops / 0.5 + rl.gen_flops / 0.25) / 1e9 / 3600)
    assert (rows["eval:a"].gen_tokens, rows["eval:rl-a"].gen_tokens) == (10 * 16, 5 * 4 * 32)
    assert rows["eval:rl-a"].gen_flops == 640 * (56_384 + 2 * 2 * 32 * 32)
    assert rows["data:m"].note == "packs 4.1K tokens (CPU)" and rows["report"].flops == 0
    tot = B.total(list(rows.values()))
    assert tot.flops == sum(row.flops for row in rows.values()) and tot.steps is None
    text = B.format_budget(r, list(rows.values()))
    assert text.startswith("compute budget on test (0.001 TFLOP/s peak dense bf16 per GPU); training at 50% MFU, "
                           "decoding at 25%; mid-training on 2 GPU(s):")
    assert "37.8K parameters, N = 28.2K in matmuls, L = 2, d = 32" in text


def test_verl_engine_spreads_rl_over_its_gpus(tmp_path):
    d = tiny(tmp_path)
    d["rl"] |= {"engine": "verl", "verl": {"nnodes": 2, "gpus_per_node": 4}}
    r = recipe_from_dict(d)
    row = B.rl_row(r, "a", r.rl.runs()["a"][1], S)
    assert row.gpus == 8 and row.wall_hours == pytest.approx(row.gpu_hours / 8)


@pytest.mark.parametrize("override, message", [
    ("budget.gpu=Z80", "budget.gpu: unknown GPU 'Z80'"),
    ("budget.train_mfu=1.5", "budget.train_mfu: must be in (0, 1]"),
    ("budget.gpus=0", "budget.gpus: must be > 0"),
    ("eval.rl_n_samples=0", "eval.rl_n_samples: must be > 0"),
])
def test_bad_budget_and_eval_keys_are_named(tmp_path, override, message):
    d = tiny(tmp_path)
    del d["budget"]
    with pytest.raises(ConfigError, match=re.escape(message)):
        recipe_from_dict(d, [override])


def test_unknown_pretrained_model_is_explained(tmp_path):
    r = recipe_from_dict(tiny(tmp_path, model={"init": "pretrained", "path": "someone/unknown-7b"}))
    text, rows = B.budget_text(r, [Stage("midtrain", "a")])
    assert rows is None and text.startswith("compute budget: not available: model.path: 'someone/unknown-7b'")


# ----------------------------------------------------------------------------- measured (report)


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")


def test_measured_rows_from_a_run_directory(tmp_path):
    root = tmp_path / "run"
    cfg = tiny(tmp_path)
    _write(root / "run.json", {"config": cfg, "hardware": {"cuda": True, "gpu": "NVIDIA H100 80GB HBM3"},
                               "stages": {"data:m": {"wall_s": 1.0}}})
    _write(root / "pipeline.json", {"eval:rl-a": {"status": "done", "wall_s": 2.0},
                                    "midtrain:a": {"status": "done", "wall_s": 10.0},
                                    "rl:a": {"status": "done", "wall_s": 5.0}, "report": {"status": "running"}})
    _write(root / "midtrain" / "a" / "metrics.jsonl", '{"step": 1, "tokens": 2048}\n{"step": 2, "tokens": 4096}\n')
    _write(root / "rl" / "a" / "metrics.jsonl",
           '{"step": 0, "val/toy_gsm/accuracy": 0.1, "val/toy_gsm/response_len": 10}\n'
           '{"step": 1, "accuracy": 0.5, "response_len_mean": 12, "gen_tokens_per_s": 48, "time_gen": 2.0, "updates": 2, '
           '"val/toy_gsm/accuracy": 0.2, "val/toy_gsm/response_len": 20}\n')
    _write(root / "eval" / "rl-a" / "summary.json",
           {"protocol": "rl_template",
            "benchmarks": {"toy_gsm": {"accuracy": 50.0, "n_problems": 5, "n_samples": 4, "mean_tokens": 10}}})
    rows = {m.stage: m for m in measured(collect(root))}
    assert list(rows) == ["data:m", "midtrain:a", "rl:a", "eval:rl-a", "report"]  # plan order
    assert (rows["midtrain:a"].train_tokens, rows["midtrain:a"].flops) == (4096, 3 * 4096 * (56_384 + 8192))
    rl = rows["rl:a"]  # 96 rollout tokens (48/s x 2 s) at length 12, 5 forwards; validation 5 x 10 and 5 x 20 tokens
    assert (rl.train_tokens, rl.gen_tokens) == (96, 96 + 150)
    assert rl.flops == 5 * 96 * (56_384 + 2 * 2 * 32 * 12) + 50 * (56_384 + 1280) + 100 * (56_384 + 2560)
    ev = rows["eval:rl-a"]
    assert (ev.gen_tokens, ev.flops, ev.wall_s, ev.device_hours) == (200, 200 * (56_384 + 1280), 2.0, 2.0 / 3600)
    assert rows["data:m"].wall_s == 1.0 and rows["report"].status == "running" and rows["report"].wall_s is None
    blocks = compute_blocks(collect(root))
    table = blocks[-1][2]
    assert table[1] == ["midtrain:a", "done", "4.1K", "–", "7.94e+08", "10.0 s", "0.00278", "7.94e-05", "0.0%"]  # 793,509,888 FLOPs
    flops = rows["midtrain:a"].flops + rl.flops + ev.flops
    assert table[-1][:6] == ["total", "–", "4.19K", "446", f"{flops:.3g}", "18.0 s"]
    assert "utilisation against a 989 TFLOP/s peak" in blocks[1][1]
    assert not math.isnan(rl.flops_per_s)


def test_rl_row_counts_the_memorisation_pair_only_where_the_trainer_builds_it(tmp_path):
    """rl_seen + rl_fresh are planned only when the prompt stream keeps `validate_rl_prompts` prompts the run never
    reaches (`rl.validation.memorisation_fits`, the trainer's condition): 3 steps x 2 prompts + 4 <= the set."""
    def gen_tokens(rl_prompts, n):
        d = tiny(tmp_path)
        d["toyworld"] |= {"rl_prompts": rl_prompts}
        d["rl"] |= {"validate_rl_prompts": n}
        r = recipe_from_dict(d)
        return B.rl_row(r, "a", r.rl.runs()["a"][1], S).gen_tokens

    base = gen_tokens(2000, 0)
    assert gen_tokens(2000, 4) - base == 3 * (4 + 4) * (1 + 2) * 20  # 3 points x 8 problems x (greedy + 2) x 20 tokens
    assert gen_tokens(10, 4) - base == 3 * 8 * 3 * 20  # 6 used + 4 fresh = 10: fits
    assert gen_tokens(9, 4) == base  # 6 + 4 > 9: the trainer drops the pair, so the plan does too
