"""Tracker: JSONL always; optional sinks forwarded through fake modules injected in sys.modules."""
from __future__ import annotations

import sys
import types

import pytest

from octothinker.config import recipe_from_dict
from octothinker.paths import read_jsonl
from octothinker.report.tracking import Tracker, TrackingError


class _Recorder:
    def __init__(self):
        self.calls = []


@pytest.fixture
def fake_sinks(monkeypatch):
    rec = _Recorder()
    wandb = types.ModuleType("wandb")

    class Run:
        def log(self, row, step=None):
            rec.calls.append(("wandb.log", row, step))

        def finish(self):
            rec.calls.append(("wandb.finish",))

    wandb.init = lambda **kw: rec.calls.append(("wandb.init", kw["project"], kw["name"])) or Run()
    trackio = types.ModuleType("trackio")
    trackio.init = lambda **kw: rec.calls.append(("trackio.init", kw["project"]))
    trackio.log = lambda row, step=None: rec.calls.append(("trackio.log", row, step))
    trackio.finish = lambda: rec.calls.append(("trackio.finish",))
    tbx = types.ModuleType("tensorboardX")

    class Writer:
        def __init__(self, log_dir):
            rec.calls.append(("tb.init", log_dir))

        def add_scalar(self, k, v, step):
            rec.calls.append(("tb.scalar", k, v, step))

        def close(self):
            rec.calls.append(("tb.close",))

    tbx.SummaryWriter = Writer
    for name, mod in (("wandb", wandb), ("trackio", trackio), ("tensorboardX", tbx)):
        monkeypatch.setitem(sys.modules, name, mod)
    return rec


def test_jsonl_only_by_default(tmp_path):
    with Tracker(tmp_path / "m.jsonl") as t:
        t.log({"step": 1, "loss": 2.0, "note": "x"})
    assert read_jsonl(tmp_path / "m.jsonl") == [{"step": 1, "loss": 2.0, "note": "x"}]
    assert not (tmp_path / "tracking").exists()


def test_every_sink_receives_numeric_fields(tmp_path, fake_sinks):
    with Tracker(tmp_path / "m.jsonl", ["wandb", "trackio", "tensorboard"], "proj", "stable") as t:
        t.log({"step": 3, "loss": 1.5, "flag": True, "note": "x"})
    c = fake_sinks.calls
    assert ("wandb.init", "proj", "stable") in c and ("trackio.init", "proj") in c
    assert ("wandb.log", {"step": 3.0, "loss": 1.5}, 3) in c
    assert ("trackio.log", {"step": 3.0, "loss": 1.5}, 3) in c
    assert ("tb.scalar", "loss", 1.5, 3) in c and not any(x[:2] == ("tb.scalar", "step") for x in c)
    assert ("tb.init", str(tmp_path / "tracking" / "tensorboard" / "stable")) in c
    assert [x[0] for x in c if x[0].endswith(("finish", "close"))] == ["wandb.finish", "trackio.finish", "tb.close"]
    assert read_jsonl(tmp_path / "m.jsonl") == [{"step": 3, "loss": 1.5, "flag": True, "note": "x"}]


def test_missing_package_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # None makes `import wandb` raise ImportError
    with pytest.raises(TrackingError, match=r"'wandb' is enabled.*pip install wandb"):
        Tracker(tmp_path / "m.jsonl", ["wandb"])


def test_unknown_sink_and_recipe_config(tmp_path, fake_sinks):
    with pytest.raises(TrackingError, match="unknown tracking sink"):
        Tracker(tmp_path / "m.jsonl", ["mlflow"])
    recipe = recipe_from_dict({"report": {"tracking": {"sinks": ["trackio"], "project": "p"}}})
    assert recipe_from_dict({}).report.tracking.sinks == []
    with Tracker.from_config(recipe.report.tracking, tmp_path / "m.jsonl", "r") as t:
        t.log({"step": 0, "x": 1})
    assert ("trackio.init", "p") in fake_sinks.calls
    with pytest.raises(ValueError, match="report.tracking.sinks: unknown sink 'neptune'"):
        recipe_from_dict({"report": {"tracking": {"sinks": ["neptune"]}}})


def test_nested_numbers_reach_the_sinks_as_key_slash_sub(tmp_path, fake_sinks):
    with Tracker(tmp_path / "m.jsonl", ["trackio"]) as t:
        t.log({"step": 4, "heldout_loss": {"general": 1.5, "qa": 2}, "tags": {"a": "x"}})
    assert ("trackio.log", {"step": 4.0, "heldout_loss/general": 1.5, "heldout_loss/qa": 2.0}, 4) in fake_sinks.calls
    assert Tracker.open(None, tmp_path / "n.jsonl", "r").sinks == []


def test_send_forwards_to_the_sinks_only(tmp_path, fake_sinks):
    """For a row already in the JSONL (RL's deferred step-0 row, written first into the file afterwards)."""
    with Tracker(tmp_path / "m.jsonl", ["trackio"]) as t:
        t.send({"step": 0, "x": 1})
    assert ("trackio.log", {"step": 0.0, "x": 1.0}, 0) in fake_sinks.calls and not (tmp_path / "m.jsonl").exists()
