"""Bad input: each case errors naming file, line and field by default, and is counted in skip mode."""
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from octothinker.config import SourceConfig
from octothinker.data.readers import BadRecordError, BadRecords, list_files, read_files
from octothinker.data.sources import iter_documents

GOOD = json.dumps({"problem": "1+1?", "solution": "2"})


def _src(path):
    return SourceConfig(kind="local", path=str(path), template="qa")


def _docs(path, on_bad="error"):
    bad = BadRecords(on_bad)
    return list(iter_documents("s", _src(path), None, bad)), bad


# (file bytes, line reported, words the message must contain)
CASES = {
    "malformed_json": (f"{GOOD}\n{{\"problem\": \"x\",\n{GOOD}\n".encode(), 2, ["malformed JSON"]),
    "not_an_object": (f"{GOOD}\n[1, 2]\n".encode(), 2, ["expected a JSON object"]),
    "missing_field": (f'{GOOD}\n{{"problem": "x"}}\n'.encode(), 2, ["'solution'", "missing"]),
    "mistyped_field": (f'{GOOD}\n{GOOD}\n{{"problem": 7, "solution": "s"}}\n'.encode(), 3, ["'problem'", "expected a string"]),
    "non_utf8": (GOOD.encode() + b"\n" + b'{"problem": "caf\xe9", "solution": "s"}\n', 2, ["not valid UTF-8"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_record_errors_name_file_line_field(tmp_path, case):
    data, line, words = CASES[case]
    p = tmp_path / f"{case}.jsonl"
    p.write_bytes(data)
    with pytest.raises(BadRecordError) as e:
        _docs(p)
    msg = str(e.value)
    assert f"{p}:{line}:" in msg
    for w in words:
        assert w in msg
    assert "on_bad_record=skip" in msg


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_record_skip_mode_counts(tmp_path, case):
    data, line, _ = CASES[case]
    p = tmp_path / f"{case}.jsonl"
    p.write_bytes(data)
    docs, bad = _docs(p, "skip")
    good_lines = sum(1 for raw in data.splitlines() if raw.strip()) - 1
    assert len(docs) == good_lines
    assert bad.count == 1
    assert bad.examples[0].startswith(f"{p}:{line}:")


@pytest.mark.parametrize("name, data", [("empty.jsonl", b""), ("blank.jsonl", b"\n\n  \n")])
def test_empty_file(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(BadRecordError, match="empty file"):
        _docs(p)
    docs, bad = _docs(p, "skip")
    assert docs == [] and bad.count == 1 and "empty file" in bad.examples[0]


def test_empty_and_corrupt_parquet(tmp_path):
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"problem": pa.array([], pa.string()), "solution": pa.array([], pa.string())}), empty)
    with pytest.raises(BadRecordError, match=f"{empty}: empty file"):
        _docs(empty)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(BadRecordError, match="not a readable Parquet file"):
        _docs(corrupt)


def test_parquet_mistyped_row_names_row(tmp_path):
    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"problem": ["a", "b", "c"], "solution": ["x", None, "z"]}), p)
    with pytest.raises(BadRecordError, match=rf"{p}:2: field 'solution': missing"):
        _docs(p)
    docs, bad = _docs(p, "skip")
    assert docs == ["Question: a\nAnswer: x", "Question: c\nAnswer: z"] and bad.count == 1


def test_directory_and_gzip(tmp_path):
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress((GOOD + "\n").encode()))
    (tmp_path / "a.jsonl").write_text(GOOD + "\n" + GOOD + "\n")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [p.name for p in list_files(tmp_path)] == ["a.jsonl", "b.jsonl.gz"]
    rows = list(read_files(tmp_path, BadRecords()))
    assert [(f.endswith(("a.jsonl", "b.jsonl.gz")), line) for f, line, _ in rows] == [(True, 1), (True, 2), (True, 1)]


def test_missing_path_and_bad_policy(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        list_files(tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match="no .jsonl"):
        list_files(tmp_path)
    with pytest.raises(ValueError, match="on_bad_record"):
        BadRecords("ignore")


def test_hub_reader_without_datasets_says_what_to_do(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake(name, *a, **k):
        if name == "datasets":
            raise ImportError("no datasets")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    src = SourceConfig(kind="registry", corpus="NuminaMath-1.5")
    with pytest.raises(ImportError, match="local JSONL/Parquet copy"):
        list(iter_documents("n", src, None, BadRecords()))


def test_a_byte_order_mark_opening_a_jsonl_file_is_not_an_error(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + GOOD.encode() + b"\n" + GOOD.encode() + b"\n")
    docs, bad = _docs(p)
    assert len(docs) == 2 and bad.count == 0
    q = tmp_path / "bom2.jsonl"  # only the file's start may carry one
    q.write_bytes(GOOD.encode() + b"\n\xef\xbb\xbf" + GOOD.encode() + b"\n")
    with pytest.raises(BadRecordError, match=r"bom2.jsonl:2: malformed JSON"):
        _docs(q)
