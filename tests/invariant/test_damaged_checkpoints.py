"""A checkpoint damaged after it was written: the mid-training resume takes the newest one that verifies.

Stop a tiny stage after 4 steps (checkpoints at steps 2 and 4), damage a file of step_4, rerun:
one warning line names the damaged file, training resumes from step_2 and ends bit-identical to an
uninterrupted run. With every checkpoint damaged the rerun stops with a one-line CheckpointError.
"""
import json

import pytest
import torch

from octothinker.model.checkpoint import CheckpointError, checkpoint_problem, latest_checkpoint
from octothinker.paths import read_jsonl
from octothinker.train.midtrain import run_midtrain

from midtrain_helpers import load_weights, make_run

STAGE = {"stable": {"mixture": "gen", "tokens": 8 * 128, "lr": 3e-3, "warmup_steps": 2}}


def damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:  # flip the bytes in the middle: same size, different content
        mid = len(data) // 2
        data[mid : mid + 4] = bytes(b ^ 0xFF for b in data[mid : mid + 4])
        path.write_bytes(bytes(data))


def _stopped_run(root, toy_data):
    _, rec = make_run(root, toy_data, STAGE, checkpoint_every_tokens=2 * 128)
    run_midtrain(rec, stop_after=4)
    stage = root / "r/midtrain/stable"
    assert latest_checkpoint(stage).name == "step_4" and (stage / "step_2").is_dir()
    return rec, stage


@pytest.mark.parametrize("name,how", [("model.safetensors", "truncate"), ("trainer_state/state.pt", "flip")])
def test_resume_skips_a_damaged_newest_checkpoint(tmp_path, toy_data, capsys, name, how):
    _, ref = make_run(tmp_path / "a", toy_data, STAGE, checkpoint_every_tokens=2 * 128)
    run_midtrain(ref)
    rec, stage = _stopped_run(tmp_path / "b", toy_data)
    damage(stage / "step_4" / name, how)
    capsys.readouterr()
    run_midtrain(rec)
    out = capsys.readouterr()
    warnings = [line for line in out.err.splitlines() if "damaged" in line]
    assert len(warnings) == 1, out.err
    assert f"step_4/{name}" in warnings[0] and "resuming from step_2" in warnings[0]
    assert "resuming from" in out.out and "step_2 (step 2 of 8)" in out.out
    assert json.loads((stage / "stage.json").read_text())["complete"]
    final = load_weights(stage / "final")
    want = load_weights(tmp_path / "a/r/midtrain/stable/final")
    assert final.keys() == want.keys() and all(torch.equal(final[k], want[k]) for k in want)
    assert [r["step"] for r in read_jsonl(stage / "metrics.jsonl")] == list(range(1, 9))
    assert checkpoint_problem(stage / "step_4") is None  # rewritten by the resumed run


def test_every_checkpoint_damaged_is_a_one_line_error(tmp_path, toy_data):
    rec, stage = _stopped_run(tmp_path, toy_data)
    damage(stage / "step_4" / "model.safetensors", "truncate")
    damage(stage / "step_2" / "trainer_state" / "state.pt", "flip")
    with pytest.raises(CheckpointError) as err:
        run_midtrain(rec)
    msg = str(err.value)
    assert "\n" not in msg and "no checkpoint" in msg and "verifies" in msg
    assert "step_4/model.safetensors" in msg and "step_2/trainer_state/state.pt" in msg
    assert (stage / "step_4").is_dir() and (stage / "step_2").is_dir()  # nothing is deleted
