"""The plan's time estimates: calibrated from the last run's stage times, else a probe, else fixed rates.

Every timing here is fake (a stand-in probe, hand-written pipeline.json): nothing is measured."""
import json

import pytest

from octothinker import pipeline, pipeline_eta
from octothinker.config import load_recipe
from octothinker.pipeline import Rates, Stage, calibrate, describe_plan, plan, work_seconds

RECIPE = """\
run: {{name: t, root: {root}}}
data:
  sources:
    g: {{kind: toy, corpus: general}}
  mixtures:
    base: {{weights: {{g: 1}}, tokens: 100000}}
midtrain:
  stages:
    base: {{mixture: base}}
    short: {{mixture: base, init_from: base, tokens: 50000}}
rl: {{init_from: [short], steps: 4, prompts_per_step: 2, group_size: 4, max_response_tokens: 10, length_schedule: {{2: 20}}, validate_every: 0}}
eval: {{benchmarks: [toy_gsm], limit: 10, max_new_tokens: 8, batch_size: 4}}
"""

FAKE = Rates(train_tps=1000.0, decode_call_s=0.01, decode_token_s=0.001, probe_s=1.2)


@pytest.fixture
def recipe(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(RECIPE.format(root=tmp_path / "runs"))
    return lambda *ov: load_recipe(p, list(ov))


@pytest.fixture
def probe(monkeypatch):
    """A stand-in probe returning FAKE; counts its calls."""
    calls = []

    def fake(recipe, budget_s=1.5):
        calls.append(recipe.run.name)
        return FAKE

    monkeypatch.setattr(pipeline, "probe_rates", fake)
    return calls


def by_id(stages):
    return {s.id: s for s in stages}


def test_work_counts_what_each_stage_scales_with(recipe, probe):
    s = by_id(plan(recipe()))
    assert s["data:base"].work == {"fixed_s": 5, "data_tokens": 100000}
    assert s["midtrain:base"].work == {"fixed_s": 5, "train_tokens": 100000}
    assert s["midtrain:short"].work == {"fixed_s": 5, "train_tokens": 50000}
    decoded = 10 + 10 + 20 + 20  # max response length per step under the schedule {2: 20}
    assert s["rl:short"].work == {"decode_calls": decoded, "decode_tokens": 8 * decoded, "train_tokens": 8 * decoded}
    assert s["eval:short"].work == {"fixed_s": 2, "decode_calls": 3 * 8, "decode_tokens": 10 * 8}  # 10 problems, 3 batches of 4


def test_fresh_run_uses_the_probe(recipe, probe):
    stages = plan(recipe())
    s = by_id(stages)
    assert probe == ["t"]  # probed once
    assert s["midtrain:base"].estimate_s == pytest.approx(5 + 100000 / 1000.0)
    assert s["rl:short"].estimate_s == pytest.approx(60 * 0.01 + 480 * 0.001 + 480 / 1000.0)
    assert s["eval:short"].estimate_s == pytest.approx(2 + 24 * 0.01 + 80 * 0.001)
    assert s["data:base"].estimate_s == pytest.approx(5 + 100000 / 400_000)  # not probed: fixed rate
    last = describe_plan(recipe(), stages, {}).splitlines()[-1]
    assert "from a 1.2 s probe on this machine" in last and "midtrain, rl, eval" in last
    assert "data, report from fixed rates" in last and "on this machine (rough)" not in last


def test_last_run_stage_times_take_precedence(recipe, probe, tmp_path):
    r = recipe()
    fresh = by_id(plan(r))
    run_dir = tmp_path / "runs" / "t"
    run_dir.mkdir(parents=True)
    # the last run: midtrain:base took 50 s for 100k tokens (recorded work); an old entry without work
    # counts with the current plan's work of the same id; failed or unfinished entries do not count
    state = {
        "midtrain:base": {"hash": "old", "status": "done", "wall_s": 50.0, "work": {"train_tokens": 100000}},
        "midtrain:short": {"hash": "old", "status": "done", "wall_s": 25.0},
        "rl:short": {"hash": "old", "status": "failed", "wall_s": 999.0},
        "data:base": {"hash": fresh["data:base"].hash, "status": "done", "wall_s": 2.0},
    }
    (run_dir / "pipeline.json").write_text(json.dumps(state))
    stages = plan(r)
    s = by_id(stages)
    base = pipeline.default_rates(r)
    # 75 s for base's recorded work plus short's planned work (no record): midtrain runs at that pace here
    factor = 75.0 / (work_seconds({"train_tokens": 100000}, base) + work_seconds(fresh["midtrain:short"].work, base))
    assert s["midtrain:base"].estimate_s == pytest.approx(work_seconds(fresh["midtrain:base"].work, base) * factor)
    assert s["midtrain:short"].basis == pipeline.LAST_RUN_BASIS
    assert s["rl:short"].basis.startswith("a 1.2 s probe")  # its only entry failed: the probe decides
    last = describe_plan(r, stages, state).splitlines()[-1]
    assert "midtrain from the last run's stage times" in last and "rl, eval from a 1.2 s probe" in last
    assert "data:base" in describe_plan(r, stages, state) and "cached" in describe_plan(r, stages, state)


def test_no_probe_when_the_last_run_covers_every_probed_kind():
    def no_probe():
        raise AssertionError("probe called")

    stages = [Stage("midtrain", "a", work={"train_tokens": 10}), Stage("rl", "b", work={"decode_tokens": 10}),
              Stage("eval", "c", work={"decode_tokens": 4})]
    state = {"midtrain:a": {"status": "done", "wall_s": 3.0}, "rl:x": {"status": "done", "wall_s": 20.0, "work": {"decode_tokens": 40}},
             "eval:c": {"status": "done", "wall_s": 1.0}}
    calibrate(stages, state, Rates(train_tps=10.0, decode_token_s=0.1), no_probe)
    assert [s.estimate_s for s in stages] == pytest.approx([3.0, 5.0, 1.0])
    assert {s.basis for s in stages} == {pipeline.LAST_RUN_BASIS}


def test_last_run_walls_on_fewer_threads_count_at_all_threads():
    stages = [Stage("midtrain", "a", work={"train_tokens": 10}), Stage("rl", "b", work={"decode_tokens": 10})]
    state = {"midtrain:a": {"status": "done", "wall_s": 3.0, "threads": 1},  # side by side: 1.5x slower on 1 of 2
             "rl:b": {"status": "done", "wall_s": 20.0, "threads": 2}}
    calibrate(stages, state, Rates(train_tps=10.0, decode_token_s=0.1), lambda: None, cores=2)
    assert [s.estimate_s for s in stages] == pytest.approx([2.0, 20.0])


def test_recalibrate_rescales_only_kinds_with_finished_stages():
    from octothinker.pipeline import recalibrate

    a, b = Stage("midtrain", "a", work={"train_tokens": 10}), Stage("rl", "b", work={"decode_tokens": 10})
    a.estimate_s, b.estimate_s = 50.0, 99.0
    state = {"midtrain:x": {"status": "done", "wall_s": 6.0, "work": {"train_tokens": 20}},
             "rl:y": {"status": "running", "work": {"decode_tokens": 10}}}
    recalibrate([a, b], state, Rates(train_tps=10.0, decode_token_s=0.1), cores=2)
    assert (a.estimate_s, a.basis) == (pytest.approx(3.0), pipeline.LAST_RUN_BASIS)
    assert b.estimate_s == 99.0  # no finished rl stage yet: unchanged
    state["rl:y"].update(status="done", wall_s=1.0)
    recalibrate([b], state, Rates(train_tps=10.0, decode_token_s=0.1), cores=2)
    assert b.estimate_s == 99.0  # one RL run's time does not rescale another's (response lengths differ)


def test_without_a_probe_the_fixed_rates_are_named(recipe, monkeypatch):
    monkeypatch.setattr(pipeline, "probe_rates", lambda recipe, budget_s=1.5: None)
    stages = plan(recipe())
    assert {s.basis for s in stages} == {pipeline.FIXED_BASIS}
    last = describe_plan(recipe(), stages, {}).splitlines()[-1]
    assert last.endswith("(rough; data, midtrain, rl, eval, report from fixed rates of a 2-core CPU; RL and eval "
                         "times follow response lengths, known only once a run has done them)")


def test_probe_is_skipped_where_it_would_not_stand_for_the_run(recipe, monkeypatch):
    monkeypatch.setattr(pipeline_eta, "_measure", lambda *a: pytest.fail("measured"))
    assert pipeline.probe_rates(recipe("model.init=pretrained", "model.path=some/model")) is None
    monkeypatch.setenv("OCTOTHINKER_ETA_PROBE", "0")
    assert pipeline.probe_rates(recipe()) is None


def test_probe_result_is_cached_per_model(recipe, monkeypatch):
    seen = []
    monkeypatch.setattr(pipeline_eta, "_PROBES", {})
    monkeypatch.setattr(pipeline_eta, "_measure", lambda recipe, vocab, device, budget: seen.append(vocab) or FAKE)
    monkeypatch.delenv("OCTOTHINKER_ETA_PROBE", raising=False)
    assert pipeline.probe_rates(recipe("run.device=cpu")) is FAKE and pipeline.probe_rates(recipe("run.device=cpu")) is FAKE
    pipeline.probe_rates(recipe("run.device=cpu", "model.hidden_size=64"))
    assert len(seen) == 2


def test_run_records_each_stages_work_for_the_next_estimate(recipe, probe, monkeypatch, tmp_path):
    monkeypatch.setattr(pipeline, "_runner", lambda kind: lambda r, s: s.output.mkdir(parents=True, exist_ok=True))
    pipeline.run_pipeline(recipe(), echo=lambda s: None)
    state = json.loads((tmp_path / "runs" / "t" / "pipeline.json").read_text())
    assert state["midtrain:short"]["work"] == {"fixed_s": 5, "train_tokens": 50000}
    assert state["rl:short"]["work"]["decode_calls"] == 60


def test_rl_work_counts_its_validation_points():
    from octothinker.config import RLConfig
    from octothinker.pipeline import _rl_work, _validation_work

    cfg = RLConfig(steps=6, prompts_per_step=2, group_size=4, max_response_tokens=10, validate_every=4,
                   validate_limit=5, validate_samples=2, validate_benchmarks=["toy_gsm"])
    v = _validation_work(cfg)
    assert v == {"decode_calls": 2 * 1 * 10, "decode_tokens": 5 * 3 * 10}
    train = {"decode_calls": 60, "decode_tokens": 480, "train_tokens": 480}
    # points: step 0, step 4, the end (6); without step 0 when another stage computes it
    assert _rl_work(cfg) == {k: train.get(k, 0) + 3 * v.get(k, 0) for k in train}
    assert _rl_work(cfg, step0=False) == {k: train.get(k, 0) + 2 * v.get(k, 0) for k in train}
