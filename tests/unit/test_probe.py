"""`octothinker probe`: exact measures from fixed samples, the RL stream it reads, and the CLI on a tiny model."""
import json

import pytest
import yaml

from octothinker.cli import main
from octothinker.probe.summary import format_table, group_signal, summarize_probe, table_rows, verdict

WORKED = "Start with 75.\nAdd 4: 75 + 4 = 79\nAdd 3: 79 + 3 = 82\nThe answer is \\boxed{82}."
DIRECT = "The answer is \\boxed{82}."
LOOP = "so so so so so so so so"  # 5 word 4-grams, 1 distinct: repetition 0.8

RECS = [{"id": "a", "answer": "82", "steps": 2, "key": "75|+4|+3"},
        {"id": "b", "answer": "10", "steps": 3, "key": "7|+1|+1|+1"},
        {"id": "c", "answer": "5", "steps": 3, "key": "2|+1|+1|+1"}]
SAMPLED = [
    [(True, 10, WORKED, False), (True, 4, DIRECT, False), (False, 6, "no answer here", True), (False, 8, "\\boxed{3}", False)],
    [(False, 2, "\\boxed{9}", False)] * 3 + [(True, 2, "\\boxed{10}", False)],
    [(False, 16, LOOP, True)] * 4,
]
GREEDY = [(True, 10, WORKED, False), (False, 4, "x", False), (False, 16, LOOP, True)]


def test_summary_exact_values():
    m = summarize_probe(RECS, SAMPLED, GREEDY, kind="math", group_size=2)
    expect = {
        "n_prompts": 3, "samples_per_prompt": 4,
        "pass@1": (2 / 4 + 1 / 4 + 0) / 3,
        "pass@2": (1 - 1 / 6 + 1 - 3 / 6 + 0) / 3,  # 1 - C(4-c, 2) / C(4, 2) for c = 2, 1, 0
        "pass@4": 2 / 3,
        "solved_share": 2 / 3, "mixed_share": 2 / 3, "all_correct_share": 0.0,
        "grpo_signal_share": (2 / 3 + 1 / 2 + 0) / 3,  # P(a pair of the 4 mixes right and wrong): 4/6, 3/6, 0
        "reward_variance_share": 2 / 3,
        "format_rate": 7 / 12,  # every answer but "no answer here" and the loops extracts
        "boxed_rate": 7 / 12,
        "termination_rate": 7 / 12, "truncation_rate": 5 / 12,
        "repetition_rate": 4 * 0.8 / 12, "reflection_rate": 0.0,
        "response_len_mean": 100 / 12, "response_len_max": 16,
        "response_len_correct": 16 / 3, "response_len_wrong": 84 / 9,
        "chain_rate": 1 / 12,  # only WORKED writes 75 + 4 = 79, 79 + 3 = 82
        "lucky_rate": 2 / 3,  # DIRECT and the bare boxed 10 are right without the chain
        "greedy_accuracy": 1 / 3, "greedy_response_len": 10.0, "greedy_truncation_rate": 1 / 3, "greedy_format_rate": 1 / 3,
        "by_depth": {"2": {"prompts": 1, "greedy_accuracy": 1.0, "pass@1": 0.5, "solved_share": 1.0},
                     "3": {"prompts": 2, "greedy_accuracy": 0.0, "pass@1": 0.125, "solved_share": 0.5}},
    }
    assert set(m) == set(expect)
    for key, value in expect.items():
        assert m[key] == (value if isinstance(value, (dict, int)) else pytest.approx(value, abs=1e-12)), key
    assert verdict(m, 2, 16) == ("learnable groups 38.9% at group size 2 (GRPO gets signal), pass@1 25.0% vs pass@4 66.7%, "
                                 "lucky 66.7% (most correct answers skip the gold steps), gold chain in 8.3% of samples, "
                                 "truncated 41.7% at 16 tokens")
    table = format_table(table_rows(m, 2, 16))
    assert "| pass@1/2/4 " in table and "25.0 / 44.4 / 66.7 %" in table and "| GRPO groups of 2 with signal (est.)" in table


def test_summary_rewards_without_keys_and_without_signal():
    recs = [{"answer": "1"}, {"answer": "2"}]
    sampled = [[(False, 3, "\\boxed{0}", False), (False, 3, "\\boxed{0}", True)], [(False, 1, "z", False)] * 2]
    m = summarize_probe(recs, sampled, [(False, 1, "z", False)] * 2, group_size=8,
                        rewards=[[0.0, -1.0], [0.0, 0.0]])  # a truncation penalty gives the first group variance
    assert (m["reward_variance_share"], m["mixed_share"], m["solved_share"]) == (0.5, 0.0, 0.0)
    assert m["grpo_signal_share"] is None  # G = 8 > k = 2 cannot be estimated
    assert (m["chain_rate"], m["lucky_rate"], m["response_len_correct"], m["by_depth"]) == (None, None, None, {})
    assert verdict(m) == "no prompt answered correctly in 2 samples: GRPO gets no reward signal from these prompts"
    m2 = summarize_probe(recs[:1], [[(True, 2, "\\boxed{1}", False), (False, 2, "q", False), (False, 2, "r", False)]],
                         [(True, 2, "1", False)])
    assert verdict(m2) == ("learnable groups 100.0% of 3 samples (GRPO gets signal), pass@1 33.3% vs pass@3 100.0%, "
                           "parsable answers 33.3%")


@pytest.mark.parametrize("k, c, g, p", [(4, 2, 2, 2 / 3), (4, 1, 2, 1 / 2), (4, 0, 2, 0.0), (4, 4, 2, 0.0),
                                        (16, 1, 8, 0.5), (8, 4, 8, 1.0), (16, 8, 2, 8 * 8 / 120)])
def test_group_signal(k, c, g, p):
    assert group_signal(k, c, g) == pytest.approx(p, abs=1e-12)


def test_summary_rejects_ragged_input():
    with pytest.raises(ValueError, match="same number"):
        summarize_probe(RECS[:2], [SAMPLED[0], SAMPLED[1][:2]], GREEDY[:2])
    with pytest.raises(ValueError, match="one sample group"):
        summarize_probe(RECS, SAMPLED[:2], GREEDY)


def test_probe_reads_the_rl_stream_in_order():
    from octothinker.config import RLConfig
    from octothinker.probe.runner import stream_prompts
    from octothinker.rl.trainer import RLTrainer

    from test_rl_trainer import tiny_model, word_tokenizer

    prompts = [{"id": str(i), "question": f"show {i % 10}", "answer": str(i % 10)} for i in range(12)]
    tok = word_tokenizer()
    tr = RLTrainer(RLConfig(prompts_per_step=3), tiny_model(tok), tok, prompts, "unused", seed=5)
    assert stream_prompts(prompts, 5, 6) == tr.batch_prompts(0) + tr.batch_prompts(1)
    assert len(stream_prompts(prompts, 5, 100)) == 12


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    """A tiny word-level model saved as the `short` stage of run `t`, and a recipe RL-ing it on a prompt file."""
    from test_rl_trainer import tiny_model, word_tokenizer

    root = tmp_path_factory.mktemp("probe")
    step = root / "runs" / "t" / "midtrain" / "short" / "step_1"
    tok = word_tokenizer()
    tiny_model(tok).save_pretrained(step)
    tok.save_pretrained(step)
    (step / "trainer_state").mkdir()
    (step / "trainer_state" / "state.json").write_text("{}")
    prompts = root / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"question": f"show {d}", "answer": str(d)}) + "\n" for d in (3, 8, 5, 1, 7, 2)))
    recipe = {
        "run": {"name": "t", "root": str(root / "runs"), "seed": 0, "device": "cpu"},
        "rl": {"init_from": ["short"], "template": "plain", "group_size": 2, "max_response_tokens": 3,
               "answer_kind": "gsm", "prompts_path": str(prompts), "decontaminate": False,
               "variants": {"short-ctl": {"init_from": "short", "reward_control": "shuffled", "max_response_tokens": 2}}},
    }
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return root, path, step


KEYS = {"probe_version", "model", "model_dir", "recipe", "run", "settings", "prompts", "measures", "reward_timeouts",
        "verdict", "per_prompt"}


def test_cli_writes_probe_json_deterministically(fixture_run, capsys):
    root, recipe, step = fixture_run
    args = ["probe", "short", "--recipe", str(recipe), "--prompts", "4", "--samples", "4"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    first = root / "runs" / "t" / "probe" / "short" / "probe.json"
    report = json.loads(first.read_text())
    assert set(report) == KEYS and report["model"] == "short"
    assert report["settings"]["rl_run"] == "short"  # the real arm, not the shuffled control starting there too
    assert (report["settings"]["max_response_tokens"], report["settings"]["group_size"]) == (3, 2)
    assert report["prompts"]["used"] == 4 and report["prompts"]["available"] == 6
    assert {"pass@1", "pass@2", "pass@4", "solved_share", "grpo_signal_share", "format_rate", "termination_rate",
            "lucky_rate", "greedy_accuracy"} <= set(report["measures"])
    assert len(report["per_prompt"]) == 4 and (first.parent / "timing.json").is_file()
    assert "| measure" in printed and f"verdict: {report['verdict']}" in printed
    again = root / "again"
    assert main(args + ["--out", str(again)]) == 0
    assert (again / "probe.json").read_bytes() == first.read_bytes()
    assert main(["probe", str(step), "--recipe", str(recipe), "--prompts", "4", "--samples", "4", "--out", str(root / "dir"),
                 "--rl-run", "short-ctl"]) == 0
    by_dir = json.loads((root / "dir" / "probe.json").read_text())
    assert (by_dir["model"], by_dir["settings"]["rl_run"], by_dir["settings"]["max_response_tokens"]) == ("short", "short-ctl", 2)


@pytest.mark.parametrize("extra, message", [
    (["/nonexistent/model"], "model '/nonexistent/model': not a mid-training stage"),
    (["short", "--rl-run", "nope"], "--rl-run: 'nope' is not an RL run"),
    (["short", "--samples", "0"], "--prompts and --samples must be >= 1"),
])
def test_cli_bad_input_is_one_line(fixture_run, capsys, extra, message):
    _, recipe, _ = fixture_run
    assert main(["probe", *extra, "--recipe", str(recipe)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("octothinker probe: ") and message in err
