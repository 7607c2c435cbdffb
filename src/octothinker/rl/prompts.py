"""RL prompt files, read through the data stage's readers (`octothinker.data.readers`).

A prompt file is JSONL (any name; `.jsonl.gz` too) or Parquet, or a directory of such files, with
one `{"question", "answer"[, "id"]}` record per line/row. Problems are reported exactly as the data
stage reports them, one line `file:line: ...`: a missing file, an empty file, a broken JSON line,
non-UTF-8 bytes, a record that is not an object, a missing `question` / `answer` field. With
`on_bad_record="skip"` (the values of `data.on_bad_record`) bad records are skipped and counted
instead; a file that yields no prompt at all is an error either way.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..data.readers import PARQUET_SUFFIXES, BadRecordError, BadRecords, list_files, read_jsonl, read_parquet

REQUIRED = ("question", "answer")
SKIP_HINT = " (set rl.on_bad_record=skip to skip and count such records)"  # the RL-side option, not data.on_bad_record


def read_prompts(path: str | Path, on_bad_record: str = "error") -> tuple[list[dict], BadRecords]:
    """(prompts, tally of bad records) from a prompt file or directory; raises `BadRecordError` on bad input."""
    bad = BadRecords(on_bad_record, hint=SKIP_HINT)
    files = list_files(path)
    out: list[dict] = []
    for f in files:
        reader = read_parquet if f.name.endswith(PARQUET_SUFFIXES) else read_jsonl
        for line, rec in reader(f, bad):
            missing = next((k for k in REQUIRED if rec.get(k) is None), None)
            if missing is not None:
                bad.report(f, line, "missing (a prompt record needs 'question' and 'answer')", field_name=missing)
                continue
            default_id = str(line) if len(files) == 1 else f"{f.name}:{line}"
            out.append({"id": str(rec.get("id", default_id)), "question": str(rec["question"]), "answer": rec["answer"]})
    if not out:
        skipped = f" ({bad.count} bad record(s) skipped)" if bad.count else ""
        raise BadRecordError(f"{path}: no prompts{skipped}")
    return out, bad


def load_prompts(path: str | Path, on_bad_record: str = "error") -> list[dict]:
    """RL prompts `[{"id", "question", "answer"}]`; skipped bad records are counted in one stderr line."""
    prompts, bad = read_prompts(path, on_bad_record)
    if bad.count:
        print(f"rl prompts: skipped {bad.count} bad record(s) in {path} (first: {bad.examples[0]})", file=sys.stderr)
    return prompts
