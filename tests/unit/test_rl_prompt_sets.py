"""Named RL prompt sets: local copies in each hub schema, answer extraction, decontamination, prompts.json."""
import json

import pytest

from octothinker.config import RL_PROMPT_SETS, RLConfig, Recipe, ToyWorldConfig, load_recipe
from octothinker.configio import ConfigError
from octothinker.data.readers import BadRecordError
from octothinker.data.templates import FieldError
from octothinker.rl import prompt_sets
from octothinker.rl.prompt_sets import (
    REGISTRY, content_hash, final_answer, get_spec, load_prompt_set, prompts_for_run, read_named_set, summary,
)
from octothinker.toyworld import benchmark as toy_benchmark

TOY = ToyWorldConfig(benchmark_size=10, rl_prompts=30)
PLANTED = "Ana ran 5 km on Monday and twice as far on Tuesday. How far did she run on Tuesday?"  # a gsm8k test question


def _jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _math8k_row(question, gt_answer, level=3):
    """A row in the SimpleRL-Zoo parquet's schema: raw columns beside the verl ones."""
    return {"question": question, "gt_answer": gt_answer, "level": level, "subject": "Algebra",
            "data_source": "simplelr_math_35", "prompt": [{"role": "user", "content": f"<|im_start|>user\n{question}"}],
            "ability": "math", "reward_model": {"style": "rule", "ground_truth": gt_answer},
            "extra_info": {"index": 0, "split": "train"}}


MATH8K_ROWS = [
    _math8k_row("Find the largest prime factor of $9991$.", "103", 5),
    _math8k_row("If $x + y = 10$ and $x - y = 2$, what is the value of $x$?", "6"),
    _math8k_row(f"{PLANTED} Give the answer in km.", "10", 4),
]


@pytest.fixture()
def math8k_copy(tmp_path):
    return _jsonl(tmp_path / "math8k.jsonl", MATH8K_ROWS)


@pytest.fixture()
def gsm8k_copy(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"question": "Natalia sold 48 clips in April and half as many in May. How many clips did she sell?",
             "answer": "In May she sold 48/2 = <<48/2=24>>24 clips.\n48+24 = <<48+24=72>>72\n#### 72"},
            {"question": "A car costs $1,200 and insurance $34. What is the total?",
             "answer": "1,200 + 34 = <<1200+34=1234>>1,234\n#### 1,234"}]
    path = tmp_path / "gsm8k" / "train-00000-of-00001.parquet"
    path.parent.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path.parent


@pytest.fixture()
def bench_dir(tmp_path):
    """A local benchmark copy in the layout eval/benchmarks.py reads: gsm8k and math500 only."""
    root = tmp_path / "bench"
    (root / "gsm8k").mkdir(parents=True)
    (root / "math500").mkdir()
    _jsonl(root / "gsm8k" / "test.jsonl", [
        {"question": "Tom has 3 bags with 4 apples each. How many apples does he have?", "answer": "#### 12"},
        {"question": PLANTED, "answer": "#### 10"}])
    _jsonl(root / "math500" / "test.jsonl", [
        {"problem": "Compute $2^5$.", "answer": "32", "unique_id": "test/algebra/1.json"}])
    return root


def _cfg(**kw) -> RLConfig:
    return RLConfig(**kw)


# ----------------------------------------------------------------------------- registry and answers


def test_registry_names_are_the_config_constant_and_specs_are_the_hub_locations():
    assert tuple(REGISTRY) == RL_PROMPT_SETS
    got = {n: (s.hub_id, s.config, s.data_dir, s.split, s.question, s.answer, s.answer_format, s.verified)
           for n, s in REGISTRY.items()}
    assert got == {
        "MATH8K": ("hkust-nlp/SimpleRL-Zoo-Data", None, "simplelr_qwen_level3to5", "train", "question", "gt_answer",
                   "answer", False),
        "GSM8K-train": ("openai/gsm8k", "main", None, "train", "question", "answer", "gsm8k", True),
    }
    assert REGISTRY["MATH8K"].hub_uri == "hf://hkust-nlp/SimpleRL-Zoo-Data/simplelr_qwen_level3to5[train]"
    assert REGISTRY["GSM8K-train"].hub_uri == "hf://openai/gsm8k/main[train]"


@pytest.mark.parametrize("value, fmt, expected", [
    ("Half of 48 is 24.\n48+24 = 72\n#### 72", "gsm8k", "72"),
    ("1,200 + 34\n#### 1,234", "gsm8k", "1234"),
    ("#### -3", "gsm8k", "-3"),
    ("So $x = \\boxed{\\frac{3}{4}}$.", "boxed", "\\frac{3}{4}"),
    ("First \\boxed{1}, then \\boxed{2}", "boxed", "2"),
    (" 103 ", "answer", "103"),
    ("\\frac{1}{2}", "answer", "\\frac{1}{2}"),
    (27.0, "answer", "27"),
    (2.5, "answer", "2.5"),
    (7, "answer", "7"),
])
def test_final_answer(value, fmt, expected):
    assert final_answer(value, fmt) == expected


@pytest.mark.parametrize("value, fmt, message", [
    ("72", "gsm8k", "field 'answer': no '#### <answer>' line"),
    ("#### ", "gsm8k", "field 'answer': empty answer"),
    ("x = 3", "boxed", "field 'answer': no \\boxed{} answer in the solution"),
    ("  ", "answer", "field 'answer': empty answer"),
    ([1], "answer", "field 'answer': expected a string or number, got list"),
    (True, "answer", "field 'answer': expected a string or number, got bool"),
])
def test_final_answer_errors_name_the_field(value, fmt, message):
    with pytest.raises(FieldError) as exc:
        final_answer(value, fmt)
    assert str(exc.value) == message


# ----------------------------------------------------------------------------- loading by name


def test_math8k_by_name_from_a_local_copy(math8k_copy):
    prompts, bad = read_named_set("MATH8K", str(math8k_copy))
    assert prompts == [
        {"id": "1", "question": "Find the largest prime factor of $9991$.", "answer": "103"},
        {"id": "2", "question": "If $x + y = 10$ and $x - y = 2$, what is the value of $x$?", "answer": "6"},
        {"id": "3", "question": f"{PLANTED} Give the answer in km.", "answer": "10"},
    ]
    assert bad.count == 0


def test_gsm8k_train_by_name_from_a_parquet_directory(gsm8k_copy):
    prompts, _ = read_named_set("GSM8K-train", str(gsm8k_copy))
    assert [(p["id"], p["answer"]) for p in prompts] == [("1", "72"), ("2", "1234")]
    assert prompts[0]["question"].startswith("Natalia sold 48 clips")


def test_hub_read_uses_the_spec_location(monkeypatch):
    calls = []

    def fake_hub(hub_id, config, split, data_dir=None):
        calls.append((hub_id, config, split, data_dir))
        yield f"hf://{hub_id}[{split}]", 1, {"question": "What is 2+3?", "answer": "2+3=5\n#### 5", "gt_answer": "5"}

    monkeypatch.setattr(prompt_sets, "read_hub", fake_hub)
    expected = [{"id": "1", "question": "What is 2+3?", "answer": "5"}]
    assert read_named_set("GSM8K-train")[0] == expected and read_named_set("MATH8K")[0] == expected
    assert calls == [("openai/gsm8k", "main", "train", None),
                     ("hkust-nlp/SimpleRL-Zoo-Data", None, "train", "simplelr_qwen_level3to5")]


@pytest.mark.parametrize("row, expected", [
    ({"question": "What is 1+1?"}, "math8k.jsonl:2: field 'gt_answer': missing"),
    ({"question": "What is 1+1?", "gt_answer": ""}, "math8k.jsonl:2: field 'gt_answer': empty answer"),
    ({"question": "", "gt_answer": "2"}, "math8k.jsonl:2: field 'question': empty string"),
    ({"question": ["x"], "gt_answer": "2"}, "math8k.jsonl:2: field 'question': expected a string, got list"),
    ("{broken", "math8k.jsonl:2: malformed JSON"),
])
def test_bad_records_are_one_line_file_line_errors(tmp_path, row, expected):
    path = _jsonl(tmp_path / "math8k.jsonl", [MATH8K_ROWS[0], row])
    with pytest.raises(BadRecordError) as exc:
        read_named_set("MATH8K", str(path))
    msg = str(exc.value)
    assert msg.startswith(str(tmp_path / expected)) and "\n" not in msg, msg
    assert msg.endswith("(set rl.on_bad_record=skip to skip and count such records)")


def test_skip_mode_counts_bad_records_and_records_them(tmp_path):
    path = _jsonl(tmp_path / "math8k.jsonl", [MATH8K_ROWS[0], {"question": "q?", "gt_answer": ""}, MATH8K_ROWS[1]])
    ps = load_prompt_set(_cfg(prompt_set="MATH8K", prompts_path=str(path), on_bad_record="skip",
                              decontaminate=False), TOY)
    assert [p["id"] for p in ps.prompts] == ["1", "3"]
    assert ps.record["bad_records"] == {"count": 1, "examples": [f"{path}:2: field 'gt_answer': empty answer"]}
    assert ps.record["read"] == 2


def test_unknown_prompt_set_fails_at_recipe_validation(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("rl:\n  steps: 2\n  prompt_set: MATH9K\n")
    with pytest.raises(ConfigError) as exc:
        load_recipe(p)
    msg = str(exc.value)
    assert "r.yaml:3" in msg and "rl.prompt_set: unknown RL prompt set 'MATH9K'; known: MATH8K, GSM8K-train" in msg, msg
    p.write_text("rl:\n  variants:\n    v: {init_from: base, prompt_set: gsm8k}\n")
    with pytest.raises(ConfigError, match=r"rl\.variants\.v\.prompt_set: unknown RL prompt set 'gsm8k'; known: MATH8K"):
        load_recipe(p)
    with pytest.raises(KeyError, match="rl.prompt_set: unknown RL prompt set 'MATH9K'; known: MATH8K, GSM8K-train"):
        get_spec("MATH9K")


def test_a_variant_can_change_the_prompt_set(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("rl:\n  prompt_set: MATH8K\n  variants:\n    g: {init_from: base, prompt_set: GSM8K-train}\n")
    runs = load_recipe(p).rl.runs()
    assert runs["g"][1].prompt_set == "GSM8K-train"


# ----------------------------------------------------------------------------- decontamination and prompts.json


def test_decontamination_drops_a_planted_benchmark_question(math8k_copy, bench_dir):
    ps = load_prompt_set(_cfg(prompt_set="MATH8K", prompts_path=str(math8k_copy)), TOY, str(bench_dir), 13)
    assert [p["id"] for p in ps.prompts] == ["1", "2"]
    d = ps.record["decontamination"]
    assert (d["status"], d["checked"], d["dropped"]) == ("checked", 3, 1)
    assert d["examples"] == [{"id": "3", "benchmarks": ["gsm8k"]}]
    assert d["benchmarks"]["gsm8k"] == {"method": "ngram", "n": 13, "min_words": 6, "items": 2, "too_short": 0,
                                        "dropped": 1}
    assert d["benchmarks"]["math500"] == {"method": "ngram", "n": 13, "min_words": 6, "items": 1, "too_short": 1,
                                          "dropped": 0}
    assert d["benchmarks"]["toy_gsm"] == {"method": "whole-question", "items": 10, "too_short": 0, "dropped": 0}
    assert "gsm8k" not in d["skipped"] and "math500" not in d["skipped"]
    assert d["skipped"]["ocw"].startswith("BenchmarkError: ocw: folder") and "not found" in d["skipped"]["ocw"]


def test_generic_file_is_checked_against_the_toy_benchmarks_whole_question(tmp_path):
    toy_q = toy_benchmark("toy_gsm", TOY)[0]["question"]
    path = _jsonl(tmp_path / "p.jsonl", [{"question": toy_q, "answer": "1"}, {"question": "What is 1+1?", "answer": 2}])
    ps = load_prompt_set(_cfg(prompts_path=str(path)), TOY)
    assert ps.prompts == [{"id": "2", "question": "What is 1+1?", "answer": 2}]
    d = ps.record["decontamination"]
    assert d["benchmarks"]["toy_gsm"]["dropped"] == 1 and d["dropped"] == 1
    assert set(d["skipped"]) == {"gsm8k", "math500", "math", "ocw", "olympiad_bench", "amc23", "sat", "mmlu_stem",
                                 "mathqa", "asdiv", "mawps", "svamp", "tabmwp", "gpqa"}
    assert d["skipped"]["gsm8k"].startswith("no local copy")


def test_prompts_json_records_what_was_used(tmp_path, math8k_copy, bench_dir):
    recipe = Recipe()
    recipe.toyworld = TOY
    recipe.eval.benchmark_dir = str(bench_dir)
    recipe.rl.prompt_set, recipe.rl.prompts_path = "MATH8K", str(math8k_copy)
    cache: dict = {}
    prompts = prompts_for_run(recipe, recipe.rl, tmp_path / "rl" / "a", cache)
    assert prompts_for_run(recipe, recipe.rl, tmp_path / "rl" / "b", cache) is prompts  # loaded once per set
    assert list(cache) == [("rl_prompts", "MATH8K", str(math8k_copy), True)]
    rec = json.loads((tmp_path / "rl" / "a" / "prompts.json").read_text())
    assert rec == json.loads((tmp_path / "rl" / "b" / "prompts.json").read_text())
    assert {k: rec[k] for k in ("prompt_set", "kind", "source", "read", "count", "bad_records")} == {
        "prompt_set": "MATH8K", "kind": "registry", "source": str(math8k_copy), "read": 3, "count": 2,
        "bad_records": {"count": 0, "examples": []}}
    assert rec["sha256"] == content_hash(prompts) and len(rec["sha256"]) == 64
    assert rec["spec"]["hub_id"] == "hkust-nlp/SimpleRL-Zoo-Data" and rec["spec"]["verified"] is False
    assert rec["decontamination"]["benchmarks"]["gsm8k"]["dropped"] == 1


def test_toy_prompts_are_disjoint_by_construction_and_off_is_recorded(tmp_path):
    from octothinker.toyworld import rl_prompts

    ps = load_prompt_set(_cfg(), TOY)
    assert ps.prompts == rl_prompts(TOY)
    assert ps.record["kind"] == "toy" and ps.record["decontamination"]["status"] == "disjoint by construction"
    assert ps.record["count"] == ps.record["read"] == 30
    path = _jsonl(tmp_path / "p.jsonl", [{"question": "What is 1+1?", "answer": "2"}])
    off = load_prompt_set(_cfg(prompts_path=str(path), decontaminate=False), TOY)
    assert off.record["decontamination"] == {"status": "off", "note": "rl.decontaminate: false"}


def test_content_hash_changes_with_the_prompts():
    a = [{"id": "1", "question": "q", "answer": "1"}]
    assert content_hash(a) == content_hash([dict(a[0])])
    assert content_hash(a) != content_hash([{"id": "1", "question": "q", "answer": "2"}])


@pytest.mark.parametrize("decontam, expected", [
    ({"status": "checked", "dropped": 1, "benchmarks": {"a": {}, "b": {}}, "skipped": {"c": "why"}},
     "rl prompts: s.jsonl: 3 read, 1 dropped by decontamination (2 benchmarks checked, 1 skipped), 2 used"),
    ({"status": "off"}, "rl prompts: s.jsonl: 3 read, decontamination: off, 2 used"),
])
def test_summary_line(decontam, expected):
    assert summary({"source": "s.jsonl", "read": 3, "count": 2, "decontamination": decontam}) == expected


def test_a_prompt_that_copies_a_short_multiple_choice_stem_is_dropped(tmp_path):
    """mmlu_stem is indexed as stem + options; an RL prompt carries no options, so a copied short stem is
    caught whole, while a prompt that only contains the generic stem is kept."""
    from octothinker.rl.prompt_sets import decontaminate

    stem = "Which of the following statements about primes is true?"
    root = tmp_path / "bench"
    (root / "mmlu_stem").mkdir(parents=True)
    _jsonl(root / "mmlu_stem" / "test.jsonl", [{"question": stem, "options": ["2 is odd", "3 is even", "2 is prime", "1 is prime"],
                                                "answer": "C", "topic": "college_mathematics"}])
    prompts = [{"id": "1", "question": stem, "answer": "C"},
               {"id": "2", "question": f"{stem} Prove your answer for 7 and 9.", "answer": "7"}]
    kept, report = decontaminate(prompts, TOY, str(root))
    assert [p["id"] for p in kept] == ["2"] and report["benchmarks"]["mmlu_stem"]["dropped"] == 1
