"""Atomic writes: outputs appear whole or not at all; a failed build keeps the last good one."""
import pytest

from octothinker.paths import RunPaths, append_jsonl, atomic_dir, atomic_write_json, atomic_write_text, read_jsonl


def test_layout(tmp_path):
    p = RunPaths(tmp_path / "runs" / "x")
    assert p.data("stable") == tmp_path / "runs/x/data/stable"
    assert p.midtrain("short") == tmp_path / "runs/x/midtrain/short"
    assert p.rl("base") == tmp_path / "runs/x/rl/base"
    assert p.eval("m") == tmp_path / "runs/x/eval/m"
    assert p.report == tmp_path / "runs/x/report"


def test_atomic_write_leaves_no_temp(tmp_path):
    atomic_write_text(tmp_path / "a" / "f.txt", "hello")
    atomic_write_json(tmp_path / "a" / "g.json", {"k": 1})
    assert sorted(x.name for x in (tmp_path / "a").iterdir()) == ["f.txt", "g.json"]
    assert (tmp_path / "a" / "f.txt").read_text() == "hello"


def test_atomic_dir_failure_keeps_previous(tmp_path):
    final = tmp_path / "out"
    with atomic_dir(final) as d:
        (d / "x").write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as d:
            (d / "x").write_text("half")
            raise RuntimeError("boom")
    assert (final / "x").read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    with atomic_dir(final) as d:
        (d / "y").write_text("new")
    assert sorted(p.name for p in final.iterdir()) == ["y"]


def test_jsonl_ignores_torn_last_line(tmp_path):
    f = tmp_path / "m.jsonl"
    append_jsonl(f, {"step": 1})
    append_jsonl(f, {"step": 2})
    with open(f, "a") as fh:
        fh.write('{"step": 3, "lo')
    assert [r["step"] for r in read_jsonl(f)] == [1, 2]
    assert read_jsonl(tmp_path / "missing.jsonl") == []


def test_outputs_get_ordinary_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        f = atomic_write_text(tmp_path / "f.txt", "x")
        with atomic_dir(tmp_path / "d") as d:
            (d / "y").write_text("y")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(f.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_resolve_model_names(tmp_path):
    from octothinker.model.checkpoint import resolve_model

    run = tmp_path / "run"
    for d in ("midtrain/short/step_4", "rl/short/step_2", "plain"):
        (run / d).mkdir(parents=True)
        (run / d / "config.json").write_text("{}")
        (run / d / "trainer_state").mkdir()
        (run / d / "trainer_state" / "state.json").write_text("{}")
    (run / "midtrain/short/LATEST").write_text("step_4\n")
    (run / "rl/short/LATEST").write_text("step_2\n")
    assert resolve_model(run, "short") == run / "midtrain/short/step_4"
    assert resolve_model(run, "rl-short") == run / "rl/short/step_2"
    assert resolve_model(run, str(run / "plain")) == run / "plain"
    with pytest.raises(FileNotFoundError, match="rl-<name>"):
        resolve_model(run, "nosuch")
