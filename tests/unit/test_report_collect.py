"""Tolerant readers of the report: layouts of validation rows, summaries, lineage, token axis."""
from __future__ import annotations

import json

import pytest

from octothinker.report.collect import (
    collect, normalize_summary, num, parent_name, pass_at_k, series, split_validation, token_offset, tree,
)
from octothinker.report.document import average, fmt_seconds, is_rl_eval, results_table
from test_report_fixture import make_run


@pytest.mark.parametrize("value,expected", [
    (1, 1.0), (2.5, 2.5), (True, None), ("3", None), (None, None), (float("nan"), None), (float("inf"), None),
])
def test_num(value, expected):
    assert num(value) == expected


@pytest.mark.parametrize("values,expected", [
    ([10.0, 20.0, 30.0], 20.0), ([5.0], 5.0), ([10.0, None], None), ([], None), ([0.0, 0.0], 0.0),
])
def test_average_needs_every_cell(values, expected):
    assert average(values) == expected


@pytest.mark.parametrize("s,expected", [(None, "–"), (12.34, "12.3 s"), (75, "1m 15s"), (3725, "1h 02m 05s")])
def test_fmt_seconds(s, expected):
    assert fmt_seconds(s) == expected


def test_series_skips_rows_missing_either_field():
    rows = [{"step": 1, "a": 0.5}, {"step": 2}, {"a": 0.7}, {"step": 3, "b": 0.9}]
    assert series(rows, "step", ("a", "b"), 100.0) == ([1.0, 3.0], [50.0, 90.0])


def test_split_validation_accepts_three_layouts():
    rows = [
        {"step": 1, "accuracy": 0.5, "entropy": 1.0},
        {"step": 5, "kind": "validation", "benchmark": "gsm", "accuracy": 0.4, "mean_tokens": 30},
        {"step": 10, "accuracy": 0.6, "val/gsm/accuracy": 0.5, "val/gsm/response_len": 33},
        {"step": 15, "validation": {"gsm": {"accuracy": 0.25}, "math": {"accuracy": 0.1, "mean_length": 80}}},
        {"step": 20, "note": "no metrics"},
    ]
    train, val = split_validation(rows)
    assert [r["step"] for r in train] == [1, 10]
    assert val["gsm"] == {"step": [5.0, 10.0, 15.0], "accuracy": [40.0, 50.0, 25.0], "length": [30.0, 33.0, None]}
    assert val["math"] == {"step": [15.0], "accuracy": [10.0], "length": [80.0]}


def test_normalize_summary_and_pass_at_k():
    flat = {"gsm": {"accuracy": 12.0, "pass@1": 12.0, "pass@4": 30.0}, "model": "x"}
    assert normalize_summary(flat) == {"protocol": None, "benchmarks": {"gsm": flat["gsm"]}}
    nested = {"protocol": "rl_template", "benchmarks": {"m": {"accuracy": 1.0, "pass_at_k": {"8": 9.0, "2": 3.0}}}}
    s = normalize_summary(nested)
    assert s["protocol"] == "rl_template"
    assert pass_at_k(s["benchmarks"]["m"]) == {2: 3.0, 8: 9.0}
    assert pass_at_k(flat["gsm"]) == {1: 12.0, 4: 30.0}
    assert normalize_summary([1, 2]) == {"protocol": None, "benchmarks": {}}


@pytest.mark.parametrize("lineage,expected", [
    ({"parent_stage": "stable"}, "stable"),
    ({"parent": "runs/x/midtrain/stable/step_40"}, "midtrain/stable"),
    ({"init_from": "/abs/runs/x/rl/a/step_3"}, "rl/a"),
    ({"init_from": "meta-llama/Llama-3.2-1B"}, "meta-llama/Llama-3.2-1B"),
    ({"init": {"kind": "stage", "from": "stable", "parent_checkpoint": "r/midtrain/stable/step_9"}}, "midtrain/stable"),
    ({"init": {"kind": "tiny", "from": None}}, None),
    ({}, None),
])
def test_parent_name(lineage, expected):
    assert parent_name(lineage) == expected


def test_collect_fixture_lineage_tree_and_token_axis(tmp_path):
    data = collect(make_run(tmp_path))
    assert [(d, n.name) for d, n in tree(data.nodes)] == [
        (0, "midtrain/base"), (1, "midtrain/stable"), (2, "midtrain/long"), (2, "midtrain/short"),
        (3, "rl/rl_short"), (1, "rl/rl_base"),
    ]
    # stable restarts its token count at 4096: shifted by base's 40*4096; short by base + stable
    assert token_offset(data, "base") == 0.0
    assert token_offset(data, "stable") == 40 * 4096
    assert token_offset(data, "short") == 80 * 4096
    assert data.problems == []


def test_collect_empty_and_broken_run(tmp_path):
    run = tmp_path / "empty"
    (run / "eval" / "m").mkdir(parents=True)
    (run / "eval" / "m" / "summary.json").write_text("{broken")
    (run / "rl" / "r").mkdir(parents=True)
    (run / "rl" / "r" / "metrics.jsonl").write_text('{"step": 1}\n[1]\n{"step": 2, "accuracy": 0.1}\n')
    data = collect(run)
    assert data.evals == {} and data.midtrain == {}
    assert any("summary.json: unreadable JSON" in p for p in data.problems)
    assert any("1 line(s) are not JSON objects" in p for p in data.problems)
    assert data.rl["r"].rows == [{"step": 2, "accuracy": 0.1}]
    with pytest.raises(FileNotFoundError, match="run directory not found"):
        collect(tmp_path / "nope")


def test_results_table_and_rl_classification(tmp_path):
    data = collect(make_run(tmp_path))
    base = {m: ev for m, ev in data.evals.items() if not is_rl_eval(m, ev, data)}
    assert sorted(base) == ["base", "short"]
    headers, rows = results_table(base)
    assert headers == ["model", "toy_gsm", "toy_math", "toy_olympiad", "average"]
    assert rows[0] == ["base", "8.0", "4.0", "2.7", "4.9"]  # 8, 8/2, 8/3 -> mean 4.89
    partial = {"m": {"benchmarks": {"a": {"accuracy": 10.0}}}, "n": {"benchmarks": {"b": {"accuracy": 20.0}}}}
    assert results_table(partial)[1] == [["m", "10.0", "–", "–"], ["n", "–", "20.0", "–"]]
    assert is_rl_eval("rl_x", {"protocol": None}, data) and not is_rl_eval("rl_x", {"protocol": "fewshot"}, data)


def test_fixture_summary_is_json(tmp_path):
    root = make_run(tmp_path)
    assert json.loads((root / "eval" / "base" / "summary.json").read_text())["protocol"] == "fewshot"


def test_heldout_loss_rows_of_the_trainer_are_read():
    """The trainer writes `heldout_loss: {source: loss}` (train/loop.py); the figures read per-source keys."""
    from octothinker.report.collect import flat_heldout, heldout_keys

    row = {"step": 10, "loss": 1.5, "heldout_loss": {"general": 1.7, "qa_short": 1.2}}
    assert flat_heldout(row) == {"step": 10, "loss": 1.5, "heldout_loss/general": 1.7, "heldout_loss/qa_short": 1.2}
    assert flat_heldout({"step": 1, "loss": 2.0}) == {"step": 1, "loss": 2.0}
    assert heldout_keys([flat_heldout(row)]) == ["heldout_loss/general", "heldout_loss/qa_short"]
