"""The report on the RL validation protocol's rows: greedy and avg@k RL effect, memorisation check, per-depth
table, validation pass@k before/after RL; old-format rows keep the old tables."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from octothinker.report import run_report
from octothinker.report.collect import RLRun, RunData, collect, split_validation
from octothinker.report.document import (
    DASH, build_document, depth_table, memorisation_table, rl_effect_table, control_table,
)
from octothinker.report.figures import rl_diagnostics_figure, rl_dynamics_figure, rl_passk_figure

# (greedy, sampled) at step 0 and at the last step, as fractions; pass@J at both ends
FIRST, LAST = 0, 10


def _set(name: str, greedy: float, sampled: float | None, passk: dict | None = None, depths: dict | None = None,
         lucky: float | None = None) -> dict:
    p = f"val/{name}/"
    row = {p + "accuracy": greedy, p + "response_len": 50.0}
    if sampled is not None:
        row.update({p + "sampled_accuracy": sampled, p + "sampled_len": 60.0})
    for j, v in (passk or {}).items():
        row[f"{p}pass@{j}"] = v
    if lucky is not None:
        row[p + "lucky_rate"] = lucky
    for d, (g, s) in (depths or {}).items():
        row[f"{p}depth{d}/accuracy"] = g
        if s is not None:
            row[f"{p}depth{d}/sampled_accuracy"] = s
    return row


def protocol_rows(passk_js=(1, 2, 4, 8), sampled: bool = True, memo: bool = True) -> list[dict]:
    """A step-0 validation row, five training rows, and a last row with training and validation keys."""
    pk0 = {j: v for j, v in {1: 0.125, 2: 0.25, 4: 0.375, 8: 0.5}.items() if j in passk_js}
    pk1 = {j: v for j, v in {1: 0.375, 2: 0.5, 4: 0.625, 8: 0.75}.items() if j in passk_js}
    k = {"val_samples": 8, "val_max_tokens": 256} if sampled else {}

    def point(step: int, g: float, s: float, pk: dict, depths: dict, seen, fresh) -> dict:
        row = {"step": step, **k}
        if not sampled:
            depths = {d: (dg, None) for d, (dg, _) in depths.items()}
        row.update(_set("toy_gsm", g, s if sampled else None, pk if sampled else None, depths, 0.25 if sampled else None))
        if memo:
            row.update(_set("rl_seen", seen[0], seen[1] if sampled else None))
            row.update(_set("rl_fresh", fresh[0], fresh[1] if sampled else None))
        return row

    rows = [point(FIRST, 0.1, 0.125, pk0, {2: (0.5, 0.25), 5: (0.0, 0.0)}, (0.2, 0.25), (0.2, 0.25))]
    for s in range(1, LAST):
        rows.append({"step": s, "accuracy": 0.1 * s / LAST, "reward_mean": 0.1, "chain_rate": 0.5, "lucky_rate": 0.1})
    last = point(LAST, 0.3, 0.4, pk1, {2: (0.75, 0.75), 5: (0.0, 0.125)}, (0.6, 0.625), (0.2, 0.375))
    last.update({"accuracy": 0.3, "reward_mean": 0.3, "chain_rate": 0.75, "lucky_rate": 0.05})
    return rows + [last]


def write_run(root: Path, rows: list[dict], name: str = "rl_a") -> Path:
    d = root / "rl" / name
    d.mkdir(parents=True)
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (d / "rl_config.json").write_text(json.dumps({"config": {}, "seed": 0, "init_from": "runs/x/midtrain/stable/step_4"}))
    return root


def test_split_validation_reads_the_protocol_keys():
    train, val = split_validation(protocol_rows())
    assert [r["step"] for r in train] == list(range(1, LAST + 1))
    g = val["toy_gsm"]
    assert g["step"] == [0.0, 10.0]
    assert g["accuracy"] == pytest.approx([10.0, 30.0]) and g["sampled"] == pytest.approx([12.5, 40.0])
    assert g["length"] == [50.0, 50.0] and g["sampled_length"] == [60.0, 60.0]
    assert g["passk"] == [{1: 12.5, 2: 25.0, 4: 37.5, 8: 50.0}, {1: 37.5, 2: 50.0, 4: 62.5, 8: 75.0}]
    assert g["lucky"] == [25.0, 25.0] and g["samples"] == [8.0, 8.0] and g["max_tokens"] == [256.0, 256.0]
    assert g["depth"] == {2: {"accuracy": [50.0, 75.0], "sampled": [25.0, 75.0]},
                          5: {"accuracy": [0.0, 0.0], "sampled": [0.0, 12.5]}}
    assert set(val) == {"toy_gsm", "rl_seen", "rl_fresh"}
    assert "passk" not in val["rl_seen"] and "depth" not in val["rl_seen"]


def test_split_validation_aligns_series_with_missing_points():
    rows = [{"step": 0, "val/b/accuracy": 0.5},
            {"step": 5, "val/b/accuracy": 0.5, "val/b/sampled_accuracy": 0.25, "val/b/depth3/accuracy": 1.0}]
    b = split_validation(rows)[1]["b"]
    assert b["sampled"] == [None, 25.0]
    assert "passk" not in b and "lucky" not in b
    assert b["depth"] == {3: {"accuracy": [None, 100.0], "sampled": [None, None]}}


def test_old_rows_give_exactly_the_old_series():
    rows = [{"step": 5, "accuracy": 0.2, "val/gsm/accuracy": 0.5, "val/gsm/response_len": 33},
            {"step": 10, "validation": {"gsm": {"accuracy": 0.25}}}]
    assert split_validation(rows)[1] == {"gsm": {"step": [5.0, 10.0], "accuracy": [50.0, 25.0], "length": [33.0, None]}}


def test_rl_effect_table_greedy_and_avg_at_k(tmp_path):
    data = collect(write_run(tmp_path / "r", protocol_rows()))
    header, rows = rl_effect_table(data)
    assert header == ["RL run", "toy_gsm greedy", "toy_gsm avg@k"]  # rl_seen / rl_fresh are not benchmarks
    assert rows == [["rl_a", "10.0 → 30.0 (+20.0) @ 0→10", "12.5 → 40.0 (+27.5) @ 0→10"]]


def test_memorisation_table(tmp_path):
    data = collect(write_run(tmp_path / "r", protocol_rows()))
    header, rows = memorisation_table(data)
    assert header == ["RL run", "measure", "rl_seen (trained prompts)", "rl_fresh (never-used prompts)",
                      "seen change − fresh change"]
    assert rows == [["rl_a", "avg@k", "25.0 → 62.5 (+37.5) @ 0→10", "25.0 → 37.5 (+12.5) @ 0→10", "+25.0"]]
    greedy = collect(write_run(tmp_path / "g", protocol_rows(sampled=False)))
    assert memorisation_table(greedy)[1] == [["rl_a", "greedy", "20.0 → 60.0 (+40.0) @ 0→10",
                                              "20.0 → 20.0 (+0.0) @ 0→10", "+40.0"]]
    assert memorisation_table(collect(write_run(tmp_path / "n", protocol_rows(memo=False))))[1] == []


def test_depth_table(tmp_path):
    data = collect(write_run(tmp_path / "r", protocol_rows()))
    header, rows = depth_table(data)
    assert header == ["RL run", "benchmark", "depth (steps)", "measure", "first → last (change)"]
    assert rows == [["rl_a", "toy_gsm", "2", "avg@k", "25.0 → 75.0 (+50.0) @ 0→10"],
                    ["rl_a", "toy_gsm", "5", "avg@k", "0.0 → 12.5 (+12.5) @ 0→10"]]
    greedy = collect(write_run(tmp_path / "g", protocol_rows(sampled=False)))
    assert depth_table(greedy)[1] == [["rl_a", "toy_gsm", "2", "greedy", "50.0 → 75.0 (+25.0) @ 0→10"],
                                      ["rl_a", "toy_gsm", "5", "greedy", "0.0 → 0.0 (+0.0) @ 0→10"]]


def test_old_format_keeps_the_old_tables():
    data = RunData(root=Path("."), name="r", rl={"short": RLRun("short", validation={
        "toy_gsm": {"step": [0, 10], "accuracy": [30.0, 40.0], "length": [9, 9]}})})
    assert rl_effect_table(data) == (["RL run", "toy_gsm"], [["short", "30.0 → 40.0 (+10.0) @ 0→10"]])
    assert memorisation_table(data)[1] == [] and depth_table(data)[1] == []
    texts = [b[2] for b in build_document(data) if b[0] == "h"]
    assert "RL effect on validation (accuracy %, first → last validation point)" in texts
    assert not any(t.startswith(("Memorisation check", "By depth")) for t in texts)
    assert not any(b[0] == "fig" and b[1].name == "rl_pass_at_k" for b in build_document(data))


@pytest.mark.parametrize("js,made", [((1, 2, 4, 8), True), ((1, 2), True), ((1,), False), ((), False)])
def test_rl_passk_figure_needs_two_values_of_j(tmp_path, js, made):
    data = collect(write_run(tmp_path / "r", protocol_rows(passk_js=js)))
    fig = rl_passk_figure(data)
    assert (fig is not None) == made
    if made:
        assert fig.name == "rl_pass_at_k" and fig.title == "pass@k before and after RL"
        assert fig.png.startswith(b"\x89PNG")


def test_rl_passk_figure_skips_the_memorisation_pair():
    v = {"step": [0, 5], "accuracy": [1.0, 2.0], "length": [None, None], "passk": [{1: 1.0, 2: 2.0}] * 2}
    only_memo = RunData(root=Path("."), name="r", rl={"a": RLRun("a", validation={"rl_seen": v, "rl_fresh": v})})
    assert rl_passk_figure(only_memo) is None
    one_point = RunData(root=Path("."), name="r", rl={"a": RLRun("a", validation={"b": {
        "step": [0], "accuracy": [1.0], "length": [None], "passk": [{1: 1.0, 4: 3.0}]}})})
    assert rl_passk_figure(one_point) is not None


def test_dynamics_and_diagnostics_figures_with_protocol_rows(tmp_path):
    data = collect(write_run(tmp_path / "r", protocol_rows()))
    dyn = rl_dynamics_figure([("r", data), ("s", data)])
    assert dyn is not None and "dashed: avg@k" in dyn.caption and "Lucky" in dyn.caption
    old = RunData(root=Path("."), name="o", rl={"a": RLRun("a", validation={
        "b": {"step": [0, 5], "accuracy": [1.0, 2.0], "length": [3.0, None]}})})
    assert rl_dynamics_figure([("o", old)]).caption == "Validation accuracy and mean response length, one line per RL run."
    # chain_rate / lucky_rate alone make a training row and a diagnostics panel
    train, _ = split_validation([{"step": 1, "chain_rate": 0.5}, {"step": 2, "lucky_rate": 0.1}])
    assert [r["step"] for r in train] == [1, 2]
    assert rl_diagnostics_figure([("o", RunData(root=Path("."), name="o", rl={"a": RLRun("a", rows=train)}))])


def test_report_with_protocol_rows(tmp_path):
    root = write_run(tmp_path / "run", protocol_rows())
    out = run_report(root)
    md = (out / "report.md").read_text()
    html = (out / "index.html").read_text()
    assert "| rl_a | 10.0 → 30.0 (+20.0) @ 0→10 | 12.5 → 40.0 (+27.5) @ 0→10 |" in md
    assert "mean accuracy over k = 8 samples per problem at the validation temperature" in md
    assert "same problems, RL template, response budget and sampling seed" in md
    assert "### Memorisation check (accuracy %, first → last validation point)" in md
    assert "| rl_a | avg@k | 25.0 → 62.5 (+37.5) @ 0→10 | 25.0 → 37.5 (+12.5) @ 0→10 | +25.0 |" in md
    assert "is memorisation" in md
    assert "### By depth (accuracy %, first → last validation point)" in md
    assert "| rl_a | toy_gsm | 5 | avg@k | 0.0 → 12.5 (+12.5) @ 0→10 |" in md and "extrapolation" in md
    # the validation pass@k figure sits right after the RL-effect table, before the memorisation check
    i_table, i_fig, i_memo = (md.index(s) for s in ("| rl_a | 10.0", "](rl_pass_at_k.png)", "### Memorisation"))
    assert i_table < i_fig < i_memo
    assert (out / "rl_pass_at_k.png").read_bytes().startswith(b"\x89PNG")
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)  # dynamics, diagnostics, pass@k
    assert 'id="rl_pass_at_k"' in html and "Memorisation check" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_control_table_pairs_a_control_with_its_rewarded_run():
    def run(name, control, lr=1e-4, parent="midtrain/short/step_9", sampled=(10.0, 60.0)):
        v = {"step": [0, 24], "accuracy": [10.0, 70.0 if control is None else 8.0], "length": [9, 9],
             "sampled": list(sampled)}
        return RLRun(name, validation={"toy_gsm": v}, lineage={"parent": parent},
                     config={"lr": lr, "reward_control": control, "init_from": [name]})

    data = RunData(root=Path("."), name="r", rl={
        "short": run("short", None), "short-shuffled": run("short-shuffled", "shuffled", sampled=(10.0, 12.5)),
        "other-shuffled": run("other-shuffled", "shuffled", parent="midtrain/long/step_9"),  # no rewarded twin
        "fast": run("fast", None, lr=1e-3)})
    header, rows = control_table(data)
    assert header[-1] == "rewarded change − control change"
    assert rows == [["short", "short-shuffled", "toy_gsm", "avg@k", "10.0 → 60.0 (+50.0) @ 0→24",
                     "10.0 → 12.5 (+2.5) @ 0→24", "+47.5"]]
    texts = [b[2] for b in build_document(data) if b[0] == "h"]
    assert "Reward against its control (accuracy %, first → last validation point)" in texts
    old = RunData(root=Path("."), name="o", rl={"a": RLRun("a", validation={"toy_gsm": {"step": [0, 1], "accuracy": [1.0, 2.0]}})})
    assert control_table(old)[1] == []
