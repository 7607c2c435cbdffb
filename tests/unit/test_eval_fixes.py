"""Eval review fixes: command-line options win for rl-* models, the cache checks each problem's content,
a resumed sampled eval draws what an uninterrupted one does, and vLLM without vLLM/GPU is one line."""
import dataclasses
import json
from pathlib import Path

import pytest

from octothinker.cli import build_parser, main
from octothinker.config import ToyWorldConfig, load_recipe, recipe_from_dict
from octothinker.eval import backends, runner
from octothinker.eval.backends import HFBackend, Sampling
from octothinker.eval.benchmarks import load_benchmark
from octothinker.eval.cli import _apply
from octothinker.eval.fixtures import write_fixture_benchmarks
from octothinker.eval.generation import Completion
from octothinker.eval.runner import draw_seed, evaluate_model, model_settings
from octothinker.model.vllm_engine import VLLMEngine, VLLMUnavailable, require_vllm
from octothinker.paths import read_jsonl

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
RL4 = ["gsm8k", "math500", "olympiad_bench", "amc23"]


# 1. command-line options over the recipe's rl_* settings --------------------------------------------------------

def _resolve(tmp_path, label, *argv):
    recipe = load_recipe(RECIPES / "octothinker_llama32_1b.yaml", [f"run.root={tmp_path / 'runs'}"])
    args = build_parser().parse_args(["eval", "recipes/octothinker_llama32_1b.yaml", *argv])
    explicit = _apply(recipe.eval, args, where="recipe: eval")
    ecfg, protocol, template = model_settings(recipe.eval, label, recipe.rl, explicit)
    return (ecfg.benchmarks, ecfg.n_samples, ecfg.temperature, ecfg.max_new_tokens, protocol, template)


CLI = ["--n-samples", "4", "--temperature", "0", "--benchmarks", "gsm8k", "--protocol", "fewshot",
       "--max-new-tokens", "64"]


@pytest.mark.parametrize("label", ["rl-short", "rl-base", "short", "base"])
def test_explicit_options_win_for_every_model(tmp_path, label):
    # (the template is unused under fewshot: neither the prompt nor the cache key reads it)
    assert _resolve(tmp_path, label, *CLI)[:5] == (["gsm8k"], 4, 0.0, 64, "fewshot")


def test_without_options_rl_models_keep_the_recipe_rl_settings(tmp_path):
    assert _resolve(tmp_path, "rl-short") == (RL4, 256, 1.0, 4096, "rl_template", "complex")
    # one option given: only it changes; the RL template rule still picks the run's template
    assert _resolve(tmp_path, "rl-short", "--n-samples", "8") == (RL4, 8, 1.0, 4096, "rl_template", "complex")
    assert _resolve(tmp_path, "rl-short", "--template", "plain")[4:] == ("rl_template", "plain")
    assert _resolve(tmp_path, "rl-short", "--protocol", "rl_template")[4:] == ("rl_template", "complex")


def test_run_eval_passes_the_explicit_settings(tmp_path, monkeypatch):
    seen = {}

    def fake(model_dir, benches, out_dir, *, protocol, template, sampling, label, **kw):
        seen.update(benches=list(benches), protocol=protocol, sampling=sampling)
        return {"model": label, "benchmarks": {}}

    monkeypatch.setattr(runner, "evaluate_model", fake)
    monkeypatch.setattr(runner, "resolve_models", lambda recipe, models: {"rl-short": tmp_path / "m"})
    monkeypatch.setattr(runner, "format_table", lambda summaries: "")
    recipe = load_recipe(RECIPES / "octothinker_llama32_1b.yaml", [f"run.root={tmp_path / 'runs'}"])
    runner.run_eval(recipe, ["rl-short"], progress=False,
                    explicit={"n_samples": 4, "temperature": 0.0, "benchmarks": ["gsm8k"], "protocol": "fewshot",
                              "max_new_tokens": 64})
    s = seen["sampling"]
    assert (seen["benches"], s.n, s.temperature, s.max_new_tokens, seen["protocol"]) == (["gsm8k"], 4, 0.0, 64, "fewshot")


# 2. the cache reuses a row only for the same problem ---------------------------------------------------------

class Oracle:
    """Answers each toy_gsm question with its gold answer in `cfg`'s world."""

    name = "fake"

    def __init__(self, cfg):
        self.gold = {r["question"]: r["answer"] for r in load_benchmark("toy_gsm", None, 5, cfg)}
        self.prompts = []

    def generate(self, prompts, s):
        self.prompts += prompts
        out = []
        for p in prompts:
            q = p.rsplit("Question: ", 1)[1].rsplit("\nAnswer", 1)[0].strip()
            out.append([Completion(f"The answer is \\boxed{{{self.gold.get(q, 'x')}}}.", 5, False)] * s.n)
        return out


def _model(tmp_path):
    m = tmp_path / "model"
    m.mkdir(exist_ok=True)
    (m / "config.json").write_text("{}")
    return m


def test_cache_rows_of_another_toy_world_are_not_reused(tmp_path):
    m, out = _model(tmp_path), tmp_path / "out"
    # same ids (toy_gsm-0000, ...), other problems; the third pass (world 0 again) finds its rows still cached
    for seed, generated in ((0, 5), (1, 5), (0, 0)):
        cfg = dataclasses.replace(ToyWorldConfig(), seed=seed)
        oracle = Oracle(cfg)
        s = evaluate_model(m, ["toy_gsm"], out, protocol="rl_template", limit=5, sampling=Sampling(max_new_tokens=8),
                           toy_cfg=cfg, backend=oracle, progress=False)
        golds = [r["answer"] for r in load_benchmark("toy_gsm", None, 5, cfg)]
        assert [r["gold"] for r in read_jsonl(out / "toy_gsm.jsonl")] == golds
        assert s["benchmarks"]["toy_gsm"]["accuracy"] == 100.0
        assert len(oracle.prompts) == generated


def test_cache_rows_with_another_gold_are_regenerated(tmp_path):
    bench, m, out = write_fixture_benchmarks(tmp_path / "bench"), _model(tmp_path), tmp_path / "out"

    class Twelve:
        name = "fake"

        def __init__(self):
            self.prompts = []

        def generate(self, prompts, s):
            self.prompts += prompts
            return [[Completion("The answer is 12.", 5, False)] * s.n for _ in prompts]

    first = evaluate_model(m, ["gsm8k"], out, benchmark_dir=bench, backend=Twelve(), progress=False)
    assert first["benchmarks"]["gsm8k"]["accuracy"] == pytest.approx(100 / 3)
    path = Path(bench) / "gsm8k" / "test.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["answer"] = "13"  # same id and question, another gold
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    again = Twelve()
    second = evaluate_model(m, ["gsm8k"], out, benchmark_dir=bench, backend=again, progress=False)
    assert len(again.prompts) == 1 and "Tom has 3 bags" in again.prompts[0]
    assert second["benchmarks"]["gsm8k"]["accuracy"] == 0.0
    assert read_jsonl(out / "gsm8k.jsonl")[0]["gold"] == "13"


# 3. a resumed sampled eval draws what an uninterrupted one does --------------------------------------------------

class Recording:
    """An in-process HF backend that records each call's prompt count and seed."""

    name = "hf"

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def generate(self, prompts, s):
        self.calls.append((len(prompts), s.seed))
        return self.inner.generate(prompts, s)


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    return HFBackend(tiny_model_dir, device="cpu", batch_size=2)


def _eval(tiny_model_dir, hf, out, sampling, **kw):
    rec = Recording(hf)
    evaluate_model(tiny_model_dir, ["toy_gsm"], out, protocol="rl_template", limit=5, sampling=sampling, backend=rec,
                   batch_size=2, progress=False, **kw)
    return rec, read_jsonl(out / "toy_gsm.jsonl")


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_interrupted_then_resumed_equals_uninterrupted(tiny_model_dir, hf, tmp_path, monkeypatch, temperature):
    sampling = Sampling(max_new_tokens=6, temperature=temperature, n=3, seed=7)
    full, want = _eval(tiny_model_dir, hf, tmp_path / "full", sampling)
    assert len(want) == 5 and all(len(r["outputs"]) == 3 for r in want)
    if temperature > 0:  # fixed draws of 2 problems, each with its own seed (the first keeps the run's seed)
        assert full.calls == [(2, 7), (2, draw_seed(7, 1)), (1, draw_seed(7, 2))]
        assert len({seed for _, seed in full.calls}) == 3
    else:  # greedy: every call as before, with the run's seed
        assert full.calls == [(2, 7), (2, 7), (1, 7)]

    grade = runner.grade_outputs
    graded = []

    def interrupt(texts, gold, kind, timeout=5.0):  # Ctrl-C halfway through the second draw's rows
        if len(graded) == 3:
            raise KeyboardInterrupt
        graded.append(gold)
        return grade(texts, gold, kind, timeout)

    monkeypatch.setattr(runner, "grade_outputs", interrupt)
    with pytest.raises(KeyboardInterrupt):
        _eval(tiny_model_dir, hf, tmp_path / "resumed", sampling)
    monkeypatch.setattr(runner, "grade_outputs", grade)
    resumed, got = _eval(tiny_model_dir, hf, tmp_path / "resumed", sampling)
    assert got == want
    if temperature > 0:  # the half-cached draw is drawn again whole, then the last one
        assert resumed.calls == [(2, draw_seed(7, 1)), (1, draw_seed(7, 2))]
    else:  # greedy resumes from the first missing problem, as before
        assert resumed.calls == [(2, 7)]
    # a third run reuses everything
    again, rows = _eval(tiny_model_dir, hf, tmp_path / "resumed", sampling)
    assert again.calls == [] and rows == want


def test_draw_seeds():
    assert draw_seed(7, 0) == 7 and draw_seed(0, 0) == 0
    seeds = {draw_seed(s, k) for s in range(4) for k in range(1, 50)}
    assert len(seeds) == 4 * 49 and all(0 <= x < 2 ** 31 for x in seeds)


# 4. vLLM without vLLM or a GPU: one line, before anything loads -------------------------------------------------

def test_vllm_unavailable_is_an_input_error(monkeypatch):
    monkeypatch.setattr(backends, "vllm_installed", lambda: False)
    with pytest.raises(VLLMUnavailable, match="vllm package is not installed"):
        backends.choose_backend("vllm")
    assert issubclass(VLLMUnavailable, ValueError) and issubclass(VLLMUnavailable, RuntimeError)
    monkeypatch.setattr(backends, "vllm_installed", lambda: True)
    monkeypatch.setattr(backends, "cuda_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        backends.choose_backend("vllm")


def test_require_vllm_and_the_engine(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ValueError, match=r"rl.backend: .*`vllm` package"):
        require_vllm("rl.backend")
    with pytest.raises(ValueError, match="/some/model"):
        VLLMEngine("/some/model")


def test_cli_backend_vllm_is_one_line_before_loading(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(backends, "vllm_installed", lambda: False)
    monkeypatch.setattr(runner, "load_benchmark", lambda *a, **k: pytest.fail("benchmark loaded"))
    monkeypatch.setattr(backends, "HFBackend", lambda *a, **k: pytest.fail("model loaded"))
    m = _model(tmp_path)
    rc = main(["eval", str(m), "--benchmarks", "toy_gsm", "--backend", "vllm", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("octothinker eval: backend vllm needs the vllm package"), err
    assert not (tmp_path / "o").exists()
    # a recipe with eval.backend: vllm, and the library calls, fail the same way before any model or data
    recipe = recipe_from_dict({"run": {"name": "r", "root": str(tmp_path / "runs")},
                               "eval": {"benchmarks": ["toy_gsm"], "models": [str(m)], "backend": "vllm"}})
    monkeypatch.setattr(runner, "resolve_models", lambda *a, **k: pytest.fail("models resolved"))
    with pytest.raises(VLLMUnavailable):
        runner.run_eval(recipe, progress=False)
    with pytest.raises(VLLMUnavailable):
        evaluate_model(m, ["toy_gsm"], tmp_path / "o", backend="vllm", progress=False)
