"""Packing: EOS after every document, rows x seq_len, shard split, pad-filled tail, decode round trip."""
import hashlib

import numpy as np
import pytest

from octothinker.data.pack import ShardWriter, encode_stream, make_encoder, read_shard, token_dtype
from octothinker.data.tokenizer import train_toy_tokenizer

EOS, PAD = 1, 0


def _pack(tmp_path, docs, seq_len=4, shard_rows=2, **kw):
    w = ShardWriter(tmp_path, seq_len, shard_rows, np.uint16, PAD, **kw)
    for d in docs:
        w.add(d, EOS)
    return w, w.close()


def test_rows_eos_and_padding_exact(tmp_path):
    w, shards = _pack(tmp_path, [[5, 6, 7], [8], [9, 10, 11, 12, 13]])
    assert [(s["file"], s["rows"]) for s in shards] == [("shard_00000.bin", 2), ("shard_00001.bin", 1)]
    a = read_shard(tmp_path / "shard_00000.bin", 4, np.uint16)
    b = read_shard(tmp_path / "shard_00001.bin", 4, np.uint16)
    assert a.tolist() == [[5, 6, 7, 1], [8, 1, 9, 10]]
    assert b.tolist() == [[11, 12, 13, 1]]
    assert w.tokens == 12 and w.rows == 3
    assert shards[0]["sha256"] == hashlib.sha256((tmp_path / "shard_00000.bin").read_bytes()).hexdigest()


def test_final_partial_row_is_pad_filled(tmp_path):
    _, shards = _pack(tmp_path, [[5, 6], [7, 8, 9, 10, 11]], seq_len=4, shard_rows=10)
    assert shards[0]["rows"] == 3
    assert read_shard(tmp_path / "shard_00000.bin", 4, np.uint16).tolist() == [[5, 6, 1, 7], [8, 9, 10, 11], [1, 0, 0, 0]]


def test_exactly_full_shard_has_no_pad_row(tmp_path):
    _, shards = _pack(tmp_path, [[5, 6, 7], [8, 9, 10, 11, 12, 13, 14]], seq_len=4, shard_rows=3)
    assert [s["rows"] for s in shards] == [3]
    assert (tmp_path / "shard_00000.bin").stat().st_size == 3 * 4 * 2


def test_single_file_mode_spans_buffers(tmp_path):
    w, shards = _pack(tmp_path, [[5] * 9, [6] * 2], seq_len=4, shard_rows=1, single_file="h.bin")
    assert shards == [{"file": "h.bin", "rows": 4, "sha256": shards[0]["sha256"]}]
    assert read_shard(tmp_path / "h.bin", 4, np.uint16).ravel().tolist() == [5] * 9 + [1] + [6, 6, 1] + [0] * 3


def test_large_doc_buffered_drain(tmp_path):
    doc = [2 + i % 60000 for i in range(70000)]
    w, shards = _pack(tmp_path, [doc], seq_len=1000, shard_rows=10)
    flat = np.concatenate([read_shard(tmp_path / s["file"], 1000, np.uint16).ravel() for s in shards])
    assert flat[:70000].tolist() == doc and flat[70000] == EOS and not flat[70001:].any()
    assert len(shards) == 8 and shards[-1]["rows"] == 1


@pytest.mark.parametrize("vocab, dtype", [(300, "<u2"), (65535, "<u2"), (65536, "<u4"), (151_000, "<u4")])
def test_token_dtype(vocab, dtype):
    assert token_dtype(vocab) == np.dtype(dtype)


def test_id_too_large_for_dtype(tmp_path):
    w = ShardWriter(tmp_path, 4, 2, np.uint16, PAD)
    w.add([70000], EOS)
    with pytest.raises(ValueError, match="does not fit"):
        w.close()


def test_encode_pack_decode_round_trip(tmp_path):
    texts = ["Question: 12+7?\nAnswer: \\boxed{19}", "User: hi\nAssistant: hello", "plain web text 305"]
    tok = train_toy_tokenizer(texts * 5, vocab_size=280)
    enc = make_encoder(tok)
    pairs = list(encode_stream(iter(texts), enc, batch=2))
    assert [t for t, _ in pairs] == texts
    w = ShardWriter(tmp_path, 16, 4, token_dtype(len(tok)), tok.pad_token_id)
    for _, ids in pairs:
        w.add(ids, tok.eos_token_id)
    shards = w.close()
    flat = np.concatenate([read_shard(tmp_path / s["file"], 16, np.uint16).ravel() for s in shards]).tolist()
    eos_pos = [i for i, t in enumerate(flat) if t == tok.eos_token_id]
    assert len(eos_pos) == 3
    starts = [0] + [p + 1 for p in eos_pos[:-1]]
    decoded = [tok.decode(flat[s:e]) for s, e in zip(starts, eos_pos)]
    assert decoded == texts
    assert set(flat[eos_pos[-1] + 1:]) <= {tok.pad_token_id}
