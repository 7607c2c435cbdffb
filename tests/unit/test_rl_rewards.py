"""Reward isolation: a stuck grader or a hostile output can never hang a step."""
import threading
import time
from types import SimpleNamespace

from octothinker.rl.rewards import finish_rewards, start_rewards


def test_stuck_grader_costs_rewards_not_the_step():
    never = threading.Event()

    def stuck(responses, golds, kind, timeout):
        never.wait()

    t0 = time.perf_counter()
    pending = start_rewards(["\\boxed{1}", "\\boxed{2}"], ["1", "2"], "math", timeout=0.1, grader=stuck)
    rb = finish_rewards(pending, ["\\boxed{1}", "\\boxed{2}"], [False, False], "simple")
    assert time.perf_counter() - t0 < pending.budget + 1.0
    assert rb.timeouts == 2 and rb.rewards == [0.0, 0.0] and rb.correct == [False, False]


def test_raising_grader_scores_zero():
    def broken(responses, golds, kind, timeout):
        raise RuntimeError("boom")

    rb = finish_rewards(start_rewards(["x"], ["1"], grader=broken), ["x"], [False], "plain")
    assert rb.rewards == [0.0] and rb.timeouts == 1


def test_rewards_from_verdicts_with_format_and_truncation():
    def fake(responses, golds, kind, timeout):
        return [SimpleNamespace(correct=r.strip().endswith(g + "}"), extracted=g) for r, g in zip(responses, golds)]

    resp = [" a </think> \\boxed{3}", " \\boxed{4}", " loops"]
    rb = finish_rewards(start_rewards(resp, ["3", "4", "5"], grader=fake), resp, [False, False, True], "complex",
                        format_reward=0.1, truncation="penalty", truncation_penalty=0.5)
    assert rb.rewards == [1.1, 1.0, -0.5] and rb.formatted == [True, False, False] and rb.timeouts == 0


def test_real_grader_with_hostile_output_returns_in_time():
    hostile = "\\boxed{" + "9^{" * 400 + "9" + "}" * 400 + "}"
    nested = "\\boxed{" + "\\frac{1}{" * 300 + "2" + "}" * 301
    resp = [hostile, nested, "so the answer is \\boxed{42}", "x" * 200_000]
    t0 = time.perf_counter()
    pending = start_rewards(resp, ["1", "1", "42", "1"], "math", timeout=2.0)
    rb = finish_rewards(pending, resp, [False] * 4, "simple")
    assert time.perf_counter() - t0 < pending.budget + 1.0
    assert rb.correct == [False, False, True, False]
