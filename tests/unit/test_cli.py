"""The command line: --help on every subcommand, recipe errors exit 2 with the key named."""
import subprocess
import sys

import pytest

from octothinker.cli import build_parser, main


def _subcommands(parser):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield [name], sub
                for rest, subsub in _subcommands(sub):
                    yield [name, *rest], subsub


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    commands = list(_subcommands(parser))
    assert ["data", "build"] in [c for c, _ in commands]
    for cmd, _ in commands:
        with pytest.raises(SystemExit) as exc:
            main([*cmd, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "usage: octothinker " + " ".join(cmd) in out


def test_recipe_error_exit_code(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  seq_len: -3\n")
    assert main(["data", "build", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:2" in err and "data.seq_len" in err


def test_help_does_not_import_torch():
    code = "import sys; from octothinker.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ------------------------------------------------------------------ bad input: one line, non-zero, no traceback

GOOD_PROMPT = '{"question": "What is 1+1?", "answer": "2"}\n'


@pytest.fixture()
def bad_inputs(tmp_path, monkeypatch):
    """A working directory holding recipes, model dirs, benchmarks and data files, each broken in one way."""
    import yaml

    from octothinker.config import recipe_from_dict
    from octothinker.eval.fixtures import write_fixture_benchmarks

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.delenv("OCTOTHINKER_TRACEBACK", raising=False)

    def small(path):
        return recipe_from_dict({
            "run": {"name": "s", "root": str(tmp_path / "runs")},
            "toyworld": {"general_docs": 30, "math_web_docs": 10, "qa_docs": 30, "instruct_docs": 10,
                         "benchmark_size": 10, "rl_prompts": 10},
            "tokenizer": {"vocab_size": 280, "sample_docs": 20},
            "data": {"seq_len": 32, "shard_rows": 64, "heldout_docs": 1,
                     "sources": {"general": {"kind": "toy", "corpus": "general"},
                                 "mine": {"kind": "local", "path": str(path), "template": "web"}},
                     "mixtures": {"m": {"weights": {"general": 0.5, "mine": 0.5}, "tokens": 2000}}},
        }).to_yaml()

    (tmp_path / "r.yaml").write_text(small(tmp_path / "ok.jsonl"))
    (tmp_path / "ok.jsonl").write_text('{"text": "fine"}\n')
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": broken\n')
    (tmp_path / "nofield.jsonl").write_text('{"text": "ok"}\n{"txt": "x"}\n')
    (tmp_path / "r_missing_src.yaml").write_text(small(tmp_path / "missing.jsonl"))
    (tmp_path / "r_bad_src.yaml").write_text(small(tmp_path / "bad.jsonl"))
    (tmp_path / "r_nofield_src.yaml").write_text(small(tmp_path / "nofield.jsonl"))
    (tmp_path / "badyaml.yaml").write_text("run:\n  name: [x\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    bench = write_fixture_benchmarks(tmp_path / "bench")
    gsm = next((bench / "gsm8k").glob("*.jsonl"))
    gsm.write_text(gsm.read_text() + '{"question": broken\n')
    (tmp_path / "p_bad.jsonl").write_text(GOOD_PROMPT + '{"question": \n')
    (tmp_path / "p_noans.jsonl").write_text('{"question": "q"}\n')
    (tmp_path / "p_empty.jsonl").write_text("")
    (tmp_path / "p_utf8.jsonl").write_bytes(b'{"question": "\xff", "answer": "1"}\n')
    demo = yaml.safe_load((REPO / "recipes" / "toy_demo.yaml").read_text())
    demo["run"]["root"] = str(tmp_path / "runs")
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(demo, sort_keys=False))
    return tmp_path


from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FINDINGS = str(REPO / "recipes" / "toy_findings.yaml")

# (argv, exit code, substrings of the one stderr line)
BAD_CASES = [
    (["data", "build", "nope.yaml"], 2, ["nope.yaml: recipe file not found"]),
    (["data", "build", "r.yaml", "data.seq_lenn=3"], 2, ["r.yaml:", "data.seq_lenn: unknown key"]),
    (["data", "build", "r.yaml", "data.seq_len=abc"], 2, ["r.yaml:", "data.seq_len: expected an integer, got 'abc'"]),
    (["data", "build", "r.yaml", "data.seq_len"], 2, ["override 'data.seq_len': expected key.sub=value"]),
    (["data", "build", "r.yaml", "--mixture", "m", "data.seq_len"], 2, ["override 'data.seq_len': expected key.sub=value"]),
    (["data", "build", "badyaml.yaml"], 2, ["badyaml.yaml: invalid YAML"]),
    (["data", "build", "r_missing_src.yaml"], 2, ["octothinker data build:", "missing.jsonl does not exist"]),
    (["data", "build", "r_bad_src.yaml"], 2, ["octothinker data build:", "bad.jsonl:2: malformed JSON"]),
    (["data", "build", "r_nofield_src.yaml"], 2, ["nofield.jsonl:2: field 'text': missing"]),
    (["data", "build", "r.yaml", "--mixture", "nope"], 2, ["unknown mixture(s) ['nope']"]),
    (["data", "build"], 2, ["octothinker data build: error: the following arguments are required: recipe ("]),
    (["midtrain", "nope.yaml"], 2, ["nope.yaml: recipe file not found"]),
    (["midtrain", "r.yaml", "midtrain.stages.x.lr=abc"], 2, ["midtrain.stages.x"]),
    (["midtrain", "demo.yaml", "--stage", "nope"], 2, ["octothinker midtrain: --stage: unknown stage(s) nope"]),
    (["midtrain", "demo.yaml", "--stage", "base"], 2, ["manifest.json: no manifest"]),
    (["rl", "nope.yaml"], 2, ["nope.yaml: recipe file not found"]),
    (["rl", "demo.yaml", "rl.stepz=3"], 2, ["demo.yaml:", "rl.stepz: unknown key"]),
    (["rl", "export-verl", "--out", "o1", "--prompts", "missing.jsonl"], 2, ["missing.jsonl: no such file or directory"]),
    (["rl", "export-verl", "--out", "o2", "--prompts", "p_bad.jsonl"], 2, ["p_bad.jsonl:2: malformed JSON"]),
    (["rl", "export-verl", "--out", "o3", "--prompts", "p_noans.jsonl"], 2, ["p_noans.jsonl:1: field 'answer': missing"]),
    (["rl", "export-verl", "--out", "o4", "--prompts", "p_empty.jsonl"], 2, ["p_empty.jsonl: empty file"]),
    (["rl", "export-verl", "--out", "o5", "--prompts", "p_utf8.jsonl"], 2, ["p_utf8.jsonl:1: not valid UTF-8"]),
    (["rl", "export-verl", "--out", "o6", "rl.steps=3"], 2, ["overrides need --recipe FILE"]),
    (["eval", "/nonexistent", "--benchmarks", "toy_gsm"], 2, ["octothinker eval: /nonexistent: neither a model dir"]),
    (["eval", "model", "--benchmarks", "gsm8kk"], 2, ["octothinker eval: --benchmarks: unknown benchmark 'gsm8kk'; known: gsm8k"]),
    (["eval", "demo.yaml", "--benchmarks", "gsm8kk"], 2, ["--benchmarks: unknown benchmark 'gsm8kk'"]),
    (["eval", "demo.yaml", "eval.benchmarks=[toy_gsm, nope]"], 2, ["demo.yaml:", "eval.benchmarks[1]: unknown benchmark 'nope'"]),
    (["eval", "model", "--benchmarks", "gsm8k", "--benchmark-dir", "nobench"], 2, ["folder nobench/gsm8k not found"]),
    (["eval", "model", "--benchmarks", "gsm8k", "--benchmark-dir", "bench"], 2, ["bench/gsm8k/", ".jsonl:4: invalid JSON"]),
    (["eval", "model", "--limit", "0"], 2, ["eval options: limit: must be > 0"]),
    (["eval", "model", "rl.steps=3"], 2, ["overrides need a recipe .yaml target"]),
    (["eval", "demo.yaml", "--out", "o7"], 2, ["--out is for a model directory; a recipe writes"]),
    (["eval", "demo.yaml", "--models", "base"], 2, ["eval.models: model 'base'"]),
    (["report", "norun"], 2, ["norun: run directory not found"]),
    (["run", "nope.yaml"], 2, ["nope.yaml: recipe file not found"]),
    (["run", "demo.yaml", "rl.stepz=3"], 2, ["rl.stepz: unknown key"]),
    (["run", "demo.yaml", "--only", "nope", "--dry-run"], 1, ["--only 'nope': no such stage or kind"]),
    (["run", "demo.yaml", "--bogus"], 2, ["unrecognized arguments: --bogus"]),
    (["run", "r_bad_src.yaml", "--only", "data"], 1, ["stage data:m failed", "bad.jsonl:2: malformed JSON"]),
    (["run", "r_missing_src.yaml", "--only", "data"], 1, ["stage data:m failed", "missing.jsonl does not exist"]),
    (["demo", "rl.stepz=3"], 2, ["toy_demo.yaml:", "rl.stepz: unknown key"]),
    (["experiment", "nope.yaml"], 2, ["nope.yaml: recipe file not found"]),
    (["experiment", FINDINGS, "--seeds", "0,0"], 2, ["argument --seeds: need distinct seeds"]),
    (["experiment", FINDINGS, "experiment.findingz=1"], 2, ["experiment.findingz: unknown key"]),
    (["toyworld", "show", "nope"], 2, ["unknown name 'nope'"]),
    (["toyworld", "show", "rl", "--n", "-1"], 2, ["argument --n: expected a positive integer"]),
    (["toyworld", "check", "--ngram", "0"], 2, ["argument --ngram: expected a positive integer"]),
    (["nope"], 2, ["invalid choice: 'nope'"]),
]


@pytest.mark.parametrize("argv,code,parts", BAD_CASES, ids=[" ".join(c[0]) for c in BAD_CASES])
def test_bad_input_is_one_line_on_stderr(bad_inputs, capsys, argv, code, parts):
    before = sorted(str(p.relative_to(bad_inputs)) for p in bad_inputs.rglob("*"))
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert rc == code and len(lines) == 1, (rc, err)
    assert "Traceback" not in err + out
    for part in parts:
        assert part in lines[0], lines[0]
    after = sorted(str(p.relative_to(bad_inputs)) for p in bad_inputs.rglob("*"))
    new = [p for p in after if p not in before and p not in ("runs", "runs/s") and not p.startswith("runs/s/")]
    assert new == [], new  # nothing written (a failed `run` only records its state in runs/s/)
    assert not (bad_inputs / "runs" / "s" / "data").exists()


@pytest.mark.parametrize("argv,expected", [
    (["eval", "/nonexistent", "--benchmarks", "toy_gsm"], "octothinker eval: /nonexistent: neither a model dir"),
    (["eval", "model", "--benchmarks", "gsm8kk"], "octothinker eval: --benchmarks: unknown benchmark 'gsm8kk'"),
])
def test_bad_input_in_a_real_process(bad_inputs, argv, expected):
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    env.pop("OCTOTHINKER_TRACEBACK", None)
    proc = subprocess.run([sys.executable, "-m", "octothinker", *argv], capture_output=True, text=True, env=env,
                          timeout=600, cwd=bad_inputs)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and proc.stderr.startswith(expected), proc.stderr


def test_traceback_on_request(bad_inputs, monkeypatch):
    monkeypatch.setenv("OCTOTHINKER_TRACEBACK", "1")
    with pytest.raises(FileNotFoundError):
        main(["eval", "/nonexistent", "--benchmarks", "toy_gsm"])


# ------------------------------------------------------------------ overrides anywhere among the options

def test_overrides_after_options_experiment(monkeypatch):
    from octothinker.experiment import runner

    seen = {}

    def fake(recipe, seeds, scale, dry_run, analyze_only, jobs):
        seen.update(recipe=recipe, seeds=seeds, dry_run=dry_run, jobs=jobs)

    monkeypatch.setattr(runner, "run_experiment", fake)
    assert main(["experiment", FINDINGS, "--seeds", "7", "toyworld.seed=5", "--dry-run", "run.name=x", "--jobs", "2"]) == 0
    assert seen["seeds"] == [7] and seen["dry_run"] is True and seen["jobs"] == 2
    assert seen["recipe"].toyworld.seed == 5 and seen["recipe"].run.name == "x"


def test_overrides_after_options_data_build_and_order(tmp_path, monkeypatch):
    from octothinker.data import build as build_mod

    path = tmp_path / "r.yaml"
    path.write_text((REPO / "recipes" / "toy_demo.yaml").read_text())
    calls = []
    monkeypatch.setattr(build_mod, "run_data", lambda r, mixtures=None: calls.append((r, mixtures)) or tmp_path)
    argv = ["data", "build", str(path), "data.seq_len=64", "--mixture", "base", "data.seq_len=16", "--skip-bad-records",
            "data.shard_rows=8"]
    assert main(argv) == 0
    recipe, mixtures = calls[0]
    assert (recipe.data.seq_len, recipe.data.shard_rows, mixtures) == (16, 8, ["base"])  # later overrides win


def test_unknown_option_is_still_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["experiment", FINDINGS, "--seeds", "7", "--bogus", "toyworld.seed=5"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized arguments: --bogus" in err


def test_model_dir_eval_scores_toy_benchmarks_of_its_runs_world(tmp_path):
    from octothinker.eval.cli import _run_toyworld

    model = tmp_path / "runs" / "r" / "rl" / "short" / "final"
    model.mkdir(parents=True)
    assert _run_toyworld(model) is None  # outside a run: the default world
    (tmp_path / "runs" / "r" / "config.resolved.yaml").write_text("toyworld:\n  seed: 3\n")
    assert _run_toyworld(model).seed == 3
