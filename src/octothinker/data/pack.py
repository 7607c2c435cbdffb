"""Tokenize in batches and pack documents into fixed-length token shards (CONTRACTS.md "Token shards").

Each document is followed by EOS (and preceded by BOS where the tokenizer adds one, as Llama-3's
does), the stream is cut into `seq_len` rows (a document may continue on the next row), rows are
grouped `shard_rows` to a raw little-endian file, and the final partial row is filled with pad.
Memory is one shard buffer plus one encode batch, whatever the corpus size.
"""
from __future__ import annotations

import hashlib
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocab < 65536), else uint32; always little-endian on disk."""
    return np.dtype("<u2") if vocab_size < 65536 else np.dtype("<u4")


def document_bos(tokenizer) -> int | None:
    """The BOS id the tokenizer itself puts before a text (Llama-3's `<|begin_of_text|>`), else None.

    Decided by the tokenizer's own post-processor: a tokenizer that adds no BOS to `tokenizer(text)`
    (the toy BPE, Qwen2.5) gets none in the shards either, so training documents start the way eval
    and RL prompts (encoded with the tokenizer's special tokens) do.
    """
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None or bos == getattr(tokenizer, "eos_token_id", None):
        return None
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    with_special = backend.encode("a", add_special_tokens=True).ids
    plain = backend.encode("a", add_special_tokens=False).ids
    return bos if with_special[:1] == [bos] and plain[:1] != [bos] else None


def make_encoder(tokenizer) -> Callable[[list[str]], list[list[int]]]:
    """Batched encoder on the Rust tokenizer: each document's ids, after the tokenizer's BOS where it adds
    one (`document_bos`); no other special tokens (EOS is added by the packer)."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    fast = getattr(backend, "encode_batch_fast", None)
    encode = fast if fast is not None else backend.encode_batch
    bos = document_bos(tokenizer)
    head = [bos] if bos is not None else []

    def encode_texts(texts: list[str]) -> list[list[int]]:
        return [head + e.ids for e in encode(texts, add_special_tokens=False)]

    return encode_texts


def encode_stream(texts: Iterable[str], encode: Callable[[list[str]], list[list[int]]], batch: int) -> Iterator[tuple[str, list[int]]]:
    """Yield (text, ids) for every text, calling `encode` on batches of `batch` texts."""
    it = iter(texts)
    while True:
        chunk = list(islice(it, batch))
        if not chunk:
            return
        yield from zip(chunk, encode(chunk))


class ShardWriter:
    """Append a token stream; write `rows x seq_len` shards named `<prefix>NNNNN.bin` (or one file)."""

    def __init__(self, out_dir: str | Path, seq_len: int, shard_rows: int, dtype, pad_id: int,
                 prefix: str = "shard_", single_file: str | None = None):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.seq_len, self.shard_rows, self.pad_id = seq_len, shard_rows, pad_id
        self.dtype = np.dtype(dtype)
        self.prefix, self.single_file = prefix, single_file
        self._buf = np.empty(shard_rows * seq_len, dtype=self.dtype)
        self._fill = 0
        self._pending: list[int] = []
        self.shards: list[dict] = []
        self.tokens = 0  # real (non-pad) tokens written
        self._single_fh = None
        self._single_hash = hashlib.sha256()
        self._single_rows = 0

    def add(self, ids: list[int], eos_id: int) -> None:
        """Queue one document and its EOS (flushed in chunks to keep numpy conversion amortised)."""
        self._pending.extend(ids)
        self._pending.append(eos_id)
        if len(self._pending) >= 65536:
            self._drain()

    def _drain(self) -> None:
        if not self._pending:
            return
        arr = np.asarray(self._pending, dtype=np.int64)
        self._pending = []
        if arr.max(initial=0) > np.iinfo(self.dtype).max:
            raise ValueError(f"token id {int(arr.max())} does not fit {self.dtype}")
        self.tokens += len(arr)
        pos = 0
        while pos < len(arr):
            take = min(len(self._buf) - self._fill, len(arr) - pos)
            self._buf[self._fill:self._fill + take] = arr[pos:pos + take]
            self._fill += take
            pos += take
            if self._fill == len(self._buf):
                self._flush_buffer()

    def _flush_buffer(self) -> None:
        if self._fill == 0:
            return
        rows = -(-self._fill // self.seq_len)
        self._buf[self._fill:rows * self.seq_len] = self.pad_id
        data = self._buf[: rows * self.seq_len].tobytes()
        if self.single_file:
            if self._single_fh is None:
                self._single_fh = open(self.out_dir / self.single_file, "wb")
            self._single_fh.write(data)
            self._single_hash.update(data)
            self._single_rows += rows
        else:
            name = f"{self.prefix}{len(self.shards):05d}.bin"
            (self.out_dir / name).write_bytes(data)
            self.shards.append({"file": name, "rows": rows, "sha256": hashlib.sha256(data).hexdigest()})
        self._fill = 0

    def close(self) -> list[dict]:
        """Flush the tail (pad-filled) and return the shard list `[{file, rows, sha256}]`."""
        self._drain()
        self._flush_buffer()
        if self.single_file:
            if self._single_fh is None:
                self._single_fh = open(self.out_dir / self.single_file, "wb")
            self._single_fh.close()
            self.shards = [{"file": self.single_file, "rows": self._single_rows, "sha256": self._single_hash.hexdigest()}]
        return self.shards

    @property
    def rows(self) -> int:
        return sum(s["rows"] for s in self.shards)


def read_shard(path: str | Path, seq_len: int, dtype) -> np.ndarray:
    """Memory-map a shard as a `rows x seq_len` array (the trainer's view of it)."""
    mm = np.memmap(path, dtype=np.dtype(dtype), mode="r")
    return mm.reshape(-1, seq_len)
