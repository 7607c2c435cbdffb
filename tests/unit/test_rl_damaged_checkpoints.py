"""RL resume with a damaged newest checkpoint: one warning line, resume from the previous step, same run."""
import pytest
import torch

from octothinker.grading.grader import Verdict
from octothinker.model.checkpoint import CheckpointError, checkpoint_problem
from octothinker.paths import read_jsonl
from octothinker.rl.trainer import RLTrainer

from test_rl_trainer import cfg, prompts, tiny_model, word_tokenizer


def last_digit_grader(responses, golds, kind, timeout):
    """Correct when the response's last digit word is the gold (no subprocess pool: fast and seeded)."""
    out = []
    for r, g in zip(responses, golds):
        digits = [w for w in r.split() if w.isdigit()]
        hit = bool(digits) and digits[-1] == g
        out.append(Verdict(hit, digits[-1] if digits else None, "match" if hit else "mismatch"))
    return out


def damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:
        mid = len(data) // 2
        data[mid : mid + 4] = bytes(b ^ 0xFF for b in data[mid : mid + 4])
        path.write_bytes(bytes(data))


def trainer(tmp_path, name, steps):
    tok = word_tokenizer()
    return RLTrainer(cfg(steps=steps, save_every=1), tiny_model(tok), tok, prompts(), tmp_path / name, grader=last_digit_grader)


@pytest.mark.parametrize("name,how", [("model.safetensors", "truncate"), ("trainer_state/state.pt", "flip")])
def test_resume_skips_a_damaged_newest_checkpoint(tmp_path, capsys, name, how):
    full = trainer(tmp_path, "a", 4)
    full.train()
    trainer(tmp_path, "b", 2).train()
    damage(tmp_path / "b" / "step_2" / name, how)
    capsys.readouterr()
    second = trainer(tmp_path, "b", 4)
    second.train()
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "damaged" in line]
    assert len(warnings) == 1, err
    assert f"step_2/{name}" in warnings[0] and "resuming from step_1" in warnings[0]
    assert second.step == 1  # resumed from the step before the damaged one
    for (k, v), (_, w) in zip(full.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(v, w), k
    assert [r["step"] for r in read_jsonl(tmp_path / "b" / "metrics.jsonl")] == [1, 2, 3, 4]
    assert checkpoint_problem(tmp_path / "b" / "final") is None


def test_every_checkpoint_damaged_is_a_one_line_error(tmp_path):
    trainer(tmp_path, "b", 2).train()
    damage(tmp_path / "b" / "step_2" / "model.safetensors", "truncate")
    damage(tmp_path / "b" / "step_1" / "trainer_state" / "state.pt", "flip")
    with pytest.raises(CheckpointError) as err:
        trainer(tmp_path, "b", 4).train()
    msg = str(err.value)
    assert "\n" not in msg and "rl b: no checkpoint" in msg
    assert "step_2/model.safetensors" in msg and "step_1/trainer_state/state.pt" in msg
