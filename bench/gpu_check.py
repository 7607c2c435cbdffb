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
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import math
import multiprocessing
import os
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from unittest import mock

import torch

ROW_FIELDS = ("section", "name", "status", "value", "unit", "ratio", "limit", "detail")
REPORT_FIELDS = ("mode", "device", "peak_tflops", "peak_source", "versions", "budget_s", "total_s", "ok", "failed", "rows")
STATUSES = ("PASS", "OK", "SKIP", "FAIL", "ERROR", "TIMEOUT")
BAD = ("FAIL", "ERROR", "TIMEOUT")
SECTIONS = ("device", "correctness", "midtrain", "rollout", "rl_step", "eval", "vllm")
CAPS_S = {"device": 20, "correctness": 50, "midtrain": 110, "rollout": 70, "rl_step": 70, "eval": 45, "vllm": 80}
BUDGET_S = 450  # all sections together (sum of caps 445); a section's cap is cut to what is left of it
MIN_CAP_S = 5
NOISE_FACTOR = 3.0  # a bf16 check's limit: at least 3x the bf16 forward's own error against fp32, measured in the run
TOL = {  # floors of max |got - want| / std(want), per dtype of the compared forwards
    "bfloat16": {"leftpad_logits": 0.05, "leftpad_logps": 0.05, "fast_decode": 0.05, "ac_loss": 1e-3},
    "float32": {"leftpad_logits": 1e-4, "leftpad_logps": 1e-4, "fast_decode": 1e-4, "ac_loss": 1e-5},
}
PEAKS_TFLOPS = (  # bf16 dense tensor-core peaks (datasheets), first match on the device name wins
    (("H100", "PCIE"), 756.0), (("H100", "NVL"), 835.0), (("H200", "NVL"), 835.0),
    (("H100",), 989.0), (("H200",), 989.0), (("A100",), 312.0),
)
LLAMA32_1B = "meta-llama/Llama-3.2-1B"
QWEN25_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                  num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True)
TINY_LM = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
               vocab_size=512, max_position_embeddings=512, tie_word_embeddings=True)
PAD, EOS, UNK = "<|pad|>", "<|endoftext|>", "<unk>"


@dataclass
class Row:
    """One line of the table: a measurement (OK, with a ratio to its baseline) or a check (PASS/FAIL against `limit`)."""

    section: str
    name: str
    status: str
    value: float | None = None
    unit: str = ""
    ratio: float | None = None
    limit: float | None = None
    detail: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"row {self.name!r}: status {self.status!r} is not one of {', '.join(STATUSES)}")


@dataclass
class Settings:
    """Shapes and sizes of one run: the real ones on a GPU, tiny ones with `--smoke`."""

    device: str
    smoke: bool
    workdir: Path
    peak_tflops: float | None = None
    train_seq: int = 4096
    train_micro: int = 2
    train_warmup: int = 2
    train_steps: int = 5
    rl_prompts: int = 8
    rl_group: int = 8
    rl_max_tokens: int = 128
    roll_prompts: int = 32
    roll_group: int = 8
    roll_max_tokens: int = 256
    eval_prompts: int = 64
    eval_max_tokens: int = 128
    eval_batch: int = 32
    check_lengths: tuple = (40, 9, 23, 1)
    check_steps: int = 8
    caps: dict = field(default_factory=lambda: dict(CAPS_S))

    @property
    def dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.device == "cuda" else torch.float32

    @property
    def tol(self) -> dict:
        return TOL[str(self.dtype).removeprefix("torch.")]


def make_settings(device: str, smoke: bool, workdir: Path, peak_tflops: float | None = None) -> Settings:
    """Full shapes, or (smoke) tiny ones that run every section in seconds on a CPU."""
    s = Settings(device=device, smoke=smoke, workdir=Path(workdir), peak_tflops=peak_tflops)
    if smoke:
        s.train_seq, s.train_micro, s.train_warmup, s.train_steps = 64, 2, 1, 2
        s.rl_prompts, s.rl_group, s.rl_max_tokens = 2, 4, 8
        s.roll_prompts, s.roll_group, s.roll_max_tokens = 4, 2, 8
        s.eval_prompts, s.eval_max_tokens, s.eval_batch = 4, 8, 2
        s.check_lengths, s.check_steps = (12, 5, 1), 4
    return s


# ---------------------------------------------------------------------------------------------- pure helpers
def resolve_peak(device_name: str, override_tflops: float | None = None, measured_flops: float | None = None) -> tuple[float | None, str]:
    """Peak FLOP/s for MFU and where it comes from: --peak-tflops, the datasheet for known GPUs, else a measured matmul."""
    if override_tflops:
        return override_tflops * 1e12, f"--peak-tflops {override_tflops:g}"
    name = device_name.upper()
    for keys, tflops in PEAKS_TFLOPS:
        if all(k in name for k in keys):
            return tflops * 1e12, f"{' '.join(keys)} bf16 dense datasheet peak ({tflops:g} TFLOP/s)"
    if measured_flops:
        return measured_flops, f"measured matmul on {device_name} ({measured_flops / 1e12:.3g} TFLOP/s)"
    return None, f"unknown peak for {device_name}"


def missing_requirements(pyproject: Path) -> list[str]:
    """The project's dependencies (pyproject.toml) that are absent or at a version outside their specifier."""
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement

    out = []
    for spec in tomllib.loads(Path(pyproject).read_text(encoding="utf-8"))["project"]["dependencies"]:
        req = Requirement(spec)
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            out.append(f"{req} (not installed)")
            continue
        if have not in req.specifier:
            out.append(f"{req} (have {have})")
    return out


def train_flops_per_token(n_params: int, layers: int, attn_dim: int, seq: int) -> float:
    """Training FLOPs per token, PaLM's count: 6N (N with embeddings) plus 12 x layers x attention width x seq."""
    return 6.0 * n_params + 12.0 * layers * attn_dim * seq


def rel_err(got, want) -> float:
    """max |got - want| over every entry, over the std of `want`: one scale-free number (NaN/inf stay NaN/inf)."""
    g = torch.cat([torch.as_tensor(x).detach().float().reshape(-1).cpu() for x in got])
    w = torch.cat([torch.as_tensor(x).detach().float().reshape(-1).cpu() for x in want])
    if g.shape != w.shape:
        return math.inf
    if not bool(torch.isfinite(g).all()):
        return math.nan
    return float((g - w).abs().max() / w.std().clamp_min(1e-12))


def judge(section: str, name: str, err: float, tol: float, detail: str = "", ok: bool = True) -> Row:
    """PASS when `err` is finite and at most `tol` (and `ok`); otherwise FAIL, with the error and the tolerance shown."""
    passed = ok and math.isfinite(err) and err <= tol
    return Row(section, name, "PASS" if passed else "FAIL", err, "rel err", None, tol, detail)


def fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if not math.isfinite(v):
        return str(v)
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 0.01 or a == 0:
        return f"{v:.3f}"
    return f"{v:.2e}"


def format_table(rows: list[Row]) -> str:
    """The rows as one fixed-width text table (detail last, unpadded)."""
    head = ("section", "check", "status", "value", "unit", "ratio", "limit", "detail")
    cells = [head] + [(r.section, r.name, r.status, fmt(r.value), r.unit, fmt(r.ratio), fmt(r.limit), r.detail) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head) - 1)]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(widths))) + "  " + c[-1] for c in cells]
    lines.insert(1, "-" * max(len(x) for x in lines))
    return "\n".join(x.rstrip() for x in lines)


def build_report(rows: list[Row], meta: dict, budget_s: float, total_s: float, smoke: bool) -> dict:
    """The JSON document: run facts, overall verdict, the names of failing checks and every row."""
    failed = [f"{r.section}: {r.name}" for r in rows if r.status in BAD]
    report = {"mode": "smoke" if smoke else "full", "device": meta.get("device", "unknown"),
              "peak_tflops": meta.get("peak_tflops"), "peak_source": meta.get("peak_source", ""),
              "versions": meta.get("versions", {}), "budget_s": budget_s, "total_s": round(total_s, 1),
              "ok": not failed, "failed": failed, "rows": [asdict(r) for r in rows]}
    assert tuple(report) == REPORT_FIELDS
    return report


def write_report(path: str | Path, report: dict) -> None:
    """Write the JSON atomically (temp file + rename) so a reader never sees half a report."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------- correctness checks
def _autocast(device: torch.device, dtype: torch.dtype | None):
    """Autocast to `dtype`; None or fp32 turns autocast off, also inside an enclosing autocast region."""
    if dtype is None or dtype == torch.float32:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=dtype)


def _grads_finite(model) -> bool:
    return all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)


def noise_limit(tol: float, noise: float) -> float:
    """The check's limit: `tol`, or NOISE_FACTOR x the low-precision forward's own error against fp32 when larger."""
    return max(tol, NOISE_FACTOR * noise) if math.isfinite(noise) else math.nan


def _noise_text(dtype, noise: float, limit: float) -> str:
    if dtype in (None, torch.float32):
        return "fp32, limit = tol"
    return f"{_dtype_name(dtype)} forward's own error vs fp32 {fmt(noise)}, limit max(tol, {NOISE_FACTOR:g} x that)"


def check_left_padding(model, rows: list[list[int]], pad_id: int, tol: float, dtype: torch.dtype | None = None,
                       mask=None, section: str = "correctness") -> Row:
    """Left-padded batch logits (with a backward, as the RL prompt pass) vs each row alone; FAIL also if a pads-unmasked control passes."""
    from octothinker.model.sampling import left_pad_positions, pad_rows

    device = next(model.parameters()).device
    ids, attn = pad_rows(rows, pad_id, left=True)
    if mask is not None:
        attn = torch.as_tensor(mask, dtype=torch.long).clone()
    ids, attn = ids.to(device), attn.to(device)
    width = ids.shape[1]
    model.zero_grad(set_to_none=True)
    with _autocast(device, dtype):
        logits = model(input_ids=ids, attention_mask=attn, position_ids=left_pad_positions(attn), use_cache=False).logits
        batched = [logits[i, width - len(r):].float() for i, r in enumerate(rows)]
        sum(b.logsumexp(-1).mean() for b in batched).backward()
    finite = _grads_finite(model)
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        exact = [model(input_ids=torch.tensor([r], device=device), use_cache=False).logits[0].float() for r in rows]
        with _autocast(device, dtype):
            alone = [model(input_ids=torch.tensor([r], device=device), use_cache=False).logits[0].float() for r in rows]
            ones = torch.ones_like(attn)
            ctl_logits = model(input_ids=ids, attention_mask=ones, position_ids=left_pad_positions(ones), use_cache=False).logits
            control = [ctl_logits[i, width - len(r):].float() for i, r in enumerate(rows)]
    limit = noise_limit(tol, rel_err(alone, exact))
    err, ctl = rel_err(batched, alone), rel_err(control, alone)
    sensitive = math.isfinite(ctl) and ctl > limit
    detail = (f"{len(rows)} rows, lengths {[len(r) for r in rows]}, fp32 weights; {_noise_text(dtype, rel_err(alone, exact), limit)}; "
              f"grads {'finite' if finite else 'NOT finite'}; control (pads unmasked) {fmt(ctl)}"
              f"{'' if sensitive else ' <= limit: check cannot see a wrong mask'}")
    return judge(section, "left-pad logits vs row alone (HF fwd+bwd)", err, limit, detail, ok=finite and sensitive)


def check_scorer_left_padding(model, prompts: list[list[int]], responses: list[list[int]], pad_id: int, tol: float,
                              dtype: torch.dtype | None = None, section: str = "correctness") -> Row:
    """The RL scorer's (`policy_batch.token_logps`) log-probs of left-padded prompts, with a backward, vs each rollout alone."""
    from octothinker.rl.policy_batch import build_batch, token_logps

    device = next(model.parameters()).device
    batch = build_batch(prompts, responses, pad_id)
    model.zero_grad(set_to_none=True)
    with _autocast(device, dtype):
        logp, _, mask = token_logps(model, batch, torch.arange(len(prompts)), False, device)
        (logp * mask).sum().backward()
    finite = _grads_finite(model)
    model.zero_grad(set_to_none=True)
    got, want, exact = [], [], []
    with torch.no_grad():
        for j, (p, r) in enumerate(zip(prompts, responses)):
            one = build_batch([p], [r], pad_id)
            exact.append(token_logps(model, one, torch.tensor([0]), False, device)[0][0][: len(r)])
            with _autocast(device, dtype):
                want.append(token_logps(model, one, torch.tensor([0]), False, device)[0][0][: len(r)])
            got.append(logp[j, : len(r)].detach())
    noise = rel_err(want, exact)
    limit = noise_limit(tol, noise)
    detail = (f"{len(prompts)} rollouts, prompt lengths {[len(p) for p in prompts]}, fp32 weights; {_noise_text(dtype, noise, limit)}; "
              f"grads {'finite' if finite else 'NOT finite'}")
    return judge(section, "left-pad RL scorer log-probs vs alone", rel_err(got, want), limit, detail, ok=finite)


def check_fast_decode(model, rows: list[list[int]], steps: int, pad_id: int, tol: float, dtype: torch.dtype | None = None,
                      section: str = "correctness") -> Row:
    """Lean-decoder logits vs the HF forward on each whole sequence at every step (rows dropped half-way); `dtype`: autocast."""
    import copy

    from octothinker.model import fast_decode
    from octothinker.model.sampling import pad_rows

    weights = next(model.parameters()).dtype
    name = "lean decoder logits vs HF forward" + (" (autocast)" if dtype not in (None, torch.float32) else "")
    if not fast_decode.supports(model):
        return Row(section, name, "FAIL", None, "", None, tol, f"{type(model).__name__}: not supported by fast_decode")
    device = next(model.parameters()).device
    fp32 = model if weights == torch.float32 else copy.deepcopy(model).float()
    ids, mask = (t.to(device) for t in pad_rows(rows, pad_id, left=True))
    seqs = [list(r) for r in rows]
    got, want, exact = [], [], []

    def last_logits(m, autocast):
        with _autocast(device, dtype if autocast else None):
            return torch.stack([m(input_ids=torch.tensor([s], device=device), use_cache=False).logits[0, -1].float() for s in seqs])

    with torch.inference_mode(), _autocast(device, dtype):
        dec = fast_decode.FastDecoder(model, len(rows), ids.shape[1] + steps)
        logits = dec.prefill(ids, mask)
        for step in range(steps):
            ref = last_logits(model, True)
            exact.append(last_logits(fp32, False))
            got.append(logits.float())
            want.append(ref)
            nxt = ref.argmax(-1)
            for s, t in zip(seqs, nxt.tolist()):
                s.append(t)
            if step == steps // 2 and len(seqs) > 1:
                keep = list(range(len(seqs) - 1, -1, -2))  # drop every other row and reverse the order
                dec.select(torch.tensor(keep, device=device))
                seqs, nxt = [seqs[k] for k in keep], nxt[keep]
            if step < steps - 1:
                logits = dec.step(nxt)
    low = dtype if dtype not in (None, torch.float32) else weights
    noise = rel_err(want, exact)
    limit = noise_limit(tol, noise)
    detail = (f"{len(rows)} rows, lengths {[len(r) for r in rows]}, {steps} steps, {_dtype_name(weights)} weights"
              f"{'' if low is weights else ' under ' + _dtype_name(dtype) + ' autocast'}; {_noise_text(low, noise, limit)}")
    return judge(section, name, rel_err(got, want), limit, detail)


def _params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e8 else f"{n / 1e6:.2f}M"


def _dtype_name(dtype) -> str:
    return "fp32" if dtype in (None, torch.float32) else str(dtype).removeprefix("torch.")


# ---------------------------------------------------------------------------------------------- models and data
def word_tokenizer(vocab_size: int, texts: list[str] = ()):
    """A whitespace word-level tokenizer of exactly `vocab_size` ids (the texts' words, then fillers): every sampled id decodes to a word."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = [PAD, EOS, UNK]
    seen = set(words)
    for t in texts:
        for w in t.split():
            if w not in seen and len(words) < vocab_size:
                seen.add(w)
                words.append(w)
    words += [f"w{i}" for i in range(vocab_size - len(words))]
    raw = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token=UNK))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=raw, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                   clean_up_tokenization_spaces=False)


def rl_records(n: int) -> list[dict]:
    from octothinker.config import ToyWorldConfig
    from octothinker.toyworld import rl_prompts

    return rl_prompts(ToyWorldConfig(rl_prompts=max(n, 8)))[:n]


def prompt_texts(n: int, template: str = "plain") -> list[str]:
    from octothinker.rl.templates import render

    return [render(template, r["question"]) for r in rl_records(n)]


def rl_tokenizer(s: Settings):
    from octothinker.rl.templates import render

    vocab = TINY_LM["vocab_size"] if s.smoke else QWEN25_05B["vocab_size"]
    recs = rl_records(max(s.rl_prompts, s.roll_prompts, s.eval_prompts))
    texts = [render(t, r["question"]) for r in recs for t in ("plain", "simple")]
    return word_tokenizer(vocab, texts)


def rl_model(s: Settings, tok, dtype: torch.dtype = torch.float32, seed: int = 0):
    """The ~0.5B Qwen2.5-0.5B-shaped random model (tiny with --smoke), built straight on the device."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shape = dict(TINY_LM if s.smoke else QWEN25_05B)
    cfg = Qwen2Config(**shape, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    with torch.device(s.device):
        model = Qwen2ForCausalLM(cfg)
    return model.to(dtype)


def train_config(s: Settings):
    """Llama-3.2-1B's shape (random init), or a tiny Llama with --smoke."""
    from transformers import LlamaConfig

    from octothinker.model.shapes import KNOWN_SHAPES

    shape = dict(TINY_LM, head_dim=16) if s.smoke else dict(KNOWN_SHAPES[LLAMA32_1B])
    cfg = LlamaConfig(**shape)
    cfg._attn_implementation = "sdpa"
    return cfg


def ensure_model_dir(s: Settings) -> Path:
    """The RL-shaped random model (bf16 on a GPU) and its tokenizer saved as an HF dir, written once per run."""
    out = s.workdir / "rl_model"
    if (out / "config.json").is_file():
        return out
    tok = rl_tokenizer(s)
    model = rl_model(s, tok, s.dtype)
    tmp = s.workdir / "rl_model.tmp"
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    tmp.rename(out)
    del model
    _free()
    return out


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def _bench_module(name: str):
    """A sibling bench script as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check_rows(vocab: int, lengths, seed: int = 1) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, vocab, (n,), generator=g).tolist() for n in lengths]


# ---------------------------------------------------------------------------------------------- sections
class Recorder:
    """Appends each row (and run facts) to the section's file as soon as it is measured, so a killed section keeps its rows."""

    def __init__(self, path: Path, section: str):
        self.path, self.section = path, section

    def _write(self, obj: dict) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(obj) + "\n")

    def add(self, name: str, status: str, value=None, unit: str = "", ratio=None, limit=None, detail: str = "") -> None:
        self._write({"row": asdict(Row(self.section, name, status, value, unit, ratio, limit, detail))})

    def row(self, row: Row) -> None:
        self._write({"row": asdict(row)})

    def meta(self, **kw) -> None:
        self._write({"meta": kw})


def section_device(s: Settings, ctx: dict, rec: Recorder) -> None:
    """Device facts, a measured matmul rate and the peak that MFU divides by."""
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "python": sys.version.split()[0]}
    if s.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        name = torch.cuda.get_device_name(0)
        detail = f"{props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs, capability {props.major}.{props.minor}"
        n, dtype = 8192, torch.bfloat16
    else:
        name, detail, n, dtype = "cpu", f"{torch.get_num_threads()} threads", 256, torch.float32
    measured = _bench_module("train_throughput").peak_matmul_flops(torch.device(s.device), dtype=dtype, n=n)
    peak, source = resolve_peak(name, s.peak_tflops, measured)
    rec.meta(device=name, peak_tflops=peak / 1e12 if peak else None, peak_source=source, versions=versions)
    rec.add("device", "OK", None, "", None, None, f"{name}; {detail}; torch {versions['torch']}, transformers {versions['transformers']}")
    missing = missing_requirements(Path(__file__).resolve().parents[1] / "pyproject.toml")
    rec.add("project requirements installed", "FAIL" if missing else "PASS", None, "", None, None,
            ("missing: " + "; ".join(missing)) if missing else "every pyproject.toml dependency satisfied")
    rec.add(f"matmul {n}^3 {_dtype_name(dtype)}", "OK", measured / 1e12, "TFLOP/s", measured / peak if peak else None, None,
            "ratio = measured / peak used for MFU")
    rec.add("peak used for MFU", "OK", peak / 1e12 if peak else None, "TFLOP/s", None, None, source)


def section_correctness(s: Settings, ctx: dict, rec: Recorder) -> None:
    """The CUDA-only risks, in the run's precision: left-padded rows under SDPA (with gradients) and the lean decoder."""
    tok = rl_tokenizer(s)
    vocab, pad = len(tok), tok.pad_token_id
    model = rl_model(s, tok, torch.float32).eval()
    mixed = s.dtype if s.dtype != torch.float32 else None  # the RL update: fp32 weights under bf16 autocast
    rows = _check_rows(vocab, s.check_lengths)
    rec.row(check_left_padding(model, rows, pad, s.tol["leftpad_logits"], mixed))
    responses = _check_rows(vocab, [max(2, n // 3) for n in s.check_lengths], seed=2)
    rec.row(check_scorer_left_padding(model, rows, responses, pad, s.tol["leftpad_logps"], mixed))
    if mixed is not None:  # RL rollouts: fp32 weights under bf16 autocast
        rec.row(check_fast_decode(model, rows, s.check_steps, pad, s.tol["fast_decode"], mixed))
    model = model.to(s.dtype)  # inference weights: bf16 on a GPU
    rec.row(check_fast_decode(model, rows, s.check_steps, pad, s.tol["fast_decode"]))


def one_rank_dist(device: str, workdir: Path):
    """A 1-process group (nccl/gloo) and a `Dist` whose `enabled` is True, so `wrap_model` and `train_loop` take their FSDP2 path."""
    import torch.distributed as td

    from octothinker.train.distributed import Dist

    class FSDPDist(Dist):
        @property
        def enabled(self) -> bool:
            return True

    dev = torch.device("cuda", 0) if device == "cuda" else torch.device("cpu")
    if device == "cuda":
        torch.cuda.set_device(0)
    if not td.is_initialized():
        td.init_process_group("nccl" if device == "cuda" else "gloo", init_method=f"file://{workdir}/pg_store", rank=0, world_size=1)
    return FSDPDist(rank=0, world=1, local_rank=0, device=dev)


def bare_loop(model, data, micro: int, steps: int, device, precision: str) -> tuple[list[float], list[float]]:
    """The baseline: plain model, HF loss, backward, clip, AdamW step; per-step seconds and losses."""
    from octothinker.train.data import rank_rows

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    times, losses = [], []
    for step in range(steps):
        t = time.perf_counter()
        ids = torch.from_numpy(data.take(rank_rows(step * micro, micro, 0, 0, 1))).to(device)
        with _autocast(torch.device(device), torch.bfloat16 if precision == "bf16" else None):
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        times.append(time.perf_counter() - t)
    return times, losses


def engine_loop(model, data, steps: int, micro: int, dist, precision: str, stage_dir: Path) -> tuple[list[float], list[float]]:
    """The project's `train_loop` for `steps` steps (checkpoint writing patched out of the measurement)."""
    from octothinker.train import loop

    spec = loop.LoopSpec(stage="gpu_check", stage_dir=stage_dir, total_steps=steps, micro_batch=micro, grad_accum=1,
                         seq_len=data.seq_len, checkpoint_every_steps=10**9, schedule={"schedule": "constant", "lr": 1e-4},
                         eval_every_steps=0, precision=precision)
    with mock.patch.object(loop, "save", lambda *a, **k: None):
        loop.train_loop(model, data, spec, dist, None)
    recs = [json.loads(x) for x in (stage_dir / "metrics.jsonl").read_text().splitlines()]
    return [micro * data.seq_len / r["tokens_per_s"] for r in recs], [r["loss"] for r in recs]


def _train_data(s: Settings, workdir: Path):
    from octothinker.data.tokenizer import train_toy_tokenizer
    from octothinker.train.data import open_shards
    from octothinker.train.synthetic import arithmetic_docs, write_mixture

    tok = train_toy_tokenizer(arithmetic_docs(200, 0) + arithmetic_docs(200, 0, "qa"), vocab_size=384)
    tok.save_pretrained(str(workdir / "tok"))
    n_docs = max(200, 12 * s.train_seq // 20)
    docs = arithmetic_docs(n_docs // 2, 1) + arithmetic_docs(n_docs // 2, 2, "qa")
    return open_shards(write_mixture(workdir / "mix", tok, workdir / "tok", {"mix": docs}, s.train_seq, heldout_docs=0))


def section_midtrain(s: Settings, ctx: dict, rec: Recorder) -> None:
    """tokens/s and MFU: bare torch loop vs the project's FSDP2 train_loop with activation checkpointing off and on."""
    from transformers import LlamaForCausalLM

    from octothinker.model.build import count_parameters
    from octothinker.train.distributed import wrap_model

    work = s.workdir / "midtrain"
    work.mkdir(exist_ok=True)
    data = _train_data(s, work)
    cfg = train_config(s)
    precision = "bf16" if s.device == "cuda" else "fp32"
    dist = one_rank_dist(s.device, work)
    steps = s.train_warmup + s.train_steps
    results = {}
    for kind in ("bare", "ac_off", "ac_on"):
        torch.manual_seed(0)
        with torch.device(dist.device):
            model = LlamaForCausalLM(cfg).float()
        n_params = count_parameters(model)
        if s.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        if kind == "bare":
            times, losses = bare_loop(model, data, s.train_micro, steps, dist.device, precision)
            sharded = None
        else:
            model = wrap_model(model, dist, activation_checkpointing=kind == "ac_on")
            sharded = type(model).__name__.startswith("FSDP")
            times, losses = engine_loop(model, data, steps, s.train_micro, dist, precision, work / kind)
        mem = torch.cuda.max_memory_allocated() / 2**30 if s.device == "cuda" else None
        timed = sorted(times[s.train_warmup:])
        results[kind] = {"tok_s": s.train_micro * s.train_seq / timed[len(timed) // 2], "losses": losses, "mem": mem, "sharded": sharded}
        del model
        _free()
    peak = ctx.get("peak_tflops")
    name = torch.cuda.get_device_name(0) if s.device == "cuda" else "cpu"
    peak = peak * 1e12 if peak else resolve_peak(name, s.peak_tflops)[0]
    fpt = train_flops_per_token(n_params, cfg.num_hidden_layers, cfg.num_attention_heads * cfg.head_dim, s.train_seq)
    base = results["bare"]["tok_s"]
    shape = f"{_params(n_params)} params, seq {s.train_seq}, micro {s.train_micro}, median of {s.train_steps} steps after {s.train_warmup}"
    labels = {"bare": "bare torch loop (baseline)", "ac_off": "FSDP2 train_loop, AC off", "ac_on": "FSDP2 train_loop, AC on"}
    for kind, r in results.items():
        mem = f"; peak mem {r['mem']:.1f} GiB" if r["mem"] is not None else ""
        status = "FAIL" if r["sharded"] is False else "OK"
        shard = "" if r["sharded"] is None else ("; fully_shard applied" if r["sharded"] else "; NOT sharded by wrap_model")
        rec.add(f"{labels[kind]} tokens/s", status, r["tok_s"], "tok/s", r["tok_s"] / base, None, f"{precision}, {shape}{mem}{shard}")
    for kind, r in results.items():
        mfu = fpt * r["tok_s"] / peak if peak else None
        rec.add(f"MFU {labels[kind].split(' (')[0]}", "OK", mfu, "MFU", None, None,
                f"(6N + 12*L*d*seq) x tok/s / peak; recompute not counted; {fpt:.3g} FLOP/token")
    a, b = results["ac_on"]["losses"][0], results["ac_off"]["losses"][0]
    rec.row(judge("midtrain", "AC on vs off: step-1 loss", abs(a - b) / max(abs(b), 1e-12), s.tol["ac_loss"],
                  f"{a:.6f} vs {b:.6f} (same init and rows; checkpointing must not change the forward)"))
    import torch.distributed as td

    td.destroy_process_group()


def _count_new(new: torch.Tensor, eos: int) -> int:
    """Generated tokens per row up to and including the first EOS (what the sampler counts)."""
    is_eos = new == eos
    after = (is_eos.long().cumsum(1) - is_eos.long()) > 0
    return int((~after).sum())


def hf_generate_rollouts(model, tok, prompts, n: int, max_new: int) -> int:
    """Baseline: `model.generate` sampling n per prompt (full softmax, T=1) on one left-padded batch; new tokens."""
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True).to(next(model.parameters()).device)
    with torch.inference_mode():
        out = model.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=max_new,
                             num_return_sequences=n, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return _count_new(out[:, enc["input_ids"].shape[1]:], tok.eos_token_id)


def section_rollout(s: Settings, ctx: dict, rec: Recorder) -> None:
    """Rollout tokens/s: the project's sampler (lean decoder) vs `model.generate`, same model, prompts, n and lengths."""
    from octothinker.rl.rollout import sample
    from octothinker.rl.templates import stop_strings

    tok = rl_tokenizer(s)
    model = rl_model(s, tok, s.dtype).eval()
    prompts = prompt_texts(s.roll_prompts)
    stop = stop_strings("plain")
    dev = torch.device(s.device)

    def ours() -> int:
        g = torch.Generator(device=dev).manual_seed(0)
        ro = sample(model, tok, prompts, s.roll_group, s.roll_max_tokens, 1.0, 1.0, stop, g)
        return sum(len(r) for r in ro.response_ids)

    sample(model, tok, prompts[:2], 2, 4, 1.0, 1.0, stop, torch.Generator(device=dev).manual_seed(0))  # warm-up
    hf_generate_rollouts(model, tok, prompts[:2], 2, 4)
    best = {"ours": 0.0, "hf": 0.0}
    for which in ("ours", "hf", "ours"):
        _sync(dev)
        t = time.perf_counter()
        n = ours() if which == "ours" else hf_generate_rollouts(model, tok, prompts, s.roll_group, s.roll_max_tokens)
        _sync(dev)
        best[which] = max(best[which], n / (time.perf_counter() - t))
    what = (f"{s.roll_prompts} prompts x {s.roll_group}, {s.roll_max_tokens} new tokens, T=1, {_dtype_name(s.dtype)} weights, "
            f"{_params(sum(p.numel() for p in model.parameters()))} params")
    rec.meta(rollout_ours_tok_s=best["ours"])
    rec.add("model.generate tokens/s (baseline)", "OK", best["hf"], "tok/s", 1.0, None, what)
    rec.add("lean-decoder sampler tokens/s", "OK", best["ours"], "tok/s", best["ours"] / best["hf"], None,
            "rl.rollout.sample (model.sampling + fast_decode); best of 2 runs")


def section_rl_step(s: Settings, ctx: dict, rec: Recorder) -> None:
    """One full GRPO step (`RLTrainer.train_step`) on the random model with the real grader, after one warm-up step."""
    from octothinker.config import RLConfig
    from octothinker.grading import grade_many, shutdown_pool
    from octothinker.rl.trainer import RLTrainer

    tok = rl_tokenizer(s)
    model = rl_model(s, tok, torch.float32)
    recs = rl_records(s.rl_prompts)
    precision = "bf16" if s.device == "cuda" else "fp32"
    cfg = RLConfig(template="plain", steps=2, prompts_per_step=s.rl_prompts, group_size=s.rl_group,
                   mini_batch_size=s.rl_prompts * s.rl_group, lr=1e-6, temperature=1.0, max_response_tokens=s.rl_max_tokens,
                   validate_every=0, save_every=0, rollout_samples=0, answer_kind="math", precision=precision, backend="hf")
    try:
        verdicts = grade_many(["so \\boxed{2\\sqrt{2}}", "so \\boxed{3\\sqrt{2}}"], ["\\sqrt{8}", "\\sqrt{8}"], "math", 10.0)
        got = [bool(v.correct) for v in verdicts]
        rec.add("reward path: grader on known answers", "PASS" if got == [True, False] else "FAIL", None, "", None, None,
                f"2sqrt2 vs sqrt8 -> {got[0]} (want True), 3sqrt2 -> {got[1]} (want False); reasons {[v.reason for v in verdicts]}")
        tr = RLTrainer(cfg, model, tok, recs, s.workdir / "rl_run", seed=0)
        tr.train_step(0)
        _sync(s.device)
        row = tr.train_step(1)
    finally:
        shutdown_pool()
    what = (f"{s.rl_prompts} prompts x {s.rl_group}, max {s.rl_max_tokens} tokens, {precision}, "
            f"{_params(sum(p.numel() for p in model.parameters()))} params; second step")
    split = (f"gen {row['time_gen']:.2f}s, old-logp {row['time_old_logp']:.2f}s, reward wait {row['time_reward_wait']:.2f}s, "
             f"update {row['time_update']:.2f}s")
    rec.add("RL train_step time", "OK", row["time_step"], "s", None, None, f"{split}; {what}")
    rec.add("RL rollout tokens/s inside the step", "OK", row["gen_tokens_per_s"], "tok/s", None, None,
            f"mean response {row['response_len_mean']:.0f} tokens, reward mean {row['reward_mean']:.3f}, timeouts {row['reward_timeouts']}")
    finite = all(math.isfinite(float(row.get(k, 0.0))) for k in ("loss", "grad_norm", "entropy"))
    rec.add("RL update finite (loss, grad norm)", "PASS" if finite and row.get("updates", 0) >= 1 else "FAIL",
            row.get("grad_norm"), "grad norm", None, None, f"loss {row.get('loss')}, updates {row.get('updates')}")


def section_eval(s: Settings, ctx: dict, rec: Recorder) -> None:
    """Eval generation tokens/s: the HF eval backend (greedy, batched) vs `model.generate` on the same batches."""
    from octothinker.eval.backends import HFBackend, Sampling

    hf_generate_loop = _bench_module("generation").hf_generate_loop
    backend = HFBackend(ensure_model_dir(s), device=s.device, batch_size=s.eval_batch)
    prompts = prompt_texts(s.eval_prompts, "simple")
    dev = torch.device(s.device)
    backend.generate(prompts[:2], Sampling(max_new_tokens=4))  # warm-up, both paths
    with torch.inference_mode():
        hf_generate_loop(backend.model, backend.tokenizer, prompts[:2], 4, 2, 0.0)
    _sync(dev)
    t = time.perf_counter()
    outs = backend.generate(prompts, Sampling(max_new_tokens=s.eval_max_tokens))
    _sync(dev)
    ours = sum(c.n_tokens for group in outs for c in group) / (time.perf_counter() - t)
    t = time.perf_counter()
    with torch.inference_mode():
        n = hf_generate_loop(backend.model, backend.tokenizer, prompts, s.eval_max_tokens, s.eval_batch, 0.0)
    _sync(dev)
    hf = n / (time.perf_counter() - t)
    what = f"{s.eval_prompts} prompts, greedy, {s.eval_max_tokens} new tokens, batch {s.eval_batch}, {backend.model.dtype}"
    rec.add("model.generate greedy tokens/s (baseline)", "OK", hf, "tok/s", 1.0, None, what)
    rec.add("eval HFBackend.generate tokens/s", "OK", ours, "tok/s", ours / hf, None, "eval.backends.HFBackend -> eval.generation.generate")


def section_vllm(s: Settings, ctx: dict, rec: Recorder) -> None:
    """vLLM rollouts through the RL backend (`rl.rollout.VLLMBackend`), and one in-place weight push, when vLLM imports."""
    if s.device != "cuda":
        rec.add("vLLM rollout tokens/s", "SKIP", detail="needs CUDA (vLLM has no CPU path here)")
        return
    if importlib.util.find_spec("vllm") is None:
        rec.add("vLLM rollout tokens/s", "SKIP", detail="vllm is not importable (pip install vllm)")
        return
    from octothinker.rl.rollout import VLLMBackend
    from octothinker.rl.templates import stop_strings

    mdir = ensure_model_dir(s)
    tok = rl_tokenizer(s)
    prompts = prompt_texts(s.roll_prompts)
    stop = stop_strings("plain")
    t = time.perf_counter()
    backend = VLLMBackend(str(mdir))
    init_s = time.perf_counter() - t
    backend.sample(tok, prompts[:2], 2, 4, 1.0, 1.0, stop, 0)  # warm-up
    t = time.perf_counter()
    ro = backend.sample(tok, prompts, s.roll_group, s.roll_max_tokens, 1.0, 1.0, stop, 1)
    tok_s = sum(len(r) for r in ro.response_ids) / (time.perf_counter() - t)
    ours = ctx.get("rollout_ours_tok_s")
    rec.add("vLLM rollout tokens/s", "OK", tok_s, "tok/s", tok_s / ours if ours else None, None,
            f"ratio vs the lean-decoder sampler of the rollout section; same prompts, n, lengths; engine start {init_s:.0f}s")
    model = rl_model(s, tok, torch.float32)
    t = time.perf_counter()
    backend.sync_weights(model)
    _sync(s.device)
    rec.add("vLLM weight push (sync_weights)", "OK", time.perf_counter() - t, "s", None, None, "fp32 policy -> engine, in place")


RUNNERS = {"device": section_device, "correctness": section_correctness, "midtrain": section_midtrain,
           "rollout": section_rollout, "rl_step": section_rl_step, "eval": section_eval, "vllm": section_vllm}


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
