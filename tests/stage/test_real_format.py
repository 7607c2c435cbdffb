"""The real-model path on CPU: hub-format checkpoints (byte-level BPE tokenizers, bf16 weights) of the two families
the paper uses, Llama-3.2 and Qwen2.5, through `octothinker run` -- data from local JSONL corpora, mid-training,
two GRPO steps on a GSM8K-format prompt file (plus one straight from the hub directory), few-shot eval on
real-benchmark-format rows (gsm8k, math500 local copies), the report, then a rerun with a changed eval setting.

Everything that only works for the toy tokenizer (digits one token each, pad id 0 distinct from eos id 1, no BOS,
no chat template, one stop id, fp32 weights on disk) shows up here. The checkpoints are built in-process by
`tests/stage/real_fixture.py`, once per session.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from real_fixture import STYLES, build_real_checkpoint

from octothinker.cli import main
from octothinker.model.sampling import eos_ids
from octothinker.paths import read_jsonl

pytestmark = pytest.mark.slow

GSM_ROWS = [  # the layout of the shared gsm8k/test.jsonl: question, answer (number), cot, id
    {"question": "Tom has 12 apples and buys 30 more. How many apples does he have?", "answer": "42",
     "cot": "Tom has 12 + 30 = <<12+30=42>>42 apples.", "id": "gsm8k-test-0"},
    {"question": "A box holds 7 pencils. How many pencils are in 3 boxes?", "answer": "21",
     "cot": "3 * 7 = <<3*7=21>>21 pencils.", "id": "gsm8k-test-1"},
    {"question": "Mia had 100 coins and spent 35. How many coins are left?", "answer": "65",
     "cot": "100 - 35 = <<100-35=65>>65.", "id": "gsm8k-test-2"},
]
MATH_ROWS = [  # the layout of the shared math500/test.jsonl
    {"problem": "What is $3 + 4 \\cdot 2$?", "solution": "$3 + 8 = \\boxed{11}$.", "answer": "11",
     "subject": "Prealgebra", "level": 1, "unique_id": "test/prealgebra/1.json"},
    {"problem": "Simplify $\\frac{6}{8}$.", "solution": "$\\frac{6}{8} = \\boxed{\\frac{3}{4}}$.",
     "answer": "\\frac{3}{4}", "subject": "Prealgebra", "level": 1, "unique_id": "test/prealgebra/2.json"},
]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


CHECKPOINT_NAMES = {"llama3": "Llama-3.2-mini", "qwen2": "Qwen2.5-mini"}


@pytest.fixture(scope="session", params=sorted(STYLES))
def real_checkpoint(request, tmp_path_factory) -> tuple[Path, object]:
    """(directory, style) of a hub-format checkpoint (model + tokenizer, save_pretrained), built once per session."""
    style = STYLES[request.param]
    return build_real_checkpoint(tmp_path_factory.mktemp(f"real_{style.name}") / CHECKPOINT_NAMES[style.name], style), style


def test_real_format_checkpoint_end_to_end(tmp_path, real_checkpoint, capsys):
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    ck, style = real_checkpoint
    specials = list(style.specials)
    corpus = _jsonl(tmp_path / "corpus" / "web.jsonl", [
        {"text": f"Lesson {i}: adding {i} and {2 * i + 5} gives {3 * i + 5}. Check: {3 * i + 5} - {i} = {2 * i + 5}."}
        for i in range(200)])
    qa = _jsonl(tmp_path / "corpus" / "qa.jsonl", [
        {"problem": f"What is {i} + {i + 7}?",  # OpenMathInstruct-2's field name, mapped in the recipe
         "generated_solution": f"{i} + {i + 7} = {2 * i + 7}. The answer is \\boxed{{{2 * i + 7}}}."} for i in range(120)])
    prompts = _jsonl(tmp_path / "prompts" / "gsm8k_train.jsonl", [  # openai/gsm8k's train schema: "... #### <answer>"
        {"question": f"Sam has {i} stickers and gets {i + 3} more. How many stickers does Sam have?",
         "answer": f"Sam has {i} + {i + 3} = <<{i}+{i + 3}={2 * i + 3}>>{2 * i + 3} stickers.\n#### {2 * i + 3}"}
        for i in range(8)])
    bench = tmp_path / "benchmarks"
    _jsonl(bench / "gsm8k" / "test.jsonl", GSM_ROWS)
    _jsonl(bench / "math500" / "test.jsonl", MATH_ROWS)

    recipe = {
        "run": {"name": "real", "root": str(tmp_path / "runs"), "seed": 0, "device": "cpu"},
        "tokenizer": {"kind": "hf", "path": str(ck)},
        "data": {
            "seq_len": 64, "heldout_docs": 4,
            "sources": {"web": {"kind": "local", "path": str(corpus), "template": "web"},
                        "qa": {"kind": "local", "path": str(qa), "template": "qa", "fields": {"solution": "generated_solution"}}},
            "mixtures": {"stable": {"weights": {"web": 0.7, "qa": 0.3}, "tokens": 3000}},
        },
        "model": {"init": "pretrained", "path": str(ck)},
        "midtrain": {"micro_batch_size": 8, "precision": "fp32", "checkpoint_every_tokens": 100_000, "eval_every_steps": 4,
                     "heldout_rows": 4, "stages": {"stable": {"mixture": "stable", "lr": 1e-3, "warmup_steps": 1}}},
        "rl": {"init_from": ["stable"], "template": "simple", "prompt_set": "GSM8K-train", "prompts_path": str(prompts), "steps": 2,
               "prompts_per_step": 2, "group_size": 4, "mini_batch_size": 4, "max_response_tokens": 12,
               "answer_kind": "gsm", "truncation": "penalty", "validate_every": 2, "validate_limit": 2, "validate_samples": 2,
               "validate_benchmarks": ["gsm8k"], "save_every": 1, "rollout_samples": 4,
               # and one step straight from the hub directory (no mid-training)
               "variants": {"hub": {"init_from": str(ck), "steps": 1, "validate_limit": 1, "validate_samples": 0}}},
        "eval": {"benchmarks": ["gsm8k", "math500"], "benchmark_dir": str(bench), "models": [str(ck), "stable", "rl-stable"],
                 "limit": 2, "max_new_tokens": 12, "batch_size": 4, "backend": "hf"},
        "report": {"title": "Real-format CPU run"},
    }
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    ck_files = sorted(p.name for p in ck.iterdir())
    assert main(["run", str(path)]) == 0
    run = tmp_path / "runs" / "real"

    # data: the run's tokenizer is the checkpoint's (special tokens, chat template), the shards carry its ids
    manifest = json.loads((run / "data" / "stable" / "manifest.json").read_text())
    src_tok = AutoTokenizer.from_pretrained(str(ck))
    eos_id = src_tok.convert_tokens_to_ids(style.eos)
    pad = style.pad or style.eos  # no pad token (Llama-3.2 on the hub): the eos token pads
    assert manifest["eos_id"] == eos_id and manifest["pad_id"] == src_tok.convert_tokens_to_ids(pad)
    assert manifest["vocab_size"] == len(src_tok) and manifest["tokens"] >= 3000
    assert manifest["sources"]["qa"]["docs"] > 0 and manifest["sources"]["qa"]["bad_records"] == 0
    ids = np.fromfile(run / "data" / "stable" / "shard_00000.bin", dtype="<u2").tolist()
    if style.bos:  # <|begin_of_text|> doc <|end_of_text|>: documents start as the tokenizer starts every text
        bos = src_tok.convert_tokens_to_ids(style.bos)
        assert ids[0] == bos and ids.count(bos) == ids.count(eos_id)
        assert all(ids[i + 1] in (bos, manifest["pad_id"]) for i, t in enumerate(ids[:-1]) if t == eos_id)
    else:  # no BOS anywhere (Qwen2.5's tokenizer adds none)
        assert ids[0] != eos_id and set(specials[1:]).isdisjoint(src_tok.convert_ids_to_tokens(ids))

    # mid-training: an HF checkpoint that reloads with the Auto classes and keeps the tokenizer's specials
    stable = (run / "midtrain" / "stable" / "final").resolve()
    for f in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json"):
        assert (stable / f).is_file(), f
    model = AutoModelForCausalLM.from_pretrained(str(stable))
    tok = AutoTokenizer.from_pretrained(str(stable))
    assert model.config.model_type == style.arch and model.config.num_hidden_layers == 2
    assert next(model.parameters()).dtype == torch.float32  # trained (and saved) in fp32 from the bf16 hub weights
    if style.arch == "llama":
        assert model.config.rope_parameters["rope_type"] == "llama3"
    stops = [tok.convert_tokens_to_ids(t) for t in style.stops]
    assert json.loads((stable / "generation_config.json").read_text())["eos_token_id"] == stops
    assert eos_ids(model, tok) == set(stops)  # <|eot_id|> / <|im_end|> still end a sampled sequence
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == (style.bos, style.eos, pad)
    assert (tok("1 + 2")["input_ids"][0] == tok.bos_token_id) == bool(style.bos)
    chat = tok.apply_chat_template([{"role": "user", "content": "2 + 2?"}], tokenize=False)
    assert all(m in chat for m in style.chat_markers)
    rows = read_jsonl(run / "midtrain" / "stable" / "metrics.jsonl")
    losses = [r["loss"] for r in rows if "loss" in r]
    assert losses and all(np.isfinite(losses)) and "heldout_loss" in rows[-1]

    # RL: two GRPO steps from the mid-trained model, a validation point before and after, a reloadable checkpoint
    rl = run / "rl" / "stable"
    metrics = read_jsonl(rl / "metrics.jsonl")
    assert [r["step"] for r in metrics] == [0, 1, 2]
    assert all(r["updates"] == 2 and r["rollouts_used"] == 8 and np.isfinite(r["grad_norm"]) for r in metrics[1:])
    assert "val/gsm8k/accuracy" in metrics[0] and "reward_mean" in metrics[2] and "val/gsm8k/accuracy" in metrics[2]
    assert json.loads((rl / "prompts.json").read_text())["prompt_set"] == "GSM8K-train"
    rollouts = read_jsonl(rl / "rollouts" / "step_2.jsonl")
    assert len(rollouts) == 4 and not any(t in r["response"] for r in rollouts for t in specials)
    assert {r["gold"] for r in rollouts} <= {str(2 * i + 3) for i in range(8)}  # the final answer, not the worked solution
    rl_final = (rl / "final").resolve()
    AutoModelForCausalLM.from_pretrained(str(rl_final))
    assert (rl_final / "generation_config.json").is_file()
    assert AutoTokenizer.from_pretrained(str(rl_final)).pad_token == pad

    hub = (run / "rl" / "hub" / "final").resolve()
    assert read_jsonl(run / "rl" / "hub" / "metrics.jsonl")[-1]["step"] == 1
    assert json.loads((hub / "config.json").read_text())["dtype"] == "float32"  # fp32 policy from bf16 hub weights
    assert len(json.loads((hub / "generation_config.json").read_text())["eos_token_id"]) == 2

    # eval: per-benchmark rows in the real benchmarks' record layout, and a summary per model
    for label in (ck.name, "stable", "rl-stable"):
        summary = json.loads((run / "eval" / label / "summary.json").read_text())
        assert set(summary["benchmarks"]) == {"gsm8k", "math500"}, label
        gsm = read_jsonl(run / "eval" / label / "gsm8k.jsonl")
        assert [r["id"] for r in gsm] == ["gsm8k-test-0", "gsm8k-test-1"] and gsm[0]["gold"] == "42"
        for r in gsm:
            assert not any(t in o["text"] for o in r["outputs"] for t in specials)
            assert 0 < r["outputs"][0]["n_tokens"] <= 12
    fewshot = read_jsonl(run / "eval" / "stable" / "gsm8k.jsonl")[0]["prompt"]
    assert fewshot.count("Question:") == 9 and fewshot.endswith("Answer:")  # the paper's 8 shots, then the problem
    assert read_jsonl(run / "eval" / "stable" / "math500.jsonl")[0]["prompt"].count("Problem:") == 5

    # report: built from the run's files, naming every model
    html = (run / "report" / "index.html").read_text(encoding="utf-8")
    md = (run / "report" / "report.md").read_text(encoding="utf-8")
    for name in (ck.name, "stable", "rl-stable"):
        assert name in md and name in html, name

    # the input checkpoint is read, never written; a changed eval setting reruns only the evals and the report
    # (the eval stage of a directory model once had the model directory itself as its output, and moved it aside)
    assert sorted(p.name for p in ck.iterdir()) == ck_files
    if style.name != "llama3":
        return  # the rerun does not depend on the family: once is enough
    capsys.readouterr()
    assert main(["run", str(path), "eval.max_new_tokens=6"]) == 0
    out = capsys.readouterr().out
    assert out.count("cached (same config), skipped") == 4 and out.count(": done in") == 4
    assert sorted(p.name for p in ck.iterdir()) == ck_files and (ck / "config.json").is_file()
    assert all(o["n_tokens"] <= 6 for r in read_jsonl(run / "eval" / ck.name / "gsm8k.jsonl") for o in r["outputs"])
