"""The first-GPU check: throughput of every hot path against a baseline in the same run, plus CUDA correctness checks.

One table and one JSON file (`--out`). Sections, each run in its own forked process under a hard
time cap (killed at the cap and reported TIMEOUT), in this order:

  device       GPU name, measured bf16 matmul TFLOP/s, and the peak used for MFU (989 TFLOP/s on H100/H200 SXM)
  correctness  left-padded rows in bf16 SDPA (HF forward and the RL scorer, with gradients) vs each row alone;
               the lean decoder's logits vs the HF forward, step by step
  midtrain     Llama-3.2-1B shape, seq 4096: the project's FSDP2 loop (AC off and on) vs a bare torch loop
  rollout      ~0.5B model: the lean-decoder sampler vs `model.generate` (n samples per prompt)
  rl_step      one full `RLTrainer.train_step` with the real grader
  eval         the eval HF backend's greedy generation vs `model.generate`
  vllm         vLLM rollouts (when importable) vs the lean decoder

A wrong result (FAIL), a crash (ERROR) or a timeout exits non-zero, naming the check.

    python bench/gpu_check.py --out gpu_check.json          # full shapes on one H100/H200, < 8 minutes
    python bench/gpu_check.py --device cpu --smoke          # tiny shapes, fp32: every section's code on CPU

This file runs the sections and prints the report; the rest lives beside it: `gpu_check_setup.py` (section list,
settings, models and data), `gpu_check_sections.py` (one function per section), `gpu_check_numerics.py` (the
correctness checks), `gpu_check_report.py` (rows, table, JSON).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling gpu_check_*.py modules

from gpu_check_numerics import (NOISE_FACTOR, TOL, check_fast_decode, check_left_padding,  # noqa: E402,F401
                                check_scorer_left_padding, noise_limit)
from gpu_check_report import (BAD, REPORT_FIELDS, ROW_FIELDS, STATUSES, Row, build_report, fmt,  # noqa: E402,F401
                              format_table, judge, missing_requirements, rel_err, resolve_peak, train_flops_per_token,
                              write_report)
from gpu_check_sections import RUNNERS, Recorder  # noqa: E402,F401
from gpu_check_setup import CAPS_S, SECTIONS, Settings, make_settings  # noqa: E402,F401

BUDGET_S = 450  # all sections together (sum of caps 445); a section's cap is cut to what is left of it
MIN_CAP_S = 5


# ---------------------------------------------------------------------------------------------- orchestration
def _child(name: str, s: Settings, ctx: dict, path: str) -> None:
    """Body of a section's process: its own process group (so the cap kills its helpers too), rows to `path`."""
    os.setsid()
    os.environ["TQDM_DISABLE"] = "1"
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    rec = Recorder(Path(path), name)
    try:
        RUNNERS[name](s, ctx, rec)
    except BaseException as exc:  # reported as this section's ERROR row; the other sections still run
        traceback.print_exc()
        rec.add("section error", "ERROR", detail=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300])
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def read_section(path: Path) -> tuple[list[Row], dict]:
    rows, meta = [], {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the kill at the cap
                continue
            if "row" in obj:
                rows.append(Row(**obj["row"]))
            meta.update(obj.get("meta", {}))
    return rows, meta


def run_section(name: str, s: Settings, ctx: dict, cap_s: float) -> tuple[list[Row], dict]:
    """Run one section in a forked process, killed (with its process group) at `cap_s`; its rows plus a time row."""
    path = s.workdir / f"{name}.jsonl"
    path.unlink(missing_ok=True)
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(name, s, dict(ctx), str(path)))
    t = time.monotonic()
    proc.start()
    proc.join(cap_s)
    timed_out = proc.is_alive()
    if timed_out:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # the section and its helpers (its own process group)
        proc.kill()
        proc.join()
    elapsed = time.monotonic() - t
    rows, meta = read_section(path)
    if timed_out:
        status, detail = "TIMEOUT", f"killed at the cap after {elapsed:.0f}s; rows above were measured before"
    elif proc.exitcode != 0 and not any(r.status == "ERROR" for r in rows):
        status, detail = "ERROR", f"section process exited with code {proc.exitcode}"
    else:
        status, detail = ("ERROR" if proc.exitcode else "OK"), ""
    rows.append(Row(name, "section time", status, elapsed, "s", None, cap_s, detail))
    return rows, meta


def preload() -> None:
    """Import what the sections use once, before forking, so each section starts in a fraction of a second."""
    import transformers.models.llama.modeling_llama  # noqa: F401
    import transformers.models.qwen2.modeling_qwen2  # noqa: F401

    import octothinker.eval.backends  # noqa: F401
    import octothinker.grading  # noqa: F401
    import octothinker.rl.trainer  # noqa: F401
    import octothinker.toyworld  # noqa: F401
    import octothinker.train.loop  # noqa: F401


def pick_device(requested: str) -> str:
    """`auto`: cuda when a GPU is present, counted through NVML so this process never initialises CUDA (forks stay usable)."""
    if requested != "auto":
        return requested
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    return "cuda" if torch.cuda.device_count() > 0 else "cpu"


def run_all(s: Settings, names: list[str], budget_s: float) -> tuple[list[Row], dict, float]:
    """Every section in order within the global budget; later sections see earlier ones' facts (e.g. the peak)."""
    ctx: dict = {}
    rows: list[Row] = []
    start = time.monotonic()
    for name in names:
        left = budget_s - (time.monotonic() - start)
        cap = min(s.caps[name], left)
        if cap < MIN_CAP_S:
            rows.append(Row(name, "section time", "SKIP", None, "s", None, s.caps[name], f"global budget of {budget_s:.0f}s spent"))
            continue
        print(f"gpu_check: {name} (cap {cap:.0f}s)", flush=True)
        got, meta = run_section(name, s, ctx, cap)
        ctx.update(meta)
        rows += got
    return rows, ctx, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="gpu_check.json", help="JSON report path")
    ap.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    ap.add_argument("--smoke", action="store_true", help="tiny shapes and few steps (fp32 on CPU, bf16 on a GPU)")
    ap.add_argument("--only", default="", help=f"comma-separated sections (default all: {','.join(SECTIONS)})")
    ap.add_argument("--budget-s", type=float, default=BUDGET_S, help="wall-clock budget of all sections together")
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak bf16 TFLOP/s for MFU (default: datasheet by device name)")
    ap.add_argument("--workdir", default=None, help="scratch directory (default: a temporary one, removed at the end)")
    args = ap.parse_args(argv)
    device = pick_device(args.device)
    if device == "cpu" and not args.smoke:
        ap.error("the full shapes need a GPU; on CPU use --smoke")
    names = [n for n in (args.only.split(",") if args.only else SECTIONS) if n]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        ap.error(f"--only: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    with contextlib.ExitStack() as stack:
        workdir = Path(args.workdir) if args.workdir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gpu_check_")))
        workdir.mkdir(parents=True, exist_ok=True)
        s = make_settings(device, args.smoke, workdir, args.peak_tflops)
        preload()
        rows, meta, total = run_all(s, names, args.budget_s)
    report = build_report(rows, meta, args.budget_s, total, args.smoke)
    print(f"\ngpu_check ({report['mode']}) on {report['device']}; MFU peak: {report['peak_source'] or 'n/a'}; "
          f"{total:.0f}s of {args.budget_s:.0f}s budget")
    print(format_table(rows))
    write_report(args.out, report)
    if report["failed"]:
        print(f"\nFAILED: {'; '.join(report['failed'])}", file=sys.stderr)
        return 1
    print(f"\nall checks passed; report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
