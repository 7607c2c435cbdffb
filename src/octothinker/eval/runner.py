"""Evaluation runner: prompts -> backend -> grader -> per-benchmark JSONL, summary.json and a table.

Generations are cached per (model, benchmark, protocol, settings): every finished problem is
appended to `<out>/cache/<benchmark>.<key>.jsonl`, so an interrupted evaluation resumes where it
stopped. A cached row is reused only for the same problem (same id, prompt, gold and kind), so another
toy world or benchmark folder with the same positional ids regenerates. A sampled evaluation draws in
fixed batches of record positions, each with its own seed, so a resumed run samples exactly what an
uninterrupted one does. The final `<out>/<benchmark>.jsonl` and `<out>/summary.json` are written atomically.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Optional, Sequence

from ..paths import RunPaths, append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from .backends import Sampling, choose_backend, make_backend
from .benchmarks import canonical, load_benchmark
from .metrics import summarize
from .prompts import build_prompt


def model_fingerprint(model_dir: str | Path) -> str:
    """Identity of a model directory for the cache: its path, config and weight file sizes/mtimes."""
    d = Path(model_dir).resolve()
    parts = [str(d)]
    if (d / "config.json").is_file():
        parts.append((d / "config.json").read_text(encoding="utf-8"))
    for f in sorted(d.glob("*.safetensors")) + sorted(d.glob("*.bin")):
        st = f.stat()
        parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cache_key(fingerprint: str, bench: str, protocol: str, template: str, shots, sampling: Sampling) -> str:
    payload = [fingerprint, bench, protocol, template if protocol == "rl_template" else None, shots, sampling.key()]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


def grade_outputs(texts: Sequence[str], gold, kind: str, timeout: float = 5.0) -> list:
    from ..grading import grade_many

    return grade_many(list(texts), [gold] * len(texts), kind=kind, timeout=timeout)


def _row(rec: dict, prompt: str, comps, verdicts) -> dict:
    outputs = [
        {"text": c.text, "n_tokens": c.n_tokens, "truncated": c.truncated,
         "extracted": v.extracted, "correct": bool(v.correct), "reason": v.reason}
        for c, v in zip(comps, verdicts)
    ]
    return {"id": rec["id"], "prompt": prompt, "gold": rec["answer"], "kind": rec["kind"],
            "extracted": outputs[0]["extracted"], "correct": outputs[0]["correct"],
            "n_correct": sum(o["correct"] for o in outputs), "outputs": outputs}


def _same_problem(row: dict, rec: dict, prompt: str) -> bool:
    """Whether a cached row was generated and graded for this very problem (ids are positional, e.g.
    toy_gsm-0000, so another toy world or benchmark folder reuses them for other problems)."""
    return (row.get("prompt") == prompt and row.get("kind") == rec["kind"]
            and row.get("gold") == json.loads(json.dumps(rec["answer"])))


def draw_seed(seed: int, k: int) -> int:
    """The seed of draw `k` (0, 1, ...) of a sampled evaluation: `seed` itself for the first, so an evaluation
    that fits in one draw samples as it always did, and a hash of (seed, k) for the others, so no two draws
    of an evaluation share a random stream."""
    if k == 0:
        return int(seed)
    return int(hashlib.sha256(f"{seed}:{k}".encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def _units(records: list[dict], prompts, positions: Sequence[int], chunk: int) -> list[tuple[list[int], tuple]]:
    """`positions` in chunks of `chunk`; within each chunk, the problems sharing stop strings (one backend call)."""
    units = []
    for start in range(0, len(positions), chunk):
        groups: dict[tuple, list[int]] = {}
        for i in positions[start:start + chunk]:
            groups.setdefault(tuple(prompts[i][1]), []).append(i)
        units += [(idx, stop) for stop, idx in groups.items()]
    return units


def eval_benchmark(backend, bench: str, records: list[dict], prompts: list[tuple[str, list[str]]],
                   sampling: Sampling, cache_path: Path, chunk: int = 32, progress: bool = True) -> list[dict]:
    """Generate and grade every record not already in the cache; return rows in record order.

    Greedy: the problems not cached go to the backend in chunks of `chunk`, in record order. Sampled
    (temperature > 0): the records are cut into fixed chunks of `chunk` positions and each chunk's problems
    sharing stop strings are one draw, seeded with `draw_seed(seed, k)` for the k-th draw; a draw is reused
    only whole (its rows carry its tag), so a resumed run draws the same samples as an uninterrupted one.
    """
    index = {rec["id"]: i for i, rec in enumerate(records)}
    done: dict = {}
    for row in read_jsonl(cache_path):
        i = index.get(row.get("id"))
        if i is not None and _same_problem(row, records[i], prompts[i][0]):
            done[row["id"]] = row  # the last valid row of a problem wins
    if sampling.temperature > 0:
        work = []
        for k, (idx, stop) in enumerate(_units(records, prompts, range(len(records)), chunk)):
            seed = draw_seed(sampling.seed, k)
            tag = hashlib.sha256(json.dumps([seed, list(stop), [[records[i]["id"], prompts[i][0]] for i in idx]])
                                 .encode()).hexdigest()[:16]
            if any(done.get(records[i]["id"], {}).get("draw") != tag for i in idx):
                work.append((idx, stop, seed, tag))
    else:
        todo = [i for i, rec in enumerate(records) if rec["id"] not in done]
        work = [(idx, stop, sampling.seed, None) for idx, stop in _units(records, prompts, todo, chunk)]
    pending = sum(len(idx) for idx, *_ in work)
    bar = None
    if progress and work:
        from ..progress import progress

        bar = progress(total=len(records), initial=len(records) - pending, desc=bench, unit="problem")
    for idx, stop, seed, tag in work:
        s = Sampling(**{**sampling.__dict__, "stop": stop, "seed": seed})
        comps = backend.generate([prompts[i][0] for i in idx], s)
        for i, cs in zip(idx, comps):
            rec = records[i]
            row = _row(rec, prompts[i][0], cs, grade_outputs([c.text for c in cs], rec["answer"], rec["kind"]))
            if tag is not None:
                row["draw"] = tag
            append_jsonl(cache_path, row)
            done[rec["id"]] = row
        if bar is not None:
            bar.update(len(idx))
    if bar is not None:
        bar.close()
    return [{k: v for k, v in done[rec["id"]].items() if k != "draw"} for rec in records]


def benchmark_metrics(rows: list[dict]) -> dict:
    return summarize([
        {"correct": [o["correct"] for o in r["outputs"]], "extracted": [o["extracted"] for o in r["outputs"]],
         "n_tokens": [o["n_tokens"] for o in r["outputs"]], "truncated": [o["truncated"] for o in r["outputs"]]}
        for r in rows
    ])


def evaluate_model(model_dir: str | Path, benchmarks: Sequence[str], out_dir: str | Path, *, protocol: str = "fewshot",
                   template: str = "simple", shots: Optional[int] = None, limit: Optional[int] = None,
                   sampling: Sampling = Sampling(), benchmark_dir=None, toy_cfg=None, backend="auto",
                   device: str = "auto", batch_size: int = 32, label: Optional[str] = None, progress: bool = True) -> dict:
    """Evaluate one HF model directory on `benchmarks`; writes `<out_dir>/<bench>.jsonl` + summary.json."""
    out_dir = Path(out_dir)
    if isinstance(backend, str):
        backend = choose_backend(backend)  # vllm without vllm or a GPU: one line, before any data or model loads
    names = [canonical(b) for b in benchmarks]
    loaded = {b: load_benchmark(b, benchmark_dir, limit, toy_cfg) for b in names}  # fail fast on bad data
    engine = make_backend(backend, model_dir, device=device, batch_size=batch_size, seed=sampling.seed) \
        if isinstance(backend, str) else backend
    fp = model_fingerprint(model_dir)
    results = {}
    for b in names:
        records = loaded[b]
        prompts = [build_prompt(b, r, protocol, template, shots, toy_cfg) for r in records]
        key = cache_key(fp, b, protocol, template, shots, sampling)
        rows = eval_benchmark(engine, b, records, prompts, sampling, out_dir / "cache" / f"{b}.{key}.jsonl",
                              chunk=batch_size, progress=progress)
        atomic_write_text(out_dir / f"{b}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        results[b] = benchmark_metrics(rows)
    accs = [m["accuracy"] for m in results.values() if m.get("accuracy") is not None]
    summary = {
        "model": label or Path(model_dir).name, "model_dir": str(model_dir), "backend": getattr(engine, "name", "custom"),
        "protocol": protocol, "template": template if protocol == "rl_template" else None, "shots": shots,
        "limit": limit, "sampling": {k: v for k, v in sampling.__dict__.items() if k != "stop"},
        "benchmarks": results, "average": sum(accs) / len(accs) if accs else None,
    }
    atomic_write_json(out_dir / "summary.json", summary)
    return summary


def format_table(summaries: Sequence[dict], metric: str = "accuracy") -> str:
    """A paper-style table: one row per model, one column per benchmark, then the average."""
    benches: list[str] = []
    for s in summaries:
        benches += [b for b in s["benchmarks"] if b not in benches]
    head = ["model"] + benches + ["avg"]
    lines = []
    for s in summaries:
        vals = [s["benchmarks"].get(b, {}).get(metric) for b in benches]
        got = [v for v in vals if v is not None]
        cells = [s["model"]] + [f"{v:.1f}" if v is not None else "-" for v in vals]
        cells.append(f"{sum(got) / len(got):.1f}" if got else "-")
        lines.append(cells)
    widths = [max(len(str(r[i])) for r in [head] + lines) for i in range(len(head))]
    fmt = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in lines])


def sampling_from_config(cfg) -> Sampling:
    return Sampling(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
                    n=cfg.n_samples, seed=getattr(cfg, "seed", 0))


def resolve_models(recipe, models: Optional[Sequence[str]] = None) -> dict[str, Path]:
    """Label -> model dir: a mid-training stage name, `rl-<run>` for an RL run, or a directory; `base`, when
    no stage has that name and the recipe's model is pretrained, is that model untouched (`model.path`: a hub
    id or a directory, as RL's `init_from: base` reads it).

    With no entries, every mid-training stage and RL run of the run directory that has a checkpoint.
    """
    from ..model.checkpoint import resolve_model, resolve_model_dir

    paths = RunPaths(recipe.run_dir)
    entries = list(models or recipe.eval.models)
    if not entries:
        for parent, prefix in ((paths.root / "midtrain", ""), (paths.root / "rl", "rl-")):
            if parent.is_dir():
                entries += [prefix + p.name for p in sorted(parent.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    out: dict[str, Path] = {}
    for e in entries:
        label = Path(e).name if "/" in e else e
        if e == "base" and recipe.model.init == "pretrained" and not paths.midtrain("base").is_dir():
            path = Path(recipe.model.path)
            out[label] = resolve_model_dir(path) if path.is_dir() else path  # a hub id: the backends load it by name
            continue
        try:
            out[label] = resolve_model(paths.root, e)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"eval.models: {exc}") from None
    if not out:
        raise FileNotFoundError(f"eval: no models to evaluate under {paths.root} (set eval.models)")
    return out


def model_settings(cfg, label: str, rl=None, explicit: Optional[dict] = None) -> tuple:
    """The (EvalConfig, protocol, template) model `label` is evaluated with.

    `cfg.for_model(label)`: an `rl-<run>` model takes the recipe's `rl_*` benchmarks, samples, temperature
    and length, and (with `rl_models_protocol: rl_template`) the RL template of its run (`rl.template_for`).
    Then `explicit`, the settings given on the command line (EvalConfig field -> value, e.g. `n_samples`,
    `benchmarks`, `protocol`), win for every model, RL ones included.
    """
    explicit = dict(explicit or {})
    ecfg = cfg.for_model(label)
    protocol, template = ecfg.protocol, ecfg.template
    if label.startswith("rl-") and cfg.rl_models_protocol == "rl_template":
        protocol = "rl_template"  # RL'd models answer in the template they were RL'd with
        if rl is not None:
            template = rl.template_for(label[3:])
    if explicit:
        ecfg = dataclasses.replace(ecfg, **explicit)
        protocol = explicit.get("protocol", protocol)
        template = explicit.get("template", template)
    return ecfg, protocol, template


def run_eval(recipe, models: Optional[Sequence[str]] = None, progress: bool = True,
             explicit: Optional[dict] = None) -> Path:
    """Evaluate the recipe's models; writes `runs/<run>/eval/<model>/...` and `eval/summary.json`.

    `explicit`: settings given on the command line, which override the recipe's for every model
    (`model_settings`)."""
    cfg = recipe.eval
    paths = RunPaths(recipe.run_dir)
    choose_backend((explicit or {}).get("backend", cfg.backend))  # before any model or benchmark loads
    summaries = []
    for label, model_dir in resolve_models(recipe, models).items():
        ecfg, protocol, template = model_settings(cfg, label, recipe.rl, explicit)
        summaries.append(evaluate_model(
            model_dir, ecfg.benchmarks, paths.eval(label), protocol=protocol, template=template,
            shots=getattr(ecfg, "shots", None), limit=ecfg.limit, sampling=sampling_from_config(ecfg),
            benchmark_dir=ecfg.benchmark_dir, toy_cfg=recipe.toyworld, backend=ecfg.backend, device=recipe.run.device,
            batch_size=ecfg.batch_size, label=label, progress=progress,
        ))
    root = paths.root / "eval"
    index = root / "summary.json"
    merged = json.loads(index.read_text(encoding="utf-8")).get("models", {}) if index.is_file() else {}
    merged.update({s["model"]: s for s in summaries})  # the pipeline evaluates one model per call
    atomic_write_json(index, {"models": merged})
    table = format_table(list(merged.values()))
    atomic_write_text(root / "table.md", table + "\n")
    if progress:
        print(table)
    return root
