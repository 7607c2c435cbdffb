"""Recipe parsing: every recipe parses, overrides apply, bad input fails naming file, line and key."""
from pathlib import Path

import pytest

from octothinker.config import Recipe, load_recipe, recipe_from_dict
from octothinker.configio import ConfigError, apply_overrides, dump_yaml

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


def test_there_are_recipes():
    assert any(p.name == "toy_demo.yaml" for p in RECIPES)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_recipe_parses(path):
    recipe = load_recipe(path)
    assert isinstance(recipe, Recipe)
    assert recipe.source == str(path)
    # round trip: the resolved YAML parses back to the same recipe
    again = recipe_from_dict(__import__("yaml").safe_load(recipe.to_yaml()) | {"source": None})
    again.source = recipe.source
    assert again == recipe


def write(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


GOOD = """\
data:
  sources:
    a: {kind: toy, corpus: general}
    b: {kind: toy, corpus: qa_short}
  mixtures:
    m: {weights: {a: 0.9, b: 0.1}, tokens: 1000}
midtrain:
  stages:
    s1: {mixture: m, lr: 1.0e-3}
    s2: {mixture: m, lr: 1.0e-3, init_from: s1, schedule: cosine}
"""


def test_overrides_apply_with_types(tmp_path):
    p = write(tmp_path, GOOD)
    r = load_recipe(p, ["midtrain.stages.s1.lr=3e-5", "run.name=try2", "data.seq_len=64", "rl.length_schedule={0: 8, 10: 16}"])
    assert r.midtrain.stages["s1"].lr == pytest.approx(3e-5)
    assert r.run.name == "try2"
    assert r.data.seq_len == 64
    assert r.rl.length_schedule == {0: 8, 10: 16}
    assert list(r.midtrain.stages) == ["s1", "s2"]


def test_numbers_written_with_underscores_and_exponents(tmp_path):
    p = write(tmp_path, GOOD.replace("tokens: 1000", "tokens: 4_000_000"))
    assert load_recipe(p).data.mixtures["m"].tokens == 4_000_000
    assert load_recipe(p, ["data.mixtures.m.tokens=2e6"]).data.mixtures["m"].tokens == 2_000_000


@pytest.mark.parametrize(
    "edit, overrides, expected",
    [
        # (text replacement, overrides, fragments the message must contain)
        (("lr: 1.0e-3}\n  ", "lr: 1.0e-3, lrr: 2}\n  "), [], ["r.yaml:9", "midtrain.stages.s1.lrr", "unknown key"]),
        (("a: 0.9", "a: -0.9"), [], ["r.yaml:6", "data.mixtures.m.weights.a", ">= 0"]),
        (("a: 0.9, b: 0.1", "a: 0, b: 0.0"), [], ["data.mixtures.m.weights", "all weights are zero"]),
        (("tokens: 1000", "tokens: lots"), [], ["r.yaml:6", "data.mixtures.m.tokens", "integer"]),
        (("b: 0.1", "c: 0.1"), [], ["data.mixtures.m.weights.c", "unknown source"]),
        (("mixture: m, lr: 1.0e-3}", "mixture: zz, lr: 1.0e-3}"), [], ["midtrain.stages.s1.mixture", "unknown mixture"]),
        (("schedule: cosine", "schedule: cosin"), [], ["r.yaml:10", "midtrain.stages.s2.schedule", "one of"]),
        (None, ["data.seq_len=abc"], ["data.seq_len", "integer"]),
        (None, ["data.on_bad_record=maybe"], ["data.on_bad_record", "'error'"]),
        (None, ["rl.group_size=1"], ["rl.group_size", ">= 2"]),
        (None, ["midtrain.grad_accum=true"], ["midtrain.grad_accum", "integer"]),
        (None, ["nosuch.key=1"], ["nosuch", "unknown key"]),
        (("kind: toy, corpus: general", "kind: local"), [], ["data.sources.a.path", "required"]),
    ],
)
def test_bad_recipes_name_file_line_and_key(tmp_path, edit, overrides, expected):
    text = GOOD if edit is None else GOOD.replace(*edit)
    assert text != GOOD or edit is None
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_recipe(p, overrides)
    msg = str(exc.value)
    for frag in expected:
        assert frag in msg, msg


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_recipe(tmp_path / "nope.yaml")
    p = write(tmp_path, "data: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_recipe(p)
    p = write(tmp_path, "- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_recipe(p)


def test_stage_order_checked(tmp_path):
    text = GOOD.replace("s1: {mixture: m, lr: 1.0e-3}", "s1: {mixture: m, lr: 1.0e-3, init_from: s2}")
    with pytest.raises(ConfigError, match="must come earlier"):
        load_recipe(write(tmp_path, text))


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="key.sub=value"):
        apply_overrides({}, ["novalue"])


def test_section_hash_tracks_only_named_sections(tmp_path):
    p = write(tmp_path, GOOD)
    a = load_recipe(p)
    b = load_recipe(p, ["rl.steps=7"])
    c = load_recipe(p, ["data.seq_len=64"])
    assert a.section_hash("data") == b.section_hash("data")
    assert a.section_hash("data") != c.section_hash("data")
    assert "seq_len: 64" in dump_yaml(c)


def test_a_toy_benchmark_of_another_world_version_fails_before_any_stage():
    with pytest.raises(ConfigError, match=r"eval.benchmarks: 'toy_depth4' is not a benchmark of toy world v1"):
        recipe_from_dict({"toyworld": {"version": 1}, "eval": {"benchmarks": ["toy_gsm", "toy_depth4"]}})
    with pytest.raises(ConfigError, match=r"rl.validate_benchmarks: 'toy_depth4'"):
        recipe_from_dict({"toyworld": {"version": 1}, "rl": {"validate_benchmarks": ["toy_depth4"]}})
    assert recipe_from_dict({"eval": {"benchmarks": ["toy_depth4"]}}).eval.benchmarks == ["toy_depth4"]  # v2


def test_fmt_s_without_an_estimate():
    from octothinker.pipeline_book import fmt_s

    assert (fmt_s(float("inf")), fmt_s(float("nan")), fmt_s(61), fmt_s(5)) == ("?", "?", "1m01s", "5s")
