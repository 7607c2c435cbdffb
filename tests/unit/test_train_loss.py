"""Loss masking on packed rows, document-local positions/masks, and the rank/micro-batch row split."""
import numpy as np
import pytest
import torch

from octothinker.train.data import open_shards, rank_rows
from octothinker.train.loss import IGNORE, doc_block_mask, doc_position_ids, shifted_targets

E, P = 1, 0  # eos, pad


def test_targets_skip_document_boundary_and_pad():
    ids = torch.tensor([[5, 6, E, 7, 8, E, P, P]])
    assert shifted_targets(ids, E, P).tolist() == [[6, E, IGNORE, 8, E, IGNORE, IGNORE]]


def test_pad_equal_to_eos_keeps_the_real_eos_target():
    ids = torch.tensor([[5, 6, E, 7, E, E, E]])  # pad == eos == 1: the tail follows an EOS
    assert shifted_targets(ids, E, E).tolist() == [[6, E, IGNORE, E, IGNORE, IGNORE]]


def test_doc_positions_restart_after_eos():
    ids = torch.tensor([[5, 6, E, 7, 8, E, 9]])
    assert doc_position_ids(ids, E).tolist() == [[0, 1, 2, 0, 1, 2, 0]]


def test_block_mask_is_causal_within_documents():
    ids = torch.tensor([[5, E, 7, 8]])
    allowed = (doc_block_mask(ids, E, torch.float32)[0, 0] == 0).int().tolist()
    assert allowed == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]


@pytest.mark.parametrize("micro, accum, world", [(2, 3, 1), (1, 2, 2), (3, 1, 4)])
def test_rank_rows_cover_each_step_once(micro, accum, world):
    rows = sorted(r for m in range(accum) for k in range(world) for r in rank_rows(10, micro, m, k, world))
    assert rows == list(range(10, 10 + micro * accum * world))


def test_single_process_micro_batches_are_contiguous():
    assert [rank_rows(0, 2, m, 0, 1) for m in range(3)] == [[0, 1], [2, 3], [4, 5]]


def test_open_shards_reports_truncated_shard(tmp_path):
    import json

    np.arange(12, dtype=np.uint16).tofile(tmp_path / "shard_00000.bin")
    man = {"seq_len": 4, "dtype": "uint16", "eos_id": 1, "pad_id": 0, "shards": [{"file": "shard_00000.bin", "rows": 4}]}
    (tmp_path / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match=r"shards\[0\] shard_00000.bin: expected 32 bytes"):
        open_shards(tmp_path)
    man["shards"][0]["rows"] = 3
    (tmp_path / "manifest.json").write_text(json.dumps(man))
    data = open_shards(tmp_path)
    assert data.rows == 3 and data.take([0, 4]).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]  # row 4 wraps to row 1


def test_doc_mask_makes_documents_independent():
    from octothinker.config import ModelConfig
    from octothinker.model.build import tiny_llama_config
    from octothinker.train.loss import loss_sum
    from transformers import LlamaForCausalLM

    cfg = tiny_llama_config(ModelConfig(hidden_size=16, intermediate_size=32, num_layers=1, num_heads=2, num_kv_heads=2), 20)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    packed = torch.tensor([[5, 6, 7, E, 8, 9, 10, 11]])
    alone = torch.tensor([[8, 9, 10, 11]])
    with torch.no_grad():
        pos = doc_position_ids(packed, E)
        mask = doc_block_mask(packed, E, torch.float32)
        joint = model(input_ids=packed, position_ids=pos, attention_mask=mask).logits[0, 4:]
        single = model(input_ids=alone).logits[0]
        leaky = model(input_ids=packed).logits[0, 4:]
        torch.testing.assert_close(joint, single, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(leaky, single, atol=1e-3)
        s_mask, n = loss_sum(model, packed, E, P, doc_mask=True)
        s_plain, n2 = loss_sum(model, packed, E, P, doc_mask=False)
    assert n == n2 == 6 and not torch.isclose(s_mask, s_plain)


@pytest.mark.filterwarnings("ignore:CUDA is not available")
def test_precision_auto_is_fp32_on_cpu_and_bf16_elsewhere():
    """`precision: auto` autocasts to bf16 only on an accelerator (CPU bf16 matmuls ran 20x slower than fp32)."""
    import contextlib

    import torch

    from octothinker.train.loop import _autocast

    assert isinstance(_autocast(torch.device("cpu"), "auto"), contextlib.nullcontext)
    assert isinstance(_autocast(torch.device("cpu"), "fp32"), contextlib.nullcontext)
    assert isinstance(_autocast(torch.device("cpu"), "bf16"), torch.autocast)
    assert isinstance(_autocast(torch.device("cuda"), "auto"), torch.autocast)
