"""Tokenize+pack throughput against raw `tokenizers.encode_batch`, and peak memory at 1x vs 10x corpus.

Usage: python bench/data_pack.py [--docs 4000] [--mem-docs 5000] [--skip-memory]

1. Throughput: the same formatted toy documents go through (a) raw `encode_batch` of the Rust
   tokenizer, in the pipeline's batch size, ids not even read (and `encode_batch_fast`, which the
   pipeline itself uses, as a stricter baseline); (b) the pipeline's tokenize+pack
   (`encode_stream` + `ShardWriter` to disk); (c) (b) plus the seeded mixer over the toy sources.
   The ratios (b)/(a) and (c)/(a) are printed; the goal is >= 0.70.
2. Memory: a fresh subprocess per size runs the whole `run_data` on a local JSONL source of N and
   10N documents and reports its peak RSS (ru_maxrss); streaming means the two should be close.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path


def toy_texts(n_per_source: int) -> dict[str, list[str]]:
    from octothinker.config import ToyWorldConfig
    from octothinker.data.templates import render
    from octothinker.toyworld import CORPORA, corpus

    cfg = ToyWorldConfig(general_docs=n_per_source, math_web_docs=n_per_source, qa_docs=n_per_source,
                         instruct_docs=n_per_source)
    return {name: [render(kind, r) for r in islice(corpus(name, cfg), n_per_source)] for name, kind in CORPORA.items()}


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def throughput(n_per_source: int, batch: int) -> None:
    from octothinker.data.mixture import MixedStream, MixtureSampler, SourceCursor
    from octothinker.data.pack import ShardWriter, encode_stream, make_encoder, token_dtype
    from octothinker.data.tokenizer import train_toy_tokenizer

    by_source = toy_texts(n_per_source)
    texts = [t for ts in by_source.values() for t in ts]
    tok = train_toy_tokenizer(texts[::10], vocab_size=512)
    backend = tok.backend_tokenizer
    encode = make_encoder(tok)
    n_tokens = sum(len(ids) + 1 for _, ids in encode_stream(iter(texts), encode, batch))
    eos, pad, dtype = tok.eos_token_id, tok.pad_token_id, token_dtype(len(tok))

    def raw():
        for i in range(0, len(texts), batch):
            backend.encode_batch(texts[i:i + batch], add_special_tokens=False)

    def raw_fast():
        for i in range(0, len(texts), batch):
            backend.encode_batch_fast(texts[i:i + batch], add_special_tokens=False)

    def pack():
        with tempfile.TemporaryDirectory() as d:
            w = ShardWriter(d, 256, 4096, dtype, pad)
            for _, ids in encode_stream(iter(texts), encode, batch):
                w.add(ids, eos)
            w.close()

    def mix_pack():
        with tempfile.TemporaryDirectory() as d:
            w = ShardWriter(d, 256, 4096, dtype, pad)
            cursors = {k: SourceCursor(k, lambda e, s, v=v: encode_stream(iter(v[s:]), encode, batch)) for k, v in by_source.items()}
            per = n_tokens // len(by_source)
            stream = MixedStream(MixtureSampler({k: per for k in by_source}, seed=0), cursors, lambda it: len(it[1]) + 1)
            for _, (_, ids) in stream:
                w.add(ids, eos)
            w.close()

    t_raw, t_fast, t_pack, t_mix = best_of(raw), best_of(raw_fast), best_of(pack), best_of(mix_pack)
    print(f"corpus: {len(texts)} toy documents, {n_tokens:,} tokens (incl. EOS), vocab {len(tok)}, batch {batch}")
    print(f"raw encode_batch        : {n_tokens / t_raw / 1e6:6.2f} M tok/s ({t_raw:.2f} s)")
    print(f"raw encode_batch_fast   : {n_tokens / t_fast / 1e6:6.2f} M tok/s ({t_fast:.2f} s)  (no offsets; stricter baseline)")
    print(f"tokenize+pack           : {n_tokens / t_pack / 1e6:6.2f} M tok/s ({t_pack:.2f} s)  ratio {t_raw / t_pack:.2f} (vs fast {t_fast / t_pack:.2f})")
    print(f"mix+tokenize+pack       : {n_tokens / t_mix / 1e6:6.2f} M tok/s ({t_mix:.2f} s)  ratio {t_raw / t_mix:.2f} (vs fast {t_fast / t_mix:.2f})")
    print(f"goal: ratio >= 0.70 -> {'met' if t_raw / t_pack >= 0.70 else 'NOT met'} (pack), "
          f"{'met' if t_raw / t_mix >= 0.70 else 'NOT met'} (mix+pack)")


def _child(jsonl: str, root: str, tokens: int) -> None:
    """Run the whole data stage on one local JSONL source and print peak RSS (MiB)."""
    from octothinker.config import recipe_from_dict
    from octothinker.data.build import run_data

    recipe = recipe_from_dict({
        "run": {"name": "mem", "root": root},
        "toyworld": {"benchmark_size": 50, "rl_prompts": 50},
        "tokenizer": {"vocab_size": 512, "sample_docs": 2000},
        "data": {"sources": {"local": {"kind": "local", "path": jsonl, "template": "web"}},
                 "mixtures": {"all": {"weights": {"local": 1.0}, "tokens": tokens}}},
    })
    t = time.perf_counter()
    out = run_data(recipe)
    m = json.loads((out / "all" / "manifest.json").read_text())
    print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "tokens": m["tokens"], "seconds": time.perf_counter() - t}))


def memory(n_docs: int) -> None:
    base = [t for ts in toy_texts(max(n_docs // 6, 1)).values() for t in ts]
    results = {}
    with tempfile.TemporaryDirectory() as d:
        for mult in (1, 10):
            path = Path(d) / f"corpus_{mult}x.jsonl"
            with open(path, "w", encoding="utf-8") as fh:
                for rep in range(mult):
                    for i, t in enumerate(base):
                        fh.write(json.dumps({"text": f"{t} [{rep}.{i}]"}) + "\n")
            approx_tokens = int(sum(len(t) for t in base) * mult * 0.45)
            out = subprocess.run([sys.executable, __file__, "--child", str(path), d, str(approx_tokens)],
                                 capture_output=True, text=True, check=True)
            results[mult] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[mult]
            print(f"{mult:>2}x corpus: {len(base) * mult:7d} docs, {r['tokens']:>11,} tokens, "
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB, {r['seconds']:.1f} s (whole run_data incl. imports)")
    print(f"peak RSS 10x / 1x: {results[10]['peak_rss_mib'] / results[1]['peak_rss_mib']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=4000, help="documents per toy corpus for the throughput test")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--mem-docs", type=int, default=5000, help="documents in the 1x corpus of the memory test")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--child", nargs=3, metavar=("JSONL", "ROOT", "TOKENS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return
    throughput(args.docs, args.batch)
    if not args.skip_memory:
        memory(args.mem_docs)


if __name__ == "__main__":
    main()
