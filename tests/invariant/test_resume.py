"""Resume is exact: stop at step k (or SIGKILL mid-run) then resume gives bit-identical weights."""
import json
import signal
import time

import torch

from octothinker.model.checkpoint import latest_checkpoint
from octothinker.paths import read_jsonl
from octothinker.train.midtrain import run_midtrain

from midtrain_helpers import load_weights, make_run, run_cli

STAGE = {"stable": {"mixture": "gen", "tokens": 12 * 128, "lr": 3e-3, "warmup_steps": 3}}


def _assert_identical(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_stop_then_resume_is_bit_identical(tmp_path, toy_data):
    _, ref = make_run(tmp_path / "a", toy_data, STAGE, checkpoint_every_tokens=4 * 128)
    run_midtrain(ref)
    _, rec = make_run(tmp_path / "b", toy_data, STAGE, checkpoint_every_tokens=4 * 128)
    run_midtrain(rec, stop_after=5)
    stage_b = tmp_path / "b/r/midtrain/stable"
    assert latest_checkpoint(stage_b).name == "step_5"
    assert not json.loads((stage_b / "stage.json").read_text())["complete"]
    run_midtrain(rec)
    _assert_identical(load_weights(tmp_path / "a/r/midtrain/stable/final"), load_weights(stage_b / "final"))
    steps = [r["step"] for r in read_jsonl(stage_b / "metrics.jsonl")]
    assert steps == list(range(1, 13))
    losses_a = [r["loss"] for r in read_jsonl(tmp_path / "a/r/midtrain/stable/metrics.jsonl")]
    assert losses_a == [r["loss"] for r in read_jsonl(stage_b / "metrics.jsonl")]


def test_sigkill_mid_training_then_resume_is_bit_identical(tmp_path, toy_data):
    stage = {"stable": {"mixture": "gen", "tokens": 60 * 128, "lr": 3e-3, "warmup_steps": 3}}
    _, ref = make_run(tmp_path / "a", toy_data, stage, checkpoint_every_tokens=2 * 128)
    d_run, _ = make_run(tmp_path / "b", toy_data, stage, checkpoint_every_tokens=2 * 128)
    proc = run_cli(d_run, tmp_path / "b.yaml", wait=False)
    stage_b = tmp_path / "b/r/midtrain/stable"
    deadline = time.time() + 1200  # a generous "must not hang" bound, never a speed test
    while time.time() < deadline:
        ck = latest_checkpoint(stage_b)
        if ck is not None and int(ck.name.split("_")[1]) >= 6:
            break
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = latest_checkpoint(stage_b)
    assert not json.loads((stage_b / "stage.json").read_text())["complete"], "the run finished before the kill"
    run_cli(d_run, tmp_path / "b.yaml")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the subprocesses run with one thread: same kernels, same bits
    try:
        run_midtrain(ref)
    finally:
        torch.set_num_threads(threads)
    assert int(killed_at.name.split("_")[1]) < 60
    _assert_identical(load_weights(tmp_path / "a/r/midtrain/stable/final"), load_weights(stage_b / "final"))
