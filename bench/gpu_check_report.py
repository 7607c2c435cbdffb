"""bench/gpu_check.py's report: one row per measurement or check, the table it prints and the JSON it writes,
and the pure helpers its numbers come from (MFU peak by device name, relative error, verdicts)."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

ROW_FIELDS = ("section", "name", "status", "value", "unit", "ratio", "limit", "detail")
REPORT_FIELDS = ("mode", "device", "peak_tflops", "peak_source", "versions", "budget_s", "total_s", "ok", "failed", "rows")
STATUSES = ("PASS", "OK", "SKIP", "FAIL", "ERROR", "TIMEOUT")
BAD = ("FAIL", "ERROR", "TIMEOUT")
PEAKS_TFLOPS = (  # bf16 dense tensor-core peaks (datasheets), first match on the device name wins
    (("H100", "PCIE"), 756.0), (("H100", "NVL"), 835.0), (("H200", "NVL"), 835.0),
    (("H100",), 989.0), (("H200",), 989.0), (("A100",), 312.0),
)


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

def _dtype_name(dtype) -> str:
    return "fp32" if dtype in (None, torch.float32) else str(dtype).removeprefix("torch.")
