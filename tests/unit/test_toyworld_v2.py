"""Toy world v2 (the default): wide problems, mixed solution styles, deep benchmarks, distinct RL prompts, the
process check and the chance rates. v1 facts are tested (pinned to `version=1`) in test_toyworld.py."""
from __future__ import annotations

import dataclasses
import random
import re

import pytest

from octothinker.config import ToyWorldConfig
from octothinker.toyworld import BENCHMARKS, CORPORA, Problem, benchmark, check_disjoint, corpus, fewshot_exemplars
from octothinker.toyworld import lexicon as L
from octothinker.toyworld import rl_prompts, split_of, v2
from octothinker.toyworld.chain import gold_steps, valid_chain, written_steps
from octothinker.toyworld.disjoint import key_from_solution
from octothinker.toyworld.problems import SIZES, apply, difficulty, random_problem, short_solution
from octothinker.toyworld.world import _mixes, corpus_items, corpus_names

V2 = ToyWorldConfig(version=2)  # default sizes
SMALL = ToyWorldConfig(version=2, general_docs=60, math_web_docs=150, qa_docs=150, instruct_docs=100,
                       benchmark_size=40, rl_prompts=60)
V2_CORPORA = corpus_names(SMALL)  # every corpus of v2, qa_direct included
QA_STYLES = ("qa_short", "qa_direct", "qa_long")  # v2's solution styles, one corpus each
# Ranges and depths come from the module constants; test_v2_documented_values_table pins their current values.
WIDE = SIZES[v2.SIZE]
DEPTHS = {name: set(mix.steps) for name, mix in v2.BENCHMARK_MIX.items()}
TRAIN_DEPTHS = set(v2.TRAIN_MIX.steps)
RL_DEPTHS = set(v2.RL_MIX.steps)
FEWSHOT_DEPTHS = set(v2.FEWSHOT_MIX.steps)
EQ = re.compile(r"(\d+) ?([+\-*/]) ?(\d+) ?= ?(\d+)")
DIRECT = re.compile(r"The answer is \\boxed\{(\d+)\}\.")


def _equations(text: str) -> list[tuple[int, str, int, int]]:
    return [(int(a), op, int(b), int(c)) for a, op, b, c in EQ.findall(text.replace("&nbsp;", " "))]


def _wide_problem_ok(key: str) -> None:
    """Every value in 0..max_value, a start in the start range, only the size's operations, operands in range."""
    p = Problem.from_key(key)
    assert WIDE.start[0] <= p.start <= WIDE.start[1], key
    assert all(0 <= v <= WIDE.max_value for v in p.values()), key
    assert all(op in WIDE.ops and WIDE.operand[0] <= k <= WIDE.operand[1] for op, k in p.steps), key


# ----------------------------------------------------------------------------- reading a question back
# Built from the lexicon's templates, so a question is parsed independently of the generator's code path.

_FIELDS = {"k": r"(\d+)", "n": r"(\d+)", "P": "[A-Z][a-z]*", "p": "[a-z]+", "name": "[A-Z][a-z]+", "obj": "[a-z ]+"}


def _template_re(template: str) -> re.Pattern:
    rx = re.escape(template)
    for field, pat in _FIELDS.items():
        rx = rx.replace(re.escape("{" + field + "}"), pat)
    return re.compile(rx)


_STARTS = [_template_re(t) for t in L.START + L.BARE_START]
_ASKS = [_template_re(t) for t in L.QUESTION + L.BARE_QUESTION]
_OPS = {"+": [_template_re(t) for t in L.ADD + L.BARE_OPS["+"]],
        "-": [_template_re(t) for t in L.SUB + L.BARE_OPS["-"]]}


def _sentences(question: str) -> list[str]:
    return re.split(r"(?<=[.?]) ", question)


def key_from_question(question: str) -> str:
    """The canonical key a v2 question states: 'Start with N.' / '<name> has N <obj>.', then one sentence per
    step told apart by its operation's marker words, then the ask."""
    first, *steps, ask = _sentences(question)
    start = [m for rx in _STARTS if (m := rx.fullmatch(first))]
    assert len(start) == 1, first
    assert any(rx.fullmatch(ask) for rx in _ASKS), ask
    out = [start[0].group(1)]
    for s in steps:
        hits = [(op, m) for op, rxs in _OPS.items() for rx in rxs if (m := rx.fullmatch(s))]
        assert len(hits) == 1, s  # exactly one operation's phrasing
        op, m = hits[0]
        out.append(f"{op}{m.group(1)}")
    return "|".join(out)


def gold_from_question(question: str) -> int:
    return Problem.from_key(key_from_question(question)).answer


@pytest.mark.parametrize("question, key", [
    ("Start with 75. Add 4. Add 3. What is the result?", "75|+4|+3"),
    ("Mia has 40 apples. She gives away 9. She finds 2 more. She loses 1. How many now?", "40|-9|+2|-1"),
    ("Leo has 12 toy cars. He gets 7 more. How many now?", "12|+7"),
])
def test_question_reader_table(question, key):
    assert key_from_question(question) == key


# ----------------------------------------------------------------------------- config and defaults


def test_v2_is_the_default_world():
    cfg = ToyWorldConfig()
    assert cfg.version == 2
    assert corpus_names(cfg) == corpus_names(V2) == V2_CORPORA
    m = _mixes(cfg)
    assert m["train"] is v2.TRAIN_MIX and m["bench"] is v2.BENCHMARK_MIX and m["rl"] is v2.RL_MIX
    assert m["fewshot"] is v2.FEWSHOT_MIX


@pytest.mark.parametrize("changes, field", [({"version": 3}, "version"), ({"version": 0}, "version")])
def test_config_rejects_bad_version(changes, field):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        ToyWorldConfig(**changes).validate()


@pytest.mark.parametrize("changes", [{"version": 1}, {"version": 2}])
def test_config_accepts_edge_values(changes):
    ToyWorldConfig(**changes).validate()


# ----------------------------------------------------------------------------- corpora per version


def test_corpus_names_v2_has_every_corpus_and_qa_direct():
    assert V2_CORPORA == list(CORPORA) and "qa_direct" in V2_CORPORA
    assert set(QA_STYLES) <= set(V2_CORPORA) and all(CORPORA[n] == "qa" for n in QA_STYLES)


def test_corpus_names_v1_lacks_qa_direct():
    v1 = dataclasses.replace(SMALL, version=1)
    assert "qa_direct" not in corpus_names(v1) and "qa_long_chat" not in corpus_names(v1)
    assert corpus_names(v1) == [n for n in CORPORA if n not in ("qa_direct", "qa_long_chat")]


def test_qa_direct_unknown_in_v1_names_the_version():
    v1 = dataclasses.replace(SMALL, version=1)
    with pytest.raises(KeyError, match="unknown toy corpus 'qa_direct'") as err:
        next(corpus_items("qa_direct", v1, 5))
    assert "v1" in str(err.value) and "qa_direct" not in str(err.value).split("known:")[1]
    with pytest.raises(KeyError, match="v1"):
        next(corpus("qa_direct", v1))


def test_qa_direct_default_size_is_qa_docs():
    assert len(list(corpus("qa_direct", SMALL))) == SMALL.qa_docs


# ----------------------------------------------------------------------------- problems and mixes


def test_v2_documented_values_table():
    """The one place that pins the documented v2 numbers: changing the world must change this table on purpose."""
    s = SIZES["wide"]
    assert v2.SIZE == "wide"
    assert (s.start, s.operand, s.max_value, s.ops, s.rank) == ((1, 29), (1, 9), 29, "+-", 0)
    assert {name: set(mix.steps) for name, mix in v2.BENCHMARK_MIX.items()} == {
        "toy_gsm": {2}, "toy_math": {3}, "toy_olympiad": {5}, "toy_depth4": {4}}
    assert set(v2.RL_MIX.steps) == {2, 3}
    assert set(v2.TRAIN_MIX.steps) == {1, 2, 3, 4} and v2.TRAINED_DEPTH == 4
    assert set(v2.FEWSHOT_MIX.steps) == {2, 3}


def test_wide_random_problems_stay_in_range():
    rng = random.Random(0)
    ops, starts, operands = set(), set(), set()
    for _ in range(2000):
        p = random_problem(rng, rng.randint(1, 6), "wide")
        _wide_problem_ok(p.key)
        ops |= {op for op, _ in p.steps}
        starts.add(p.start)
        operands |= {k for _, k in p.steps}
    assert ops == set(WIDE.ops)
    assert starts == set(range(WIDE.start[0], WIDE.start[1] + 1))  # the whole start range is reached
    assert operands == set(range(WIDE.operand[0], WIDE.operand[1] + 1))


@pytest.mark.parametrize("mix", [v2.TRAIN_MIX, v2.RL_MIX, v2.FEWSHOT_MIX, *v2.BENCHMARK_MIX.values()],
                         ids=["train", "rl", "fewshot", *v2.BENCHMARK_MIX])
def test_mix_depths_and_size(mix):
    assert mix.sizes == {v2.SIZE: 1.0}
    assert mix.steps and all(isinstance(n, int) and n >= 1 for n in mix.steps)
    assert all(w > 0 for w in mix.steps.values()) and sum(mix.steps.values()) == pytest.approx(1.0)


def test_olympiad_is_deeper_than_any_training_problem():
    assert v2.TRAINED_DEPTH == max(v2.TRAIN_MIX.steps)
    assert min(v2.BENCHMARK_MIX["toy_olympiad"].steps) > v2.TRAINED_DEPTH
    assert set(v2.BENCHMARK_MIX) == set(BENCHMARKS)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_depths_exact_and_problems_wide(name):
    recs = benchmark(name, V2)
    assert len(recs) == V2.benchmark_size and len({r["key"] for r in recs}) == len(recs)
    assert {r["steps"] for r in recs} == DEPTHS[name]
    for r in recs:
        _wide_problem_ok(r["key"])
        p = Problem.from_key(r["key"])
        assert r["answer"] == str(p.answer) and r["steps"] == len(p.steps)
        assert r["level"] == difficulty(len(p.steps), v2.SIZE) == max(1, min(5, len(p.steps) + WIDE.rank))
        assert key_from_question(r["question"]) == r["key"]  # the question states exactly the problem
        assert split_of(r["key"], V2.seed, V2.benchmark_frac, V2.rl_frac) == "benchmark"
    if name == "toy_olympiad":
        assert min(r["steps"] for r in recs) > v2.TRAINED_DEPTH


def test_rl_prompts_distinct_wide_and_from_rl_split():
    recs = rl_prompts(V2)
    keys = [r["key"] for r in recs]
    assert len(recs) == V2.rl_prompts == 2000 and len(set(keys)) == 2000
    assert [r["id"] for r in recs] == [f"rl-{i:04d}" for i in range(2000)]
    assert {r["steps"] for r in recs} == RL_DEPTHS
    bench = set().union(*({r["key"] for r in benchmark(b, V2)} for b in BENCHMARKS))
    assert not set(keys) & bench
    for r in recs:
        _wide_problem_ok(r["key"])
        assert r["answer"] == str(Problem.from_key(r["key"]).answer)
        assert split_of(r["key"], V2.seed, V2.benchmark_frac, V2.rl_frac) == "rl"
    for r in recs[:300]:
        assert key_from_question(r["question"]) == r["key"]


@pytest.mark.parametrize("name", [n for n in V2_CORPORA if n != "general"])
def test_training_problems_are_wide_train_split_and_shallow(name):
    depths = set()
    n_keys = 0
    for rec, keys in corpus_items(name, SMALL, 300):
        for key in keys:
            n_keys += 1
            _wide_problem_ok(key)
            depths.add(len(Problem.from_key(key).steps))
            assert split_of(key, SMALL.seed, SMALL.benchmark_frac, SMALL.rl_frac) == "train"
    assert n_keys > 0 and depths <= TRAIN_DEPTHS
    if name != "instruct":  # instruct has only a few math turns
        assert depths == TRAIN_DEPTHS


# ----------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", V2_CORPORA)
def test_v2_corpus_deterministic_per_seed(name):
    first = list(corpus_items(name, SMALL, 25))
    assert first == list(corpus_items(name, SMALL, 25))
    assert first != list(corpus_items(name, dataclasses.replace(SMALL, seed=7), 25))


def test_v2_determinism_covers_qa_direct():
    assert "qa_direct" in V2_CORPORA
    first = list(corpus_items("qa_direct", SMALL, 25))
    other = list(corpus_items("qa_direct", dataclasses.replace(SMALL, seed=7), 25))
    assert first == list(corpus_items("qa_direct", SMALL, 25)) != other
    assert [k for _, k in first] != [k for _, k in other]  # a new seed draws other problems, not just other text


@pytest.mark.parametrize("name", BENCHMARKS)
def test_v2_benchmark_deterministic_per_seed(name):
    assert benchmark(name, SMALL) == benchmark(name, SMALL)
    other = benchmark(name, dataclasses.replace(SMALL, seed=7))
    assert benchmark(name, SMALL) != other
    assert {r["key"] for r in benchmark(name, SMALL)} != {r["key"] for r in other}


def test_v2_rl_prompts_and_fewshot_deterministic_per_seed():
    other = dataclasses.replace(SMALL, seed=7)
    assert rl_prompts(SMALL) == rl_prompts(SMALL) != rl_prompts(other)
    assert fewshot_exemplars(6, SMALL) == fewshot_exemplars(6, SMALL) != fewshot_exemplars(6, other)


def test_v2_differs_from_v1():
    v1 = dataclasses.replace(SMALL, version=1)
    assert benchmark("toy_gsm", SMALL) != benchmark("toy_gsm", v1)
    assert list(corpus("qa_short", SMALL, 20)) != list(corpus("qa_short", v1, 20))


# ----------------------------------------------------------------------------- disjointness


def test_check_disjoint_v2_small():
    rep = check_disjoint(SMALL)
    assert rep["ok"] and not any(rep["overlap"].values())
    assert set(rep["overlap"]) >= {"train&benchmark", "train&rl", "benchmark&rl"}
    assert list(rep["corpora"]) == V2_CORPORA and "qa_direct" in rep["corpora"]
    for name, c in rep["corpora"].items():
        assert c["in_benchmark"] == 0 and c["in_rl"] == 0, name
    assert rep["corpora"]["qa_direct"]["docs"] == rep["corpora"]["qa_direct"]["problems"] == SMALL.qa_docs
    assert rep["corpora"]["qa_direct"]["distinct_keys"] > 50
    assert rep["corpora"]["qa_short"]["parsed_key_mismatches"] == 0
    assert rep["rl_prompts"] == {"n": SMALL.rl_prompts, "distinct": SMALL.rl_prompts}
    assert rep["keys"]["rl"] == SMALL.rl_prompts
    assert all(rep["keys"][b] == SMALL.benchmark_size for b in BENCHMARKS)
    assert set(rep["chance"]) == set(BENCHMARKS)
    for b in BENCHMARKS:
        assert rep["chance"][b] == v2.chance_rates([r["answer"] for r in benchmark(b, SMALL)])


def test_rl_prompts_disjoint_from_training_keys():
    rl = {r["key"] for r in rl_prompts(SMALL)}
    per = {name: {k for _, keys in corpus_items(name, SMALL) for k in keys} for name in V2_CORPORA}
    assert per["qa_direct"]
    train = set().union(*per.values())
    assert train and not rl & train
    for b in BENCHMARKS:
        assert not rl & {r["key"] for r in benchmark(b, SMALL)}


# ----------------------------------------------------------------------------- chance rates


@pytest.mark.parametrize("answers, best, guess, distinct", [
    (["1", "1", "2", "3"], 0.5, 0.375, 3),
    (["7"], 1.0, 1.0, 1),
    (["1", "2", "3", "4"], 0.25, 0.25, 4),
    (["5", "5", "5", "9"], 0.75, 0.625, 2),
    ([], 0.0, 0.0, 0),
])
def test_chance_rates_table(answers, best, guess, distinct):
    r = v2.chance_rates(answers)
    assert set(r) == {"best_constant", "random_guess", "distinct_answers"}
    assert r["best_constant"] == pytest.approx(best) and r["random_guess"] == pytest.approx(guess)
    assert r["distinct_answers"] == distinct


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_chance_is_low_at_default_size(name):
    # 30 possible answers (0-29): measured best_constant 0.06-0.065, random_guess 0.037-0.040
    r = v2.chance_rates([x["answer"] for x in benchmark(name, V2)])
    assert r["best_constant"] <= 0.08 and r["random_guess"] <= 0.05, r


# ----------------------------------------------------------------------------- solution styles


def _is_direct(solution: str) -> bool:
    return DIRECT.fullmatch(solution) is not None


def _qa_record_ok(rec: dict, keys: list[str]) -> tuple[str, int]:
    """One problem per record, stated exactly by the question; returns (key, gold rebuilt from the question)."""
    assert set(rec) == {"problem", "solution"} and len(keys) == 1
    key = keys[0]
    gold = gold_from_question(rec["problem"])
    assert key_from_question(rec["problem"]) == key and gold == Problem.from_key(key).answer
    return key, gold


def test_qa_short_every_record_worked_with_a_valid_chain():
    n = 0
    for rec, keys in corpus_items("qa_short", V2, 600):
        n += 1
        key, gold = _qa_record_ok(rec, keys)
        sol = rec["solution"]
        assert not _is_direct(sol) and not sol.startswith("<think>")  # no answer-only or long records any more
        sentences = _sentences(rec["problem"])
        lines = sol.splitlines()
        eqs = _equations(sol)
        assert lines[0] == sentences[0]  # the start sentence
        assert len(lines) == len(sentences) and len(eqs) == len(sentences) - 2  # start, steps, answer
        for sentence, line, (a, op, k, c) in zip(sentences[1:-1], lines[1:-1], eqs):
            assert line == f"{sentence.rstrip('.')}: {a} {op} {k} = {c}"  # the step restated before its equation
            assert op in "+-" and apply(a, op, k) == c
        assert eqs[0][0] == Problem.from_key(key).start
        assert all(eqs[i][3] == eqs[i + 1][0] for i in range(len(eqs) - 1))  # a running chain
        assert eqs[-1][3] == gold and lines[-1] == f"The answer is \\boxed{{{gold}}}."
        assert key_from_solution(sol) == key and valid_chain(sol, key)
    assert n == 600


def test_qa_direct_every_record_is_the_bare_gold_answer():
    n = 0
    depths = set()
    for rec, keys in corpus_items("qa_direct", V2, 600):
        n += 1
        key, gold = _qa_record_ok(rec, keys)
        sol = rec["solution"]
        assert sol == f"The answer is \\boxed{{{gold}}}." and _is_direct(sol)
        assert sol == v2.direct_solution(Problem.from_key(key, v2.SIZE))
        assert not _equations(sol) and key_from_solution(sol) is None and not valid_chain(sol, key)
        depths.add(len(Problem.from_key(key).steps))
    assert n == 600 and depths == TRAIN_DEPTHS  # multi-step problems too: there the bare answer is a guess


def test_qa_long_every_record_thinks_and_reaches_gold_with_a_valid_chain():
    slips = n = 0
    for rec, keys in corpus_items("qa_long", V2, 600):
        n += 1
        key, gold = _qa_record_ok(rec, keys)
        sol = rec["solution"]
        assert not _is_direct(sol)  # no direct answers in qa_long any more
        assert sol.startswith("<think>\n") and sol.endswith(f"</think>\nThe answer is \\boxed{{{gold}}}.")
        assert f"So the final amount is {gold}." in sol
        for sentence in _sentences(rec["problem"])[1:-1]:
            assert sentence in sol.splitlines()  # each step's sentence restated
        assert valid_chain(sol, key)
        slips += "Wait, that is not right." in sol
    assert n == 600 and slips > 20


def test_qa_long_chat_is_long_thinking_in_the_complex_template_format():
    """Each record is exactly the complex RL prompt for its question followed by a qa_long-style solution."""
    from octothinker.rl.templates import format_ok, render

    n = 0
    for rec, keys in corpus_items("qa_long_chat", V2, 200):
        n += 1
        text = rec["text"]
        head, sep, response = text.partition("Assistant: <think>")
        question = head.split("\nUser: ", 1)[1].rstrip("\n")
        assert sep and text.startswith(render("complex", question))
        gold = Problem.from_key(keys[0]).answer
        assert response.endswith(f"</think>\nThe answer is \\boxed{{{gold}}}.") and format_ok("complex", response)
        assert valid_chain(response, keys[0])
    assert n == 200


def test_qa_styles_live_in_separate_corpora():
    """Each style is its own corpus, so a mixture sets the style shares by weight: no record is of another style."""
    def style(sol: str) -> str:
        return "qa_direct" if _is_direct(sol) else "qa_long" if sol.startswith("<think>\n") else "qa_short"

    for name in QA_STYLES:
        assert {style(r["solution"]) for r in corpus(name, V2, 2000)} == {name}, name


def test_instruct_math_turns_worked_and_restated():
    boxed = number = 0
    for rec, keys in corpus_items("instruct", V2, 400):
        keys = list(keys)
        msgs = rec["messages"]
        for user, bot in zip(msgs[::2], msgs[1::2]):
            if "\\boxed{" in user["content"]:
                boxed += 1
                key = keys.pop(0)
                question = user["content"].split("\n")[0]
                gold = gold_from_question(question)
                assert key_from_question(question) == key
                assert bot["content"].splitlines()[0] == _sentences(question)[0]
                assert key_from_solution(bot["content"]) == key and valid_chain(bot["content"], key)
                assert bot["content"].endswith(f"\\boxed{{{gold}}}.")
            elif "Reply with only the number." in user["content"]:
                number += 1
                key = keys.pop(0)
                assert bot["content"] == str(Problem.from_key(key).answer)
        assert keys == []
    assert boxed > 50 and number > 10


def test_fewshot_exemplars_worked_restated_from_train_split():
    for ex in fewshot_exemplars(12, V2):
        key = key_from_question(ex["question"])
        assert key_from_solution(ex["solution"]) == key and valid_chain(ex["solution"], key)
        assert len(Problem.from_key(key).steps) in FEWSHOT_DEPTHS
        assert ex["solution"].splitlines()[0] == _sentences(ex["question"])[0]
        assert ex["answer"] == str(Problem.from_key(key).answer)
        assert ex["solution"].endswith(f"\\boxed{{{ex['answer']}}}.")
        assert split_of(key, V2.seed, V2.benchmark_frac, V2.rl_frac) == "train"


# ----------------------------------------------------------------------------- math web v2


_TABLE_HEAD = re.compile(r"^(Add|Subtract) (\d+):$")


def test_math_web_v2_plus_minus_only_and_in_range_fact_tables():
    tables = 0
    for rec in corpus("math_web_hq", SMALL, 300):
        text = rec["text"]
        assert "*" not in text and "multipl" not in text.lower() and "times" not in text
        eqs = _equations(text)
        assert eqs and all(op in "+-" and apply(a, op, k) == c for a, op, k, c in eqs)
        lines = text.splitlines()
        for i, line in enumerate(lines):
            m = _TABLE_HEAD.match(line)
            if not m:
                continue
            tables += 1
            op, k = ("+" if m.group(1) == "Add" else "-"), int(m.group(2))
            assert 1 <= k <= 9
            rows = []
            for row in lines[i + 1:]:
                if not row:
                    break
                rows.append(_equations(row)[0])
            assert 4 <= len(rows) <= 8
            assert [a for a, *_ in rows] == list(range(rows[0][0], rows[0][0] + len(rows)))
            for a, o, kk, c in rows:
                assert (o, kk) == (op, k) and 0 <= a <= WIDE.max_value and 0 <= c <= WIDE.max_value and apply(a, o, kk) == c
    assert tables > 50
    for rec in corpus("math_web_lq", SMALL, 300):
        assert "*" not in rec["text"] and "multipl" not in rec["text"].lower()
        assert all(op in "+-" for _, op, _, _ in _equations(rec["text"]))


@pytest.mark.parametrize("op", ["+", "-"])
def test_fact_table_facts_in_range(op):
    rng = random.Random(0)
    for _ in range(500):
        head, *rows = v2.fact_table(rng, op)
        m = _TABLE_HEAD.match(head)
        assert m and (m.group(1) == "Add") == (op == "+")
        k = int(m.group(2))
        assert 1 <= k <= 9 and 4 <= len(rows) <= 8
        for row in rows:
            ((a, o, kk, c),) = _equations(row)
            assert (o, kk) == (op, k) and 0 <= a <= WIDE.max_value and 0 <= c <= WIDE.max_value and apply(a, o, kk) == c


# ----------------------------------------------------------------------------- the process check


def test_gold_steps_table():
    assert gold_steps("75|+4|+3") == [(75, "+", 4, 79), (79, "+", 3, 82)]
    assert gold_steps("20|-5") == [(20, "-", 5, 15)]
    assert gold_steps("10|-9|+9|-1") == [(10, "-", 9, 1), (1, "+", 9, 10), (10, "-", 1, 9)]


@pytest.mark.parametrize("text, steps", [
    ("Add 3: 90 + 3 = 93", [(90, "+", 3, 93)]),
    ("Wait, that is not right. 79 + 3 is 82, not 83.", [(79, "+", 3, 82)]),
    ("75+4=79\n79 - 3 = 76", [(75, "+", 4, 79), (79, "-", 3, 76)]),
    ("The answer is \\boxed{82}.", []),
    ("Mia has 75 apples. She gets 4 more.", []),
])
def test_written_steps_table(text, steps):
    assert written_steps(text) == steps


_WORKED = "Start with 75.\nAdd 4: 75 + 4 = 79\nAdd 3: 79 + 3 = 82\nThe answer is \\boxed{82}."


@pytest.mark.parametrize("text, verdict", [
    (_WORKED, True),  # a worked solution
    ("The answer is \\boxed{82}.", False),  # a direct answer: right, but no chain
    ("Start with 75.\nAdd 4: 75 + 4 = 79\nAdd 3: 79 + 3 = 83\nThe answer is \\boxed{83}.", False),  # one wrong step
    ("Start with 75.\nAdd 4: 75 + 4 = 80\nAdd 3: 80 + 3 = 83\nThe answer is \\boxed{82}.", False),  # lucky answer
    ("<think>\nThe starting amount is 75.\nAdd 4.\nThen 4 more: 75 + 4 = 79.\nAdd 3.\nAdding 3: 79 + 3 = 83.\n"
     "Wait, that is not right. 79 + 3 is 82, not 83. So it is 82.\nSo the final amount is 82.\n</think>\n"
     "The answer is \\boxed{82}.", True),  # long CoT with a corrected slip
    ("79 + 3 = 82\n75 + 4 = 79\nThe answer is \\boxed{82}.", False),  # steps out of order
    ("75 + 4 = 79\nLet me double-check: 79 - 4 = 75. Yes.\n79 + 3 = 82\nCheck: 82 - 3 = 79.\n"
     "The answer is \\boxed{82}.", True),  # extra check equations in between
    ("Add 4: 75 + 4 = 79\nThe answer is \\boxed{82}.", False),  # a step missing
    ("", False),
])
def test_valid_chain_table(text, verdict):
    assert valid_chain(text, "75|+4|+3") is verdict


def test_worked_solution_of_the_table_is_what_the_generator_writes():
    p = Problem.from_key("75|+4|+3", "wide")
    parts = ["Start with 75.", "Add 4.", "Add 3.", "What is the result?"]
    assert short_solution(p, parts) == _WORKED
    assert v2.direct_solution(p) == "The answer is \\boxed{82}."
