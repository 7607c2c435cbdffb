"""The lean Llama/Qwen2 decoder: the HF model's logits at every step, and the sampler's exact outputs."""
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from octothinker.model import fast_decode
from octothinker.model.sampling import sample

COMMON = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=128, pad_token_id=0, eos_token_id=1)


def llama():
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**COMMON)).eval()


def qwen2():
    """Qwen2 has q/k/v biases; random ones make sure they are used."""
    torch.manual_seed(0)
    m = Qwen2ForCausalLM(Qwen2Config(**COMMON)).eval()
    with torch.no_grad():
        for layer in m.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.5)
    return m


def left_pad(rows):
    width = max(map(len, rows))
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids, mask


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("make", [llama, qwen2])
def test_every_step_matches_the_hf_forward_without_padding(make, fuse, monkeypatch):
    monkeypatch.setattr(fast_decode, "FUSE_MAX_PARAMS", 10**12 if fuse else 0)  # unfused: large models
    m = make()
    assert fast_decode.supports(m)
    rows = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15]]
    ids, mask = left_pad(rows)
    seqs = [list(r) for r in rows]
    with torch.inference_mode():
        dec = fast_decode.FastDecoder(m, len(rows), ids.shape[1] + 6)
        logits = dec.prefill(ids, mask)
        for step in range(6):
            ref = torch.stack([m(torch.tensor([s])).logits[0, -1] for s in seqs])
            torch.testing.assert_close(logits, ref, atol=1e-5, rtol=0, msg=f"step {step}")
            nxt = logits.argmax(-1)
            for s, t in zip(seqs, nxt.tolist()):
                s.append(t)
            if step == 2:  # rows leave the batch mid-way
                dec.select(torch.tensor([2, 0]))
                seqs, nxt = [seqs[2], seqs[0]], nxt[[2, 0]]
            if step < 5:
                logits = dec.step(nxt)


def test_repeat_gives_each_row_n_copies():
    m = llama()
    ids, mask = left_pad([[5, 6, 7], [8]])
    with torch.inference_mode():
        dec = fast_decode.FastDecoder(m, 2, 8)
        first = dec.prefill(ids, mask)
        dec.repeat(3)
        nxt = first.argmax(-1).repeat_interleave(3)
        out = dec.step(nxt)
    assert out.shape == (6, 96)
    torch.testing.assert_close(out[0], out[2])
    torch.testing.assert_close(out[3], out[5])


@pytest.mark.parametrize("make", [llama, qwen2])
def test_rows_sharing_their_prompt_cache_match_the_hf_forward(make):
    """After repeat(n) the prompt cache is kept once per prompt: every row's logits still equal the HF forward
    over its own prompt + response, through rows leaving out of order and a prompt whose rows all left."""
    m = make()
    rows = [[5, 6, 7, 8, 9], [11, 12], [13, 14, 15]]
    ids, mask = left_pad(rows)
    n = 3
    seqs = [list(r) for r in rows for _ in range(n)]
    with torch.inference_mode():
        dec = fast_decode.FastDecoder(m, len(rows), ids.shape[1] + 7)
        first = dec.prefill(ids, mask)
        dec.repeat(n)
        assert dec.shared is not None and dec.shared.keys_t.shape[1] == len(rows)  # one prompt cache per prompt
        logits = first.repeat_interleave(n, dim=0)
        for step in range(7):
            ref = torch.stack([m(torch.tensor([s])).logits[0, -1] for s in seqs])
            torch.testing.assert_close(logits, ref, atol=1e-5, rtol=0, msg=f"step {step}")
            nxt = (logits.argmax(-1) + torch.arange(len(seqs))) % 96  # rows of one prompt diverge
            for s, t in zip(seqs, nxt.tolist()):
                s.append(t)
            keep = {2: [8, 0, 2, 4, 3], 4: [2, 1]}.get(step)  # then prompt 2 (rows 6-8) and prompt 1 leave
            if keep:
                dec.select(torch.tensor(keep))
                seqs, nxt = [seqs[i] for i in keep], nxt[keep]
            if step < 6:
                logits = dec.step(nxt)
        assert dec.shared.keys_t.shape[1] == 1  # only prompt 0 still has rows


def test_capacity_is_enforced():
    m = llama()
    ids, mask = left_pad([[5, 6, 7]])
    with torch.inference_mode():
        dec = fast_decode.FastDecoder(m, 1, 4)
        dec.prefill(ids, mask)
        dec.step(torch.tensor([3]))
        with pytest.raises(ValueError, match="capacity"):
            dec.step(torch.tensor([3]))


@pytest.mark.parametrize("rope", [{"rope_type": "dynamic", "factor": 4.0}, {"type": "dynamic", "factor": 4.0}])
def test_length_dependent_rope_uses_the_hf_forward(rope):
    cfg = LlamaConfig(**{**COMMON, "max_position_embeddings": 16, "rope_scaling": dict(rope)})
    assert not fast_decode.supports(LlamaForCausalLM(cfg))


def test_unsupported_models_use_the_hf_forward():
    from transformers import GPT2Config, GPT2LMHeadModel

    g = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2))
    assert not fast_decode.supports(g)
    assert fast_decode.supports(llama())


@pytest.fixture(scope="module")
def tiny_tok():
    from octothinker.data.tokenizer import train_toy_tokenizer

    return train_toy_tokenizer([f"Question: {i} plus {i + 1}?\nAnswer: {2 * i + 1}\n\n" for i in range(60)], 200)


@pytest.mark.parametrize("temperature,top_p,stop", [(0.0, 1.0, None), (1.0, 1.0, ["\n"]), (0.8, 0.9, ["Answer"])])
def test_sampler_outputs_are_identical_on_both_paths(tiny_tok, temperature, top_p, stop):
    from octothinker.config import ModelConfig
    from octothinker.model.build import build_model

    m = build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=1), tiny_tok, seed=3)
    prompts = ["Question: 3 plus 4?\nAnswer:", "Hi", "Question: 12 plus 30 plus 5?"]
    kw = dict(n=4, max_new_tokens=12, temperature=temperature, top_p=top_p, stop=stop, seed=5, batch_size=2)
    fast, slow = sample(m, tiny_tok, prompts, fast=True, **kw), sample(m, tiny_tok, prompts, fast=False, **kw)
    for gf, gs in zip(fast, slow):
        assert [(s.token_ids, s.text, s.finish) for s in gf] == [(s.token_ids, s.text, s.finish) for s in gs]
