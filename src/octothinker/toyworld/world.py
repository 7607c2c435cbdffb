"""The toy world's public API: corpora, benchmarks, RL prompts and few-shot exemplars from one seed.

Every generator is seeded by `cfg.seed` plus its own name, so each output is reproducible on its
own; training corpora draw problems only from the train split of canonical keys.
"""
from __future__ import annotations

import random
from typing import Iterator

from ..config import ToyWorldConfig
from .problems import TRAIN_MIX, Mix, Problem, draw_problems, question_parts, render_question, short_solution
from .qa import instruct_doc, qa_long_doc, qa_short_doc
from .web import general_doc, math_hq_doc, math_lq_doc

CORPORA: dict[str, str] = {
    "general": "web",
    "math_web_hq": "web",
    "math_web_lq": "web",
    "qa_short": "qa",
    "qa_long": "qa",
    "instruct": "chat",
}
_DEFAULT_DOCS = {
    "general": "general_docs", "math_web_hq": "math_web_docs", "math_web_lq": "math_web_docs",
    "qa_short": "qa_docs", "qa_long": "qa_docs", "instruct": "instruct_docs",
}
_BUILDERS = {
    "math_web_hq": math_hq_doc, "math_web_lq": math_lq_doc, "qa_short": qa_short_doc,
    "qa_long": qa_long_doc, "instruct": instruct_doc,
}

BENCHMARKS = ("toy_gsm", "toy_math", "toy_olympiad")
BENCHMARK_MIX = {
    "toy_gsm": Mix({1: 0.4, 2: 0.6}, {"small": 1.0}),
    "toy_math": Mix({3: 1.0}, {"small": 0.5, "medium": 0.5}),
    "toy_olympiad": Mix({4: 0.5, 5: 0.5}, {"medium": 0.3, "large": 0.7}),
}
# RL prompts lean to what a mid-trained toy model can sometimes solve (as MATH8K is for a 3B model): a prompt
# whose rollouts are all wrong gives GRPO no signal.
RL_MIX = Mix({1: 0.3, 2: 0.35, 3: 0.2, 4: 0.15}, {"small": 0.75, "medium": 0.25})
FEWSHOT_MIX = Mix({1: 0.3, 2: 0.4, 3: 0.3}, {"small": 1.0})


def _rng(cfg: ToyWorldConfig, name: str) -> random.Random:
    return random.Random(f"toyworld:{cfg.seed}:{name}")


def _train_source(cfg: ToyWorldConfig, rng: random.Random):
    """An endless stream of training-split problems for the corpus builders."""
    gen = draw_problems(rng, TRAIN_MIX, "train", cfg.seed, cfg.benchmark_frac, cfg.rl_frac, n=1 << 62)
    return lambda: next(gen)


def corpus_items(name: str, cfg: ToyWorldConfig, n_docs: int | None = None) -> Iterator[tuple[dict, list[str]]]:
    """(record, canonical keys of the problems it uses) for each document of corpus `name`."""
    if name not in CORPORA:
        raise KeyError(f"unknown toy corpus {name!r}; known: {', '.join(CORPORA)}")
    n = getattr(cfg, _DEFAULT_DOCS[name]) if n_docs is None else n_docs
    rng = _rng(cfg, name)
    if name == "general":
        for _ in range(n):
            text, keys = general_doc(rng)
            yield {"text": text}, keys
        return
    draw = _train_source(cfg, _rng(cfg, name + ":problems"))
    build = _BUILDERS[name]
    kwargs = {"restate": cfg.restate_steps} if name in ("qa_short", "qa_long", "instruct") else {}
    for _ in range(n):
        rec, keys = build(rng, draw, **kwargs)
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


def benchmark_problems(name: str, cfg: ToyWorldConfig) -> list[Problem]:
    if name not in BENCHMARK_MIX:
        raise KeyError(f"unknown toy benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    rng = _rng(cfg, name)
    return list(draw_problems(rng, BENCHMARK_MIX[name], "benchmark", cfg.seed, cfg.benchmark_frac, cfg.rl_frac,
                              n=cfg.benchmark_size, unique=True))


def benchmark(name: str, cfg: ToyWorldConfig) -> list[dict]:
    """A toy benchmark: distinct benchmark-split problems `{"id","question","answer","level","steps","key"}`."""
    return _records(benchmark_problems(name, cfg), _rng(cfg, name + ":text"), name)


def rl_prompts(cfg: ToyWorldConfig) -> list[dict]:
    """RL prompts of mixed levels from the rl split (the MATH8K stand-in), distributed as `RL_MIX`.

    Keys may repeat (with other wording): the split holds only a few dozen 1-step and a few hundred 2-step
    small-number keys, so demanding distinct keys would fill the set with the long chains a toy model cannot
    solve and leave GRPO without signal.
    """
    rng = _rng(cfg, "rl")
    probs = list(draw_problems(rng, RL_MIX, "rl", cfg.seed, cfg.benchmark_frac, cfg.rl_frac, n=cfg.rl_prompts))
    return _records(probs, _rng(cfg, "rl:text"), "rl")


def fewshot_exemplars(k: int, cfg: ToyWorldConfig) -> list[dict]:
    """`k` worked train-split problems `{"question","solution","answer"}` for few-shot prompts."""
    rng = _rng(cfg, "fewshot")
    probs = draw_problems(rng, FEWSHOT_MIX, "train", cfg.seed, cfg.benchmark_frac, cfg.rl_frac, n=k, unique=True)
    out = []
    for p in probs:
        parts = question_parts(rng, p)
        out.append({"question": " ".join(parts), "solution": short_solution(p, parts if cfg.restate_steps else None),
                    "answer": str(p.answer)})
    return out
