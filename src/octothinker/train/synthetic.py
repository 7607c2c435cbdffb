"""Small token-shard directories in the data stage's exact format, for tests and benchmarks.

The real data stage (`octothinker data build`) writes the same layout from real or toy corpora;
this writer only packs a few seeded arithmetic documents per source so the engine can be tested
without it.
"""
from __future__ import annotations

import hashlib
import random
import zlib
from pathlib import Path

import numpy as np

from ..paths import atomic_write_json


def arithmetic_docs(n: int, seed: int, style: str = "web") -> list[str]:
    """Seeded short documents: sums written as prose (web) or as Question/Answer pairs (qa)."""
    rng = random.Random(f"{seed}:{style}")
    docs = []
    for _ in range(n):
        a, b = rng.randint(0, 999), rng.randint(0, 999)
        if style == "qa":
            docs.append(f"Question: What is {a} + {b}?\nAnswer: {a} + {b} = {a + b}. The answer is \\boxed{{{a + b}}}")
        else:
            docs.append(f"We add {a} and {b}. The sum of {a} and {b} is {a + b}.")
    return docs


def pack(token_docs: list[list[int]], seq_len: int, eos_id: int, pad_id: int) -> np.ndarray:
    """Concatenate documents, each followed by EOS, cut into rows; pad the last partial row."""
    stream = [t for doc in token_docs for t in (*doc, eos_id)]
    rows = -(-len(stream) // seq_len)
    out = np.full(rows * seq_len, pad_id, dtype=np.int64)
    out[: len(stream)] = stream
    return out.reshape(rows, seq_len)


def write_mixture(out_dir: str | Path, tokenizer, tokenizer_dir: str | Path, sources: dict[str, list[str]], seq_len: int,
                  shard_rows: int = 64, heldout_docs: int = 4, seed: int = 0) -> Path:
    """Write `out_dir` (manifest.json, shard_*.bin, heldout/<source>.bin) from per-source texts."""
    out_dir = Path(out_dir)
    (out_dir / "heldout").mkdir(parents=True, exist_ok=True)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    dtype = np.uint16 if len(tokenizer) < 65536 else np.uint32
    rng = random.Random(seed)
    train_docs, stats, heldout = [], {}, {}
    for name, texts in sources.items():
        ids = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
        held, train = ids[:heldout_docs], ids[heldout_docs:]
        rows = pack(held, seq_len, eos, pad)
        rows.astype(dtype).tofile(out_dir / "heldout" / f"{name}.bin")
        heldout[name] = {"file": f"heldout/{name}.bin", "rows": int(rows.shape[0])}
        train_docs += train
        stats[name] = {"docs": len(train), "tokens": sum(len(d) + 1 for d in train), "target_tokens": None, "epochs": 1.0,
                       "bad_records": 0, "sha256": hashlib.sha256("\n".join(texts).encode()).hexdigest()}
    rng.shuffle(train_docs)
    rows = pack(train_docs, seq_len, eos, pad).astype(dtype)
    shards = []
    for i in range(0, len(rows), shard_rows):
        name = f"shard_{i // shard_rows:05d}.bin"
        chunk = rows[i : i + shard_rows]
        chunk.tofile(out_dir / name)
        shards.append({"file": name, "rows": int(len(chunk)), "sha256": hashlib.sha256(chunk.tobytes()).hexdigest()})
    manifest = {"seq_len": seq_len, "dtype": np.dtype(dtype).name, "eos_id": eos, "pad_id": pad, "vocab_size": len(tokenizer),
                "tokenizer": str(tokenizer_dir), "shards": shards, "rows": int(len(rows)), "tokens": int(rows.size),
                "sources": stats, "heldout": heldout, "decontamination": {},
                "config_hash": hashlib.sha256(rows.tobytes()).hexdigest()[:16]}
    atomic_write_json(out_dir / "manifest.json", manifest)
    return out_dir


def toy_run(run_dir: str | Path, mixtures: dict[str, dict[str, int]], seq_len: int = 32, vocab_size: int = 128, seed: int = 0) -> Path:
    """A run dir with data/tokenizer and data/<mixture>/ for each {mixture: {source style: n_docs}}."""
    from ..data.tokenizer import train_toy_tokenizer

    run_dir = Path(run_dir)
    corpus = arithmetic_docs(200, seed, "web") + arithmetic_docs(200, seed, "qa")
    tok = train_toy_tokenizer(corpus, vocab_size=vocab_size)
    tok_dir = run_dir / "data" / "tokenizer"
    tok.save_pretrained(str(tok_dir))
    for mix, sources in mixtures.items():
        texts = {f"{style}": arithmetic_docs(n, seed + zlib.crc32(mix.encode()) % 1000, style) for style, n in sources.items()}
        write_mixture(run_dir / "data" / mix, tok, tok_dir, texts, seq_len, seed=seed)
    return run_dir


TINY_MODEL = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 2, "num_heads": 2, "num_kv_heads": 2}


def tiny_recipe_dict(root: str | Path, stages: dict[str, dict], mixtures: tuple[str, ...] = ("gen",), seq_len: int = 32,
                     **midtrain) -> dict:
    """A recipe dict for a run `root/r` on mixtures written by `toy_run` with a ~40k-parameter Llama."""
    mt = {"micro_batch_size": 4, "checkpoint_every_tokens": 10**9, "eval_every_steps": 0, "stages": stages, **midtrain}
    return {
        "run": {"name": "r", "root": str(root), "device": "cpu"},
        "data": {"seq_len": seq_len, "sources": {"web": {"kind": "toy", "corpus": "general"}},
                 "mixtures": {m: {"weights": {"web": 1.0}, "tokens": 100_000} for m in mixtures}},
        "model": dict(TINY_MODEL),
        "midtrain": mt,
    }
