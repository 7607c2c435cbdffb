"""The package as a user gets it: build a wheel, install it into a fresh venv, run `octothinker demo --dry-run`
from an unrelated directory. The demo recipe must come from the installed package, not the checkout."""
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None,
                       reason="needs pip and setuptools in this environment to build the wheel"),
]


def _run(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, **kw)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_wheel_installs_and_demo_dry_run_works_from_elsewhere(tmp_path):
    # a copy of what a build reads, so the build writes nothing into the checkout (build/, egg-info)
    src = tmp_path / "src_copy"
    for name in ("pyproject.toml", "README.md"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "recipes", src / "recipes")
    shutil.copytree(ROOT / "src" / "octothinker", src / "src" / "octothinker", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", dist, src])
    (wheel,) = dist.glob("octothinker-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv])
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "-q", wheel])
    # torch and the other dependencies come from this environment (a .pth adds its site-packages after the
    # venv's own, so the installed wheel, not the checkout's editable install, provides `octothinker`)
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    (site / "_test_parent_env.pth").write_text(sysconfig.get_path("purelib") + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    where = _run([py, "-c", "import octothinker; print(octothinker.__file__)"], cwd=elsewhere, env=env).stdout.strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), where

    proc = _run([venv / "bin" / "octothinker", "demo", "--dry-run"], cwd=elsewhere, env=env)
    assert "plan for run 'toy_demo'" in proc.stdout and "midtrain:stable" in proc.stdout, proc.stdout
    assert "estimated work" in proc.stdout
    assert not (elsewhere / "runs").exists()  # a dry run writes nothing
