"""Pipeline orchestration with stand-in stage functions: order, caching, --only/--from, failures, resume."""
import json

import pytest

from octothinker import pipeline
from octothinker.config import load_recipe
from octothinker.pipeline import StageFailed, plan, run_pipeline, select

RECIPE = """\
run: {{name: t, root: {root}}}
data:
  sources:
    g: {{kind: toy, corpus: general}}
    q: {{kind: toy, corpus: qa_short}}
  mixtures:
    base: {{weights: {{g: 1}}, tokens: 1000}}
    mix: {{weights: {{g: 0.5, q: 0.5}}, tokens: 1000}}
midtrain:
  stages:
    base: {{mixture: base}}
    short: {{mixture: mix, init_from: base, schedule: cosine}}
rl: {{init_from: [base, short], steps: 2}}
"""


@pytest.fixture
def recipe(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(RECIPE.format(root=tmp_path / "runs"))
    return lambda *ov: load_recipe(p, list(ov))


@pytest.fixture
def calls(monkeypatch):
    log, fail = [], set()

    def runner(kind):
        def run(recipe, stage):
            if stage.id in fail:
                raise RuntimeError(f"boom in {stage.id}")
            stage.output.mkdir(parents=True, exist_ok=True)
            log.append(stage.id)

        return run

    monkeypatch.setattr(pipeline, "_runner", runner)
    return log, fail


EXPECTED = [
    "data:base", "data:mix", "midtrain:base", "midtrain:short", "rl:base", "rl:short",
    "eval:base", "eval:short", "eval:rl-base", "eval:rl-short", "report",
]


def test_plan_order_and_dependencies(recipe):
    stages = plan(recipe())
    assert [s.id for s in stages] == EXPECTED
    deps = {s.id: s.deps for s in stages}
    assert deps["midtrain:short"] == ["data:mix", "midtrain:base"]
    assert deps["eval:rl-short"] == ["rl:short"]


def test_change_invalidates_only_downstream(recipe):
    a = {s.id: s.hash for s in plan(recipe())}
    b = {s.id: s.hash for s in plan(recipe("midtrain.stages.short.lr=5e-4"))}
    changed = sorted(k for k in a if a[k] != b[k])
    assert changed == sorted(["midtrain:short", "rl:short", "eval:short", "eval:rl-short", "report"])
    c = {s.id: s.hash for s in plan(recipe("rl.steps=3"))}
    assert sorted(k for k in a if a[k] != c[k]) == sorted(
        ["rl:base", "rl:short", "eval:rl-base", "eval:rl-short", "report"]
    )


def test_runs_then_caches(recipe, calls):
    log, _ = calls
    run_pipeline(recipe(), echo=lambda s: None)
    assert log == EXPECTED
    log.clear()
    out = []
    run_pipeline(recipe(), echo=out.append)
    assert log == []
    lines = "\n".join(out).splitlines()
    assert sum("cached" in line for line in lines) == 2 * len(EXPECTED)  # plan lines + skip lines
    run_pipeline(recipe("rl.steps=5"), echo=lambda s: None)
    assert log == ["rl:base", "rl:short", "eval:rl-base", "eval:rl-short", "report"]


def test_failure_names_stage_and_resumes(recipe, calls, tmp_path):
    log, fail = calls
    fail.add("midtrain:short")
    with pytest.raises(StageFailed) as exc:
        run_pipeline(recipe(), echo=lambda s: None)
    msg = str(exc.value)
    assert "midtrain:short" in msg and "boom" in msg and str(tmp_path / "runs/t/midtrain/short") in msg
    state = json.loads((tmp_path / "runs/t/pipeline.json").read_text())
    assert state["midtrain:short"]["status"] == "failed"
    assert state["midtrain:base"]["status"] == "done"
    fail.clear()
    log.clear()
    run_pipeline(recipe(), echo=lambda s: None)
    assert log[0] == "midtrain:short" and "midtrain:base" not in log


def test_only_from_and_dry_run(recipe, calls):
    log, _ = calls
    r = recipe()
    assert [s.id for s in select(plan(r), only=["midtrain"])] == ["midtrain:base", "midtrain:short"]
    assert [s.id for s in select(plan(r), start="eval:rl-base")] == ["eval:rl-base", "eval:rl-short", "report"]
    with pytest.raises(ValueError, match="no such stage"):
        select(plan(r), only=["midtrian"])
    out = []
    run_pipeline(r, dry_run=True, echo=out.append)
    assert log == [] and "estimated work" in out[-1]
    run_pipeline(r, only=["data"], echo=lambda s: None)
    assert log == ["data:base", "data:mix"]


def test_run_facts_written(recipe, calls, tmp_path):
    run_pipeline(recipe(), echo=lambda s: None)
    facts = json.loads((tmp_path / "runs/t/run.json").read_text())
    assert set(facts["stages"]) == set(EXPECTED)
    assert facts["hardware"]["python"] and facts["seed"] == 0
    assert (tmp_path / "runs/t/config.resolved.yaml").exists()


def test_changed_config_starts_the_stage_fresh_and_keeps_the_old_output(recipe, calls, tmp_path):
    """A stage whose config changed must not resume checkpoints made under the old config."""
    log, fail = calls
    run_pipeline(recipe(), echo=lambda s: None)
    rl_dir = tmp_path / "runs/t/rl/short"
    (rl_dir / "step_2").mkdir()
    old_hash = json.loads((tmp_path / "runs/t/pipeline.json").read_text())["rl:short"]["hash"]
    out = []
    run_pipeline(recipe("rl.lr=2e-5"), echo=out.append)
    moved = tmp_path / f"runs/t/rl/short.superseded-{old_hash[:8]}"
    assert (moved / "step_2").is_dir() and not (rl_dir / "step_2").exists()
    assert any("moved to" in line and "rl:short" in line for line in out)
    fail.add("rl:base")  # an interrupted stage with an unchanged config keeps its output and resumes
    with pytest.raises(StageFailed):
        run_pipeline(recipe("rl.lr=3e-5"), echo=lambda s: None)
    (tmp_path / "runs/t/rl/base/step_1").mkdir(parents=True, exist_ok=True)
    fail.clear()
    run_pipeline(recipe("rl.lr=3e-5"), echo=lambda s: None)
    assert (tmp_path / "runs/t/rl/base/step_1").is_dir()
