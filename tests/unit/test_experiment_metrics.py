"""Per-seed metric values read from RL metrics.jsonl and eval summary.json, curves across seeds, missing files."""
import json

import pytest

from octothinker.experiment.fixtures import write_eval_summary, write_rl_run
from octothinker.experiment.metrics import MetricMissing, band, metric_value, read_rl, rl_curves, rl_value


@pytest.fixture
def run(tmp_path):
    # validation at steps 0, 5, 10; toy_gsm 10% -> 60% -> 40%, toy_math 0% -> 20% -> 30%
    write_rl_run(tmp_path, "short", {"toy_gsm": [0.1, 0.6, 0.4], "toy_math": [0.0, 0.2, 0.3]},
                 {"toy_gsm": [20, 30, 50], "toy_math": [40, 50, 70]},
                 truncation=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.2, 0.3],
                 val_sampled={"toy_gsm": [0.05, 0.3, 0.35], "toy_math": [0.05, 0.1, 0.25]})
    write_eval_summary(tmp_path, "base", {"toy_gsm": 8.0, "toy_math": 4.0, "toy_olympiad": 3.0})
    return tmp_path


@pytest.mark.parametrize("metric, bench, value", [
    ("rl_accuracy", "avg", 35.0),          # mean of 40 and 30 at the last validation row
    ("rl_accuracy", "toy_gsm", 40.0),
    ("rl_gain", "avg", 30.0),              # 35 - mean(10, 0)
    ("rl_gain", "toy_math", 30.0),
    ("rl_sampled_accuracy", "avg", 30.0),  # mean of 35 and 25 at the last validation row
    ("rl_sampled_gain", "avg", 25.0),      # 30 - mean(5, 5)
    ("rl_sampled_gain", "toy_gsm", 30.0),
    ("rl_length", "avg", 60.0),            # mean(50, 70)
    ("rl_length", "toy_gsm", 50.0),
    ("rl_peak_drop", "toy_gsm", 20.0),     # max 60 - last 40
    ("rl_peak_drop", "toy_math", 0.0),
    ("rl_peak_drop", "avg", 5.0),          # avg per row: 5, 40, 35 -> 40 - 35
    ("rl_truncation", "avg", 20.0),        # last ceil(10 / 4) = 3 training rows: (10 + 20 + 30) / 3
    ("fewshot_accuracy", "avg", 5.0),
    ("fewshot_accuracy", "toy_gsm", 8.0),
])
def test_metric_values(run, metric, bench, value):
    arm = "base" if metric == "fewshot_accuracy" else "short"
    assert metric_value(run, metric, arm, bench) == pytest.approx(value)


def test_read_rl_layout(run):
    s = read_rl(run, "short")
    assert s.val_steps == [0.0, 5.0, 10.0]
    assert s.val_accuracy[0] == {"toy_gsm": pytest.approx(10.0), "toy_math": 0.0}
    assert s.train_steps == [float(i) for i in range(1, 11)]
    assert s.truncation[-1] == pytest.approx(30.0)


def test_rewritten_step_keeps_last_row(run):
    path = run / "rl" / "short" / "metrics.jsonl"
    with open(path, "a") as fh:
        fh.write(json.dumps({"step": 10, "truncation_rate": 0.9, "accuracy": 0.1,
                             "val/toy_gsm/accuracy": 0.9, "val/toy_math/accuracy": 0.7}) + "\n")
    assert metric_value(run, "rl_accuracy", "short", "avg") == pytest.approx(80.0)


@pytest.mark.parametrize("metric, arm, bench, match", [
    ("rl_accuracy", "long", "avg", r"rl/long/metrics.jsonl: not found"),
    ("rl_accuracy", "short", "toy_olympiad", r"no val/toy_olympiad/accuracy at step 0 \(benchmarks there: toy_gsm, toy_math\)"),
    ("fewshot_accuracy", "short", "avg", r"eval/short/summary.json: not found"),
    ("fewshot_accuracy", "base", "gsm8k", r"summary.json: no benchmarks.gsm8k.accuracy \(benchmarks there: "),
])
def test_missing_names_file_and_key(run, metric, arm, bench, match):
    with pytest.raises(MetricMissing, match=match):
        metric_value(run, metric, arm, bench)


def test_gain_needs_two_points_and_truncation_needs_rows(tmp_path):
    write_rl_run(tmp_path, "only0", {"toy_gsm": [0.2]}, truncation=[])
    s = read_rl(tmp_path, "only0")
    with pytest.raises(MetricMissing, match="rl_gain needs a step-0 and a later validation row"):
        rl_value(s, "rl_gain")
    with pytest.raises(MetricMissing, match="no training rows with truncation_rate"):
        rl_value(s, "rl_truncation")
    assert rl_value(s, "rl_accuracy") == pytest.approx(20.0)


def test_band_over_union_of_steps():
    b = band([([0, 5], [1.0, 3.0]), ([0, 5, 10], [3.0, 5.0, 7.0])])
    assert b.x == [0, 5, 10]
    assert b.mean == [2.0, 4.0, 7.0] and b.low == [1.0, 3.0, 7.0] and b.high == [3.0, 5.0, 7.0] and b.n == [2, 2, 1]


def test_curves_across_seeds(tmp_path):
    dirs = {s: tmp_path / f"seed_{s}" for s in (0, 1, 2)}
    for s, d in dirs.items():
        if s < 2:
            write_rl_run(d, "short", {"toy_gsm": [0.1, 0.2 + 0.1 * s]}, truncation=[0.1 * s] * 5)
    c = rl_curves(dirs, "short")
    assert c.accuracy.x == [0.0, 5.0] and c.accuracy.mean == pytest.approx([10.0, 25.0])
    assert c.accuracy.low == pytest.approx([10.0, 20.0]) and c.accuracy.high == pytest.approx([10.0, 30.0])
    assert c.truncation.mean == pytest.approx([5.0] * 5)
    assert list(c.missing) == [2] and "seed_2/rl/short/metrics.jsonl: not found" in c.missing[2]
    assert c.to_dict()["val_accuracy"]["n_seeds"] == [2, 2]


def test_metrics_module_never_imports_torch():
    import subprocess
    import sys

    code = ("import sys; import octothinker.experiment.metrics, octothinker.experiment.stats, "
            "octothinker.experiment.analysis; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_sampled_metrics_need_sampled_validation(tmp_path):
    write_rl_run(tmp_path, "greedy_only", {"toy_gsm": [0.1, 0.4]})
    with pytest.raises(MetricMissing, match="sampled_accuracy"):
        metric_value(tmp_path, "rl_sampled_gain", "greedy_only", "avg")


def test_a_gain_is_measured_from_step_0_only(run):
    """A run that deferred its step-0 point and stopped before writing it starts at a later step: no gain."""
    path = run / "rl" / "short" / "metrics.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows if r.get("step") != 0))
    for metric in ("rl_gain", "rl_sampled_gain"):
        with pytest.raises(MetricMissing, match=rf"{metric} needs the step-0 validation row .* first is at step 5"):
            metric_value(run, metric, "short", "avg")
    assert metric_value(run, "rl_accuracy", "short", "avg") == pytest.approx(35.0)
