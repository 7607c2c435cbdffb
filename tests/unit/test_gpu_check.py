"""bench/gpu_check.py: its correctness checks pass on right results and FAIL on perturbed ones; the report; a CPU smoke run."""
import importlib.util
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu_check.py"


@pytest.fixture(scope="module")
def gc():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("gpu_check", None)


@pytest.fixture(scope="module")
def model():
    cfg = Qwen2Config(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=128, pad_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    return Qwen2ForCausalLM(cfg).eval()


ROWS = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17]]
RESPONSES = [[20, 21, 22], [23, 24], [25, 26, 27, 28]]


def test_left_padding_passes_on_a_correct_batch(gc, model):
    row = gc.check_left_padding(model, ROWS, 0, 1e-4)
    assert row.status == "PASS", row
    assert row.value <= row.limit == 1e-4 and "grads finite" in row.detail


def test_left_padding_fails_when_one_rows_mask_is_corrupted(gc, model):
    from octothinker.model.sampling import pad_rows

    _, mask = pad_rows(ROWS, 0, left=True)
    mask[1, 0] = 1  # row 1 now attends to a pad token
    row = gc.check_left_padding(model, ROWS, 0, 1e-4, mask=mask)
    assert row.status == "FAIL" and row.value > row.limit, row


def test_left_padding_fails_when_it_could_not_see_a_wrong_mask(gc, model):
    """A tolerance above the unmasked-pads control's error makes the check meaningless: FAIL, not PASS."""
    row = gc.check_left_padding(model, ROWS, 0, 1e6)
    assert row.status == "FAIL" and "cannot see a wrong mask" in row.detail


def test_scorer_left_padding_passes_and_fails_when_pads_are_attended(gc, model, monkeypatch):
    assert gc.check_scorer_left_padding(model, ROWS, RESPONSES, 0, 1e-4).status == "PASS"
    import octothinker.rl.policy_batch as pb

    real = pb.build_batch

    def unmasked(*a):
        batch = real(*a)
        batch["prompt_attn"] = torch.ones_like(batch["prompt_attn"])  # prompt pads attended (a mask bug)
        return batch

    monkeypatch.setattr(pb, "build_batch", unmasked)
    row = gc.check_scorer_left_padding(model, ROWS, RESPONSES, 0, 1e-4)
    assert row.status == "FAIL" and row.value > 1e-4, row


def test_fast_decode_passes_and_fails_on_noisy_logits_or_wrong_rope(gc, model, monkeypatch):
    from octothinker.model import fast_decode

    assert gc.check_fast_decode(model, ROWS, 4, 0, 1e-4).status == "PASS"
    clean = fast_decode.FastDecoder._logits
    with monkeypatch.context() as m:
        m.setattr(fast_decode.FastDecoder, "_logits", lambda self, h: clean(self, h) + 1e-2 * torch.randn(h.shape[0], 96))
        row = gc.check_fast_decode(model, ROWS, 4, 0, 1e-4)
        assert row.status == "FAIL" and row.value > row.limit
    with monkeypatch.context() as m:
        m.setattr(fast_decode, "_rope", lambda x, cos, sin: x)
        assert gc.check_fast_decode(model, ROWS, 4, 0, 1e-4).status == "FAIL"


def test_bf16_checks_pass_within_a_limit_set_by_the_measured_bf16_error(gc, model):
    """The GPU runs' branch, on CPU: bf16 autocast / bf16 weights, limit = max(tol, 3 x bf16's own error vs fp32)."""
    import copy

    for row in (gc.check_left_padding(model, ROWS, 0, 0.05, torch.bfloat16),
                gc.check_scorer_left_padding(model, ROWS, RESPONSES, 0, 0.05, torch.bfloat16),
                gc.check_fast_decode(copy.deepcopy(model).to(torch.bfloat16), ROWS, 4, 0, 0.05),
                gc.check_fast_decode(model, ROWS, 4, 0, 0.05, torch.bfloat16)):
        assert row.status == "PASS" and row.limit >= 0.05 and "own error vs fp32" in row.detail, row
    assert gc.noise_limit(0.05, 0.1) == pytest.approx(0.3) and gc.noise_limit(0.05, 0.001) == 0.05
    assert math.isnan(gc.noise_limit(0.05, math.nan))


def test_non_finite_results_fail(gc):
    assert math.isnan(gc.rel_err([torch.tensor([1.0, float("nan")])], [torch.tensor([1.0, 2.0])]))
    assert gc.rel_err([torch.ones(3)], [torch.ones(2)]) == math.inf
    assert gc.judge("s", "c", math.nan, 1.0).status == "FAIL"
    assert gc.judge("s", "c", 0.5, 1.0).status == "PASS"
    assert gc.judge("s", "c", 0.5, 1.0, ok=False).status == "FAIL"


def test_peak_and_flops(gc):
    assert gc.resolve_peak("NVIDIA H200")[0] == 989e12
    assert gc.resolve_peak("NVIDIA H100 80GB HBM3")[0] == 989e12
    assert gc.resolve_peak("NVIDIA H100 PCIe")[0] == 756e12
    assert gc.resolve_peak("NVIDIA H200", override_tflops=500)[0] == 500e12
    assert gc.resolve_peak("cpu", measured_flops=3e10) == (3e10, "measured matmul on cpu (0.03 TFLOP/s)")
    assert gc.resolve_peak("cpu")[0] is None
    # Llama-3.2-1B: 6N + 12 * 16 layers * 2048 * 4096
    assert gc.train_flops_per_token(1_235_814_400, 16, 2048, 4096) == 6 * 1_235_814_400 + 12 * 16 * 2048 * 4096


def test_missing_requirements_names_absent_and_outdated_packages(gc, tmp_path):
    assert gc.missing_requirements(ROOT / "pyproject.toml") == []
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["torch>=99", "no-such-package-xyz>=1", "numpy"]\n')
    missing = gc.missing_requirements(tmp_path / "pyproject.toml")
    assert len(missing) == 2 and missing[0].startswith("torch>=99 (have ") and missing[1] == "no-such-package-xyz>=1 (not installed)"


def test_report_and_table_have_exact_fields(gc, tmp_path):
    rows = [gc.Row("correctness", "left-pad", "PASS", 1e-3, "rel err", None, 0.06, "ok"),
            gc.Row("midtrain", "tokens/s", "OK", 41000.0, "tok/s", 0.97, None, ""),
            gc.Row("vllm", "vLLM", "SKIP", detail="not importable"),
            gc.Row("rollout", "section time", "TIMEOUT", 70.2, "s", None, 70, "killed")]
    meta = {"device": "NVIDIA H200", "peak_tflops": 989.0, "peak_source": "datasheet", "versions": {"torch": "x"}}
    report = gc.build_report(rows, meta, 470, 123.4, smoke=False)
    assert tuple(report) == gc.REPORT_FIELDS == ("mode", "device", "peak_tflops", "peak_source", "versions", "budget_s",
                                                  "total_s", "ok", "failed", "rows")
    assert all(tuple(r) == gc.ROW_FIELDS for r in report["rows"])
    assert gc.ROW_FIELDS == ("section", "name", "status", "value", "unit", "ratio", "limit", "detail")
    assert report["ok"] is False and report["failed"] == ["rollout: section time"]
    gc.write_report(tmp_path / "r.json", report)
    assert json.loads((tmp_path / "r.json").read_text()) == report
    table = gc.format_table(rows).splitlines()
    assert table[0].split() == ["section", "check", "status", "value", "unit", "ratio", "limit", "detail"]
    assert len(table) == 2 + len(rows) and "41,000" in table[3] and "TIMEOUT" in table[5]


def test_a_section_is_killed_at_its_cap_and_errors_are_rows(gc, tmp_path, monkeypatch):
    def slow(s, ctx, rec):
        rec.add("first", "OK", 1.0)
        time.sleep(60)

    def broken(s, ctx, rec):
        raise ValueError("bad shape")

    monkeypatch.setitem(gc.RUNNERS, "rollout", slow)
    monkeypatch.setitem(gc.RUNNERS, "eval", broken)
    s = gc.make_settings("cpu", True, tmp_path)
    t = time.monotonic()
    rows, _ = gc.run_section("rollout", s, {}, 1.0)
    assert time.monotonic() - t < 20
    assert [(r.name, r.status) for r in rows] == [("first", "OK"), ("section time", "TIMEOUT")]
    rows, _ = gc.run_section("eval", s, {}, 20.0)
    assert [(r.name, r.status) for r in rows] == [("section error", "ERROR"), ("section time", "ERROR")]
    assert "ValueError: bad shape" in rows[0].detail


def test_main_exits_non_zero_naming_the_failed_check(gc, tmp_path, monkeypatch):
    monkeypatch.setitem(gc.TOL["float32"], "fast_decode", 0.0)  # inherited by the forked section
    out = tmp_path / "r.json"
    assert gc.main(["--device", "cpu", "--smoke", "--only", "correctness", "--out", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["failed"] == ["correctness: lean decoder logits vs HF forward"]
    bad = [r for r in report["rows"] if r["status"] == "FAIL"][0]
    assert bad["limit"] == 0.0 and bad["value"] > 0


def test_cpu_smoke_run_of_every_section(tmp_path):
    out = tmp_path / "smoke.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["mode"] == "smoke" and report["ok"] and report["failed"] == []
    times = {r["section"]: r for r in report["rows"] if r["name"] == "section time"}
    assert list(times) == ["device", "correctness", "midtrain", "rollout", "rl_step", "eval", "vllm"]
    assert all(r["status"] == "OK" and r["value"] <= r["limit"] for r in times.values())
    for section in ("device", "correctness", "midtrain", "rollout", "rl_step", "eval"):
        measured = [r for r in report["rows"] if r["section"] == section and r["name"] != "section time"]
        assert measured and all(r["status"] in ("OK", "PASS") for r in measured), measured
    assert [r["status"] for r in report["rows"] if r["section"] == "vllm" and r["name"] != "section time"] == ["SKIP"]
    checks = [r for r in report["rows"] if r["status"] == "PASS"]
    assert len(checks) >= 7 and all(r["limit"] is None or r["value"] <= r["limit"] for r in checks)
    assert re.search(r"^section +check +status +value", proc.stdout, re.M) and "all checks passed" in proc.stdout
