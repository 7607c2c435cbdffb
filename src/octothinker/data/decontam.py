"""N-gram decontamination of training documents against every benchmark the project knows.

Text is normalised to lower-case alphanumeric word tokens; a training document is contaminated by a
real benchmark when they share an n-gram (default 13 words); questions shorter than n words are
matched whole (at least `MIN_WORDS` words). A multiple-choice item is its question followed by its
options, so a short generic stem ("Which of the following is true?") flags only a document that also
carries the options. Toy benchmark questions are always matched whole.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, NamedTuple

_WORD = re.compile(r"[a-z0-9]+")
MIN_WORDS = 6

# question fields of the local benchmark copies (see /work/shared/benchmarks/README.md)
REAL_QUESTION_FIELDS = {
    "gsm8k": ["question"],
    "math500": ["problem"],
    "amc23": ["problem", "question"],
    "olympiad_bench": ["question"],
    "ocw": ["problem"],
    "sat": ["question"],
    "mmlu_stem": ["question"],
    "mathqa": ["problem", "Problem"],
    "asdiv": ["body", "question"],
    "mawps": ["input"],
    "svamp": ["Body", "Question"],
    "gpqa": ["Question"],
}
# multiple-choice options, appended to the question (a list of strings, lettered A-; or one lettered string)
REAL_OPTION_FIELDS = {"mmlu_stem": "options", "sat": "options", "mathqa": "options"}
FALLBACK_FIELDS = ["question", "problem", "Question", "Problem", "input", "body", "Body"]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class MCItem(NamedTuple):
    """A multiple-choice item: `text` is the stem followed by its lettered options. A stem of at most n
    words is matched whole with its options, or as the entire text (a copied question); a longer stem by
    its own n-grams (n-grams over the options alone would flag any "(A) 1 (B) 2 (C) 3")."""

    text: str
    stem: str


def mc_item(stem: str, options) -> str | MCItem:
    """The stem with its options (a list, lettered as printed: "A) 0", "(A) 0", "A. 0" all read "a 0";
    or one string that carries its own letters); the bare stem where there are none."""
    if isinstance(options, list):
        options = " ".join(f"{chr(65 + i)}) {o}" for i, o in enumerate(options)
                           if isinstance(o, (str, int, float)) and str(o).strip())
    return MCItem(f"{stem} {options}", stem) if stem and isinstance(options, str) and words(options) else stem


class NgramIndex:
    """Benchmark word sequences (n-grams, or whole questions) keyed by their first `MIN_WORDS` words.

    `add(..., whole=True)` indexes each question only as a whole: right for generated benchmarks whose
    questions share template phrasing with the training corpora, where a 13-gram of boilerplate
    ("how many apples are there at the end") is not leakage but the whole question would be.
    """

    def __init__(self, n: int = 13):
        if n < MIN_WORDS:  # `match` looks up MIN_WORDS-word anchors: a shorter n-gram would never be found
            raise ValueError(f"ngram: must be >= {MIN_WORDS}, got {n}")
        self.n = n
        self.anchors: dict[str, dict[tuple[str, ...], set[str]]] = {}
        self.items: dict[str, int] = {}
        self.too_short: dict[str, int] = {}
        self.exact: dict[tuple[str, ...], set[str]] = {}  # short MC stems: a text that is one of them, whole

    def __len__(self) -> int:
        return len(self.anchors) + len(self.exact)

    def _put(self, seq: list[str], benchmark: str) -> None:
        anchor = " ".join(seq[:MIN_WORDS])
        self.anchors.setdefault(anchor, {}).setdefault(tuple(seq), set()).add(benchmark)

    def add(self, benchmark: str, texts: Iterable[str | MCItem], whole: bool = False) -> None:
        self.items.setdefault(benchmark, 0)
        self.too_short.setdefault(benchmark, 0)
        for text in texts:
            self.items[benchmark] += 1
            short_stem = False
            if isinstance(text, MCItem):
                stem = words(text.stem)
                short_stem = len(stem) <= self.n
                if short_stem and len(stem) >= MIN_WORDS:
                    self.exact.setdefault(tuple(stem), set()).add(benchmark)
                w = words(text.text) if short_stem else stem
            else:
                w = words(text)
            if len(w) < MIN_WORDS:
                self.too_short[benchmark] += 1
            elif whole or short_stem or len(w) <= self.n:
                self._put(w, benchmark)
            else:
                for i in range(len(w) - self.n + 1):
                    self._put(w[i:i + self.n], benchmark)

    def match(self, text: str) -> set[str]:
        """Benchmarks with an indexed word sequence occurring in `text`."""
        w = words(text)
        hits: set[str] = set(self.exact.get(tuple(w), ()))
        for i in range(len(w) - MIN_WORDS + 1):
            cands = self.anchors.get(" ".join(w[i:i + MIN_WORDS]))
            if not cands:
                continue
            for seq, benches in cands.items():
                if len(seq) == MIN_WORDS or tuple(w[i:i + len(seq)]) == seq:
                    hits |= benches
        return hits


def _question_text(rec: dict, fields: list[str], options: str | None = None) -> str | MCItem:
    parts = [rec[f] for f in fields if isinstance(rec.get(f), str)]
    if not parts:
        parts = [rec[f] for f in FALLBACK_FIELDS if isinstance(rec.get(f), str)][:1]
    return mc_item(" ".join(parts), rec.get(options) if options else None)


def load_real_benchmarks(benchmark_dir: str | Path) -> dict[str, list[str | MCItem]]:
    """Question texts (`MCItem`s for multiple choice) of every benchmark folder under `benchmark_dir`
    (JSONL files or a JSON array)."""
    root = Path(benchmark_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"decontamination.benchmark_dir: {root} is not a directory")
    out: dict[str, list[str | MCItem]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        fields = REAL_QUESTION_FIELDS.get(sub.name, FALLBACK_FIELDS)
        options = REAL_OPTION_FIELDS.get(sub.name)
        texts: list[str | MCItem] = []
        for f in sorted(sub.glob("*.json*")):
            if f.suffix == ".jsonl":
                recs = (json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip())
            else:
                data = json.loads(f.read_text(encoding="utf-8"))
                recs = data if isinstance(data, list) else [data]
            texts.extend(t for t in (_question_text(r, fields, options) for r in recs if isinstance(r, dict)) if t)
        if texts:
            out[sub.name] = texts
    return out


def toy_benchmarks(toy_cfg) -> dict[str, list[str]]:
    """Question texts of the toy benchmarks (and the RL prompt set, which must stay unseen too)."""
    from .. import toyworld

    out = {name: [r["question"] for r in toyworld.benchmark(name, toy_cfg)] for name in toyworld.benchmark_names(toy_cfg)}
    if hasattr(toyworld, "rl_prompts"):
        out["toy_rl_prompts"] = [r["question"] for r in toyworld.rl_prompts(toy_cfg)]
    return out


def build_index(n: int, toy_cfg=None, benchmark_dir: str | None = None) -> NgramIndex:
    index = NgramIndex(n)
    if toy_cfg is not None:
        for name, texts in toy_benchmarks(toy_cfg).items():
            index.add(name, texts, whole=True)
    if benchmark_dir:
        for name, texts in load_real_benchmarks(benchmark_dir).items():
            index.add(name, texts)
    return index


class Decontaminator:
    """Count (and optionally drop) contaminated documents per source x benchmark."""

    def __init__(self, index: NgramIndex, drop: bool = False):
        self.index = index
        self.drop = drop
        self.counts: dict[str, dict[str, int]] = {}
        self.checked: dict[str, int] = {}
        self.dropped: dict[str, int] = {}

    def filter(self, source: str, texts: Iterable[str], count: bool = True) -> Iterable[str]:
        """Pass documents through; tally hits when `count`; leave out contaminated ones when dropping."""
        per = self.counts.setdefault(source, {b: 0 for b in self.index.items})
        self.checked.setdefault(source, 0)
        self.dropped.setdefault(source, 0)
        for text in texts:
            hits = self.index.match(text) if len(self.index) else ()
            if count:
                self.checked[source] += 1
                for b in hits:
                    per[b] += 1
                if hits and self.drop:
                    self.dropped[source] += 1
            if hits and self.drop:
                continue
            yield text

    def report(self) -> dict:
        return {
            "ngram": self.index.n,
            "min_words": MIN_WORDS,
            "drop": self.drop,
            "benchmarks": {b: {"items": n, "too_short": self.index.too_short[b]} for b, n in self.index.items.items()},
            "checked_docs": dict(self.checked),
            "contaminated_docs": {s: dict(c) for s, c in self.counts.items()},
            "dropped_docs": dict(self.dropped),
        }
