"""RL validation protocol (pure summaries, one budget), process-checked rewards and masked timeouts."""
from types import SimpleNamespace

import pytest

from octothinker.config import RLConfig
from octothinker.rl.rewards import finish_rewards, start_rewards
from octothinker.rl.trainer import _chain_metrics
from octothinker.rl.validation import memorisation_sets, summarize, validation_budget

WORKED = "Start with 75.\nAdd 4: 75 + 4 = 79\nAdd 3: 79 + 3 = 82\nThe answer is \\boxed{82}."
DIRECT = "The answer is \\boxed{82}."


@pytest.mark.parametrize("kw, budget", [
    (dict(max_response_tokens=64, length_schedule={0: 64, 8: 96}), 96),
    (dict(max_response_tokens=128, length_schedule={0: 64, 8: 96}), 128),
    (dict(max_response_tokens=64, length_schedule={0: 64, 8: 96}, validate_max_tokens=50), 50),
    (dict(max_response_tokens=80), 80),
])
def test_one_validation_budget_for_the_whole_run(kw, budget):
    assert validation_budget(RLConfig(**kw)) == budget


def test_trainer_validates_every_step_with_the_same_budget(monkeypatch, tmp_path):
    """Steps 0 and 12 of a {0: 64, 8: 96} schedule are validated at 96 tokens both (before: 64, then 96)."""
    import octothinker.eval.generation as gen
    from octothinker.rl.trainer import RLTrainer

    from test_rl_trainer import tiny_model, word_tokenizer

    seen = []

    def fake_generate(model, tok, prompts, max_new, temperature, top_p, n, stop, seed=0, batch_size=32, progress=False):
        seen.append(max_new)
        return [[SimpleNamespace(text="3", n_tokens=1, truncated=False) for _ in range(n)] for _ in prompts]

    monkeypatch.setattr(gen, "generate", fake_generate)
    tok = word_tokenizer()
    c = RLConfig(template="plain", max_response_tokens=64, length_schedule={0: 64, 8: 96}, validate_samples=2,
                 answer_kind="gsm", steps=16)
    bench = {"b": [{"question": "show 3", "answer": "3"}]}
    tr = RLTrainer(c, tiny_model(tok), tok, [{"question": "show 3", "answer": "3"}], tmp_path, benchmarks=bench)
    tr.validate(0)
    tr.validate(12)
    assert seen == [96, 96, 96, 96]  # greedy + sampled, at both steps


def test_summarize_exact_values():
    recs = [{"answer": "82", "steps": 2, "key": "75|+4|+3"}, {"answer": "10", "steps": 3, "key": "7|+1|+1|+1"}]
    greedy = [(True, 10, WORKED), (False, 4, "x")]
    sampled = [[(True, 10, WORKED), (True, 4, DIRECT), (False, 6, "a"), (False, 8, "b")],
               [(False, 2, "c"), (False, 2, "d"), (False, 2, "e"), (True, 2, "\\boxed{10}")]]
    out = summarize("s", recs, greedy, sampled)
    assert out["val/s/accuracy"] == 0.5 and out["val/s/response_len"] == 7
    assert out["val/s/sampled_accuracy"] == 3 / 8 and out["val/s/sampled_len"] == 36 / 8
    assert out["val/s/pass@1"] == pytest.approx((0.5 + 0.25) / 2)
    assert out["val/s/pass@2"] == pytest.approx((1 - 1 / 6 + 0.5) / 2)  # 1 - C(2,2)/C(4,2), 1 - C(3,2)/C(4,2)
    assert out["val/s/pass@4"] == 1.0
    assert out["val/s/depth2/accuracy"] == 1.0 and out["val/s/depth3/accuracy"] == 0.0
    assert out["val/s/depth2/sampled_accuracy"] == 0.5 and out["val/s/depth3/sampled_accuracy"] == 0.25
    assert out["val/s/lucky_rate"] == pytest.approx(2 / 3)  # the direct and the bare boxed answer


def test_summarize_greedy_only_and_without_keys():
    out = summarize("g", [{"answer": "1"}], [(True, 3, "1")], [[]])
    assert out == {"val/g/accuracy": 1.0, "val/g/response_len": 3.0}


def test_memorisation_sets():
    prompts = [{"id": i} for i in range(10)]
    order = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    sets = memorisation_sets(prompts, order, used=4, n=3)
    assert [r["id"] for r in sets["rl_seen"]] == [9, 8, 7] and [r["id"] for r in sets["rl_fresh"]] == [2, 1, 0]
    assert memorisation_sets(prompts, order, used=8, n=3) == {}  # fresh prompts would overlap the used ones
    assert memorisation_sets(prompts, order, used=4, n=0) == {}


def _fake(verdicts):
    def grader(responses, golds, kind, timeout):
        return verdicts
    return grader


def test_timed_out_responses_are_masked_or_wrong():
    v = [SimpleNamespace(correct=True, extracted="1", reason="numeric"),
         SimpleNamespace(correct=False, extracted=None, reason="timeout")]
    resp = ["\\boxed{1}", "\\boxed{2}"]
    rb = finish_rewards(start_rewards(resp, ["1", "1"], grader=_fake(v)), resp, [False, False], "plain")
    assert rb.rewards == [1.0, 0.0] and rb.loss_mask == [1.0, 0.0] and rb.timeouts == 1 and rb.timed_out == [False, True]
    rb = finish_rewards(start_rewards(resp, ["1", "1"], grader=_fake(v)), resp, [False, False], "plain", on_timeout="wrong")
    assert rb.loss_mask == [1.0, 1.0] and rb.timeouts == 1
    with pytest.raises(ValueError, match="reward_on_timeout"):
        finish_rewards(start_rewards(resp, ["1", "1"], grader=_fake(v)), resp, [False, False], "plain", on_timeout="x")


def test_require_valid_chain_rewards_only_worked_answers():
    v = [SimpleNamespace(correct=True, extracted="82", reason="numeric")] * 3
    resp = [WORKED, DIRECT, "nothing"]
    chains = [True, False, False]
    rb = finish_rewards(start_rewards(resp, ["82"] * 3, grader=_fake(v)), resp, [False] * 3, "plain",
                        chains=chains, require_chain=True)
    assert rb.rewards == [1.0, 0.0, 0.0] and rb.correct == [True, True, True]
    assert _chain_metrics(rb) == {"chain_rate": 1 / 3, "lucky_rate": 2 / 3}
    rb = finish_rewards(start_rewards(resp, ["82"] * 3, grader=_fake(v)), resp, [False] * 3, "plain", chains=chains)
    assert rb.rewards == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="require_valid_chain"):
        finish_rewards(start_rewards(resp, ["82"] * 3, grader=_fake(v)), resp, [False] * 3, "plain", require_chain=True)


def test_summarize_real_benchmark_records_without_keys():
    """Real benchmarks carry no toy key (or key None): no lucky_rate, no crash."""
    recs = [{"answer": "1", "key": None}, {"answer": "2"}]
    out = summarize("r", recs, [(True, 1, "1"), (False, 1, "3")], [[(True, 1, "1")], [(False, 1, "3")]])
    assert "val/r/lucky_rate" not in out and out["val/r/sampled_accuracy"] == 0.5


def test_toy_benchmark_records_carry_their_key():
    from octothinker.config import ToyWorldConfig
    from octothinker.eval.benchmarks import load_benchmark
    from octothinker.toyworld.chain import gold_steps

    recs = load_benchmark("toy_gsm", limit=3, toy_cfg=ToyWorldConfig())
    assert all(r["key"] and len(gold_steps(r["key"])) == r["steps"] for r in recs)


def test_step0_validation_cache_key_and_reuse(tmp_path):
    import dataclasses

    import torch

    from octothinker.config import RLConfig
    from octothinker.rl.validation import cached, validation_key

    model = torch.nn.Linear(3, 2)
    cfg = RLConfig()
    sets = {"toy_gsm": [{"question": "q", "answer": "1"}]}
    key = validation_key(model, sets, cfg, ["\n\n"], 7)
    assert key == validation_key(model, sets, cfg, ["\n\n"], 7)
    assert key != validation_key(model, sets, cfg, ["\n\n"], 8)
    assert key != validation_key(model, sets, dataclasses.replace(cfg, validate_samples=2), ["\n\n"], 7)
    assert key != validation_key(model, {"toy_gsm": [{"question": "q", "answer": "2"}]}, cfg, ["\n\n"], 7)
    original = model.weight.detach().clone()
    with torch.no_grad():
        model.weight[0, 0] += 1e-6
    assert key != validation_key(model, sets, cfg, ["\n\n"], 7)
    with torch.no_grad():  # the same values in another order
        model.weight.copy_(original.flip(1))
    assert key != validation_key(model, sets, cfg, ["\n\n"], 7)
    with torch.no_grad():
        model.weight.copy_(original)
    assert key == validation_key(model, sets, cfg, ["\n\n"], 7)
    big = torch.nn.Linear(300, 300)  # over torch's single-thread reduction size: the key must not depend on threads
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = validation_key(big, sets, cfg, ["\n\n"], 7)
        torch.set_num_threads(2)
        assert validation_key(big, sets, cfg, ["\n\n"], 7) == one
    finally:
        torch.set_num_threads(threads)
    assert validation_key(big.to(torch.bfloat16), sets, cfg, ["\n\n"], 7) != one
    calls = []
    first = cached(tmp_path, key, lambda: calls.append(1) or {"val/toy_gsm/accuracy": 0.5})
    again = cached(tmp_path, key, lambda: calls.append(1) or {"val/toy_gsm/accuracy": 0.0})
    assert first == again == {"val/toy_gsm/accuracy": 0.5} and calls == [1]
    (tmp_path / f"{key}.json").write_text("{broken")
    assert cached(tmp_path, key, lambda: {"x": 1}) == {"x": 1}


def _deferred_runs(tmp_path, sibling):
    """The same short run twice: step 0 validated first (plain), and deferred to the end (`defer_step0`),
    with or without a sibling filling the shared cache while it trains (`sibling="corrupt"`: it leaves a
    damaged entry there instead)."""
    import json

    from octothinker.rl.trainer import RLTrainer

    from test_rl_trainer import cfg, last_digit_grader, prompts, tiny_model, word_tokenizer

    tok = word_tokenizer()
    c = cfg(steps=2, validate_every=2, validate_limit=4, validate_samples=2, max_response_tokens=3)
    bench = {"b": [{"question": "show 3", "answer": "3"}, {"question": "show 8", "answer": "8"}]}
    rows, loads = {}, []
    for mode in ("plain", "deferred"):
        out = tmp_path / mode / "run"
        tr = RLTrainer(c, tiny_model(tok), tok, prompts(), out, benchmarks=bench, grader=last_digit_grader)
        tr.step0_from = lambda: loads.append(1) or tiny_model(tok)
        if mode == "deferred":
            tr.defer_step0 = True
            if sibling:  # a run from the same model beside it: the cache is filled after training starts
                step = tr.train_step

                def with_sibling(s, step=step, out=out, tr=tr):
                    if s == 0 and sibling == "corrupt":
                        tr.cache_dir.mkdir(parents=True, exist_ok=True)
                        (tr.cache_dir / f"{json.loads((out / 'step0_key.json').read_text())['key']}.json").write_text("{broken")
                    elif s == 0:
                        RLTrainer(c, tiny_model(tok), tok, prompts(), out, benchmarks=bench).validate(0)
                    return step(s)

                tr.train_step = with_sibling
        tr.train()
        rows[mode] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return rows, loads


@pytest.mark.parametrize("sibling", [False, True])
def test_deferred_step0_point_equals_the_first_one(tmp_path, sibling):
    """A run that trains before its step-0 validation writes the same step-0 row, first in metrics.jsonl: read
    from the cache a sibling filled meanwhile, else computed from the reloaded initial policy."""
    rows, loads = _deferred_runs(tmp_path, sibling)
    plain, deferred = rows["plain"], rows["deferred"]
    assert [r["step"] for r in deferred] == [r["step"] for r in plain] == [0, 1, 2]
    assert deferred[0] == plain[0]
    assert loads == ([] if sibling else [1])  # the initial policy is reloaded only when nobody cached the point


def test_deferred_step0_point_with_a_damaged_cache_entry_validates_the_initial_policy(tmp_path):
    """A damaged shared-cache entry at the end of a deferred run: the step-0 point is recomputed from the
    reloaded initial policy (`step0_from()`), not from the trained weights, and the entry is repaired with it."""
    import json

    rows, loads = _deferred_runs(tmp_path, "corrupt")
    plain, deferred = rows["plain"], rows["deferred"]
    val = lambda r: {k: v for k, v in r.items() if k.startswith("val/")}  # noqa: E731
    assert val(plain[2]) != val(plain[0])  # the trained policy validates differently: the check below can fail
    assert [r["step"] for r in deferred] == [0, 1, 2] and deferred[0] == plain[0]
    assert loads == [1]
    entries = list((tmp_path / "deferred" / ".validation_cache").glob("*.json"))
    assert len(entries) == 1 and {"step": 0, **json.loads(entries[0].read_text())} == plain[0]
