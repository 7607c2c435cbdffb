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
