"""Registry of the paper's corpora (hub id, fields, template) and the document stream of a source.

`verified` says whether the hub id/config and field names were checked against the dataset card
while writing this table; unverified entries are best knowledge and worth a look before a real run.
`category` is the corpus's role in the paper's mixtures (web / qa / instruct); `kind` is the text
template used to turn a record into a document.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Optional

from .readers import BadRecords, read_files, read_hub
from .templates import DEFAULT_FIELDS, FieldError, render


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    hub_id: str
    kind: str  # template: web | qa | chat
    category: str  # role in the paper: web | qa | instruct
    config: Optional[str] = None
    split: str = "train"
    data_dir: Optional[str] = None
    fields: dict = field(default_factory=dict)
    verified: bool = False
    note: str = ""

    @property
    def field_map(self) -> dict[str, str]:
        return {**DEFAULT_FIELDS[self.kind], **self.fields}


_SPECS = [
    CorpusSpec("MegaMath-Web-Pro", "LLM360/MegaMath", "web", "web", data_dir="megamath-web-pro", verified=True,
               note="LLM-refined math web documents"),
    CorpusSpec("MegaMath-Web-Pro-Max", "OctoThinker/MegaMath-Web-Pro-Max", "web", "web", verified=True,
               note="the paper's own larger refined math web corpus"),
    CorpusSpec("FineMath-4plus", "HuggingFaceTB/finemath", "web", "web", config="finemath-4plus",
               note="math web pages scored >= 4 by the FineMath classifier"),
    CorpusSpec("DCLM-Baseline", "mlfoundations/dclm-baseline-1.0", "web", "web", note="general web text"),
    CorpusSpec("MegaMath-QA", "LLM360/MegaMath", "web", "qa", data_dir="megamath-qa",
               note="synthetic QA already written as text; hub directory verified, text field assumed"),
    CorpusSpec("OpenMathInstruct-2", "nvidia/OpenMathInstruct-2", "qa", "qa",
               fields={"problem": "problem", "solution": "generated_solution"}, note="short-CoT QA"),
    CorpusSpec("NuminaMath-1.5", "AI-MO/NuminaMath-1.5", "qa", "qa",
               fields={"problem": "problem", "solution": "solution"}, note="short-CoT QA"),
    CorpusSpec("OpenR1-Math-220K", "open-r1/OpenR1-Math-220k", "qa", "qa", config="default",
               fields={"problem": "problem", "solution": "generations.0"}, verified=True,
               note="long-CoT QA: the first DeepSeek-R1 trace of each problem"),
    CorpusSpec("AM-DeepSeek-R1-Distilled", "a-m-team/AM-DeepSeek-R1-Distilled-1.4M", "chat", "qa",
               config="am_0.9M", fields={"messages": "messages"},
               note="long-CoT QA as user/assistant turns; hub id verified, config and fields assumed"),
    CorpusSpec("TULU3-Persona-IF", "allenai/tulu-3-sft-personas-instruction-following", "chat", "instruct",
               fields={"messages": "messages"}, note="persona instruction-following turns"),
    CorpusSpec("WildChat", "allenai/WildChat-1M", "chat", "instruct", fields={"messages": "conversation"},
               note="real user chats; turns under `conversation`"),
    CorpusSpec("UltraChat-200K", "HuggingFaceH4/ultrachat_200k", "chat", "instruct", split="train_sft",
               fields={"messages": "messages"}, note="multi-turn chats"),
]
REGISTRY: dict[str, CorpusSpec] = {s.name: s for s in _SPECS}


def get_spec(name: str) -> CorpusSpec:
    if name not in REGISTRY:
        raise KeyError(f"unknown registry corpus {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def toy_kind(corpus: str) -> str:
    from ..toyworld import CORPORA

    if corpus not in CORPORA:
        raise KeyError(f"unknown toy corpus {corpus!r}; known: {', '.join(CORPORA)}")
    return CORPORA[corpus]


def source_kind(src) -> str:
    """The template kind a SourceConfig's records are formatted with."""
    if src.template:
        return src.template
    if src.kind == "toy":
        return toy_kind(src.corpus)
    if src.kind == "registry":
        return get_spec(src.corpus).kind
    return "web"


def source_fields(src) -> dict[str, str]:
    kind = source_kind(src)
    base = dict(DEFAULT_FIELDS[kind])
    if src.kind == "registry" and get_spec(src.corpus).kind == kind:
        base.update(get_spec(src.corpus).field_map)
    base.update(getattr(src, "fields", None) or {})
    return base


def check_source(name: str, src) -> None:
    """Fail before any compute on an unknown corpus name, a missing path or a bad field mapping."""
    where = f"data.sources.{name}"
    try:
        kind = source_kind(src)
    except KeyError as exc:
        raise ValueError(f"{where}.corpus: {exc.args[0]}") from None
    if src.path is not None:
        from pathlib import Path

        if not Path(src.path).exists():
            raise ValueError(f"{where}.path: {src.path} does not exist")
    unknown = set(getattr(src, "fields", None) or {}) - set(DEFAULT_FIELDS[kind])
    if unknown:
        raise ValueError(f"{where}.fields: {sorted(unknown)} are not roles of the {kind} template "
                         f"(roles: {', '.join(DEFAULT_FIELDS[kind])})")


def _raw_records(name: str, src, toy_cfg, bad: BadRecords) -> Iterator[tuple[str, int, dict]]:
    if src.kind == "toy":
        from ..toyworld import corpus

        where = f"toy:{src.corpus}"
        for i, rec in enumerate(corpus(src.corpus, toy_cfg, n_docs=src.max_docs), start=1):
            yield where, i, rec
    elif src.path:
        yield from read_files(src.path, bad)
    elif src.kind == "registry":
        spec = get_spec(src.corpus)
        yield from read_hub(spec.hub_id, spec.config, spec.split, spec.data_dir)
    else:
        raise ValueError(f"data.sources.{name}: needs a path")


def iter_documents(name: str, src, toy_cfg, bad: BadRecords) -> Iterator[str]:
    """Formatted training documents of one source, in source order (max_docs honoured)."""
    kind = source_kind(src)
    fields = source_fields(src)
    n = 0
    for where, line, rec in _raw_records(name, src, toy_cfg, bad):
        if src.max_docs is not None and n >= src.max_docs:
            return
        if not isinstance(rec, dict):
            bad.report(where, line, f"expected an object, got {type(rec).__name__}")
            continue
        try:
            text = render(kind, rec, fields)
        except FieldError as exc:
            bad.report(where, line, exc.message, exc.field)
            continue
        n += 1
        yield text
