"""Recipe checks that must fail at load, naming file, line and key: model sizes, RL run names, model and
benchmark names that cannot resolve, and str fields keeping the text YAML would read as a number."""
import pytest

from octothinker.config import load_recipe, recipe_from_dict
from octothinker.configio import ConfigError
from octothinker.eval.benchmarks import ALL

RECIPE = """\
run: {{name: r, root: {root}}}
data:
  sources:
    a: {{kind: toy, corpus: general}}
  mixtures:
    m: {{weights: {{a: 1.0}}, tokens: 1000}}
midtrain:
  stages:
    base: {{mixture: m}}
    stable: {{mixture: m, init_from: base}}
    short: {{mixture: m, init_from: stable}}
rl:
  init_from: [short]
  variants:
    ctl: {{init_from: short, reward_control: shuffled}}
eval:
  benchmarks: [toy_gsm]
  models: [base, short, rl-short, rl-ctl]
"""
KNOWN = ", ".join(ALL)
RL_TWICE = ("both make RL run 'short' (a directory's run is named by its last part); keep one, or start the other as "
            "an rl.variants entry")


@pytest.fixture
def recipe_file(tmp_path, monkeypatch):
    """The recipe above in an otherwise empty working directory holding one checkpoint-like directory, `ckpt`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()
    p = tmp_path / "r.yaml"
    p.write_text(RECIPE.format(root=tmp_path / "runs"))
    return p


BAD = [
    # defect 1: sizes are checked > 0 before the divisibility checks divide by them
    (["model.num_heads=0"], "model.num_heads: must be > 0, got 0"),
    (["model.num_kv_heads=0"], "model.num_kv_heads: must be > 0, got 0"),
    (["model.hidden_size=0"], "model.hidden_size: must be > 0, got 0"),
    (["model.intermediate_size=-1"], "model.intermediate_size: must be > 0, got -1"),
    (["model.num_layers=0"], "model.num_layers: must be > 0, got 0"),
    (["model.max_position_embeddings=0"], "model.max_position_embeddings: must be > 0, got 0"),
    (["model.num_heads=3"], "model.num_heads: 3 must divide hidden_size 128"),
    (["model.num_kv_heads=3"], "model.num_kv_heads: 3 must divide num_heads 4"),
    # defect 2: two init_from entries making one RL run
    (["rl.init_from=[short, /ckpt/branch/short]"], f":13: rl.init_from[1]: '/ckpt/branch/short' and 'short' {RL_TWICE}"),
    (["rl.init_from=[/a/short, /b/short]"], f":13: rl.init_from[1]: '/b/short' and '/a/short' {RL_TWICE}"),
    (["rl.init_from=[short, short]"], ":13: rl.init_from[1]: 'short' is listed twice"),
    # defect 3: names that cannot resolve
    (["midtrain.stages.short.init_from=stabel"],
     ":11: midtrain.stages.short.init_from: 'stabel' is neither an earlier stage (base, stable) nor an existing directory"),
    (["midtrain.stages.base.init_from=base"],
     ":9: midtrain.stages.base.init_from: stage 'base' must come earlier"),
    (["midtrain.stages.stable.init_from=bsae"],
     ":10: midtrain.stages.stable.init_from: 'bsae' is neither an earlier stage (base) nor an existing directory"),
    (["rl.init_from=[shrt]"],
     ":13: rl.init_from[0]: 'shrt' is neither a mid-training stage (base, stable, short) nor an existing directory "
     "or hub id"),
    (["rl.variants.ctl.init_from=shrot"],
     ":15: rl.variants.ctl.init_from: 'shrot' is neither a mid-training stage (base, stable, short) nor an existing "
     "directory or hub id"),
    (["eval.models=[base, rl-nope]"],
     ":18: eval.models[1]: 'rl-nope' is not a model of this recipe (base, stable, short, rl-short, rl-ctl) nor an "
     "existing directory"),
    (["eval.models=[stabel]"],
     ":18: eval.models[0]: 'stabel' is not a model of this recipe (base, stable, short, rl-short, rl-ctl) nor an "
     "existing directory"),
    (["eval.models=[rl-stable]"],  # a stage that no RL run starts from
     ":18: eval.models[0]: 'rl-stable' is not a model of this recipe (base, stable, short, rl-short, rl-ctl) nor an "
     "existing directory"),
    (["eval.benchmarks=[toy_gsm, gsm8kk]"], f":17: eval.benchmarks[1]: unknown benchmark 'gsm8kk'; known: {KNOWN}"),
    (["eval.rl_benchmarks=[gsm8kk]"], f":16: eval.rl_benchmarks[0]: unknown benchmark 'gsm8kk'; known: {KNOWN}"),
    (["rl.validate_benchmarks=[gsm8k, gsm8kk]"],
     f":12: rl.validate_benchmarks[1]: unknown benchmark 'gsm8kk'; known: {KNOWN}"),
    (["eval.batch_size=0"], ":16: eval.batch_size: must be > 0, got 0"),
    (["eval.max_new_tokens=0"], ":16: eval.max_new_tokens: must be > 0, got 0"),
    # defect 4 leaves booleans and null an error for a str field (as in a file)
    (["run.name=true"], ":1: run.name: expected a string, got True"),
    (["run.name=null"], ":1: run.name: expected a string, got None"),
]


@pytest.mark.parametrize("overrides, expected", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_values_fail_at_load_naming_the_key(recipe_file, overrides, expected):
    with pytest.raises(ConfigError) as exc:
        load_recipe(recipe_file, overrides)
    where = str(recipe_file) if expected.startswith(":") else f"{recipe_file}: "
    assert str(exc.value) == where + expected


GOOD = [
    # special names, existing directories, paths and hub ids the runtime accepts
    ["rl.init_from=[base, short, ckpt, /abs/x/short2]"],
    ["rl.variants.ctl.init_from=meta-llama/Llama-3.2-1B"],
    ["midtrain.stages.short.init_from=ckpt"],
    ["midtrain.stages.short.init_from=/somewhere/stable/step_40"],
    ["eval.models=[meta-llama/Llama-3.2-1B, ckpt, stable, rl-short, rl-ctl]"],
    ["eval.models=[]"],
    # benchmark names as the eval loader reads them (case, aliases)
    ["eval.benchmarks=[GSM8K, minerva, math-500, toy_gsm]", "eval.rl_benchmarks=[gpqa_diamond]",
     "rl.validate_benchmarks=[toy_math]"],
    ["eval.batch_size=1", "eval.max_new_tokens=1"],
]


@pytest.mark.parametrize("overrides", GOOD, ids=[" ".join(o) for o in GOOD])
def test_resolvable_names_load(recipe_file, overrides):
    load_recipe(recipe_file, overrides)


def test_names_already_under_the_run_directory_load(recipe_file, tmp_path):
    """A stage or RL run trained earlier in this run directory resolves at run time, so it loads."""
    (tmp_path / "runs" / "r" / "midtrain" / "older").mkdir(parents=True)
    (tmp_path / "runs" / "r" / "rl" / "older").mkdir(parents=True)
    r = load_recipe(recipe_file, ["rl.init_from=[older]", "eval.models=[older, rl-older]"])
    assert r.rl.init_from == ["older"] and r.eval.models == ["older", "rl-older"]


@pytest.mark.parametrize("model, expected", [
    ({}, "<dict>: eval.models[0]: 'base' is not a model of this recipe (s, rl-base, rl-s) nor an existing directory (base is a "
         "model only with model.init: pretrained, or as a stage)"),
    ({"init": "pretrained", "path": "meta-llama/Llama-3.2-1B"}, None),
])
def test_eval_base_needs_a_pretrained_model_or_a_base_stage(tmp_path, monkeypatch, model, expected):
    monkeypatch.chdir(tmp_path)
    d = {"run": {"root": str(tmp_path / "runs")}, "model": model,
         "data": {"sources": {"a": {"kind": "toy", "corpus": "general"}}, "mixtures": {"m": {"weights": {"a": 1}}}},
         "midtrain": {"stages": {"s": {"mixture": "m"}}}, "rl": {"init_from": ["base"], "variants": {"s": {"init_from": "s"}}},
         "eval": {"models": ["base"]}}
    if expected is None:
        assert recipe_from_dict(d).eval.models == ["base"]
    else:
        with pytest.raises(ConfigError) as exc:
            recipe_from_dict(d)
        assert str(exc.value) == expected


def test_the_rl_runs_of_distinct_entries_stay_distinct(recipe_file):
    r = load_recipe(recipe_file, ["rl.init_from=[short, /ckpt/branch/short2]"])
    assert list(r.rl.runs()) == ["short", "short2", "ctl"]


def test_a_zero_head_count_is_one_line_from_the_cli(recipe_file, capsys):
    from octothinker.cli import main

    assert main(["data", "build", str(recipe_file), "model.num_heads=0"]) == 2
    out, err = capsys.readouterr()
    assert err == f"octothinker: recipe error: {recipe_file}: model.num_heads: must be > 0, got 0\n"
    assert not (recipe_file.parent / "runs").exists()


# ----------------------------------------------------------------------------- str fields keep what was written

STR_OVERRIDES = [
    ("run.name=010", "010"),  # not the octal 8
    ("run.name=12:30", "12:30"),  # not the sexagesimal 750
    ("run.name=0x1F", "0x1F"),  # not 31
    ("run.name=2.50", "2.50"),  # not 2.5
    ("run.name=1e3", "1e3"),
    ("run.name=7", "7"),
    ("run.name=2024-01-01", "2024-01-01"),  # not a date (an error before)
    ("run.name='010'", "010"),
    ("run.name=try2", "try2"),
]


@pytest.mark.parametrize("override, name", STR_OVERRIDES, ids=[o for o, _ in STR_OVERRIDES])
def test_a_str_override_keeps_its_text(recipe_file, override, name):
    assert load_recipe(recipe_file, [override]).run.name == name
    assert recipe_from_dict({}, [override]).run.name == name


@pytest.mark.parametrize("override, field, value", [
    ("rl.prompts_path=010", lambda r: r.rl.prompts_path, "010"),  # Optional[str]
    ("rl.prompts_path=null", lambda r: r.rl.prompts_path, None),
    ("report.title=2.50", lambda r: r.report.title, "2.50"),
    ("data.sources.a.fields={q: 010, s: 1.50}", lambda r: r.data.sources["a"].fields, {"q": "010", "s": "1.50"}),
    ("rl.variants.ctl.prompt_set=08", lambda r: r.rl.variants["ctl"].prompt_set, "08"),
    ("data.seq_len=64", lambda r: r.data.seq_len, 64),  # numeric fields: YAML numbers as before
    ("rl.length_schedule={0: 8, 10: 16}", lambda r: r.rl.length_schedule, {0: 8, 10: 16}),
], ids=lambda x: x if isinstance(x, str) else "")
def test_overrides_of_other_fields(recipe_file, override, field, value):
    if override.startswith("rl.variants.ctl.prompt_set"):
        with pytest.raises(ConfigError, match="unknown RL prompt set '08'"):  # the text reaches validate()
            load_recipe(recipe_file, [override])
        return
    assert field(load_recipe(recipe_file, [override])) == value


FILE = """\
run: {name: 010, root: runs}
data:
  sources:
    a: {kind: toy, corpus: general, fields: {q: 1.50}}
  mixtures:
    m: {weights: {a: 1.0}, tokens: 1000}
midtrain:
  stages:
    010: {mixture: m}
    s: {mixture: m, init_from: 010}
rl:
  init_from: [010]
eval:
  models: [010, 12:30, rl-010]
report: {title: 0x1F}
"""


def test_a_recipe_file_str_value_is_its_source_text(tmp_path, monkeypatch):
    """In a file too a str field takes an unquoted number as written (`name: 010` is "010"), as do mapping keys
    of str-keyed sections (a stage called 010) and str list items."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "12:30").mkdir()
    p = tmp_path / "r.yaml"
    p.write_text(FILE)
    r = load_recipe(p)
    assert (r.run.name, r.report.title, r.data.sources["a"].fields) == ("010", "0x1F", {"q": "1.50"})
    assert list(r.midtrain.stages) == ["010", "s"] and r.midtrain.stages["s"].init_from == "010"
    assert r.rl.init_from == ["010"] and list(r.rl.runs()) == ["010"]
    assert r.eval.models == ["010", "12:30", "rl-010"]
    # an override replaces the file's value and its text
    assert load_recipe(p, ["report.title=5"]).report.title == "5"
    assert load_recipe(p, ["report={title: 2.50}"]).report.title == "2.50"
    assert load_recipe(p, ["eval.models=[s, 010]"]).eval.models == ["s", "010"]
    # a bad name still names its file line: the stage key's text lines up with the line index
    with pytest.raises(ConfigError) as exc:
        load_recipe(p, ["midtrain.stages.010.lr=0"])
    assert str(exc.value) == f"{p}:9: midtrain.stages.010.lr: must be > 0, got 0.0"
