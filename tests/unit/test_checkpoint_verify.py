"""Checkpoint checksums: what save records, what verification finds, older checkpoints, model lookups."""
import json

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from octothinker.model import checkpoint as ck


def damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:
        mid = len(data) // 2
        data[mid : mid + 4] = bytes(b ^ 0xFF for b in data[mid : mid + 4])
        path.write_bytes(bytes(data))


@pytest.fixture
def stage(tmp_path):
    """A stage dir with step_1 and step_2 of a tiny Llama (weights, config, trainer state)."""
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=True))
    opt = torch.optim.AdamW(model.parameters())
    model(torch.tensor([[1, 2, 3]])).logits.sum().backward()
    opt.step()
    d = tmp_path / "stage"
    for step in (1, 2):
        ck.save_checkpoint(d, step, model.state_dict(), model.config, None, {"optimizer": opt.state_dict(), "step": step},
                           {"step": step})
    return d


def test_save_records_sha256_and_size_of_every_file(stage):
    body = json.loads((stage / "step_2" / ck.CHECKSUMS).read_text())
    files = {p.relative_to(stage / "step_2").as_posix() for p in (stage / "step_2").rglob("*") if p.is_file()}
    assert set(body["files"]) == files - {ck.CHECKSUMS}
    assert {"model.safetensors", "config.json", "trainer_state/state.pt", "trainer_state/state.json"} <= set(body["files"])
    rec = body["files"]["model.safetensors"]
    assert rec["size"] == (stage / "step_2" / "model.safetensors").stat().st_size and len(rec["sha256"]) == 64
    assert ck.checkpoint_problem(stage / "step_2") is None


@pytest.mark.parametrize("name,how,full_only", [
    ("model.safetensors", "truncate", False),
    ("trainer_state/state.pt", "flip", True),
    ("trainer_state/state.json", "flip", True),
    ("config.json", "truncate", False),
    (ck.CHECKSUMS, "flip", False),
])
def test_damage_is_found_and_named(stage, name, how, full_only):
    damage(stage / "step_2" / name, how)
    problem = ck.checkpoint_problem(stage / "step_2")
    assert problem and problem.startswith(name), problem
    assert (ck.checkpoint_problem(stage / "step_2", full=False) is None) == full_only  # the cheap check sees sizes only
    good, damaged = ck.latest_good_checkpoint(stage)
    assert good == stage / "step_1" and [(p.name, msg) for p, msg in damaged] == [("step_2", problem)]
    assert ck.latest_checkpoint(stage) == stage / "step_2"  # the plain lookup is unchanged


def test_resume_checkpoint_warns_once_or_raises(stage, capsys):
    assert ck.resume_checkpoint(stage, "x") == stage / "step_2" and capsys.readouterr().err == ""
    damage(stage / "step_2" / "model.safetensors", "truncate")
    assert ck.resume_checkpoint(stage, "x") == stage / "step_1"
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "step_2/model.safetensors" in err[0] and "resuming from step_1" in err[0]
    damage(stage / "step_1" / "trainer_state" / "state.pt", "flip")
    with pytest.raises(ck.CheckpointError, match="no checkpoint .* verifies") as exc:
        ck.resume_checkpoint(stage, "x")
    assert "\n" not in str(exc.value) and isinstance(exc.value, FileNotFoundError)
    assert ck.resume_checkpoint(stage.parent / "empty", "x") is None  # nothing saved yet: a fresh start


def test_checkpoints_without_checksums_still_load_and_are_checked_by_parsing(stage, capsys):
    for step in (1, 2):
        (stage / f"step_{step}" / ck.CHECKSUMS).unlink()
    assert ck.checkpoint_problem(stage / "step_2") is None
    assert ck.resume_checkpoint(stage, "x") == stage / "step_2"
    damage(stage / "step_2" / "model.safetensors", "truncate")
    assert "model.safetensors" in ck.checkpoint_problem(stage / "step_2")
    damage(stage / "step_1" / "trainer_state" / "state.pt", "flip")  # the zip members' CRCs catch it
    assert "trainer_state/state.pt" in ck.checkpoint_problem(stage / "step_1")


def test_model_lookups_refuse_a_damaged_dir(stage):
    ck.mark_final(stage, stage / "step_2")
    assert ck.resolve_model_dir(stage) == stage / "step_2"
    damage(stage / "step_2" / "model.safetensors", "truncate")
    for lookup in (lambda: ck.resolve_model_dir(stage), lambda: ck.resolve_model_dir(stage / "final"),
                   lambda: ck.checkpoint_at(stage, None), lambda: ck.checkpoint_at(stage, 2)):
        with pytest.raises(ck.CheckpointError, match="model.safetensors") as exc:
            lookup()
        assert "\n" not in str(exc.value) and "step_1" in str(exc.value)  # names the step that passes
    assert ck.checkpoint_at(stage, 1) == stage / "step_1"
