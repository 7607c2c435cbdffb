"""The toy world's public API: corpora, benchmarks, RL prompts and few-shot exemplars from one seed.

Every generator is seeded by `cfg.seed` plus its own name, so each output is reproducible on its
own; training corpora draw problems only from the train split of canonical keys.
"""
from __future__ import annotations

import random
from typing import Iterator

from ..config import ToyWorldConfig
from . import v2
from .problems import TRAIN_MIX, Mix, Problem, draw_problems, question_parts, render_question, short_solution
from .qa import instruct_doc, qa_long_doc, qa_short_doc
from .web import general_doc, math_hq_doc, math_lq_doc

CORPORA: dict[str, str] = {
    "general": "web",
    "math_web_hq": "web",
    "math_web_lq": "web",
    "qa_short": "qa",
    "qa_long": "qa",
    "qa_direct": "qa",  # v2 only: answers without working
    "qa_long_chat": "web",  # v2 only: long CoT as a dialogue in the complex RL template's format (raw text)
    "instruct": "chat",
}
_DEFAULT_DOCS = {
    "general": "general_docs", "math_web_hq": "math_web_docs", "math_web_lq": "math_web_docs",
    "qa_short": "qa_docs", "qa_long": "qa_docs", "qa_direct": "qa_docs", "qa_long_chat": "qa_docs",
    "instruct": "instruct_docs",
}
_BUILDERS = {
    "math_web_hq": math_hq_doc, "math_web_lq": math_lq_doc, "qa_short": qa_short_doc,
    "qa_long": qa_long_doc, "instruct": instruct_doc,
}

V2_ONLY = ("qa_direct", "qa_long_chat")

BENCHMARKS = ("toy_gsm", "toy_math", "toy_olympiad", "toy_depth4")  # every version's; `benchmark_names` per version
BENCHMARK_MIX = {
    "toy_gsm": Mix({1: 0.4, 2: 0.6}, {"small": 1.0}),
    "toy_math": Mix({3: 1.0}, {"small": 0.5, "medium": 0.5}),
    "toy_olympiad": Mix({4: 0.5, 5: 0.5}, {"medium": 0.3, "large": 0.7}),
}
# RL prompts lean to what a mid-trained toy model can sometimes solve (as MATH8K is for a 3B model): a prompt
# whose rollouts are all wrong gives GRPO no signal.
RL_MIX = Mix({1: 0.3, 2: 0.35, 3: 0.2, 4: 0.15}, {"small": 0.75, "medium": 0.25})
FEWSHOT_MIX = Mix({1: 0.3, 2: 0.4, 3: 0.3}, {"small": 1.0})




def _mixes(cfg: ToyWorldConfig) -> dict:
    """The version's problem distributions: train, per benchmark, rl, fewshot."""
    if cfg.version == 1:
        return {"train": TRAIN_MIX, "bench": BENCHMARK_MIX, "rl": RL_MIX, "fewshot": FEWSHOT_MIX}
    return {"train": v2.TRAIN_MIX, "bench": v2.BENCHMARK_MIX, "rl": v2.RL_MIX, "fewshot": v2.FEWSHOT_MIX}


def _builder(name: str, cfg: ToyWorldConfig):
    """The document builder of corpus `name` under the config's toy-world version, as `build(rng, draw)`."""
    if cfg.version == 1:
        build = _BUILDERS[name]
        if name in ("qa_short", "qa_long", "instruct"):
            return lambda rng, draw: build(rng, draw, restate=cfg.restate_steps)
        return build
    if name in ("qa_short", "qa_direct", "qa_long", "qa_long_chat"):
        return {"qa_short": v2.qa_short_doc, "qa_direct": v2.qa_direct_doc, "qa_long": v2.qa_long_doc,
                "qa_long_chat": v2.qa_long_chat_doc}[name]
    if name == "instruct":
        return lambda rng, draw: instruct_doc(rng, draw, restate=True)
    if name == "math_web_hq":
        return lambda rng, draw: math_hq_doc(rng, draw, ops="+-", table=v2.fact_table)
    return lambda rng, draw: math_lq_doc(rng, draw, ops="+-")


def _rng(cfg: ToyWorldConfig, name: str) -> random.Random:
    return random.Random(f"toyworld:{cfg.seed}:{name}")


def _train_source(cfg: ToyWorldConfig, rng: random.Random):
    """An endless stream of training-split problems for the corpus builders."""
    gen = draw_problems(rng, _mixes(cfg)["train"], "train", cfg.seed, cfg.benchmark_frac, cfg.rl_frac, n=1 << 62)
    return lambda: next(gen)


def corpus_names(cfg: ToyWorldConfig) -> list[str]:
    """The corpora of the config's toy-world version (`qa_direct` and `qa_long_chat` exist from v2 on)."""
    return [c for c in CORPORA if cfg.version >= 2 or c not in V2_ONLY]


def corpus_items(name: str, cfg: ToyWorldConfig, n_docs: int | None = None) -> Iterator[tuple[dict, list[str]]]:
    """(record, canonical keys of the problems it uses) for each document of corpus `name`."""
    if name not in corpus_names(cfg):
        raise KeyError(f"unknown toy corpus {name!r} in toy world v{cfg.version}; known: {', '.join(corpus_names(cfg))}")
    n = getattr(cfg, _DEFAULT_DOCS[name]) if n_docs is None else n_docs
    rng = _rng(cfg, name)
    if name == "general":
        for _ in range(n):
            text, keys = general_doc(rng)
            yield {"text": text}, keys
        return
    draw = _train_source(cfg, _rng(cfg, name + ":problems"))
    build = _builder(name, cfg)
    for _ in range(n):
        rec, keys = build(rng, draw)
        yield (rec if isinstance(rec, dict) else {"text": rec}), keys


def corpus(name: str, cfg: ToyWorldConfig, n_docs: int | None = None) -> Iterator[dict]:
    """Records of a toy corpus (schema by `CORPORA[name]`: web text, qa problem/solution, chat messages)."""
    for rec, _ in corpus_items(name, cfg, n_docs):
        yield rec


def _records(problems: list[Problem], rng: random.Random, prefix: str) -> list[dict]:
    return [
        {"id": f"{prefix}-{i:04d}", "question": render_question(rng, p), "answer": str(p.answer),
         "level": p.level, "steps": len(p.steps), "key": p.key}
        for i, p in enumerate(problems)
    ]


def benchmark_names(cfg: ToyWorldConfig) -> tuple[str, ...]:
    """The toy benchmarks of `cfg`'s world version (v1 has no `toy_depth4`)."""
    return tuple(b for b in BENCHMARKS if b in _mixes(cfg)["bench"])


def benchmark_problems(name: str, cfg: ToyWorldConfig) -> list[Problem]:
    mixes = _mixes(cfg)["bench"]
    if name not in mixes:
        if name in BENCHMARKS:
            raise KeyError(f"toy benchmark {name!r} is not in toy world v{cfg.version} (known there: "
                           f"{', '.join(benchmark_names(cfg))}); it needs toyworld.version: 2")
        raise KeyError(f"unknown toy benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    rng = _rng(cfg, name)
    return list(draw_problems(rng, mixes[name], "benchmark", cfg.seed, cfg.benchmark_frac, cfg.rl_frac,
                              n=cfg.benchmark_size, unique=True))


def benchmark(name: str, cfg: ToyWorldConfig) -> list[dict]:
    """A toy benchmark: distinct benchmark-split problems `{"id","question","answer","level","steps","key"}`."""
    return _records(benchmark_problems(name, cfg), _rng(cfg, name + ":text"), name)


def rl_prompts(cfg: ToyWorldConfig) -> list[dict]:
    """RL prompts from the rl split (the MATH8K stand-in), in stream order.

    v2: distinct problems (`v2.RL_MIX`, 2-4 steps), so a run that uses fewer than `rl_prompts` prompts never
    sees one twice. v1: keys may repeat (its split holds only a few dozen 1-step and a few hundred 2-step
    small-number keys, so demanding distinct keys would leave GRPO without signal).
    """
    rng = _rng(cfg, "rl")
    probs = list(draw_problems(rng, _mixes(cfg)["rl"], "rl", cfg.seed, cfg.benchmark_frac, cfg.rl_frac,
                               n=cfg.rl_prompts, unique=cfg.version >= 2))
    return _records(probs, _rng(cfg, "rl:text"), "rl")


def fewshot_exemplars(k: int, cfg: ToyWorldConfig) -> list[dict]:
    """`k` worked train-split problems `{"question","solution","answer"}` for few-shot prompts."""
    rng = _rng(cfg, "fewshot")
    probs = draw_problems(rng, _mixes(cfg)["fewshot"], "train", cfg.seed, cfg.benchmark_frac, cfg.rl_frac, n=k, unique=True)
    restate = cfg.restate_steps or cfg.version >= 2
    out = []
    for p in probs:
        parts = question_parts(rng, p)
        out.append({"question": " ".join(parts), "solution": short_solution(p, parts if restate else None),
                    "answer": str(p.answer)})
    return out
