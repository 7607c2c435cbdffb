"""The report end to end on fixture runs: both files, self-contained HTML, compare, empty run, CLI, no torch."""
from __future__ import annotations

import re
import subprocess
import sys

from octothinker.cli import main
from octothinker.report import run_report
from test_report_fixture import make_run


def test_report_from_full_and_compared_runs(tmp_path):
    a, b = make_run(tmp_path, "runA"), make_run(tmp_path, "runB", strength=0.5)
    out = run_report(a, compare=[b])
    assert out == a / "report"
    html = (out / "index.html").read_text()
    md = (out / "report.md").read_text()
    # self-contained: every image is a data URI, nothing is fetched
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(srcs) == 6 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    for name in ("midtrain", "rl_dynamics", "rl_diagnostics", "pass_at_k", "compare_rl_dynamics", "compare_rl_diagnostics"):
        assert f"]({name}.png)" in md and (out / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert "| base | 8.0 | 4.0 | 2.7 | 4.9 |" in md
    assert "| rl_short | 48.0 | 24.0 | 16.0 | 29.3 |" in md
    assert "Comparison: runA, runB" in md and "midtrain/stable — mixture=stable_mix, parent_step=40" in md
    assert "| midtrain/stable | done | – | – | – | 3m 20s | 0.0556 |" in md and "seeds | run=0, toyworld=0" in md
    assert not list(a.glob("report.*.tmp")) and not list(a.glob(".report*"))


def test_empty_run_says_not_run(tmp_path):
    run = tmp_path / "bare"
    run.mkdir()
    out = run_report(run, out=tmp_path / "elsewhere")
    md = (out / "report.md").read_text()
    assert md.count("not run:") == 8
    assert "<img" not in (out / "index.html").read_text()


def test_final_rl_table_falls_back_to_validation(tmp_path):
    a = make_run(tmp_path)
    for f in (a / "eval").rglob("*"):
        if f.is_file():
            f.unlink()
    md = (run_report(a) / "report.md").read_text()
    assert "last RL validation point per run" in md
    assert "| rl_short (step 20) |" in md


def test_cli_report_and_missing_dir(tmp_path, capsys):
    a = make_run(tmp_path)
    assert main(["report", str(a), "--out", str(tmp_path / "o"), "--title", "T"]) == 0
    assert (tmp_path / "o" / "report.md").read_text().startswith("# T\n")
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "run directory not found" in capsys.readouterr().err


def test_report_never_imports_torch_or_transformers():
    code = (
        "import sys, octothinker.report, octothinker.report.cli, octothinker.report.build, "
        "octothinker.report.tracking;"
        "bad=[m for m in ('torch','transformers') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_rl_effect_table_compares_first_and_last_validation_point():
    from pathlib import Path

    from octothinker.report.collect import RLRun, RunData
    from octothinker.report.document import DASH, rl_effect_table

    data = RunData(root=Path("."), name="r", rl={
        "short": RLRun("short", validation={"toy_gsm": {"step": [0, 5, 10], "accuracy": [30.0, 35.0, 40.0], "length": [9, 9, 9]}}),
        "base": RLRun("base", validation={"toy_gsm": {"step": [10], "accuracy": [0.0], "length": [0]}}),
    })
    header, rows = rl_effect_table(data)
    assert header == ["RL run", "toy_gsm"]
    assert rows == [["base", DASH], ["short", "30.0 → 40.0 (+10.0) @ 0→10"]]
