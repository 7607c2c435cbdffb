"""The paper recipes: every recipe parses and plans offline; the paper's values; dry-run budget tables; RL-model eval."""
from pathlib import Path

import pytest

from octothinker import budget as B
from octothinker import pipeline
from octothinker.cli import main
from octothinker.config import load_recipe
from octothinker.eval import runner

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
PAPER = ["octothinker_llama32_1b.yaml", "octothinker_llama32_3b.yaml", "paper_ablations_llama32_3b.yaml"]
RL4 = ["gsm8k", "math500", "olympiad_bench", "amc23"]
FEWSHOT13 = ["gsm8k", "math", "math500", "olympiad_bench", "amc23", "sat", "mathqa", "mmlu_stem", "ocw", "svamp", "asdiv",
             "mawps", "tabmwp"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("OCTOTHINKER_ETA_PROBE", "0")


def load(name, tmp_path, *overrides):
    return load_recipe(RECIPES / name, [f"run.root={tmp_path / 'runs'}", *overrides])


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_recipe_parses_and_plans_with_a_budget(path, tmp_path):
    recipe = load(path.name, tmp_path)
    stages = pipeline.plan(recipe)
    text, rows = B.budget_text(recipe, stages)
    assert rows is not None, text
    assert [r.stage for r in rows] == [s.id for s in stages]
    assert not (tmp_path / "runs").exists()


def value(obj, dotted):
    for part in dotted.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


MAIN = [
    ("model.path", "meta-llama/Llama-3.2-{size}"),
    ("data.mixtures.stable.tokens", 200_000_000_000),
    ("data.mixtures.short.tokens", 20_000_000_000),
    ("data.mixtures.long.tokens", 20_000_000_000),
    ("data.mixtures.hybrid.tokens", 20_000_000_000),
    ("data.seq_len", 8192),
    ("midtrain.global_batch_tokens", 4_194_304),
    ("midtrain.stages.stable.schedule", "constant"),
    ("midtrain.stages.long.schedule", "cosine"),
    ("midtrain.stages.hybrid.init_from", "stable"),
    ("rl.prompt_set", "MATH8K"),
    ("rl.engine", "verl"),
    ("rl.prompts_per_step", 128),
    ("rl.group_size", 16),
    ("rl.mini_batch_size", 64 * 16),
    ("rl.temperature", 1.0),
    ("rl.lr", 1e-6),
    ("rl.kl_coef", 0.0),
    ("rl.max_response_tokens", 4096),
    ("rl.template", "complex"),
    ("rl.validate_every", 4),
    ("rl.validate_benchmarks", RL4),
    ("rl.variants.long.length_schedule", {0: 2048, 100: 4096, 200: 8192}),
    ("rl.variants.long.max_response_tokens", 8192),
    ("rl.variants.base.init_from", "base"),
    ("rl.variants.base.template", "simple"),
    ("eval.benchmarks", FEWSHOT13),
    ("eval.max_new_tokens", 1024),
    ("eval.temperature", 0.0),
    ("eval.models", ["base", "stable", "short", "long", "hybrid", "rl-base", "rl-short", "rl-long", "rl-hybrid"]),
    ("eval.rl_benchmarks", RL4),
    ("eval.rl_n_samples", 256),
]


@pytest.mark.parametrize("size", ["1B", "3B"])
@pytest.mark.parametrize("key, expected", MAIN, ids=[k for k, _ in MAIN])
def test_main_recipes_hold_the_papers_values(size, key, expected, tmp_path):
    recipe = load(f"octothinker_llama32_{size.lower()}.yaml", tmp_path)
    assert value(recipe, key) == (expected.format(size=size) if isinstance(expected, str) else expected)


ABLATIONS = [
    ("data.mixtures.fm4p.weights", {"finemath": 1.0}),
    ("data.mixtures.qa_short.weights", {"web_pro": 0.9, "megamath_qa": 0.1}),
    ("data.mixtures.qa_long_if.weights", {"web_pro": 0.89, "openr1": 0.1, "instruct": 0.01}),
    ("midtrain.stages.web_pro_max.tokens", 20_000_000_000),
    ("midtrain.stages.web_pro_max_70b.tokens", 70_000_000_000),
    ("midtrain.stages.web_pro_max_100b.tokens", 100_000_000_000),
    ("midtrain.stages.qa_long.lr", 3e-5),
    ("midtrain.stages.qa_long.schedule", "warmup_cosine"),
    ("midtrain.stages.qa_long.init_from", None),
    ("rl.variants.qa_long_if.max_response_tokens", 8192),
    ("rl.variants.qa_long_if_complex.template", "complex"),
    ("rl.variants.qa_long_if_complex_prog.length_schedule", {0: 2048, 100: 4096, 200: 8192}),
    ("eval.benchmarks", RL4),
]


@pytest.mark.parametrize("key, expected", ABLATIONS, ids=[k for k, _ in ABLATIONS])
def test_ablation_recipe_holds_the_papers_mixtures(key, expected, tmp_path):
    assert value(load("paper_ablations_llama32_3b.yaml", tmp_path), key) == expected


def test_every_ablation_arm_is_20b_from_the_untouched_base_and_rled_alike(tmp_path):
    r = load("paper_ablations_llama32_3b.yaml", tmp_path)
    runs = r.rl.runs()
    assert {src for src, _ in runs.values()} == {"base", *r.midtrain.stages}
    for name, (_, cfg) in runs.items():
        settings = (cfg.prompts_per_step, cfg.group_size, cfg.lr, cfg.kl_coef, cfg.prompt_set)
        assert settings == (128, 16, 1e-6, 0.0, "MATH8K"), name
    budgets = {n: st.tokens or r.data.mixtures[st.mixture].tokens for n, st in r.midtrain.stages.items()}
    assert sorted(set(budgets.values())) == [20_000_000_000, 70_000_000_000, 100_000_000_000]
    assert [n for n, t in budgets.items() if t != 20_000_000_000] == ["web_pro_max_70b", "web_pro_max_100b"]


def row(out: str, stage: str) -> list[str]:
    """The cells of one budget-table line of a dry-run's output."""
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0] == stage and len(cells) > 8:
            return cells
    raise AssertionError(f"no budget row {stage} in:\n{out}")


@pytest.mark.parametrize("size, stable, total", [
    # stage, train tokens, gen, steps, GPUs, memory, FLOPs, GPU-hours, wall hours
    ("1b", ["200B", "-", "47,683", "64", "23.9", "GiB", "1.81e+21", "1,267", "19.8"], ["1,925", "133"]),
    ("3b", ["200B", "-", "47,683", "64", "14.9", "GiB", "4.70e+21", "3,301", "51.6"], ["5,013", "345"]),
])
def test_run_dry_run_prints_the_budget(size, stable, total, tmp_path, capsys):
    assert main(["run", str(RECIPES / f"octothinker_llama32_{size}.yaml"), f"run.root={tmp_path}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "compute budget on H100 (989 TFLOP/s peak dense bf16 per GPU); training at 40% MFU, decoding at 10%; " \
           "mid-training on 64 GPU(s):" in out
    assert row(out, "midtrain:stable")[1:10] == stable
    cells = row(out, "total")
    assert [cells[7], cells[9]] == total and cells[1:3] == ["270B", "25.2B"]
    assert row(out, "rl:long")[1:5] == ["2.94B", "4.51B", "600", "8"]  # 2k/4k/8k thirds; 2 PPO updates a step on 8 GPUs
    assert row(out, "eval:rl-short")[2] == "2.66B" and row(out, "eval:short")[2] == "18.6M"
    assert out.splitlines()[-1].startswith("estimated work: ~")
    assert not (tmp_path / "octothinker_llama32_1b").exists()
    recipe = load(f"octothinker_llama32_{size}.yaml", tmp_path)
    shape = B.shape_of(recipe)
    rows = {r.stage: r for r in B.plan_budget(recipe, pipeline.plan(recipe))}
    assert rows["midtrain:stable"].train_flops == B.train_flops(shape, 47_683 * 4_194_304, 8192)
    assert rows["midtrain:stable"].gpu_hours == pytest.approx(rows["midtrain:stable"].flops / (989e12 * 0.4) / 3600)


def test_budget_flags_change_the_assumptions(tmp_path, capsys):
    args = ["run", str(RECIPES / "octothinker_llama32_1b.yaml"), f"run.root={tmp_path}", "--dry-run",
            "--gpu", "A100", "--gpus", "32", "--mfu", "0.5", "--gen-mfu", "0.2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "compute budget on A100 (312 TFLOP/s peak dense bf16 per GPU); training at 50% MFU, decoding at 20%; " \
           "mid-training on 32 GPU(s):" in out
    flops = B.train_flops(B.pretrained_shape("meta-llama/Llama-3.2-1B"), 47_683 * 4_194_304, 8192)
    assert row(out, "midtrain:stable")[3:5] == ["47,683", "32"]
    assert row(out, "midtrain:stable")[8] == B.hours(flops / (312e12 * 0.5) / 3600)
    assert main(["run", str(RECIPES / "octothinker_llama32_1b.yaml"), "--dry-run", "--gpu", "Z80"]) == 2  # a recipe error
    assert "budget.gpu: unknown GPU 'Z80'" in capsys.readouterr().err


def test_experiment_dry_run_totals_the_ablations(tmp_path, capsys):
    assert main(["experiment", str(RECIPES / "paper_ablations_llama32_3b.yaml"), f"run.root={tmp_path}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert row(out, "midtrain:web_pro_max_100b")[1:4] == ["100B", "-", "23,841"]
    assert row(out, "rl:qa_long_if")[1:3] == ["5.03B", "6.61B"]  # a fixed 8k cap: twice the 4k arms' rollouts
    assert row(out, "total")[6:8] == ["8.69e+21", "6,836"]
    assert "compute budget for all seeds: 8.69e+21 FLOPs, 6,836 GPU-hours on H100 (the per-seed tables above)" in out
    assert "estimated work for all seeds: ~448 h (rough)" in out


def test_eval_stages_carry_the_rl_model_settings(tmp_path):
    r = load("octothinker_llama32_1b.yaml", tmp_path)
    stages = {s.id: s for s in pipeline.plan(r)}
    rl_eval, base_eval = stages["eval:rl-short"].config["eval"], stages["eval:short"].config["eval"]
    keys = ("benchmarks", "n_samples", "temperature", "max_new_tokens")
    assert [rl_eval[k] for k in keys] == [RL4, 256, 1.0, 4096]
    assert [base_eval[k] for k in keys] == [FEWSHOT13, 1, 0.0, 1024]
    assert stages["eval:base"].deps == [] and stages["eval:rl-long"].deps == ["rl:long"]
    changed = {s.id: s.hash for s in pipeline.plan(load("octothinker_llama32_1b.yaml", tmp_path, "eval.rl_n_samples=16"))}
    assert {sid for sid, h in changed.items() if h != stages[sid].hash} == {
        "eval:rl-base", "eval:rl-short", "eval:rl-long", "eval:rl-hybrid", "report"}


@pytest.mark.parametrize("label, benchmarks, n, temperature, max_new, protocol, template", [
    ("short", FEWSHOT13, 1, 0.0, 1024, "fewshot", "simple"),
    ("base", FEWSHOT13, 1, 0.0, 1024, "fewshot", "simple"),
    ("rl-short", RL4, 256, 1.0, 4096, "rl_template", "complex"),
    ("rl-base", RL4, 256, 1.0, 4096, "rl_template", "simple"),
])
def test_run_eval_uses_the_rl_settings_for_rl_models(label, benchmarks, n, temperature, max_new, protocol, template,
                                                     tmp_path, monkeypatch):
    seen = {}

    def fake(model_dir, benches, out_dir, *, protocol, template, sampling, label, **kw):
        seen.update(model_dir=model_dir, benches=list(benches), protocol=protocol, template=template, sampling=sampling)
        return {"model": label, "benchmarks": {}}

    monkeypatch.setattr(runner, "evaluate_model", fake)
    r = load("octothinker_llama32_1b.yaml", tmp_path)
    if label != "base":
        monkeypatch.setattr(runner, "resolve_models", lambda recipe, models: {label: tmp_path / label})
    runner.run_eval(r, models=[label], progress=False)
    s = seen["sampling"]
    assert (seen["benches"], s.n, s.temperature, s.max_new_tokens, seen["protocol"], seen["template"]) == \
        (benchmarks, n, temperature, max_new, protocol, template)
    if label == "base":  # no stage is called base: the untouched pretrained model, by its hub id
        assert str(seen["model_dir"]) == "meta-llama/Llama-3.2-1B"
