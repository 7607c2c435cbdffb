"""Every registry corpus's field mapping and template, on local JSONL and Parquet files in its schema."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from octothinker.config import SourceConfig
from octothinker.data.readers import BadRecords
from octothinker.data.sources import REGISTRY, iter_documents, source_kind
from octothinker.data.templates import FieldError, get_field, render

# one record per registry corpus in its hub schema, and the exact text it must become
SAMPLES = {
    "MegaMath-Web-Pro": ({"text": "Primes are numbers > 1.", "url": "u"}, "Primes are numbers > 1."),
    "MegaMath-Web-Pro-Max": ({"text": "Let x = 2.", "id": "a"}, "Let x = 2."),
    "FineMath-4plus": ({"text": "Fractions add.", "score": 4.5}, "Fractions add."),
    "DCLM-Baseline": ({"text": "The weather was mild.", "url": "u"}, "The weather was mild."),
    "MegaMath-QA": ({"text": "Q: 1+1? A: 2"}, "Q: 1+1? A: 2"),
    "OpenMathInstruct-2": (
        {"problem": "What is 2+3?", "generated_solution": "2+3=5, so \\boxed{5}.", "expected_answer": "5",
         "problem_source": "gsm8k"},
        "Question: What is 2+3?\nAnswer: 2+3=5, so \\boxed{5}.",
    ),
    "NuminaMath-1.5": (
        {"problem": "Find x if x+1=3.", "solution": "x=2. \\boxed{2}", "answer": "2", "source": "olympiads"},
        "Question: Find x if x+1=3.\nAnswer: x=2. \\boxed{2}",
    ),
    "OpenR1-Math-220K": (
        {"problem": "Compute 3*4.", "solution": "12", "answer": "12",
         "generations": ["<think>\n3*4 is 12.\n</think>\n\\boxed{12}", "second trace"],
         "messages": [{"role": "user", "content": "Compute 3*4."}]},
        "Question: Compute 3*4.\nAnswer: <think>\n3*4 is 12.\n</think>\n\\boxed{12}",
    ),
    "AM-DeepSeek-R1-Distilled": (
        {"messages": [{"role": "user", "content": "2+2?", "info": {"source": "s"}},
                      {"role": "assistant", "content": "<think>easy</think> <answer>4</answer>", "info": {"source": "s"}}]},
        "User: 2+2?\nAssistant: <think>easy</think> <answer>4</answer>",
    ),
    "TULU3-Persona-IF": (
        {"id": "p1", "prompt": "Write a haiku.", "messages": [
            {"role": "user", "content": "Write a haiku."}, {"role": "assistant", "content": "Leaves fall."}]},
        "User: Write a haiku.\nAssistant: Leaves fall.",
    ),
    "WildChat": (
        {"conversation_hash": "h", "conversation": [
            {"role": "user", "content": "hi", "language": "English"},
            {"role": "assistant", "content": "hello", "language": "English"}]},
        "User: hi\nAssistant: hello",
    ),
    "UltraChat-200K": (
        {"prompt": "p", "prompt_id": "i", "messages": [
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"},
            {"role": "assistant", "content": "Because."}]},
        "System: Be brief.\nUser: Why?\nAssistant: Because.",
    ),
}


def test_every_registry_corpus_has_a_sample():
    assert set(SAMPLES) == set(REGISTRY)
    for spec in REGISTRY.values():
        assert spec.hub_id.count("/") == 1 and spec.kind in ("web", "qa", "chat")


def _write(tmp_path, fmt, records):
    if fmt == "jsonl":
        p = tmp_path / "data.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    else:
        p = tmp_path / "data.parquet"
        pq.write_table(pa.Table.from_pylist(records), p)
    return p


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_registry_corpus_formats_local_copy(tmp_path, name, fmt):
    record, expected = SAMPLES[name]
    path = _write(tmp_path, fmt, [record, record])
    src = SourceConfig(kind="registry", corpus=name, path=str(path))
    assert source_kind(src) == REGISTRY[name].kind
    docs = list(iter_documents(name, src, None, BadRecords()))
    assert docs == [expected, expected]


def test_local_source_with_field_mapping(tmp_path):
    path = _write(tmp_path, "jsonl", [{"q": "1+1?", "a": {"steps": ["2"]}}])
    src = SourceConfig(kind="local", path=str(path), template="qa", fields={"problem": "q", "solution": "a.steps.0"})
    assert list(iter_documents("x", src, None, BadRecords())) == ["Question: 1+1?\nAnswer: 2"]


@pytest.mark.parametrize(
    "kind, record, field",
    [
        ("web", {}, "text"),
        ("web", {"text": 5}, "text"),
        ("web", {"text": "  "}, "text"),
        ("qa", {"problem": "p"}, "solution"),
        ("qa", {"problem": None, "solution": "s"}, "problem"),
        ("chat", {"messages": "hi"}, "messages"),
        ("chat", {"messages": []}, "messages"),
        ("chat", {"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ("chat", {"messages": [{"role": "user", "content": 3}]}, "messages.0.content"),
    ],
)
def test_template_field_errors_name_the_field(kind, record, field):
    with pytest.raises(FieldError) as e:
        render(kind, record)
    assert e.value.field == field


def test_get_field_paths():
    rec = {"a": {"b": [10, 20]}}
    assert get_field(rec, "a.b.1") == 20
    assert get_field(rec, "a.b.-1") == 20
    with pytest.raises(FieldError, match="out of range"):
        get_field(rec, "a.b.2")


@pytest.mark.parametrize(
    "src, match",
    [
        (SourceConfig(kind="registry", corpus="NoSuchCorpus"), r"data.sources.s.corpus: unknown registry corpus"),
        (SourceConfig(kind="toy", corpus="nope"), r"data.sources.s.corpus: unknown toy corpus"),
        (SourceConfig(kind="local", path="/does/not/exist.jsonl"), r"data.sources.s.path: .* does not exist"),
        (SourceConfig(kind="toy", corpus="qa_short", fields={"answer": "x"}), r"data.sources.s.fields: \['answer'\]"),
    ],
)
def test_check_source_errors_before_compute(src, match):
    from octothinker.data.sources import check_source

    with pytest.raises(ValueError, match=match):
        check_source("s", src)
