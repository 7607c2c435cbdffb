"""RL prompt files go through the data stage's readers: one-line file:line errors, skip-and-count, Parquet."""
import gzip
import json

import pytest

from octothinker.data.readers import BadRecordError
from octothinker.rl.prompts import load_prompts, read_prompts


def _write(path, lines: list[str]):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


GOOD = [json.dumps({"question": "What is 1+1?", "answer": "2"}), json.dumps({"question": "3*3?", "answer": 9, "id": "p9"})]


def test_reads_jsonl_and_ids(tmp_path):
    path = _write(tmp_path / "p.jsonl", [GOOD[0], "", GOOD[1]])
    assert load_prompts(path) == [{"id": "1", "question": "What is 1+1?", "answer": "2"},
                                  {"id": "p9", "question": "3*3?", "answer": 9}]


def test_reads_parquet_gzip_and_directories(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "d").mkdir()
    pq.write_table(pa.Table.from_pylist([{"question": "a?", "answer": "1"}, {"question": "b?", "answer": "2"}]),
                   tmp_path / "d" / "x.parquet")
    with gzip.open(tmp_path / "d" / "y.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(GOOD[0] + "\n")
    assert [p["question"] for p in load_prompts(tmp_path / "d" / "x.parquet")] == ["a?", "b?"]
    got = load_prompts(tmp_path / "d")
    assert [p["question"] for p in got] == ["a?", "b?", "What is 1+1?"]
    assert len({p["id"] for p in got}) == 3  # ids stay distinct across the files of a directory


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"", "p.jsonl: empty file"),
        (b"\n  \n", "p.jsonl: empty file"),
        ((GOOD[0] + "\n{\"question\": \"x\", \n").encode(), "p.jsonl:2: malformed JSON"),
        ((GOOD[0] + "\n" + json.dumps({"answer": "1"}) + "\n").encode(), "p.jsonl:2: field 'question': missing"),
        ((json.dumps({"question": "q"}) + "\n").encode(), "p.jsonl:1: field 'answer': missing"),
        ((json.dumps({"question": "q", "answer": None}) + "\n").encode(), "p.jsonl:1: field 'answer': missing"),
        ((GOOD[0] + "\n").encode() + b'{"question": "\xff\xfe", "answer": "1"}\n', "p.jsonl:2: not valid UTF-8"),
        (b"[1, 2]\n", "p.jsonl:1: expected a JSON object"),
    ],
)
def test_bad_files_give_one_line_file_line_errors(tmp_path, content, expected):
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    with pytest.raises(BadRecordError) as exc:
        load_prompts(path)
    msg = str(exc.value)
    assert msg.startswith(str(tmp_path / expected)) and "\n" not in msg, msg
    assert "data.on_bad_record" not in msg  # the hint names the RL-side option, not the data section's key


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(FileNotFoundError) as exc:
        load_prompts(tmp_path / "nope.jsonl")
    assert str(exc.value) == f"{tmp_path / 'nope.jsonl'}: no such file or directory"


def test_skip_mode_skips_and_counts(tmp_path, capsys):
    path = tmp_path / "p.jsonl"
    path.write_bytes((GOOD[0] + "\n{broken\n" + json.dumps({"answer": "1"}) + "\n").encode()
                     + b'{"question": "\xff", "answer": "1"}\n' + (GOOD[1] + "\n").encode())
    prompts, bad = read_prompts(path, on_bad_record="skip")
    assert [p["id"] for p in prompts] == ["1", "p9"]
    assert bad.count == 3 and bad.examples[0].startswith(f"{path}:2: malformed JSON")
    assert len(load_prompts(path, on_bad_record="skip")) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "skipped 3 bad record(s)" in err[0]


def test_skip_mode_with_nothing_usable_is_an_error(tmp_path):
    path = _write(tmp_path / "p.jsonl", ["{broken", json.dumps({"question": "q"})])
    with pytest.raises(BadRecordError, match=r"p.jsonl: no prompts \(2 bad record\(s\) skipped\)"):
        load_prompts(path, on_bad_record="skip")


def test_on_bad_record_takes_the_data_stage_values(tmp_path):
    path = _write(tmp_path / "p.jsonl", GOOD)
    with pytest.raises(ValueError, match="on_bad_record: must be error or skip"):
        load_prompts(path, on_bad_record="ignore")
