"""Templates, rewards, metrics, length schedule and the vLLM settings mapping (pure functions)."""
import pytest

from octothinker.rl import metrics as M
from octothinker.rl.rewards import combine_rewards
from octothinker.model.vllm_engine import vllm_sampling_kwargs
from octothinker.rl.rollout import max_tokens_at
from octothinker.rl.templates import TEMPLATES, format_ok, render, stop_strings


def test_templates_render():
    assert render("plain", " What is 2+3? ") == "Question: What is 2+3?\nAnswer:"
    simple = render("simple", "What is 2+3?")
    assert simple.startswith("Question: What is 2+3?\nAnswer:") and "step by step" in simple
    cx = render("complex", "What is 2+3?")
    assert "User: What is 2+3?\nAssistant: <think>" in cx and cx.endswith("<think>") and "\\boxed{}" in cx
    for t in TEMPLATES:
        assert stop_strings(t)
    with pytest.raises(ValueError, match="unknown RL template"):
        render("fancy", "q")


@pytest.mark.parametrize(
    "template, response, ok",
    [
        ("complex", " 2+3=5 </think> The answer is \\boxed{5}", True),
        ("complex", " 2+3=5, so \\boxed{5}", False),  # think block never closed
        ("complex", " x </think> <think> \\boxed{5}", False),
        ("simple", " 2+3=5 so \\boxed{5}.", True),
        ("plain", " 5", False),
    ],
)
def test_format_ok(template, response, ok):
    assert format_ok(template, response) is ok


@pytest.mark.parametrize(
    "truncation, rewards, masks",
    [
        ("none", [1.5, 0.5, 1.0, 0.0], [1, 1, 1, 1]),
        ("penalty", [1.5, -0.5, 0.0, 0.0], [1, 1, 1, 1]),
        ("mask", [1.5, 0.5, 1.0, 0.0], [1, 0, 0, 1]),
    ],
)
def test_combine_rewards(truncation, rewards, masks):
    correct = [True, False, True, False]
    formatted = [True, True, False, False]
    truncated = [False, True, True, False]
    r, m = combine_rewards(correct, formatted, truncated, format_reward=0.5, truncation=truncation, truncation_penalty=1.0)
    assert r == rewards and m == masks


@pytest.mark.parametrize(
    "step, default, schedule, expected",
    [
        (0, 16, {0: 32, 10: 64, 20: 128}, 32),
        (9, 16, {0: 32, 10: 64, 20: 128}, 32),
        (10, 16, {0: 32, 10: 64, 20: 128}, 64),
        (25, 16, {20: 128, 0: 32, 10: 64}, 128),
        (0, 16, {5: 64}, 16),
        (7, 16, {}, 16),
    ],
)
def test_length_schedule(step, default, schedule, expected):
    assert max_tokens_at(step, default, schedule) == expected


@pytest.mark.parametrize(
    "text, n, rate",
    [
        ("a b c d a b c d", 4, 0.2),  # 5 four-grams, 4 distinct
        ("one two three", 4, 0.0),
        ("", 4, 0.0),
        ("x x x x", 1, 0.75),
    ],
)
def test_repetition_rate(text, n, rate):
    assert M.repetition_rate(text, n) == pytest.approx(rate)


def test_text_flags_and_summary():
    assert M.has_reflection("Wait, let me check that.") and not M.has_reflection("waiting in line")
    assert M.has_boxed("so \\boxed{4}") and not M.has_boxed("boxed 4")
    out = M.text_metrics(["Wait \\boxed{1}", "2"], [4, 2], [True, False], [False, True])
    assert out["response_len_mean"] == 3 and out["response_len_max"] == 4
    assert out["response_len_correct"] == 4 and out["response_len_wrong"] == 2
    assert out["truncation_rate"] == 0.5 and out["reflection_rate"] == 0.5 and out["boxed_rate"] == 0.5


def test_vllm_sampling_kwargs():
    kw = vllm_sampling_kwargs(16, 4096, 1.0, 0.95, ["\n\nQuestion:"], 7)
    assert kw == {"n": 16, "max_tokens": 4096, "temperature": 1.0, "top_p": 0.95, "stop": ["\n\nQuestion:"],
                  "include_stop_str_in_output": False, "skip_special_tokens": True, "seed": 7}
    greedy = vllm_sampling_kwargs(1, 8, 0.0, 0.5, None, None)
    assert greedy["top_p"] == 1.0 and greedy["temperature"] == 0.0 and "seed" not in greedy and greedy["stop"] == []
    assert vllm_sampling_kwargs(1, 8, -1.0, 0.5)["temperature"] == 0.0
