"""Benchmark loaders: each source's schema (project-written fixtures) mapped to one record."""
import json
from pathlib import Path

import pytest

from octothinker.eval.benchmarks import (
    ENV_DIR, SPECS, BenchmarkError, canonical, load_benchmark, parse_lettered, _gsm8k, _mmlu, _mathqa,
)
from octothinker.eval.fixtures import write_fixture_benchmarks

SHARED = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    return write_fixture_benchmarks(tmp_path_factory.mktemp("bench"))


EXPECTED = {
    "gsm8k": [("gsm8k-test-0", "12", "gsm"), ("gsm8k-test-1", "1300", "gsm")],
    "math500": [("test/algebra/1.json", "32", "math"), ("test/prealgebra/2.json", "\\frac{3}{4}", "math")],
    "math": [("0", "7", "math"), ("1", "6", "math")],
    "amc23": [("0", "55", "math"), ("1", "4.5", "math")],
    "olympiad_bench": [("1", "$2,-2$", "math"), ("2", "$9$", "math")],
    "ocw": [("0", "6", "math"), ("1", "1", "math")],
    "sat": [("0", "B", "mc"), ("1", "C", "mc")],
    "mmlu_stem": [("0", "B", "mc"), ("0-1", "C", "mc")],  # repeated source ids are made unique
    "mathqa": [("0", "B", "mc"), ("1", "A", "mc")],
    "asdiv": [("0", "9", "gsm"), ("1", "Bob", "math")],
    "mawps": [("0", "7", "gsm"), ("1", "3.75", "gsm")],
    "svamp": [("chal-1", "6", "gsm"), ("chal-2", "11", "gsm")],
    "tabmwp": [("101", "13", "gsm"), ("102", "B", "mc")],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_rows_map_to_records(bench_dir, name):
    recs = load_benchmark(name, bench_dir)
    got = [(r["id"], r["answer"], r["kind"]) for r in recs[:2]]
    assert got == EXPECTED[name]
    for r in recs:
        assert r["question"].strip()
        if r["kind"] == "mc":
            assert r["answer"] in "ABCDEFGHIJ"[: len(r["choices"])]


def test_specific_field_mappings(bench_dir):
    sat = load_benchmark("sat", bench_dir)
    assert sat[0]["choices"] == ["2", "4", "6", "8"] and sat[1]["choices"] == ["$1/2$", "$2/3$", "$3/4$", "$1/4$"]
    mq = load_benchmark("mathqa", bench_dir)
    assert mq[0]["choices"] == ["20", "30", "40", "1,500", "15"]
    assert mq[1]["choices"] == ["8 : 12", "6 : 7", "2 : 3", "4 : 4", "none"]
    ob = load_benchmark("olympiad_bench", bench_dir)
    assert ob[1]["question"].startswith("A square has side 3.") and ob[1]["unit"] == "cm^2"
    sv = load_benchmark("svamp", bench_dir)[0]
    assert sv["question"] == "There are 18 eggs in 3 boxes. How many eggs are in each box?"
    tab = load_benchmark("tabmwp", bench_dir)
    assert "Ava | 6" in tab[0]["question"] and tab[1]["choices"] == ["Ava", "Ben"]


def test_gpqa_choices_shuffled_stably(bench_dir):
    a = load_benchmark("gpqa", bench_dir)
    b = load_benchmark("gpqa", bench_dir)
    assert a == b
    assert sorted(a[0]["choices"]) == ["joule", "newton", "pascal", "watt"]
    assert a[0]["choices"]["ABCD".index(a[0]["answer"])] == "newton"
    assert a[1]["choices"]["ABCD".index(a[1]["answer"])] == "nitrogen"


def test_limit_env_dir_and_aliases(bench_dir, monkeypatch):
    monkeypatch.setenv(ENV_DIR, str(bench_dir))
    assert len(load_benchmark("gsm8k", limit=2)) == 2
    assert canonical("Minerva") == "ocw" and canonical("GPQA-diamond") == "gpqa"
    with pytest.raises(BenchmarkError, match="unknown benchmark"):
        canonical("nope")


def test_hub_field_variants():
    hub_gsm = {"question": "q?", "answer": "3 + 4 = <<3+4=7>>7\n#### 1,007"}
    assert _gsm8k(hub_gsm, 5, "hub")["answer"] == "1007"
    hub_mmlu = {"question": "q?", "subject": "astronomy", "choices": ["a", "b", "c", "d"], "answer": 2}
    assert _mmlu(hub_mmlu, 0, "hub")["answer"] == "C"
    hub_mathqa = {"Problem": "q?", "options": "a ) 1 , b ) 2 , c ) 3 , d ) 4 , e ) 5", "correct": "e"}
    assert _mathqa(hub_mathqa, 0, "hub")["answer"] == "E"


def test_bad_rows_name_file_line_and_field(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text(json.dumps({"question": "q", "answer": "1"}) + "\n"
                                                   + json.dumps({"question": "q2"}) + "\n")
    with pytest.raises(BenchmarkError, match=r"test.jsonl:2: missing field 'answer'"):
        load_benchmark("gsm8k", tmp_path)
    (tmp_path / "gsm8k" / "test.jsonl").write_text("{not json\n")
    with pytest.raises(BenchmarkError, match=r"test.jsonl:1: invalid JSON"):
        load_benchmark("gsm8k", tmp_path)
    with pytest.raises(BenchmarkError, match="not found"):
        load_benchmark("svamp", tmp_path)
    with pytest.raises(BenchmarkError, match="cannot parse lettered"):
        parse_lettered("no options here", "f:1")


def test_local_only_benchmark_without_dir_says_how(monkeypatch):
    monkeypatch.delenv(ENV_DIR, raising=False)
    with pytest.raises(BenchmarkError, match="benchmark-dir"):
        load_benchmark("mawps")


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"real benchmark copies not present at {SHARED}")
@pytest.mark.parametrize("name", [n for n in SPECS if n not in ("math", "tabmwp")])
def test_real_dir_each_loader_reads_rows(name):
    recs = load_benchmark(name, SHARED)
    assert len(recs) > 0
    assert len({r["id"] for r in recs}) == len(recs)
    assert all(r["answer"] not in ("", None) for r in recs)
