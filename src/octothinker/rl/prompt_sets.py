"""Named RL prompt sets (MATH8K, GSM8K-train) and generic prompt files: read, decontaminate, record.

A set is read with the data stage's readers and bad-record handling: from the hub (`read_hub`,
streaming, needs `datasets`) or, when `rl.prompts_path` is given, from a local JSONL/Parquet copy in
the hub's schema (`read_files`). Each spec maps its fields to `{"id", "question", "answer"}` and
extracts the final answer (GSM8K `#### 72`, a `\\boxed{}` solution, or a bare answer). Prompts that
share an n-gram with any benchmark the project knows are dropped (the data stage's method,
`octothinker.data.decontam`); the toy world's own prompts are disjoint by construction instead.
What was used is written to `rl/<run>/prompts.json`. `verified` says whether the hub id, file and
fields were checked against the dataset card (see each spec's `note` for what was checked where).
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from ..data.readers import BadRecordError, BadRecords, list_files, read_files, read_hub
from ..data.templates import FieldError, get_field
from .prompts import SKIP_HINT, read_prompts

ANSWER_FORMATS = ("answer", "gsm8k", "boxed")  # bare answer | text ending "#### <answer>" | solution with \boxed{}
MAX_DROPPED_EXAMPLES = 5
RECORD_NAME = "prompts.json"
TOY_NOTE = ("the toy RL prompts come from the toy world's rl split, which shares no problem with the toy "
            "benchmarks (octothinker.toyworld.disjoint); not n-grammed")
NO_LOCAL_COPY = "no local copy (eval.benchmark_dir and $OCTOTHINKER_BENCHMARK_DIR unset); the hub is not tried"


@dataclass(frozen=True)
class PromptSetSpec:
    """Where a named RL prompt set lives and how its records map to `{question, answer}`."""

    name: str
    hub_id: str
    question: str  # field (dotted path) holding the problem text
    answer: str  # field (dotted path) holding the gold answer or solution
    answer_format: str = "answer"  # one of ANSWER_FORMATS
    config: Optional[str] = None
    split: str = "train"
    data_dir: Optional[str] = None
    size: Optional[int] = None  # rows the source is documented to hold
    verified: bool = False
    note: str = ""

    @property
    def hub_uri(self) -> str:
        where = f"hf://{self.hub_id}" + (f"/{self.data_dir}" if self.data_dir else "")
        return where + (f"/{self.config}" if self.config else "") + f"[{self.split}]"


_SPECS = [
    PromptSetSpec(
        "MATH8K", "hkust-nlp/SimpleRL-Zoo-Data", question="question", answer="gt_answer",
        data_dir="simplelr_qwen_level3to5", size=8523, verified=False,
        note="SimpleRL-Zoo's MATH level 3-5 training set (the paper's RL prompts). The hub path "
             "simplelr_qwen_level3to5/train.parquet is from the simpleRL-reason README (v1 branch); the raw "
             "`question` / `gt_answer` columns and 8523 rows are from public loaders of that file, not the "
             "dataset card (which is empty). One loader reports two rows without a gold answer (bad records).",
    ),
    PromptSetSpec(
        "GSM8K-train", "openai/gsm8k", question="question", answer="answer", answer_format="gsm8k",
        config="main", size=7473, verified=True,
        note="GSM8K training split; the answer is a worked solution ending '#### <number>' (commas stripped). "
             "Config, split, size and fields checked against the dataset card.",
    ),
]
REGISTRY: dict[str, PromptSetSpec] = {s.name: s for s in _SPECS}


def get_spec(name: str) -> PromptSetSpec:
    """The spec of a named set; an unknown name names `rl.prompt_set` and lists the known ones."""
    if name not in REGISTRY:
        raise KeyError(f"rl.prompt_set: unknown RL prompt set {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def _scalar_text(value: Any, field_name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FieldError(field_name, f"expected a string or number, got {type(value).__name__}")
    if isinstance(value, str):
        return value.strip()
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def final_answer(value: Any, answer_format: str, field_name: str = "answer") -> str:
    """The gold final answer in `value`: as given, after GSM8K's `####`, or the last `\\boxed{}` of a solution."""
    text = _scalar_text(value, field_name)
    if answer_format == "gsm8k":
        if "####" not in text:
            raise FieldError(field_name, "no '#### <answer>' line")
        text = text.split("####")[-1].strip().replace(",", "")
    elif answer_format == "boxed":
        from ..grading.extract import last_boxed

        boxed = last_boxed(text)
        if boxed is None:
            raise FieldError(field_name, "no \\boxed{} answer in the solution")
        text = boxed
    elif answer_format != "answer":
        raise ValueError(f"answer_format: must be one of {', '.join(ANSWER_FORMATS)}, got {answer_format!r}")
    if not text:
        raise FieldError(field_name, "empty answer")
    return text


def map_record(spec: PromptSetSpec, rec: dict) -> tuple[str, str]:
    """(question, final answer) of one hub-schema record; `FieldError` names the field at fault."""
    question = get_field(rec, spec.question)
    if not isinstance(question, str):
        raise FieldError(spec.question, f"expected a string, got {type(question).__name__}")
    if not question.strip():
        raise FieldError(spec.question, "empty string")
    return question, final_answer(get_field(rec, spec.answer), spec.answer_format, spec.answer)


def _raw_records(spec: PromptSetSpec, path: Optional[str], bad: BadRecords) -> Iterator[tuple[str, int, Any]]:
    if path:
        yield from read_files(path, bad)
    else:
        yield from read_hub(spec.hub_id, spec.config, spec.split, spec.data_dir)


def read_named_set(name: str, path: Optional[str] = None,
                   on_bad_record: str = "error") -> tuple[list[dict], BadRecords]:
    """(prompts, tally of bad records) of a named set, from `path` (a local copy) or the hub."""
    spec = get_spec(name)
    bad = BadRecords(on_bad_record, hint=SKIP_HINT)
    several = path is not None and len(list_files(path)) > 1
    out: list[dict] = []
    for where, line, rec in _raw_records(spec, path, bad):
        if not isinstance(rec, dict):
            bad.report(where, line, f"expected an object, got {type(rec).__name__}")
            continue
        try:
            question, answer = map_record(spec, rec)
        except FieldError as exc:
            bad.report(where, line, exc.message, exc.field)
            continue
        pid = f"{Path(where).name}:{line}" if several else str(line)
        out.append({"id": pid, "question": question, "answer": answer})
    if not out:
        skipped = f" ({bad.count} bad record(s) skipped)" if bad.count else ""
        raise BadRecordError(f"{path or spec.hub_uri}: no prompts{skipped}")
    return out, bad


# ----------------------------------------------------------------------------- decontamination


def _benchmark_questions(toy_cfg, benchmark_dir) -> tuple[dict[str, list[str]], dict[str, list], dict[str, str]]:
    """(toy questions, real questions (multiple choice with its options), skipped real benchmark -> why) for
    every benchmark the project knows."""
    from .. import toyworld
    from ..data.decontam import REAL_OPTION_FIELDS, mc_item
    from ..eval.benchmarks import SPECS, load_benchmark, resolve_dir

    toy = {name: [r["question"] for r in toyworld.benchmark(name, toy_cfg)] for name in toyworld.benchmark_names(toy_cfg)}
    real: dict[str, list[str]] = {}
    skipped: dict[str, str] = {}
    root = resolve_dir(benchmark_dir)
    for name in SPECS:
        if root is None:
            skipped[name] = NO_LOCAL_COPY
            continue
        try:
            recs = load_benchmark(name, root)  # options in their printed order (gpqa's are shuffled here: stem only)
            real[name] = [mc_item(r["question"], r.get("choices")) if name in REAL_OPTION_FIELDS else r["question"]
                          for r in recs]
        except (ValueError, OSError, KeyError, TypeError, ImportError) as exc:
            skipped[name] = f"{type(exc).__name__}: {exc}"
    return toy, real, skipped


def decontaminate(prompts: list[dict], toy_cfg, benchmark_dir=None, n: int = 13) -> tuple[list[dict], dict]:
    """(kept prompts, report): drop each prompt sharing an n-gram (toy: the whole question) with a benchmark."""
    from ..data.decontam import MIN_WORDS, NgramIndex

    toy, real, skipped = _benchmark_questions(toy_cfg, benchmark_dir)
    index = NgramIndex(n)
    for name, texts in toy.items():
        index.add(name, texts, whole=True)
    for name, texts in real.items():
        index.add(name, texts)
    dropped = {b: 0 for b in index.items}
    kept: list[dict] = []
    examples: list[dict] = []
    for p in prompts:
        hits = index.match(p["question"])
        if not hits:
            kept.append(p)
            continue
        for b in hits:
            dropped[b] += 1
        if len(examples) < MAX_DROPPED_EXAMPLES:
            examples.append({"id": p["id"], "benchmarks": sorted(hits)})
    benchmarks = {}
    for b, items in index.items.items():
        method = {"method": "whole-question"} if b in toy else {"method": "ngram", "n": n, "min_words": MIN_WORDS}
        benchmarks[b] = {**method, "items": items, "too_short": index.too_short[b], "dropped": dropped[b]}
    report = {"status": "checked", "checked": len(prompts), "dropped": len(prompts) - len(kept),
              "benchmarks": benchmarks, "skipped": skipped, "examples": examples}
    return kept, report


# ----------------------------------------------------------------------------- a run's prompts


@dataclass
class PromptSet:
    """The prompts an RL run trains on, and the record of how they were obtained (prompts.json)."""

    prompts: list[dict]
    record: dict


def content_hash(prompts: list[dict]) -> str:
    """sha256 of the prompts as canonical JSON (order kept): equal hashes mean the same training stream."""
    blob = json.dumps(prompts, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def load_prompt_set(cfg, toy_cfg, benchmark_dir=None, ngram: int = 13) -> PromptSet:
    """The RL prompts `cfg` (an RLConfig) asks for: a named set, a generic file, or the toy world's; decontaminated."""
    if cfg.prompt_set:
        spec = get_spec(cfg.prompt_set)
        prompts, bad = read_named_set(cfg.prompt_set, cfg.prompts_path, cfg.on_bad_record)
        kind, source = "registry", cfg.prompts_path or spec.hub_uri
        spec_record: Optional[dict] = asdict(spec)
    elif cfg.prompts_path:
        prompts, bad = read_prompts(cfg.prompts_path, cfg.on_bad_record)
        kind, source, spec_record = "file", cfg.prompts_path, None
    else:
        from ..toyworld import rl_prompts

        prompts, bad = rl_prompts(toy_cfg), BadRecords(cfg.on_bad_record)
        kind, source, spec_record = "toy", "toyworld:rl_prompts", None
    if bad.count:
        print(f"rl prompts: skipped {bad.count} bad record(s) in {source} (first: {bad.examples[0]})", file=sys.stderr)
    if not cfg.decontaminate:
        kept, decontam = prompts, {"status": "off", "note": "rl.decontaminate: false"}
    elif kind == "toy":
        kept, decontam = prompts, {"status": "disjoint by construction", "note": TOY_NOTE}
    else:
        kept, decontam = decontaminate(prompts, toy_cfg, benchmark_dir, ngram)
        if not kept:
            raise BadRecordError(f"{source}: no prompts left after decontamination ({len(prompts)} dropped)")
    record = {"prompt_set": cfg.prompt_set, "kind": kind, "source": str(source), "spec": spec_record,
              "read": len(prompts), "bad_records": bad.to_dict(), "decontamination": decontam,
              "count": len(kept), "sha256": content_hash(kept)}
    return PromptSet(kept, record)


def write_record(prompt_set: PromptSet, out_dir: str | Path) -> Path:
    """Write `<out_dir>/prompts.json` atomically."""
    from ..paths import atomic_write_json

    return atomic_write_json(Path(out_dir) / RECORD_NAME, prompt_set.record)


def summary(record: dict) -> str:
    """One line for the console: source, counts, and what decontamination did."""
    d = record["decontamination"]
    if d["status"] == "checked":
        how = (f"{d['dropped']} dropped by decontamination ({len(d['benchmarks'])} benchmarks checked, "
               f"{len(d['skipped'])} skipped)")
    else:
        how = f"decontamination: {d['status']}"
    return f"rl prompts: {record['source']}: {record['read']} read, {how}, {record['count']} used"


def prompts_for_run(recipe, cfg, out_dir: str | Path, cache: dict) -> list[dict]:
    """The prompts of one RL run (loaded once per (prompt_set, prompts_path) in `cache`); writes its prompts.json."""
    key = ("rl_prompts", cfg.prompt_set, cfg.prompts_path, cfg.decontaminate)
    if key not in cache:
        cache[key] = load_prompt_set(cfg, recipe.toyworld, recipe.eval.benchmark_dir, recipe.data.decontamination.ngram)
        print(summary(cache[key].record), flush=True)
    write_record(cache[key], out_dir)
    return cache[key].prompts
