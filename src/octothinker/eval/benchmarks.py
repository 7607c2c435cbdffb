"""Benchmark loaders: each source's rows mapped to one problem record.

Record: `{"id": str, "question": str, "answer": str | list[str], "kind": "math"|"gsm"|"mc",
"choices": [str] (mc only)}`; `kind` tells the grader how to extract and compare. Rows come from
a local folder (`<dir>/<folder>/*.jsonl|*.json`, e.g. the shared copies) when one is given,
otherwise from the public hub location through `datasets` (imported only then). The toy
benchmarks come from `octothinker.toyworld`.
"""
from __future__ import annotations

import ast
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

ENV_DIR = "OCTOTHINKER_BENCHMARK_DIR"
LETTERS = "ABCDEFGHIJ"
TOY = ("toy_gsm", "toy_math", "toy_olympiad", "toy_depth4")

MMLU_STEM_SUBJECTS = (
    "abstract_algebra", "astronomy", "college_biology", "college_chemistry", "college_computer_science",
    "college_mathematics", "college_physics", "computer_security", "conceptual_physics",
    "electrical_engineering", "elementary_mathematics", "high_school_biology", "high_school_chemistry",
    "high_school_computer_science", "high_school_mathematics", "high_school_physics",
    "high_school_statistics", "machine_learning",
)


class BenchmarkError(ValueError):
    """A benchmark row or folder that cannot be read; the message names file, line and field."""


def _get(row: dict, where: str, *names: str, required: bool = True):
    """The first of `names` present (not None) in `row`; a missing required field names `where`."""
    for n in names:
        if row.get(n) is not None:
            return row[n]
    if required:
        raise BenchmarkError(f"{where}: missing field {' or '.join(repr(n) for n in names)}")
    return None


def number_text(x) -> str:
    """A gold number as text: 27.0 -> "27", 2.5 -> "2.5", "1,000" stays as given."""
    if isinstance(x, bool):
        raise BenchmarkError(f"expected a number, got {x!r}")
    if isinstance(x, (int, float)):
        return str(int(x)) if float(x).is_integer() else repr(float(x))
    return str(x).strip()


def parse_lettered(text: str, where: str) -> list[str]:
    """Split "A) x B) y" or "a ) x , b ) y" (or a Python-list string of those) into choice texts."""
    text = text.strip()
    if text.startswith("["):
        try:
            text = " , ".join(str(x) for x in ast.literal_eval(text))
        except (ValueError, SyntaxError):
            pass
    spans, pos = [], 0
    for letter in LETTERS:
        m = re.compile(rf"(?:^|[\s,(]){letter}\s?(?:\)\s*|\.\s+)", re.IGNORECASE).search(text, pos)
        if not m:
            break
        spans.append((m.start(), m.end()))
        pos = m.end()
    if len(spans) < 2:
        raise BenchmarkError(f"{where}: cannot parse lettered options from {text[:80]!r}")
    choices = []
    for i, (_, end) in enumerate(spans):
        stop = spans[i + 1][0] if i + 1 < len(spans) else len(text)
        choices.append(text[end:stop].strip().rstrip(",").strip())
    return choices


def letter_of(value, n_choices: int, where: str) -> str:
    """A gold choice as an upper-case letter (accepts "b", "B", "(B)" or a 0-based index)."""
    if isinstance(value, int) and not isinstance(value, bool):
        letter = LETTERS[value] if 0 <= value < n_choices else None
    else:
        letter = str(value).strip().strip("()").upper()
    if letter is None or letter not in LETTERS[:n_choices]:
        raise BenchmarkError(f"{where}: answer {value!r} is not one of {n_choices} choices")
    return letter


# ----------------------------------------------------------------------------- row mappers


def _gsm8k(row, i, where):
    answer = str(_get(row, where, "answer"))
    if "####" in answer:  # hub format: reasoning then "#### 18"
        answer = answer.split("####")[-1]
    return {"id": str(row.get("id", f"gsm8k-{i}")), "question": _get(row, where, "question"),
            "answer": answer.strip().replace(",", ""), "kind": "gsm"}


def _math(row, i, where):
    answer = row.get("answer")
    if answer is None:
        from ..grading import extract_answer

        answer = extract_answer(_get(row, where, "solution"), "math")
        if answer is None:
            raise BenchmarkError(f"{where}: no 'answer' field and no \\boxed{{}} answer in 'solution'")
    return {"id": str(row.get("unique_id", row.get("id", i))), "question": _get(row, where, "problem"),
            "answer": str(answer), "kind": "math"}


def _ocw(row, i, where):
    return {"id": str(row.get("id", i)), "question": _get(row, where, "problem", "question"),
            "answer": str(_get(row, where, "answer")), "kind": "math"}


def _olympiad(row, i, where):
    gold = _get(row, where, "final_answer", "answer")
    gold = [str(g) for g in gold] if isinstance(gold, list) else [str(gold)]
    question = _get(row, where, "question")
    if row.get("context"):
        question = f"{row['context']}\n\n{question}"
    rec = {"id": str(row.get("id", i)), "question": question,
           "answer": gold[0] if len(gold) == 1 else gold, "kind": "math"}
    if row.get("unit"):
        rec["unit"] = row["unit"]
    return rec


def _amc(row, i, where):
    return {"id": str(row.get("id", i)), "question": _get(row, where, "problem", "question"),
            "answer": number_text(_get(row, where, "answer")), "kind": "math"}


def _sat(row, i, where):
    choices = parse_lettered(_get(row, where, "options"), where)
    return {"id": str(row.get("id", i)), "question": _get(row, where, "question"), "choices": choices,
            "answer": letter_of(_get(row, where, "Answer", "answer"), len(choices), where), "kind": "mc"}


def _mmlu(row, i, where):
    choices = [str(c) for c in _get(row, where, "options", "choices")]
    rec = {"id": str(row.get("id", i)), "question": _get(row, where, "question"), "choices": choices,
           "answer": letter_of(_get(row, where, "answer"), len(choices), where), "kind": "mc"}
    subject = row.get("topic", row.get("subject"))
    if subject:
        rec["subject"] = subject
    return rec


def _mathqa(row, i, where):
    options = _get(row, where, "options")
    choices = [str(c) for c in options] if isinstance(options, list) else parse_lettered(options, where)
    return {"id": str(row.get("id", i)), "question": _get(row, where, "problem", "Problem"), "choices": choices,
            "answer": letter_of(_get(row, where, "correct"), len(choices), where), "kind": "mc"}


_NUM_UNIT = re.compile(r"^\s*(-?[\d,]*\.?\d+)\s*(\(.*\))?\s*$")


def _asdiv(row, i, where):
    raw = str(_get(row, where, "answer"))
    m = _NUM_UNIT.match(raw)
    answer, kind = (m.group(1).replace(",", ""), "gsm") if m else (raw.strip(), "math")
    question = f"{_get(row, where, 'body').strip()} {_get(row, where, 'question').strip()}"
    return {"id": str(row.get("idx", row.get("id", i))), "question": question, "answer": answer, "kind": kind}


def _mawps(row, i, where):
    return {"id": str(row.get("idx", row.get("id", i))), "question": _get(row, where, "input", "question"),
            "answer": number_text(_get(row, where, "target", "answer")), "kind": "gsm"}


def _svamp(row, i, where):
    body, q = _get(row, where, "Body", "body"), _get(row, where, "Question", "question")
    return {"id": str(row.get("ID", row.get("idx", i))), "question": f"{body.strip()} {q.strip()}",
            "answer": number_text(_get(row, where, "Answer", "answer")), "kind": "gsm"}


def _tabmwp(row, i, where):
    table = _get(row, where, "table")
    title = row.get("table_title")
    question = (f"{title}\n" if title else "") + f"{table}\n\n{_get(row, where, 'question')}"
    choices = row.get("choices")
    answer = str(_get(row, where, "answer"))
    rec = {"id": str(row.get("pid", row.get("id", i))), "question": question, "answer": answer.replace(",", ""),
           "kind": "gsm" if _NUM_UNIT.match(answer) else "math"}
    if choices:
        rec.update(choices=[str(c) for c in choices], answer=LETTERS[[str(c) for c in choices].index(answer)], kind="mc")
    return rec


def _gpqa(row, i, where):
    correct = str(_get(row, where, "Correct Answer")).strip()
    wrong = [str(_get(row, where, f"Incorrect Answer {k}")).strip() for k in (1, 2, 3)]
    rid = str(row.get("Record ID", i))
    choices = [correct] + wrong
    random.Random(rid).shuffle(choices)  # fixed per question, so the gold letter is stable
    return {"id": rid, "question": str(_get(row, where, "Question")).strip(), "choices": choices,
            "answer": LETTERS[choices.index(correct)], "kind": "mc"}


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class BenchSpec:
    """Where a benchmark lives and how its rows map: local folder, hub id/config/split, mapper."""

    folder: str
    mapper: Callable
    hub: Optional[str] = None
    hub_configs: tuple = (None,)
    split: str = "test"
    notes: str = field(default="", compare=False)


SPECS: dict[str, BenchSpec] = {
    "gsm8k": BenchSpec("gsm8k", _gsm8k, "openai/gsm8k", ("main",)),
    "math500": BenchSpec("math500", _math, "HuggingFaceH4/MATH-500"),
    "math": BenchSpec("math", _math, notes="local folder only (fields problem, solution[, answer])"),
    "ocw": BenchSpec("ocw", _ocw, "math-ai/minervamath"),
    "olympiad_bench": BenchSpec("olympiad_bench", _olympiad, "Hothan/OlympiadBench", ("OE_TO_maths_en_COMP",), "train"),
    "amc23": BenchSpec("amc23", _amc, "math-ai/amc23"),
    "sat": BenchSpec("sat", _sat, notes="local folder only"),
    "mmlu_stem": BenchSpec("mmlu_stem", _mmlu, "cais/mmlu", MMLU_STEM_SUBJECTS),
    "mathqa": BenchSpec("mathqa", _mathqa, "allenai/math_qa"),
    "asdiv": BenchSpec("asdiv", _asdiv, "EleutherAI/asdiv", split="validation"),
    "mawps": BenchSpec("mawps", _mawps, notes="local folder only"),
    "svamp": BenchSpec("svamp", _svamp, "ChilleD/SVAMP"),
    "tabmwp": BenchSpec("tabmwp", _tabmwp, notes="local folder only (TabMWP problems_test.json or JSONL)"),
    "gpqa": BenchSpec("gpqa", _gpqa, "Idavidrein/gpqa", ("gpqa_diamond",), "train"),
}
ALIASES = {"minerva": "ocw", "minerva_math": "ocw", "olympiadbench": "olympiad_bench", "mmlu-stem": "mmlu_stem",
           "gpqa_diamond": "gpqa", "gpqa-diamond": "gpqa", "math-500": "math500"}
ALL = tuple(SPECS) + TOY


def canonical(name: str) -> str:
    """Normalise a benchmark name (accepting a few common aliases) or raise listing the known ones."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in SPECS and key not in TOY:
        raise BenchmarkError(f"unknown benchmark {name!r}; known: {', '.join(ALL)}")
    return key


def resolve_dir(benchmark_dir: Optional[str | Path]) -> Optional[Path]:
    """The local benchmark folder: the argument, else $OCTOTHINKER_BENCHMARK_DIR, else None (hub)."""
    value = benchmark_dir or os.environ.get(ENV_DIR)
    return Path(value) if value else None


def _read_local(folder: Path) -> Iterable[tuple[dict, str]]:
    """Rows of every .jsonl/.json file in `folder` (sorted), each with a "file:line" locator."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".jsonl", ".json") and p.is_file())
    if not files:
        raise BenchmarkError(f"{folder}: no .jsonl or .json files")
    for path in files:
        if path.suffix == ".jsonl":
            with open(path, encoding="utf-8") as fh:
                for ln, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise BenchmarkError(f"{path}:{ln}: invalid JSON ({exc.msg})") from None
                    yield row, f"{path}:{ln}"
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):  # id -> row (TabMWP layout)
                data = [dict(v, pid=k) for k, v in data.items()]
            for k, row in enumerate(data):
                yield row, f"{path}[{k}]"


def _read_hub(spec: BenchSpec, name: str) -> Iterable[tuple[dict, str]]:
    if spec.hub is None:
        raise BenchmarkError(f"{name}: no public hub default ({spec.notes}); pass --benchmark-dir or set ${ENV_DIR}")
    try:
        import datasets
    except ImportError:
        raise BenchmarkError(
            f"{name}: loading from the hub needs `pip install datasets`; or pass --benchmark-dir / ${ENV_DIR}"
        ) from None
    for config in spec.hub_configs:
        ds = datasets.load_dataset(spec.hub, config, split=spec.split)
        for k, row in enumerate(ds):
            yield dict(row), f"{spec.hub}:{config or ''}:{spec.split}[{k}]"


def load_benchmark(name: str, benchmark_dir=None, limit: Optional[int] = None, toy_cfg=None) -> list[dict]:
    """Problem records of one benchmark, in source order, the first `limit` of them when given."""
    key = canonical(name)
    if key in TOY:
        from ..config import ToyWorldConfig
        from ..toyworld import benchmark as toy_benchmark

        rows = toy_benchmark(key, toy_cfg or ToyWorldConfig())
        records = [{"id": str(r["id"]), "question": r["question"], "answer": str(r["answer"]), "kind": "math",
                    "level": r.get("level"), "steps": r.get("steps"), "key": r.get("key")} for r in rows]
        return records[:limit] if limit else records
    spec = SPECS[key]
    root = resolve_dir(benchmark_dir)
    if root is not None:
        folder = root / spec.folder
        if not folder.is_dir():
            raise BenchmarkError(f"{key}: folder {folder} not found under the benchmark dir {root}")
        rows = _read_local(folder)
    else:
        rows = _read_hub(spec, key)
    records, seen = [], set()
    for i, (row, where) in enumerate(rows):
        if limit and len(records) >= limit:
            break
        if not isinstance(row, dict):
            raise BenchmarkError(f"{where}: expected a JSON object, got {type(row).__name__}")
        rec = spec.mapper(row, i, where)
        if rec["id"] in seen:  # hub configs (MMLU subjects) restart their ids
            rec["id"] = f"{rec['id']}-{i}"
        seen.add(rec["id"])
        records.append(rec)
    return records
