"""rl.variants: extra RL runs with their own init model and changed settings (template, length schedule)."""
import pytest

from octothinker.config import recipe_from_dict
from octothinker.configio import ConfigError
from octothinker.pipeline import plan

BASE = {
    "data": {"sources": {"qa": {"kind": "toy", "corpus": "qa_short"}},
             "mixtures": {"m": {"weights": {"qa": 1.0}, "tokens": 1000}}},
    "midtrain": {"stages": {"long": {"mixture": "m"}}},
}


def _recipe(rl: dict):
    return recipe_from_dict({**BASE, "rl": rl})


def test_runs_merge_init_from_and_variants():
    r = _recipe({"init_from": ["long"], "template": "simple", "length_schedule": {0: 8, 5: 16},
                 "variants": {"long_complex": {"init_from": "long", "template": "complex"},
                              "long_fixed": {"init_from": "long", "length_schedule": {}, "max_response_tokens": 16}}})
    runs = r.rl.runs()
    assert list(runs) == ["long", "long_complex", "long_fixed"]
    assert runs["long"][1].template == "simple" and runs["long_complex"][1].template == "complex"
    assert runs["long_complex"][1].length_schedule == {0: 8, 5: 16}  # unchanged settings are inherited
    assert runs["long_fixed"][1].length_schedule == {} and runs["long_fixed"][1].max_response_tokens == 16
    assert all(cfg.variants == {} for _, cfg in runs.values())


def test_plan_has_one_rl_stage_per_run_and_evals_use_the_variant_template():
    r = _recipe({"init_from": ["long"], "template": "simple",
                 "variants": {"long_complex": {"init_from": "long", "template": "complex"}}})
    stages = {s.id: s for s in plan(r)}
    assert stages["rl:long_complex"].deps == ["midtrain:long"]
    assert stages["rl:long_complex"].config["rl"]["template"] == "complex"
    assert stages["eval:rl-long_complex"].config["rl_template"] == "complex"
    assert stages["eval:rl-long"].config["rl_template"] == "simple"
    assert stages["rl:long"].hash != stages["rl:long_complex"].hash


@pytest.mark.parametrize("rl, needle", [
    ({"init_from": ["long"], "variants": {"long": {"init_from": "long"}}}, "variants.long"),
    ({"variants": {"v": {"template": "complex"}}}, "variants.v.init_from"),
    ({"variants": {"v": {"init_from": "long", "templat": "complex"}}}, "templat"),
    ({"variants": {"v": {"init_from": "long", "steps": 0}}}, "variants.v"),
])
def test_bad_variants_fail_naming_the_key(rl, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        _recipe(rl)


def test_a_run_name_selects_only_that_run_and_a_source_selects_its_runs():
    """Stage rl:short must not also train the variant that starts from short (it has its own stage)."""
    from octothinker.rl.run import select_runs

    runs = {"short": ("short", 1), "short-shuffled": ("short", 2), "base": ("base", 3), "from-dir": ("/m/x", 4)}
    assert list(select_runs(runs, ["short"])) == ["short"]
    assert list(select_runs(runs, ["short-shuffled"])) == ["short-shuffled"]
    assert list(select_runs(runs, ["/m/x"])) == ["from-dir"]
    assert list(select_runs(runs, ["base", "short-shuffled"])) == ["short-shuffled", "base"]


def test_a_control_arm_shares_the_step0_validation_of_its_treatment():
    from octothinker.pipeline import shared_validation

    r = _recipe({"init_from": ["long"], "validate_every": 4, "steps": 8,
                 "variants": {"long_shuffled": {"init_from": "long", "reward_control": "shuffled"},
                              "long_lr": {"init_from": "long", "lr": 1e-4},
                              "long_other_val": {"init_from": "long", "validate_limit": 7},
                              "long_more_steps": {"init_from": "long", "steps": 9}}})
    # reward control and LR do not change what step 0 sees; the validation limit and the trained-on
    # prompt count (memorisation sets) do
    assert shared_validation(r.rl.runs()) == {"long": ["long", "long_shuffled", "long_lr"]}
    stages = {s.id: s for s in plan(r)}
    for name in ("long", "long_shuffled", "long_lr", "long_other_val"):
        assert stages[f"rl:{name}"].deps == ["midtrain:long"]  # nobody waits: the first run computes step 0 at its start
    assert stages["rl:long_lr"].work["decode_tokens"] < stages["rl:long"].work["decode_tokens"]  # step 0 counted once
    assert not any(s.kind == "rlval" for s in stages.values())


def test_the_first_run_of_a_shared_group_computes_step0_and_the_others_defer():
    """Deferring in every run of a group made a treatment and its control, which end together, both compute the
    step-0 point (the demo did, session 10): only the later runs defer."""
    from octothinker.pipeline import defers_step0

    groups = {"short": ["short", "short-shuffled", "short_lr"]}
    table = [("short", False), ("short-shuffled", True), ("short_lr", True), ("long", False), ("base", False)]
    for name, want in table:
        assert defers_step0(name, groups) is want, name
    assert defers_step0("short", {}) is False


def test_the_pipeline_runs_only_the_later_runs_of_a_group_with_step0_deferred(monkeypatch):
    import octothinker.rl.run as rl_run
    from octothinker.pipeline import _runner

    r = _recipe({"init_from": ["long"], "validate_every": 4, "steps": 8,
                 "variants": {"long_shuffled": {"init_from": "long", "reward_control": "shuffled"}}})
    seen = {}
    monkeypatch.setattr(rl_run, "run_rl", lambda recipe, names, defer_step0: seen.update({names[0]: defer_step0}))
    stages = {s.id: s for s in plan(r)}
    for name in ("long", "long_shuffled"):
        _runner("rl")(r, stages[f"rl:{name}"])
    assert seen == {"long": False, "long_shuffled": True}


def test_no_shared_validation_without_validation_or_a_second_run():
    from octothinker.pipeline import shared_validation

    assert shared_validation(_recipe({"init_from": ["long"], "validate_every": 4}).rl.runs()) == {}
    r = _recipe({"init_from": ["long"], "validate_every": 0,
                 "variants": {"long_shuffled": {"init_from": "long", "reward_control": "shuffled"}}})
    assert shared_validation(r.rl.runs()) == {}
