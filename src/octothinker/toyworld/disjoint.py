"""Check, by generating everything, that training corpora, benchmarks and RL prompts never share a problem.

Two checks: canonical problem keys (exact identity of numbers and operations), and word n-gram
overlap of benchmark questions with the training text (the decontamination view of the same risk).
"""
from __future__ import annotations

import re

from ..config import ToyWorldConfig
from .world import benchmark, benchmark_names, corpus_items, corpus_names, rl_prompts

_WORD = re.compile(r"\w+")
_EQUATION = re.compile(r"^(?:[^\n:]*: )?(\d+) ([+\-*]) (\d+) = (\d+)$", re.M)  # optional restated step


def record_text(rec: dict) -> str:
    """All the text of a corpus record, whatever its schema."""
    if "text" in rec:
        return rec["text"]
    if "messages" in rec:
        return "\n".join(m["content"] for m in rec["messages"])
    return f"{rec['problem']}\n{rec['solution']}"


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def key_from_solution(solution: str) -> str | None:
    """Rebuild a canonical key from a short solution's equation lines (independent of the generator)."""
    eqs = _EQUATION.findall(solution)
    if not eqs:
        return None
    return eqs[0][0] + "|" + "|".join(f"{op}{b}" for _, op, b, _ in eqs)


def check_disjoint(cfg: ToyWorldConfig, ngram: int = 13, examples: int = 3) -> dict:
    """Generate every corpus, benchmark and RL prompt at `cfg` sizes and intersect their problem keys."""
    bench_keys: dict[str, set[str]] = {}
    bench_recs: dict[str, list[dict]] = {}
    bench_grams: set[tuple[str, ...]] = set()
    names = benchmark_names(cfg)
    for name in names:
        recs = bench_recs[name] = benchmark(name, cfg)
        bench_keys[name] = {r["key"] for r in recs}
        for r in recs:
            bench_grams |= ngrams(r["question"], ngram)
    all_bench = set().union(*bench_keys.values())
    rl_recs = rl_prompts(cfg)
    rl_keys = {r["key"] for r in rl_recs}

    per_corpus, train_keys, samples = {}, set(), []
    for name in corpus_names(cfg):
        docs = keys_n = parsed_mismatch = overlap_docs = 0
        ckeys: set[str] = set()
        for rec, keys in corpus_items(name, cfg):
            docs += 1
            keys_n += len(keys)
            ckeys.update(keys)
            parsed = key_from_solution(rec["solution"]) if name == "qa_short" else None
            if name == "qa_short" and parsed is not None and parsed != keys[0]:  # direct answers have no steps
                parsed_mismatch += 1
            hit = ngrams(record_text(rec), ngram) & bench_grams
            if hit:
                overlap_docs += 1
                if len(samples) < examples:
                    samples.append({"corpus": name, "ngram": " ".join(sorted(hit)[0])})
        train_keys |= ckeys
        per_corpus[name] = {
            "docs": docs, "problems": keys_n, "distinct_keys": len(ckeys),
            "in_benchmark": len(ckeys & all_bench), "in_rl": len(ckeys & rl_keys),
            "ngram_overlap_docs": overlap_docs,
        }
        if name == "qa_short":
            per_corpus[name]["parsed_key_mismatches"] = parsed_mismatch
    overlap = {
        "train&benchmark": len(train_keys & all_bench),
        "train&rl": len(train_keys & rl_keys),
        "benchmark&rl": len(all_bench & rl_keys),
    }
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            overlap[f"{a}&{b}"] = len(bench_keys[a] & bench_keys[b])
    ok = not any(overlap.values()) and not per_corpus["qa_short"].get("parsed_key_mismatches")
    from .v2 import chance_rates

    return {
        "ok": ok,
        "chance": {n: chance_rates([r["answer"] for r in bench_recs[n]]) for n in names},
        "rl_prompts": {"n": len(rl_recs), "distinct": len({r["key"] for r in rl_recs})},
        "keys": {"train": len(train_keys), **{n: len(k) for n, k in bench_keys.items()}, "rl": len(rl_keys)},
        "overlap": overlap,
        "corpora": per_corpus,
        "ngram": {"n": ngram, "docs_with_overlap": sum(c["ngram_overlap_docs"] for c in per_corpus.values()),
                  "examples": samples},
    }
