"""Read a run directory's artifacts into plain Python data for the report (no torch, tolerant).

Every reader accepts missing files and missing fields: the report says "not run" for an absent
stage rather than failing. A file that exists but cannot be parsed is recorded in
`RunData.problems` (file and reason) and shown in the report, never silently ignored.
Accuracies are normalised to percent: eval summaries already use percent (as
`octothinker.eval.metrics.summarize` writes them); RL training and validation accuracies are
fractions in [0, 1] (as `octothinker.rl.trainer` writes them) and are multiplied by 100.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..paths import read_jsonl

# RL metrics keys shown as training-dynamics panels: (key candidates, panel title, scale).
RL_DIAGNOSTICS = [
    (("accuracy", "reward_accuracy"), "train accuracy (%)", 100.0),
    (("reward_mean", "reward"), "reward mean", 1.0),
    (("response_len_mean", "response_length_mean", "length_mean", "mean_length"), "response length (tokens)", 1.0),
    (("truncation_rate",), "truncation rate", 1.0),
    (("reflection_rate",), "reflection-word rate", 1.0),
    (("entropy",), "entropy", 1.0),
    (("repetition_rate",), "repetition rate", 1.0),
    (("boxed_rate",), "boxed-answer rate", 1.0),
    (("chain_rate",), "chain rate (gold steps written out)", 1.0),
    (("lucky_rate",), "lucky rate (correct without the chain)", 1.0),
]
# Validation sets that are RL prompts (the memorisation pair), not benchmarks: kept out of benchmark tables.
MEMORISATION_SETS = ("rl_seen", "rl_fresh")
_LEN_KEYS = ("response_len", "response_len_mean", "response_length_mean", "mean_tokens", "mean_length", "length_mean", "response_length")


@dataclass
class Node:
    """One model in the lineage tree: a mid-training stage/branch or an RL run."""

    name: str  # "midtrain/<stage>" or "rl/<name>" or an external checkpoint path
    kind: str  # midtrain | rl | external
    parent: Optional[str] = None
    detail: str = ""


@dataclass
class RLRun:
    name: str
    rows: list[dict] = field(default_factory=list)  # training rows (no validation)
    validation: dict[str, dict[str, list]] = field(default_factory=dict)  # bench -> {step, accuracy, length, ...}
    lineage: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)  # the RL settings (rl_config.json's "config"), e.g. reward_control


@dataclass
class RunData:
    root: Path
    name: str
    facts: dict = field(default_factory=dict)
    manifests: dict[str, dict] = field(default_factory=dict)
    midtrain: dict[str, list[dict]] = field(default_factory=dict)
    midtrain_lineage: dict[str, dict] = field(default_factory=dict)
    rl: dict[str, RLRun] = field(default_factory=dict)
    evals: dict[str, dict] = field(default_factory=dict)  # model -> {"protocol", "benchmarks": {b: metrics}}
    nodes: list[Node] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    pipeline: dict = field(default_factory=dict)  # pipeline.json: stage id -> {status, wall_s, work, ...}
    model_config: dict = field(default_factory=dict)  # config.json of one checkpoint (every model of a run shares it)


def num(x: Any) -> Optional[float]:
    """A finite float from a JSON value, or None (bools, strings, NaN and inf are not numbers)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def first_key(row: dict, keys: tuple[str, ...]) -> Optional[float]:
    for k in keys:
        v = num(row.get(k))
        if v is not None:
            return v
    return None


def series(rows: list[dict], x: str, ykeys: tuple[str, ...] | str, scale: float = 1.0) -> tuple[list, list]:
    """(xs, ys) for rows where both x and one of ykeys are numbers, in row order."""
    ykeys = (ykeys,) if isinstance(ykeys, str) else ykeys
    xs, ys = [], []
    for r in rows:
        xv, yv = num(r.get(x)), first_key(r, ykeys)
        if xv is not None and yv is not None:
            xs.append(xv)
            ys.append(yv * scale)
    return xs, ys


def _read_json(path: Path, problems: list[str]) -> Optional[Any]:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: unreadable JSON ({exc})")
        return None


def _read_rows(path: Path, problems: list[str]) -> list[dict]:
    try:
        rows = read_jsonl(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: unreadable JSONL ({exc})")
        return []
    bad = sum(not isinstance(r, dict) for r in rows)
    if bad:
        problems.append(f"{path}: {bad} line(s) are not JSON objects; ignored")
    return [r for r in rows if isinstance(r, dict)]


def _is_validation(row: dict) -> bool:
    tag = str(row.get("kind") or row.get("type") or row.get("split") or "").lower()
    return tag in ("val", "validation", "eval") or "benchmark" in row


def _pct(x: Any) -> Optional[float]:
    v = num(x)
    return None if v is None else 100.0 * v


def _extra_point(metrics: dict, row: dict) -> dict:
    """The validation protocol's optional metrics of one point (see `octothinker.rl.validation.summarize`)."""
    depth: dict[int, dict[str, Optional[float]]] = {}
    for k, v in metrics.items():
        m = re.fullmatch(r"depth(\d+)/(accuracy|sampled_accuracy)", str(k))
        if m and num(v) is not None:
            kind = "accuracy" if m.group(2) == "accuracy" else "sampled"
            depth.setdefault(int(m.group(1)), {})[kind] = 100.0 * num(v)
    return {
        "sampled": _pct(metrics.get("sampled_accuracy")),
        "sampled_length": num(metrics.get("sampled_len")),
        "passk": {j: 100.0 * v for j, v in pass_at_k(metrics).items()},
        "lucky": _pct(metrics.get("lucky_rate")),
        "samples": num(metrics.get("val_samples", row.get("val_samples"))),
        "max_tokens": num(metrics.get("val_max_tokens", row.get("val_max_tokens"))),
        "depth": depth,
    }


def split_validation(rows: list[dict]) -> tuple[list[dict], dict[str, dict[str, list]]]:
    """Separate RL training rows from validation results, accepting three layouts.

    (a) rows tagged kind/type/split = validation with a `benchmark` field; (b) flat keys
    `val/<bench>/accuracy` and `val/<bench>/<length key>` on any row (the RL trainer's layout);
    (c) a nested `validation: {bench: {accuracy, ...}}` dict on any row. Accuracy is a fraction
    in [0, 1]; the returned series are in percent.

    Every set has `step`, `accuracy` (greedy) and `length`. The validation protocol's further metrics add,
    only where some point has them, series aligned with `step` (None / {} at points without them):
    `sampled` (avg@k %), `sampled_length`, `passk` ({J: pass@J %} per point), `lucky` (% of correct samples
    without the gold chain), `samples` (k), `max_tokens` (the budget) and `depth` =
    {D: {"accuracy": [...], "sampled": [...]}} per problem depth D.
    """
    val: dict[str, dict[str, list]] = {}
    extra: dict[str, list[dict]] = {}

    def add(bench: str, step: Optional[float], metrics: dict, row: dict) -> None:
        acc = num(metrics.get("accuracy"))
        if step is None or acc is None:
            return
        d = val.setdefault(bench, {"step": [], "accuracy": [], "length": []})
        d["step"].append(step)
        d["accuracy"].append(100.0 * acc)
        d["length"].append(first_key(metrics, _LEN_KEYS))
        extra.setdefault(bench, []).append(_extra_point(metrics, row))

    train = []
    for r in rows:
        step = num(r.get("step"))
        if _is_validation(r):
            add(str(r.get("benchmark", "validation")), step, r, r)
            continue
        flat: dict[str, dict] = {}
        for k, v in r.items():
            m = re.fullmatch(r"(?:val|validation)/([^/]+)/(.+)", k)
            if m:
                flat.setdefault(m.group(1), {})[m.group(2)] = v
        for bench, metrics in flat.items():
            add(bench, step, metrics, r)
        nested = r.get("validation")
        if isinstance(nested, dict):
            for bench, metrics in nested.items():
                if isinstance(metrics, dict):
                    add(str(bench), step, metrics, r)
        if first_key(r, tuple(k for keys, _, _ in RL_DIAGNOSTICS for k in keys)) is not None:
            train.append(r)
    for bench, points in extra.items():  # old runs (no protocol metrics) keep exactly the three series
        d = val[bench]
        for key in ("sampled", "sampled_length", "lucky", "samples", "max_tokens"):
            col = [p[key] for p in points]
            if any(x is not None for x in col):
                d[key] = col
        if any(p["passk"] for p in points):
            d["passk"] = [p["passk"] for p in points]
        depths = sorted({dep for p in points for dep in p["depth"]})
        if depths:
            d["depth"] = {dep: {m: [p["depth"].get(dep, {}).get(m) for p in points] for m in ("accuracy", "sampled")}
                          for dep in depths}
    return train, val


def normalize_summary(obj: Any) -> dict:
    """An eval summary as {"protocol": str|None, "benchmarks": {bench: metrics}}.

    Accepts `{"benchmarks": {...}, "protocol": ...}` or a bare `{bench: {accuracy, ...}}` map.
    """
    if not isinstance(obj, dict):
        return {"protocol": None, "benchmarks": {}}
    benches = obj.get("benchmarks") if isinstance(obj.get("benchmarks"), dict) else obj
    out = {k: v for k, v in benches.items() if isinstance(v, dict) and "accuracy" in v}
    return {"protocol": obj.get("protocol"), "benchmarks": out}


def pass_at_k(metrics: dict) -> dict[int, float]:
    """{k: pass@k percent} from flat `pass@<k>` keys or a `pass_at_k: {k: v}` map."""
    out = {}
    for k, v in metrics.items():
        m = re.fullmatch(r"pass@(\d+)", str(k))
        if m and num(v) is not None:
            out[int(m.group(1))] = num(v)
    nested = metrics.get("pass_at_k")
    if isinstance(nested, dict):
        for k, v in nested.items():
            if str(k).isdigit() and num(v) is not None:
                out[int(k)] = num(v)
    return dict(sorted(out.items()))


def lineage_get(lineage: dict, key: str) -> Any:
    """A lineage field, top level first, then inside the mid-training trainer's `init` dict."""
    if lineage.get(key) not in (None, ""):
        return lineage[key]
    init = lineage.get("init")
    return init.get(key) if isinstance(init, dict) else None


def parent_name(lineage: dict) -> Optional[str]:
    """The lineage parent as a node name ("midtrain/<stage>", "rl/<name>") or the raw path."""
    for key in ("parent_stage", "parent", "init_from", "parent_checkpoint", "base", "from"):
        v = lineage_get(lineage, key)
        if isinstance(v, str) and v:
            m = re.search(r"(?:^|/)(midtrain|rl)/([^/]+)", v)
            if m:
                return f"{m.group(1)}/{m.group(2)}"
            return v
    return None


def _detail(lineage: dict) -> str:
    parts = []
    for key in ("mixture", "parent_step", "tokens_trained", "schedule", "template"):
        v = lineage_get(lineage, key)
        if v not in (None, "") and not isinstance(v, (dict, list)):
            parts.append(f"{key}={v}")
    return ", ".join(parts)


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")) if path.is_dir() else []


def _normalize_parent(parent: Optional[str], midtrain: set[str], rl: set[str]) -> Optional[str]:
    """Map a bare stage/run name to its node name; leave paths and unknown names as they are."""
    if parent in midtrain:
        return f"midtrain/{parent}"
    if parent in rl:
        return f"rl/{parent}"
    return parent


def collect(run_dir: str | Path) -> RunData:
    """Read everything the report needs from `run_dir`; absent stages stay empty."""
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: run directory not found")
    data = RunData(root=root, name=root.resolve().name)
    facts = _read_json(root / "run.json", data.problems)
    data.facts = facts if isinstance(facts, dict) else {}
    for d in _subdirs(root / "data"):
        m = _read_json(d / "manifest.json", data.problems)
        if isinstance(m, dict):
            data.manifests[d.name] = m
    for d in _subdirs(root / "midtrain"):
        data.midtrain[d.name] = [flat_heldout(r) for r in _read_rows(d / "metrics.jsonl", data.problems)]
        lin = _read_json(d / "lineage.json", data.problems)
        data.midtrain_lineage[d.name] = lin if isinstance(lin, dict) else {}
    for d in _subdirs(root / "rl"):
        rows = _read_rows(d / "metrics.jsonl", data.problems)
        rows += _read_rows(d / "validation.jsonl", data.problems)
        train, val = split_validation(rows)
        rl_cfg = _read_json(d / "rl_config.json", data.problems) if (d / "rl_config.json").exists() else None
        lin = _read_json(d / "lineage.json", data.problems)
        if not isinstance(lin, dict):  # the RL trainer keeps its lineage in rl_config.json
            lin = rl_cfg
        lin = {k: v for k, v in lin.items() if k != "config"} if isinstance(lin, dict) else {}
        cfg = rl_cfg.get("config") if isinstance(rl_cfg, dict) else None
        data.rl[d.name] = RLRun(d.name, train, val, lin, cfg if isinstance(cfg, dict) else {})
    for d in _subdirs(root / "eval"):
        s = _read_json(d / "summary.json", data.problems)
        if s is not None:
            data.evals[d.name] = normalize_summary(s)
    state = _read_json(root / "pipeline.json", data.problems)
    data.pipeline = state if isinstance(state, dict) else {}
    data.model_config = first_model_config(root, data.problems)
    data.nodes = lineage_nodes(data)
    return data


def first_model_config(root: Path, problems: list[str]) -> dict:
    """The config.json of the first checkpoint under midtrain/ or rl/ ({} when there is none)."""
    for stage_dir in _subdirs(root / "midtrain") + _subdirs(root / "rl"):
        for step in _subdirs(stage_dir):
            if step.name.startswith("step_") and (step / "config.json").is_file():
                cfg = _read_json(step / "config.json", problems)
                if isinstance(cfg, dict):
                    return cfg
    return {}


def lineage_nodes(data: RunData) -> list[Node]:
    """Nodes of the lineage tree from the midtrain and RL lineage files, parents before children."""
    mids, rls = set(data.midtrain), set(data.rl)
    nodes = []
    for name, lin in data.midtrain_lineage.items():
        parent = _normalize_parent(parent_name(lin), mids, rls)
        nodes.append(Node(f"midtrain/{name}", "midtrain", parent, _detail(lin)))
    for name, run in data.rl.items():
        lin = run.lineage
        parent = _normalize_parent(parent_name(lin), mids, rls)
        if parent is None and run.rows:
            parent = _normalize_parent(run.rows[0].get("init_from"), mids, rls)
        nodes.append(Node(f"rl/{name}", "rl", parent, _detail(lin)))
    known = {n.name for n in nodes}
    for n in list(nodes):
        if n.parent and n.parent not in known:
            nodes.append(Node(n.parent, "external", None, ""))
            known.add(n.parent)
    return nodes


def tree(nodes: list[Node]) -> list[tuple[int, Node]]:
    """Depth-first (depth, node) order: roots first, children under their parent, by name."""
    children: dict[Optional[str], list[Node]] = {}
    names = {n.name for n in nodes}
    for n in nodes:
        children.setdefault(n.parent if n.parent in names else None, []).append(n)
    out: list[tuple[int, Node]] = []
    seen: set[str] = set()

    def walk(parent: Optional[str], depth: int) -> None:
        for n in sorted(children.get(parent, []), key=lambda n: (n.kind == "rl", n.name)):
            if n.name in seen:
                continue
            seen.add(n.name)
            out.append((depth, n))
            walk(n.name, depth + 1)

    walk(None, 0)
    for n in nodes:  # cycles: show what is left at the top level
        if n.name not in seen:
            seen.add(n.name)
            out.append((0, n))
    return out


def token_offset(data: RunData, stage: str, _seen: frozenset = frozenset()) -> float:
    """Tokens to add to a branch's logged counts so that it continues its parent's token axis.

    A branch whose logged token count restarts below its parent's count at the branch point
    (lineage `parent_step`, default the parent's last row) is shifted by that count; a branch
    that already logs cumulative tokens is left alone.
    """
    lin = data.midtrain_lineage.get(stage, {})
    parent = parent_name(lin)
    parent = parent.split("/", 1)[1] if parent and parent.startswith("midtrain/") else parent
    if parent not in data.midtrain or parent == stage or parent in _seen:
        return 0.0
    pstep = num(lineage_get(lin, "parent_step"))
    cand = [
        num(r.get("tokens"))
        for r in data.midtrain[parent]
        if num(r.get("tokens")) is not None and (pstep is None or (num(r.get("step")) or 0.0) <= pstep)
    ]
    own = [num(r.get("tokens")) for r in data.midtrain.get(stage, []) if num(r.get("tokens")) is not None]
    if cand and own and own[0] < cand[-1]:
        return cand[-1] + token_offset(data, parent, _seen | {stage})
    return 0.0


def midtrain_tokens(data: RunData, stage: str) -> tuple[list, list, list]:
    """(tokens seen, loss, lr) of one stage on the shared token axis (see `token_offset`)."""
    offset = token_offset(data, stage)
    toks, loss, lr = [], [], []
    for r in data.midtrain.get(stage, []):
        t = num(r.get("tokens"))
        if t is None:
            continue
        toks.append(t + offset)
        loss.append(num(r.get("loss")))
        lr.append(num(r.get("lr")))
    return toks, loss, lr


def flat_heldout(row: dict) -> dict:
    """A mid-training row with the trainer's `heldout_loss: {source: loss}` as `heldout_loss/<source>` keys."""
    nested = row.get("heldout_loss")
    if not isinstance(nested, dict):
        return row
    out = {k: v for k, v in row.items() if k != "heldout_loss"}
    out.update({f"heldout_loss/{src}": v for src, v in nested.items()})
    return out


def heldout_keys(rows: list[dict]) -> list[str]:
    keys = {k for r in rows for k in r if k.startswith("heldout_loss/")}
    return sorted(keys)
