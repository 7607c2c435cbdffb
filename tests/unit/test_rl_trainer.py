"""The GRPO trainer on a tiny word-level world: learning, resume equivalence, filtering, KL/PPO options."""
from types import SimpleNamespace

import pytest
import torch

from octothinker.config import ModelConfig, RLConfig
from octothinker.model.build import build_model
from octothinker.paths import read_jsonl
from octothinker.rl.trainer import RLTrainer, build_batch

WORDS = ["<|pad|>", "<|endoftext|>", "<unk>", "Question:", "Answer:", "show"] + [str(d) for d in range(10)]


def word_tokenizer():
    """16 whole-word tokens: a random tiny model hits a digit often enough for RL to start."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<|pad|>", eos_token="<|endoftext|>", unk_token="<unk>")


def tiny_model(tok, seed=0):
    return build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=2), tok, seed=seed)


def prompts(digits=(3, 8), copies=4):
    return [{"id": str(i), "question": f"show {d}", "answer": str(d)} for i, d in enumerate(list(digits) * copies)]


def last_digit_grader(responses, golds, kind, timeout):
    out = []
    for r, g in zip(responses, golds):
        digits = [w for w in r.split() if w.isdigit()]
        out.append(SimpleNamespace(correct=bool(digits) and digits[-1] == g, extracted=digits[-1] if digits else None))
    return out


def cfg(**kw):
    base = dict(template="plain", steps=4, prompts_per_step=4, group_size=4, mini_batch_size=16, lr=1e-2,
                max_response_tokens=3, validate_every=0, save_every=0, rollout_samples=2, answer_kind="gsm")
    base.update(kw)
    return RLConfig(**base)


def test_build_batch_keeps_each_prompt_once():
    b = build_batch([[5, 6], [5, 6], [7]], [[8, 1], [9], [9, 10, 1]], pad=0)
    assert b["prompt_ids"].tolist() == [[5, 6], [0, 7]]  # distinct prompts, left-padded
    assert b["prompt_attn"].tolist() == [[1, 1], [0, 1]]
    assert b["row_prompt"].tolist() == [0, 0, 1]
    assert b["resp"].tolist() == [[8, 1, 0], [9, 0, 0], [9, 10, 1]]  # responses, right-padded
    assert b["resp_mask"].tolist() == [[1, 1, 0], [1, 0, 0], [1, 1, 1]]


def test_reward_rises_on_toy_task(tmp_path):
    """A random tiny model learns by RL alone to answer the shown digit (shared grader, seeded)."""
    tok = word_tokenizer()
    c = cfg(steps=25, prompts_per_step=8, group_size=8, mini_batch_size=64)
    RLTrainer(c, tiny_model(tok), tok, prompts(), tmp_path / "run", seed=0).train()
    acc = [r["accuracy"] for r in read_jsonl(tmp_path / "run" / "metrics.jsonl")]
    assert len(acc) == 25
    start, end = sum(acc[:3]) / 3, sum(acc[-5:]) / 5
    assert start < 0.2 and end >= 0.35 and end - start >= 0.2, acc


def test_shuffled_reward_control_does_not_learn(tmp_path):
    """The control arm sees the same reward rate with no link to the responses: the task is not learned."""
    tok = word_tokenizer()
    c = cfg(steps=25, prompts_per_step=8, group_size=8, mini_batch_size=64, reward_control="shuffled")
    RLTrainer(c, tiny_model(tok), tok, prompts(), tmp_path / "run", seed=0).train()
    rows = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    acc = [r["accuracy"] for r in rows]  # true correctness, logged as usual
    assert sum(acc[-5:]) / 5 < 0.25, acc
    assert all(abs(r["reward_mean"] - r["accuracy"]) < 1e-6 for r in rows)  # a permutation keeps the batch's rate


def test_resume_gives_the_same_run(tmp_path):
    tok = word_tokenizer()
    full = RLTrainer(cfg(steps=4, save_every=2), tiny_model(tok), tok, prompts(), tmp_path / "a", grader=last_digit_grader)
    full.train()
    first = RLTrainer(cfg(steps=2, save_every=2), tiny_model(tok), tok, prompts(), tmp_path / "b", grader=last_digit_grader)
    first.train()
    second = RLTrainer(cfg(steps=4, save_every=2), tiny_model(tok), tok, prompts(), tmp_path / "b", grader=last_digit_grader)
    second.train()
    assert second.step == 2  # it resumed rather than restarting
    for (k, v), (_, w) in zip(full.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(v, w), k
    ra, rb = (read_jsonl(tmp_path / d / "metrics.jsonl") for d in ("a", "b"))
    assert [r["step"] for r in rb] == [1, 2, 3, 4]
    assert [r["reward_mean"] for r in ra] == [r["reward_mean"] for r in rb]
    assert (tmp_path / "b" / "final" / "model.safetensors").is_file()
    assert (tmp_path / "b" / "rollouts" / "step_4.jsonl").is_file()


def test_zero_variance_groups_are_filtered(tmp_path):
    tok = word_tokenizer()

    def all_right(responses, golds, kind, timeout):
        return [SimpleNamespace(correct=True, extracted="1") for _ in responses]

    model = tiny_model(tok)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tr = RLTrainer(cfg(steps=1, filter_zero_variance=True), model, tok, prompts(), tmp_path / "z", grader=all_right)
    row = tr.train_step(0)
    assert row["zero_var_share"] == 1.0 and row["rollouts_used"] == 0 and row["updates"] == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("agg", ["token_mean", "seq_mean", "dr_grpo"])
def test_step_with_kl_ppo_epochs_and_metrics(tmp_path, agg):
    tok = word_tokenizer()
    c = cfg(steps=1, kl_coef=0.1, ppo_epochs=2, mini_batch_size=8, micro_batch_size=4, entropy_coef=0.01,
            clip_high=0.28, loss_agg=agg, truncation="mask")
    row = RLTrainer(c, tiny_model(tok), tok, prompts(), tmp_path / agg, grader=last_digit_grader).train_step(0)
    assert row["rollouts_used"] == round(16 * (1 - row["truncation_rate"]))  # truncated ones masked out
    assert row["updates"] == 2 * -(-row["rollouts_used"] // 8)  # 2 PPO epochs x mini-batches of 8
    for key in ("reward_mean", "reward_std", "accuracy", "response_len_mean", "response_len_max", "response_len_correct",
                "response_len_wrong", "truncation_rate", "entropy", "kl", "clip_frac", "grad_norm", "zero_var_share",
                "repetition_rate", "reflection_rate", "boxed_rate", "time_gen", "time_reward", "time_update"):
        assert key in row, key
    assert row["kl"] >= 0 and 0 <= row["clip_frac"] <= 1 and row["max_response_tokens"] == 3


def perturb_scores(tr, masked_old=None, masked_ref=None):
    """Old/reference log-probs moved off the current policy (seeded), so ratios clip and the KL is > 0;
    optionally set to extreme values where the response mask is 0."""
    score = tr._score

    def perturbed(batch):
        old, ref = score(batch)
        g = torch.Generator().manual_seed(5)
        old = old + (torch.rand(old.shape, generator=g) - 0.5) * 0.8
        ref = ref + (torch.rand(ref.shape, generator=g) - 0.5) * 0.8
        pad = batch["resp_mask"] == 0
        if masked_old is not None:
            old[pad] = masked_old
        if masked_ref is not None:
            ref[pad] = masked_ref
        return old, ref

    tr._score = perturbed


def test_logged_update_stats_do_not_depend_on_micro_batches(tmp_path):
    """loss is the mini-batch's (the sum of its chunks' shares); entropy/clip_frac/kl are token-weighted."""
    tok = word_tokenizer()
    rows = {}
    for micro in (0, 1):
        c = cfg(steps=1, kl_coef=0.1, micro_batch_size=micro, clip_low=0.1, clip_high=0.1)
        tr = RLTrainer(c, tiny_model(tok), tok, prompts(), tmp_path / str(micro), grader=last_digit_grader)
        perturb_scores(tr)
        rows[micro] = tr.train_step(0)
    one, per_rollout = rows[0], rows[1]
    assert one["updates"] == per_rollout["updates"] == 1
    assert 0 < one["clip_frac"] < 1 and one["kl"] > 0 and abs(one["loss"]) > 1e-3
    for key in ("loss", "entropy", "clip_frac", "kl"):
        assert per_rollout[key] == pytest.approx(one[key], abs=1e-6), key


def test_extreme_masked_scores_keep_the_update_finite(tmp_path):
    """Past a chunk's width old/ref log-probs are filler: exp(ref - logp) there must not overflow into NaN."""
    tok = word_tokenizer()
    c = cfg(steps=1, kl_coef=0.1, micro_batch_size=0, max_response_tokens=4)
    tr = RLTrainer(c, tiny_model(tok), tok, prompts(), tmp_path / "x", grader=last_digit_grader)
    perturb_scores(tr, masked_old=-200.0, masked_ref=200.0)
    row = tr.train_step(0)
    assert row["updates"] == 1
    for key in ("loss", "kl", "clip_frac", "entropy", "grad_norm"):
        assert torch.isfinite(torch.tensor(row[key])), (key, row[key])
    assert all(torch.isfinite(p).all() for p in tr.model.parameters())


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_precision_sets_the_forward_dtype(tmp_path, monkeypatch, precision, dtype):
    """bf16 runs the rollout, old-logprob scoring and update forwards under autocast; weights stay fp32."""
    import octothinker.model.fast_decode as fast_decode
    import octothinker.rl.trainer as T

    monkeypatch.setattr(fast_decode, "supports", lambda model: False)  # the HF forward, so module hooks see sampling
    tok = word_tokenizer()
    model = tiny_model(tok)
    tr = RLTrainer(cfg(steps=1, precision=precision, ppo_epochs=2, mini_batch_size=8), model, tok, prompts(),
                   tmp_path / precision, grader=last_digit_grader)
    phase, seen = ["other"], {}

    def hook(mod, inputs, output):
        seen.setdefault(phase[0], set()).update({inputs[0].dtype, output.dtype})

    model.model.layers[0].mlp.down_proj.register_forward_hook(hook)

    def in_phase(name, fn):
        def wrapped(*a, **k):
            phase[0] = name
            try:
                return fn(*a, **k)
            finally:
                phase[0] = "other"
        return wrapped

    monkeypatch.setattr(T, "sample", in_phase("rollout", T.sample))
    tr._score = in_phase("score", tr._score)
    tr._update = in_phase("update", tr._update)
    row = tr.train_step(0)
    assert seen == {"rollout": {dtype}, "score": {dtype}, "update": {dtype}}
    assert row["updates"] >= 2 and torch.isfinite(torch.tensor(row["loss"])) and row["loss"] != 0
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_bf16_step_with_the_fast_sampler_and_kl_is_finite(tmp_path):
    tok = word_tokenizer()
    model = tiny_model(tok)
    tr = RLTrainer(cfg(steps=1, precision="bf16", kl_coef=0.1, micro_batch_size=2), model, tok, prompts(), tmp_path / "b",
                   grader=last_digit_grader)
    row = tr.train_step(0)
    assert row["updates"] == 1
    for key in ("loss", "kl", "entropy", "grad_norm"):
        assert torch.isfinite(torch.tensor(row[key])), (key, row[key])
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in model.parameters())


def test_every_scoring_uses_the_sampling_temperature(tmp_path, monkeypatch):
    """Policy, old policy and reference are all scored on softmax(logits / T), the distribution sampled from."""
    import octothinker.rl.trainer as T

    calls = []
    real = T.token_logps

    def recording(model, *a, **k):
        calls.append((model is tr.ref, torch.is_grad_enabled(), k.get("temperature", 1.0)))
        return real(model, *a, **k)

    monkeypatch.setattr(T, "token_logps", recording)
    tok = word_tokenizer()
    tr = RLTrainer(cfg(steps=1, temperature=0.7, kl_coef=0.1, ppo_epochs=2, mini_batch_size=8), tiny_model(tok), tok,
                   prompts(), tmp_path / "t", grader=last_digit_grader)
    tr.train_step(0)
    assert {c[:2] for c in calls} == {(True, False), (False, False), (False, True)}  # reference, old policy, policy
    assert {c[2] for c in calls} == {0.7}


def _step_with_and_without_skip(tmp_path, grader, **kw):
    """One step twice from the same model: skipping zero-advantage rollouts' backward, and computing them all."""
    tok = word_tokenizer()
    out = {}
    for skip in (True, False):
        tr = RLTrainer(cfg(steps=1, lr=0.05, **kw), tiny_model(tok), tok, prompts(), tmp_path / str(skip), grader=grader)
        if not skip:
            tr._split_idle = lambda mini, adv: (mini.tolist(), [])
        out[skip] = (tr.train_step(0), {k: v.clone() for k, v in tr.model.state_dict().items()})
    return out


def test_zero_advantage_rollouts_skip_backward_with_the_same_update(tmp_path):
    """Rollouts of zero-variance groups carry no gradient: skipping their backward leaves the update and the
    logged loss, entropy and clip share as they are (to float rounding)."""
    def half_right(responses, golds, kind, timeout):  # groups of prompt 0 all wrong, others mixed
        return [SimpleNamespace(correct=g == "8" and i % 2 == 0, extracted="8") for i, g in enumerate(golds)]

    out = _step_with_and_without_skip(tmp_path, half_right)
    (row_s, w_s), (row_f, w_f) = out[True], out[False]
    assert 0 < row_s["zero_var_share"] < 1
    for k in w_s:
        assert torch.allclose(w_s[k], w_f[k], atol=1e-6), k
    assert any(not torch.equal(w_s[k], tiny_model(word_tokenizer()).state_dict()[k]) for k in w_s)
    for key in ("loss", "entropy", "clip_frac", "grad_norm"):
        assert row_s[key] == pytest.approx(row_f[key], abs=1e-6), key


def test_all_zero_advantage_steps_like_a_zero_gradient(tmp_path):
    """No rollout carries a gradient: AdamW still takes its step on zero gradients, exactly as without the skip."""
    def all_wrong(responses, golds, kind, timeout):
        return [SimpleNamespace(correct=False, extracted=None) for _ in responses]

    out = _step_with_and_without_skip(tmp_path, all_wrong, weight_decay=0.1)
    (row_s, w_s), (row_f, w_f) = out[True], out[False]
    assert row_s["zero_var_share"] == 1.0 and row_s["updates"] == row_f["updates"] == 1
    assert all(torch.equal(w_s[k], w_f[k]) for k in w_s)
    assert row_s["entropy"] == pytest.approx(row_f["entropy"], abs=1e-6) and row_s["grad_norm"] == 0.0
