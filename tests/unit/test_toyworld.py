"""Toy world: determinism, corpus schemas and content, difficulty grading, split disjointness."""
from __future__ import annotations

import dataclasses
import random
import re

import pytest

from octothinker.config import ToyWorldConfig
from octothinker.toyworld import (BENCHMARKS, CORPORA, Problem, benchmark, benchmark_names, check_disjoint, corpus,
                                  fewshot_exemplars)
from octothinker.toyworld import rl_prompts, split_of, v2
from octothinker.toyworld.disjoint import key_from_solution, ngrams, record_text
from octothinker.toyworld.problems import SIZES, TRAIN_MIX, apply, difficulty, random_problem, short_solution
from octothinker.toyworld.world import corpus_items, corpus_names

SMALL = ToyWorldConfig(general_docs=60, math_web_docs=150, qa_docs=150, instruct_docs=100, benchmark_size=40,
                       rl_prompts=60)
SMALL_V1 = dataclasses.replace(SMALL, version=1)  # the old world: tests of v1 facts are pinned to it
VERSIONS = [1, 2]  # generic properties hold in both worlds


def _small(version: int, **changes) -> ToyWorldConfig:
    return dataclasses.replace(SMALL, version=version, **changes)


# (version, corpus) for every corpus each version has (`qa_direct` exists only from v2 on)
VERSION_CORPORA = [(v, name) for v in VERSIONS for name in corpus_names(_small(v))]
EQ = re.compile(r"(\d+) ?([+\-*/]) ?(\d+) ?= ?(\d+)")


def _check(a: int, op: str, b: int, c: int) -> bool:
    return {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b and a % b == 0 else None}[op] == c


def _equations(text: str) -> list[tuple[int, str, int, int]]:
    return [(int(a), op, int(b), int(c)) for a, op, b, c in EQ.findall(text.replace("&nbsp;", " "))]


# ----------------------------------------------------------------------------- problems


@pytest.mark.parametrize(
    "start, steps, answer, key, eqs",
    [
        (7, (("+", 5), ("-", 3)), 9, "7|+5|-3", ["7 + 5 = 12", "12 - 3 = 9"]),
        (4, (("*", 3),), 12, "4|*3", ["4 * 3 = 12"]),
        (20, (("-", 20), ("+", 1), ("*", 2)), 2, "20|-20|+1|*2", ["20 - 20 = 0", "0 + 1 = 1", "1 * 2 = 2"]),
    ],
)
def test_problem_answer_key_and_equations(start, steps, answer, key, eqs):
    p = Problem(start, steps)
    assert (p.answer, p.key, p.equations()) == (answer, key, eqs)
    assert Problem.from_key(key) == p
    assert short_solution(p).splitlines() == eqs + [f"The answer is \\boxed{{{answer}}}."]


@pytest.mark.parametrize("steps, size, level", [(1, "small", 1), (2, "small", 2), (3, "medium", 4),
                                                (3, "large", 5), (5, "large", 5), (4, "small", 4)])
def test_difficulty_table(steps, size, level):
    assert difficulty(steps, size) == level


def test_apply_rejects_unknown_op():
    with pytest.raises(ValueError, match="unknown operation"):
        apply(1, "/", 2)


@pytest.mark.parametrize("size", list(SIZES))
def test_random_problems_stay_in_range(size):
    rng = random.Random(1)
    s = SIZES[size]
    for _ in range(300):
        p = random_problem(rng, rng.randint(1, 5), size)
        assert all(0 <= v <= s.max_value for v in p.values())
        assert s.start[0] <= p.start <= s.start[1]
        assert all(op in s.ops for op, _ in p.steps)


def test_split_is_a_seeded_function_of_the_key():
    keys = [random_problem(random.Random(i), 3, "small").key for i in range(400)]
    a = [split_of(k, 0, 0.1, 0.1) for k in keys]
    assert a == [split_of(k, 0, 0.1, 0.1) for k in keys]
    assert a != [split_of(k, 1, 0.1, 0.1) for k in keys]
    shares = {s: a.count(s) / len(a) for s in ("train", "benchmark", "rl")}
    assert 0.7 < shares["train"] < 0.9 and 0.04 < shares["benchmark"] < 0.17 and 0.04 < shares["rl"] < 0.17


# ----------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("version, name", VERSION_CORPORA, ids=[f"v{v}-{n}" for v, n in VERSION_CORPORA])
def test_corpus_deterministic_per_seed(name, version):
    cfg = _small(version)
    first = list(corpus(name, cfg, 20))
    assert first == list(corpus(name, cfg, 20))
    assert first != list(corpus(name, ToyWorldConfig(seed=1, version=version), 20))
    assert len(list(corpus(name, cfg))) > 0


def test_every_corpus_of_each_version_is_covered():
    assert {n for v, n in VERSION_CORPORA if v == 2} == set(CORPORA)  # v2 has every corpus, qa_direct included
    assert {n for v, n in VERSION_CORPORA if v == 1} == set(CORPORA) - {"qa_direct", "qa_long_chat"}


@pytest.mark.parametrize("version", VERSIONS)
def test_corpus_names_follow_corpora_order(version):
    names = corpus_names(_small(version))
    assert names == [n for n in CORPORA if n in names] and len(set(names)) == len(names)
    assert ("qa_direct" in names) is (version >= 2)


@pytest.mark.parametrize("version", VERSIONS)
def test_benchmarks_rl_fewshot_deterministic(version):
    cfg = _small(version)
    other = ToyWorldConfig(seed=3, benchmark_size=40, rl_prompts=60, version=version)
    for name in benchmark_names(cfg):
        assert benchmark(name, cfg) == benchmark(name, cfg)
        assert benchmark(name, cfg) != benchmark(name, other)
    assert rl_prompts(cfg) == rl_prompts(cfg) != rl_prompts(other)
    assert fewshot_exemplars(4, cfg) == fewshot_exemplars(4, cfg)


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_names_are_errors(version):
    cfg = _small(version)
    with pytest.raises(KeyError, match="unknown toy corpus"):
        next(corpus("dclm", cfg))
    with pytest.raises(KeyError, match="unknown toy benchmark"):
        benchmark("gsm8k", cfg)


def test_toy_depth4_is_v2_only():
    assert benchmark_names(SMALL_V1) == ("toy_gsm", "toy_math", "toy_olympiad")
    assert benchmark_names(_small(2)) == BENCHMARKS
    with pytest.raises(KeyError, match=r"'toy_depth4' is not in toy world v1.*toyworld.version: 2"):
        benchmark("toy_depth4", SMALL_V1)


def test_qa_direct_is_unknown_in_v1():
    for fn in (corpus, corpus_items):
        with pytest.raises(KeyError, match=r"unknown toy corpus 'qa_direct'.*v1"):
            next(fn("qa_direct", SMALL_V1))


# ----------------------------------------------------------------------------- corpus content


@pytest.mark.parametrize("version", VERSIONS)
def test_schemas_match_template_kind(version):
    for name in corpus_names(_small(version)):
        kind = CORPORA[name]
        for rec in corpus(name, _small(version), 30):
            if kind == "web":
                assert set(rec) == {"text"} and rec["text"].strip()
            elif kind == "qa":
                assert set(rec) == {"problem", "solution"} and re.search(r"\\boxed\{\d+\}\.$", rec["solution"])
            else:
                roles = [m["role"] for m in rec["messages"]]
                assert roles == ["user", "assistant"] * (len(roles) // 2) and roles
                assert all(m["content"] for m in rec["messages"])


@pytest.mark.parametrize("version", VERSIONS)
def test_general_has_no_math(version):
    for rec in corpus("general", _small(version)):
        assert not re.search(r"[0-9=\\]", rec["text"]), rec["text"]


@pytest.mark.parametrize("restate", [False, True])
def test_qa_short_answer_is_gold_and_every_step_correct(restate):  # v1: every record worked, restate optional
    for rec in corpus("qa_short", dataclasses.replace(SMALL_V1, restate_steps=restate)):
        lines = rec["solution"].splitlines()
        eqs = _equations(rec["solution"])
        assert len(eqs) == len(lines) - 1 - restate and all(_check(*e) for e in eqs)
        if restate:  # the start sentence, then each step's sentence before its equation
            sentences = re.split(r"(?<=[.?]) ", rec["problem"])
            assert lines[0] == sentences[0]
            assert [ln.split(":")[0] for ln in lines[1:-1]] == [x.rstrip(".") for x in sentences[1:-1]]
        assert all(eqs[i][3] == eqs[i + 1][0] for i in range(len(eqs) - 1))  # a running chain
        assert lines[-1] == f"The answer is \\boxed{{{eqs[-1][3]}}}."
        nums = [int(x) for x in re.findall(r"\d+", rec["problem"])]
        assert nums == [eqs[0][0]] + [e[2] for e in eqs]  # the question states exactly those numbers


@pytest.mark.parametrize("cfg", [SMALL_V1, _small(2)], ids=["v1", "v2"])
def test_qa_long_thinks_reflects_and_corrects(cfg):
    recs = list(corpus("qa_long", cfg))
    for rec in recs:
        sol = rec["solution"]
        assert sol.startswith("<think>\n") and "\n</think>\nThe answer is \\boxed{" in sol
    sols = "\n".join(r["solution"] for r in recs)
    assert "Wait, let me verify" in sols and "Wait, that is not right." in sols
    corrected = sum("not right" in r["solution"] for r in recs)
    assert 0.1 * len(recs) < corrected < 0.8 * len(recs)  # occasional, not always


@pytest.mark.parametrize("cfg", [SMALL_V1, _small(2)], ids=["v1", "v2"])
def test_qa_long_slips_are_corrected_and_chain_reaches_answer(cfg):
    fix = re.compile(r"Wait, that is not right\. (\d+) ([+\-*]) (\d+) is (\d+), not (\d+)\.")
    for rec in corpus("qa_long", cfg):
        lines = rec["solution"].splitlines()
        value = int(re.match(r"The starting amount is (\d+)\.", lines[2]).group(1))
        for i, line in enumerate(lines):
            if not re.match(r"(Adding|Taking|Multiplying|Then) ", line):
                continue
            a, op, b, c = _equations(line)[0]
            assert a == value
            m = fix.match(lines[i + 1])
            if m:  # a slip, immediately corrected
                assert not _check(a, op, b, c) and int(m.group(5)) == c and _check(a, op, b, int(m.group(4)))
                c = int(m.group(4))
            else:
                assert _check(a, op, b, c)
            value = c
        assert f"So the final amount is {value}." in lines
        assert lines[-1] == f"The answer is \\boxed{{{value}}}."


@pytest.mark.parametrize("version", VERSIONS)
def test_math_web_hq_all_correct_and_lq_has_mistakes(version):
    cfg = _small(version)
    hq = [e for rec in corpus("math_web_hq", cfg) for e in _equations(rec["text"])]
    lq = [e for rec in corpus("math_web_lq", cfg) for e in _equations(rec["text"])]
    assert len(hq) > 200 and all(_check(*e) for e in hq)
    wrong = sum(not _check(*e) for e in lq)
    assert 0.05 * len(lq) < wrong < 0.6 * len(lq)
    lq_text = "\n".join(r["text"] for r in corpus("math_web_lq", cfg))
    assert "<br>" in lq_text and "&nbsp;" in lq_text and "lol" in lq_text


@pytest.mark.parametrize("version", VERSIONS)
def test_instruct_asks_for_formats_and_follows_them(version):
    boxed = 0
    for rec in corpus("instruct", _small(version)):
        msgs = rec["messages"]
        for user, bot in zip(msgs[::2], msgs[1::2]):
            if "\\boxed{" in user["content"]:
                boxed += 1
                assert re.search(r"\\boxed\{\d+\}\.$", bot["content"])
            if "all in lowercase" in user["content"]:
                assert bot["content"] == bot["content"].lower()
            if "in capital letters" in user["content"]:
                assert bot["content"] == bot["content"].upper()
            if "bulleted list" in user["content"]:
                assert all(x.startswith("- ") for x in bot["content"].splitlines())
    assert boxed > 10


# ----------------------------------------------------------------------------- benchmarks and splits


# benchmark depths per version (v1: subsets at this small size, as before; v2 exact, from v2.BENCHMARK_MIX: the
# current values are pinned in test_toyworld_v2.py)
_DEPTHS = {
    1: {"toy_gsm": ({1, 2}, "<="), "toy_math": ({3}, "=="), "toy_olympiad": ({4, 5}, "<=")},
    2: {name: (set(mix.steps), "==") for name, mix in v2.BENCHMARK_MIX.items()},
}


@pytest.mark.parametrize("version", VERSIONS)
def test_benchmarks_graded_and_well_formed(version):
    cfg = _small(version)
    mean_level, mean_steps = {}, {}
    for name in benchmark_names(cfg):
        recs = benchmark(name, cfg)
        assert len(recs) == cfg.benchmark_size and len({r["key"] for r in recs}) == len(recs)
        for r in recs:
            assert set(r) >= {"id", "question", "answer", "level", "steps"} and isinstance(r["answer"], str)
            p = Problem.from_key(r["key"])
            assert str(p.answer) == r["answer"] and len(p.steps) == r["steps"] and p.key == r["key"]
        mean_level[name] = sum(r["level"] for r in recs) / len(recs)
        mean_steps[name] = sum(r["steps"] for r in recs) / len(recs)
    for name, (want, rel) in _DEPTHS[version].items():
        got = {r["steps"] for r in benchmark(name, cfg)}
        assert (got <= want) if rel == "<=" else (got == want), (name, got)
    assert mean_level["toy_gsm"] < mean_level["toy_math"] < mean_level["toy_olympiad"]
    assert mean_steps["toy_gsm"] < mean_steps["toy_math"] < mean_steps["toy_olympiad"]
    levels = {r["level"] for r in rl_prompts(cfg)}
    if version == 1:
        assert len(levels) >= 4  # RL prompts mix levels
    else:  # v2: every RL_MIX depth of "wide" problems, one level per depth
        assert levels == {difficulty(n, v2.SIZE) for n in v2.RL_MIX.steps}


@pytest.mark.parametrize("version", VERSIONS)
def test_fewshot_exemplars_come_from_train_split(version):
    cfg = _small(version)
    for ex in fewshot_exemplars(8, cfg):
        key = key_from_solution(ex["solution"])
        assert split_of(key, cfg.seed, cfg.benchmark_frac, cfg.rl_frac) == "train"
        assert ex["solution"].endswith(f"\\boxed{{{ex['answer']}}}.")


@pytest.mark.parametrize("version", VERSIONS)
def test_check_disjoint_reports_zero_key_overlap(version):
    cfg = _small(version)
    rep = check_disjoint(cfg)
    assert rep["ok"] and not any(rep["overlap"].values())
    assert list(rep["corpora"]) == corpus_names(cfg)  # every corpus of the version, qa_direct from v2 on
    assert ("qa_direct" in rep["corpora"]) is (version >= 2)
    for name, c in rep["corpora"].items():
        assert c["in_benchmark"] == 0 and c["in_rl"] == 0, name
        if name != "general":
            assert c["problems"] > 0, name
    assert rep["corpora"]["qa_short"]["parsed_key_mismatches"] == 0
    assert rep["corpora"]["qa_short"]["distinct_keys"] > 50 and 0 < rep["keys"]["rl"] <= cfg.rl_prompts
    assert rep["corpora"]["general"]["problems"] == 0


@pytest.mark.parametrize("version, leaker", [(1, "qa_long"), (2, "qa_long"), (2, "qa_direct")])
def test_check_disjoint_catches_a_leak(monkeypatch, version, leaker):
    from octothinker.toyworld import disjoint

    cfg = _small(version)
    leaked = benchmark("toy_gsm", cfg)[0]["key"]
    real = disjoint.corpus_items

    def leaky(name, cfg, n_docs=None):
        for i, (rec, keys) in enumerate(real(name, cfg, n_docs)):
            yield rec, (keys + [leaked] if i == 0 and name == leaker else keys)

    monkeypatch.setattr(disjoint, "corpus_items", leaky)
    rep = disjoint.check_disjoint(cfg)
    assert not rep["ok"] and rep["overlap"]["train&benchmark"] == 1 and rep["corpora"][leaker]["in_benchmark"] == 1
    assert all(c["in_benchmark"] == 0 for n, c in rep["corpora"].items() if n != leaker)


def test_ngrams_and_record_text():
    assert ngrams("A b c d", 3) == {("a", "b", "c"), ("b", "c", "d")}
    assert record_text({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}) == "x\ny"
    assert key_from_solution("7 + 5 = 12\n12 - 3 = 9\nThe answer is \\boxed{9}.") == "7|+5|-3"


MARKERS = {"+": " more", "-": "away|loses", "*": " times"}


@pytest.mark.parametrize("op", list(MARKERS))
def test_each_operation_has_its_own_marker_word(op):
    from octothinker.toyworld.problems import Cast, step_sentence

    rng = random.Random(0)
    others = "|".join(m for o, m in MARKERS.items() if o != op)
    for _ in range(40):
        text = step_sentence(rng, Cast.draw(rng), op, 3)
        assert re.search(MARKERS[op], text) and not re.search(others, text), text


def test_train_mix_covers_all_levels():  # v1's training mix: every v1 size ("wide" is v2's only size)
    from octothinker.toyworld.world import _mixes

    assert _mixes(SMALL_V1)["train"] is TRAIN_MIX
    v1_sizes = set(SIZES) - {"wide"}
    assert v1_sizes == {"small", "medium", "large"}
    rng = random.Random(0)
    draws = [TRAIN_MIX.draw(rng) for _ in range(2000)]
    assert {n for n, _ in draws} == {1, 2, 3, 4, 5} and {s for _, s in draws} == v1_sizes


def test_config_rejects_bad_fractions():
    with pytest.raises(ValueError, match="benchmark_frac"):
        ToyWorldConfig(benchmark_frac=0.0).validate()
