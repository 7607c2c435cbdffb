"""`run_data`: tokenizer + one token-shard directory per mixture, each written atomically with a manifest.

Layout (CONTRACTS.md "Token shards"): `runs/<run>/data/tokenizer/` and `runs/<run>/data/<mixture>/`
holding `shard_*.bin`, `heldout/<source>.bin`, `manifest.json` and `config.resolved.yaml`. A mixture
whose manifest carries the same config hash is skipped; a failed build leaves the old one intact.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Iterator

from ..progress import progress

from ..configio import to_dict
from ..paths import RunPaths, atomic_dir, atomic_write_json, atomic_write_text
from .decontam import Decontaminator, build_index
from .mixture import BUILD_VERSION, MixedStream, MixtureSampler, SourceCursor, split_budget
from .pack import ShardWriter, encode_stream, make_encoder, token_dtype
from .readers import BadRecords, data_files_stamp
from .sources import check_source, iter_documents, source_kind
from .tokenizer import load_tokenizer, train_toy_tokenizer

TOKENIZER_STAMP = "octothinker_tokenizer.json"


def _hash(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def tokenizer_hash(recipe, files: dict | None = None) -> str:
    """`files`: `data_files_stamp(recipe)` when the caller has it (computed here otherwise)."""
    payload = {"tokenizer": to_dict(recipe.tokenizer)}
    if recipe.tokenizer.kind == "toy_bpe":
        payload.update(sources=to_dict(recipe.data.sources), toyworld=to_dict(recipe.toyworld))
        files = {k: v for k, v in (data_files_stamp(recipe) if files is None else files).items()
                 if k in recipe.data.sources}
        if files:  # trained on the sources' files: an edited file is another tokenizer
            payload["files"] = files
    return _hash(payload)


def mixture_hash(recipe, name: str, tok_hash: str, files: dict | None = None) -> str:
    """`files`: `data_files_stamp(recipe)` when the caller has it (computed here otherwise)."""
    data = to_dict(recipe.data)
    data.pop("mixtures")
    payload = {"data": data, "mixture": to_dict(recipe.data.mixtures[name]), "name": name, "tokenizer": tok_hash,
               "toyworld": to_dict(recipe.toyworld), "seed": recipe.run.seed, "build": BUILD_VERSION}
    files = data_files_stamp(recipe) if files is None else files
    if files:  # local files and benchmark folder: an edited file is not "up to date"
        payload["files"] = files
    return _hash(payload)


def _read_stamp(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@contextmanager
def _exclusive(lock: Path):
    """Hold an exclusive lock on file `lock` (flock; a no-op where fcntl does not exist): data stages running
    side by side build the shared tokenizer once, and none reads it while another swaps it in."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_tokenizer(recipe, paths: RunPaths, files: dict | None = None):
    """Train (toy_bpe) or load (hf) the run's tokenizer into runs/<run>/data/tokenizer/, reusing a matching one;
    one process at a time (parallel data stages share it)."""
    import tempfile

    key = hashlib.sha256(str(paths.tokenizer.resolve()).encode()).hexdigest()[:16]  # beside no output: bad input
    with _exclusive(Path(tempfile.gettempdir()) / f"octothinker-tokenizer-{key}.lock"):  # leaves nothing behind
        return _build_tokenizer(recipe, paths, files)


def _build_tokenizer(recipe, paths: RunPaths, files: dict | None):
    h = tokenizer_hash(recipe, files)
    out = paths.tokenizer
    if _read_stamp(out / TOKENIZER_STAMP).get("config_hash") == h:
        return load_tokenizer(out), h
    cfg = recipe.tokenizer
    if cfg.kind == "toy_bpe":
        bad = BadRecords(recipe.data.on_bad_record)
        sample = [
            text
            for name, src in recipe.data.sources.items()
            for text in islice(iter_documents(name, src, recipe.toyworld, bad), cfg.sample_docs)
        ]
        if not sample:
            raise ValueError("tokenizer: no documents to train the toy BPE on (data.sources is empty?)")
        tok = train_toy_tokenizer(sample, cfg.vocab_size, cfg.join_space_digit)
    else:
        tok = load_tokenizer(cfg.path)
    with atomic_dir(out) as tmp:
        tok.save_pretrained(str(tmp))
        atomic_write_json(tmp / TOKENIZER_STAMP, {"config_hash": h, "kind": cfg.kind, "path": cfg.path})
    return load_tokenizer(out), h


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class _SourceState:
    """Per-source bookkeeping of one mixture build: bad records (first pass only), content hash, and the
    held-out texts, which training never reads (a source may repeat a text after its held-out slice)."""

    def __init__(self, name: str, recipe, decon: Decontaminator, encode):
        self.name, self.recipe, self.decon, self.encode = name, recipe, decon, encode
        self.src = recipe.data.sources[name]
        self.bad = BadRecords(recipe.data.on_bad_record)
        self.sha = hashlib.sha256()
        self.tokens = 0
        self.heldout_keys: set[bytes] = set()
        self.heldout_repeats = 0  # training documents dropped as copies of a held-out text (first pass)

    def _not_held_out(self, docs: Iterator[str], count: bool) -> Iterator[str]:
        for text in docs:
            if _text_key(text) in self.heldout_keys:
                self.heldout_repeats += count
                continue
            yield text

    def documents(self, first_pass: bool) -> Iterator[str]:
        bad = self.bad if first_pass else BadRecords(self.recipe.data.on_bad_record)
        return iter_documents(self.name, self.src, self.recipe.toyworld, bad)

    def open_epoch(self, epoch: int, skip: int) -> Iterator[tuple[str, list[int]]]:
        d = self.recipe.data
        docs = islice(self.documents(epoch == 0), d.heldout_docs, None)
        if self.heldout_keys:
            docs = self._not_held_out(docs, count=epoch == 0)
        docs = islice(self.decon.filter(self.name, docs, count=epoch == 0), skip, None)
        return encode_stream(docs, self.encode, d.encode_batch)


def build_mixture(recipe, name: str, tokenizer, tok_dir: Path, out: Path, config_hash: str, decon: Decontaminator) -> dict:
    """Write shards, held-out files and the manifest of one mixture into `out` (a temp dir)."""
    d = recipe.data
    mix = d.mixtures[name]
    targets = split_budget(mix.weights, mix.tokens)
    vocab = len(tokenizer)
    dtype = token_dtype(vocab)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    encode = make_encoder(tokenizer)
    states = {s: _SourceState(s, recipe, decon, encode) for s, t in targets.items() if t > 0}

    heldout = {}
    for s, st in states.items():
        if d.heldout_docs <= 0:
            break
        w = ShardWriter(out / "heldout", d.seq_len, d.shard_rows, dtype, pad, single_file=f"{s}.bin")
        n = 0
        for text, ids in encode_stream(islice(st.documents(False), d.heldout_docs), encode, d.encode_batch):
            w.add(ids, eos)
            st.heldout_keys.add(_text_key(text))
            n += 1
        w.close()
        heldout[s] = {"file": f"heldout/{s}.bin", "rows": w.rows, "docs": n, "tokens": w.tokens}

    seed = recipe.run.seed * 1_000_003 + zlib.crc32(name.encode())
    cursors = {s: SourceCursor(s, st.open_epoch) for s, st in states.items()}
    stream = MixedStream(MixtureSampler(targets, seed), cursors, length=lambda item: len(item[1]) + 1)
    writer = ShardWriter(out, d.seq_len, d.shard_rows, dtype, pad)
    bar = progress(total=mix.tokens, unit="tok", unit_scale=True, desc=f"data {name}", mininterval=1.0)
    pending = 0
    for s, (text, ids) in stream:
        st = states[s]
        st.sha.update(text.encode("utf-8"))
        st.sha.update(b"\0")
        writer.add(ids, eos)
        pending += len(ids) + 1
        if pending >= 65536:
            bar.update(pending)
            pending = 0
    bar.update(pending)
    bar.close()
    shards = writer.close()

    sampler = stream.sampler
    sources = {}
    for s, st in states.items():
        c = cursors[s]
        sources[s] = {
            "kind": source_kind(st.src),
            "docs": sampler.docs[s],
            "tokens": sampler.emitted[s],
            "target_tokens": targets[s],
            "epochs": c.epochs,
            "docs_per_epoch": c.epoch_size,
            "bad_records": st.bad.count,
            "bad_examples": st.bad.examples,
            "heldout_repeats_dropped": st.heldout_repeats,
            "sha256": st.sha.hexdigest(),
        }
    manifest = {
        "mixture": name,
        "seq_len": d.seq_len,
        "dtype": "uint16" if dtype.itemsize == 2 else "uint32",
        "eos_id": eos,
        "pad_id": pad,
        "vocab_size": vocab,
        "tokenizer": str(tok_dir.resolve()),
        "shards": shards,
        "rows": sum(x["rows"] for x in shards),
        "tokens": writer.tokens,
        "budget_tokens": mix.tokens,
        "weights": dict(mix.weights),
        "seed": seed,
        "sources": sources,
        "heldout": heldout,
        "decontamination": decon.report(),
        "config_hash": config_hash,
    }
    atomic_write_text(out / "config.resolved.yaml", recipe.to_yaml())
    atomic_write_json(out / "manifest.json", manifest)
    return manifest


def run_data(recipe, mixtures: list[str] | None = None) -> Path:
    """Build the tokenizer and every (or the named) mixture of `recipe`; returns runs/<run>/data."""
    paths = RunPaths(recipe.run_dir)
    names = list(mixtures) if mixtures else list(recipe.data.mixtures)
    unknown = [m for m in names if m not in recipe.data.mixtures]
    if unknown:
        raise ValueError(f"unknown mixture(s) {unknown}; declared: {', '.join(recipe.data.mixtures) or '(none)'}")
    for sname, src in recipe.data.sources.items():
        check_source(sname, src)
    files = data_files_stamp(recipe)  # one scan of the local files for the tokenizer's and every mixture's hash
    tokenizer, tok_hash = build_tokenizer(recipe, paths, files)
    dc = recipe.data.decontamination
    index = build_index(dc.ngram, recipe.toyworld, dc.benchmark_dir)
    for name in names:
        out = paths.data(name)
        h = mixture_hash(recipe, name, tok_hash, files)
        if _read_stamp(out / "manifest.json").get("config_hash") == h:
            print(f"data: mixture {name!r} is up to date (config hash {h}); skipped")
            continue
        with atomic_dir(out) as tmp:
            m = build_mixture(recipe, name, tokenizer, paths.tokenizer, tmp, h, Decontaminator(index, dc.drop))
        print(f"data: mixture {name!r}: {m['rows']} rows x {m['seq_len']} = {m['tokens']} tokens -> {out}")
    return paths.root / "data"
