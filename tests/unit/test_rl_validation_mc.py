"""RL validation of multiple-choice and mixed-kind benchmarks (eval's RL-template prompts, per-record grading),
the toy protocol pinned unchanged, and the memorisation pair's one condition (trainer, budget, warning)."""
import hashlib
import json
from types import SimpleNamespace

import pytest

from octothinker.config import RLConfig, ToyWorldConfig
from octothinker.rl import validation as V
from octothinker.rl.templates import render, stop_strings

MC = {"id": "mc0", "question": "Which is prime?", "choices": ["4", "6", "7", "9"], "answer": "C", "kind": "mc"}


@pytest.fixture
def calls(monkeypatch):
    """Fake `generate` (a deterministic text per prompt) and `grade_many` (records every call)."""
    import octothinker.eval.generation as gen
    import octothinker.grading as grading

    log = []

    def fake_generate(model, tok, prompts, max_new, temperature, top_p, n, stop, seed=0, batch_size=32, progress=False):
        log.append(["gen", list(prompts), max_new, temperature, top_p, n, list(stop), seed, batch_size])
        return [[SimpleNamespace(text=f"so \\boxed{{{(len(p) + j) % 7}}}", n_tokens=(len(p) + j) % 5 + 1, truncated=False)
                 for j in range(n)] for p in prompts]

    def fake_grade(texts, golds, kind, timeout):
        log.append(["grade", list(texts), [str(g) for g in golds], kind, timeout])
        return [SimpleNamespace(correct=f"{{{g}}}" in t) for t, g in zip(texts, golds)]

    monkeypatch.setattr(gen, "generate", fake_generate)
    monkeypatch.setattr(grading, "grade_many", fake_grade)
    return log


def _toy_sets():
    from octothinker.eval.benchmarks import load_benchmark
    from octothinker.toyworld import rl_prompts

    toy = ToyWorldConfig(version=2)
    sets = {b: load_benchmark(b, limit=12, toy_cfg=toy) for b in ("toy_gsm", "toy_math", "toy_olympiad", "toy_depth4")}
    sets["rl_seen"] = rl_prompts(toy)[:6]
    return sets


# digests of every generate / grade_many call and the summary, recorded with the code before per-record kinds
TOY_DIGESTS = {"simple": "8bfb67814ee96b355918c2eb0db5edd545675b0f09e950d9722df742c880648c",
               "complex": "33d212f75028defe64da00136e9c2230d858c049f2c5b19387acfd5a18c3dc5e",
               "plain": "cb04226fecf5c646043c0587f8f638e4d0f0733150ec55fc098e6e0e90869873"}
TOY_KEY = "e9e065bf1eb96647e5b3ab71"


@pytest.mark.parametrize("template", ["simple", "complex", "plain"])
def test_toy_validation_protocol_is_unchanged(calls, template):
    """Toy benchmarks and RL prompts: the same prompts (`render(template, question)`), one grading call per set
    with its one kind, the same draws and summaries as before, and the same step-0 cache key."""
    sets = _toy_sets()
    cfg = RLConfig(template=template, validate_samples=3, max_response_tokens=40)
    out = V.validate_policy(None, None, sets, cfg, stop_strings(template), 11)
    assert hashlib.sha256(json.dumps([calls, out], sort_keys=True).encode()).hexdigest() == TOY_DIGESTS[template]
    gens = [c for c in calls if c[0] == "gen"]
    grades = [c for c in calls if c[0] == "grade"]
    assert len(gens) == len(grades) == 2 * len(sets)  # greedy + sampled per set, one grading call each
    for (name, recs), greedy in zip(sets.items(), gens[::2]):
        assert greedy[1] == [render(template, r["question"]) for r in recs]
    assert [g[3] for g in grades] == ["math"] * 8 + [cfg.answer_kind] * 2
    assert V._protocol(sets, cfg.answer_kind) is None


def test_toy_step0_cache_key_is_unchanged():
    import torch

    m = torch.nn.Linear(3, 2)
    with torch.no_grad():
        m.weight.copy_(torch.arange(6.0).reshape(2, 3))
        m.bias.copy_(torch.tensor([0.5, -1.0]))
    assert V.validation_key(m, _toy_sets(), RLConfig(), stop_strings("simple"), 11) == TOY_KEY


def test_multiple_choice_records_show_their_options(calls):
    from octothinker.eval.prompts import rl_prompt

    cfg = RLConfig(template="simple", validate_samples=2, answer_kind="math")
    V.validate_policy(None, None, {"mmlu_stem": [MC]}, cfg, stop_strings("simple"), 3)
    prompt = calls[0][1][0]
    assert prompt == rl_prompt(MC, "simple")[0]
    assert "Answer choices:\n(A) 4\n(B) 6\n(C) 7\n(D) 9" in prompt
    assert [c[3] for c in calls if c[0] == "grade"] == ["mc", "mc"]  # its own kind, not rl.answer_kind


def test_mixed_kinds_are_graded_per_record_in_order(calls):
    recs = [{"question": "a", "answer": "1", "kind": "gsm"}, {"question": "b", "answer": "2", "kind": "math"},
            dict(MC, answer="3"), {"question": "d", "answer": "4", "kind": "gsm"}, {"question": "e", "answer": "5"}]
    cfg = RLConfig(template="plain", validate_samples=2, answer_kind="math")
    texts = ["\\boxed{1}", "\\boxed{0}", "\\boxed{3}", "\\boxed{4}", "\\boxed{5}"]
    verdicts = V.grade_by_kind(texts, [r["answer"] for r in recs], V.record_kinds(recs, cfg.answer_kind), 1.0)
    assert [v.correct for v in verdicts] == [True, False, True, True, True]
    assert [(c[3], c[2]) for c in calls] == [("gsm", ["1", "4"]), ("math", ["2", "5"]), ("mc", ["3"])]
    calls.clear()
    out = V.validate_policy(None, None, {"tabmwp": recs}, cfg, stop_strings("plain"), 3)
    grades = [c for c in calls if c[0] == "grade"]
    assert [c[3] for c in grades] == ["gsm", "math", "mc"] * 2  # greedy, then sampled (k rows per record)
    assert grades[3][2] == ["1", "1", "4", "4"] and grades[5][2] == ["3", "3"]
    assert set(out) >= {"val/tabmwp/accuracy", "val/tabmwp/pass@2"}
    assert V._protocol({"tabmwp": recs}, "math") is not None and V._protocol({"m": [MC]}, "math") is not None


def test_fixture_benchmarks_through_the_loaders(tmp_path):
    """The project's loaders on eval's fixture folder: every MC benchmark's prompt carries its options."""
    from octothinker.eval.benchmarks import load_benchmark
    from octothinker.eval.fixtures import write_fixture_benchmarks
    from octothinker.eval.prompts import question_text

    root = write_fixture_benchmarks(tmp_path)
    for name in ("mmlu_stem", "sat", "mathqa", "gpqa"):
        recs = load_benchmark(name, root)
        prompts = V.validation_prompts(recs, "simple")
        assert all(r.get("choices") and "Answer choices:\n(A) " in p for r, p in zip(recs, prompts)), name
        assert V.record_kinds(recs, "math") == ["mc"] * len(recs)
    recs = load_benchmark("tabmwp", root)
    assert V.validation_prompts(recs, "plain") == [render("plain", question_text(r)) for r in recs]
    assert len(set(V.record_kinds(recs, "math"))) > 1  # tabmwp mixes free-answer and multiple-choice records


# ------------------------------------------------------------------ the memorisation pair's condition
def test_memorisation_fits_and_problems():
    assert V.memorisation_fits(768, 64, 2000) and V.memorisation_fits(1936, 64, 2000)
    assert not V.memorisation_fits(1937, 64, 2000) and not V.memorisation_fits(4, 0, 100)
    assert V.memorisation_fits(10, 5, None)  # unknown size: counted
    toy = ToyWorldConfig()
    c = RLConfig(steps=24, prompts_per_step=32, validate_rl_prompts=64)  # the toy demo's run
    assert V.planned_rl_prompts(c, toy) == 2000 and V.memorisation_problems(c, toy) == 128
    short = RLConfig(steps=100, prompts_per_step=32, validate_rl_prompts=64)
    assert V.memorisation_problems(short, toy) == 0
    assert V.memorisation_problems(short, ToyWorldConfig(rl_prompts=4000)) == 128
    assert V.planned_rl_prompts(RLConfig(prompt_set="MATH8K"), toy) == 8523
    assert V.memorisation_problems(RLConfig(steps=300, prompts_per_step=32, validate_rl_prompts=64, prompt_set="MATH8K")) == 0
    assert V.planned_rl_prompts(RLConfig(prompts_path="p.jsonl"), toy) is None
    assert V.memorisation_problems(RLConfig(steps=1, prompts_per_step=2, validate_rl_prompts=5)) == 2 + 5


def test_memorisation_helpers_need_no_torch():
    import subprocess
    import sys

    code = ("import sys; from octothinker.rl.validation import memorisation_problems; from octothinker.config import "
            "RLConfig, ToyWorldConfig; memorisation_problems(RLConfig(prompt_set='MATH8K'), ToyWorldConfig()); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_memorisation_note_and_the_trainer_warning(tmp_path, capsys):
    from octothinker.rl.trainer import RLTrainer

    from test_rl_trainer import cfg, last_digit_grader, prompts, tiny_model, word_tokenizer

    c = RLConfig(steps=4, prompts_per_step=4, validate_rl_prompts=5)
    note = V.memorisation_note(c, 20)
    assert note == ("rl.validate_rl_prompts=5 is ignored: the run trains on 4 steps x 4 prompts = 16 of the 20 prompts, "
                    "leaving 4 never-used ones (needs 5); the memorisation check (val/rl_seen, val/rl_fresh) is off "
                    "for this run")
    assert V.memorisation_note(c, 21) is None and V.memorisation_note(RLConfig(validate_rl_prompts=0), 1) is None
    tok = word_tokenizer()
    bench = {"b": [{"question": "show 3", "answer": "3"}]}
    c = cfg(steps=1, validate_every=1, validate_limit=1, validate_samples=0, max_response_tokens=2, validate_rl_prompts=5)
    tr = RLTrainer(c, tiny_model(tok), tok, prompts(), tmp_path / "run", benchmarks=bench, grader=last_digit_grader)
    tr.train()
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "validate_rl_prompts" in ln]
    assert lines == ["rl run: rl.validate_rl_prompts=5 is ignored: the run trains on 1 steps x 4 prompts = 4 of the 8 "
                     "prompts, leaving 4 never-used ones (needs 5); the memorisation check (val/rl_seen, val/rl_fresh) "
                     "is off for this run"]
    metrics = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in metrics] == [0, 1] and not any("val/rl_seen/accuracy" in r for r in metrics)
    assert all("val/b/accuracy" in r for r in metrics)
