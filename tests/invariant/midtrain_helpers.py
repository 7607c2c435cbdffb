"""Helpers for the mid-training invariance tests: a tiny run on synthetic shards, CLI subprocesses."""
import os
import subprocess
import sys
from pathlib import Path

import yaml

from octothinker.config import recipe_from_dict
from octothinker.train.synthetic import tiny_recipe_dict


def make_run(root: Path, toy_data: Path, stages: dict, **midtrain):
    """A recipe rooted at `root` whose data dir is a copy of the shared toy data."""
    import shutil

    if not (root / "r" / "data").exists():
        shutil.copytree(toy_data, root / "r" / "data")
    d = tiny_recipe_dict(root, stages, mixtures=("gen", "short", "long", "hybrid"), **midtrain)
    return d, recipe_from_dict(d)


def load_weights(step_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(step_dir / "model.safetensors"))


def run_cli(recipe_dict: dict, path: Path, *args: str, torchrun: int = 0, wait: bool = True):
    """Run `octothinker midtrain` on a YAML copy of the recipe in a subprocess (one thread per process)."""
    path.write_text(yaml.safe_dump(recipe_dict, sort_keys=False))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={torchrun}", "-m", "octothinker"]
    else:
        cmd = [sys.executable, "-m", "octothinker"]
    cmd += ["midtrain", str(path), *args]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
