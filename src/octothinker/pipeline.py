"""`octothinker run`: chain the stages of a recipe, skipping finished ones and resuming interrupted ones.

Each stage is identified as `kind:name` (data:stable, midtrain:short, rl:base, eval:rl-short, report).
A stage is skipped when `pipeline.json` records it done with the same config hash (the hash covers
the recipe sections it reads and the hashes of the stages it depends on); otherwise its `run_<stage>`
function is called, which itself resumes from the last checkpoint of an interrupted run. Output made
under another config is moved aside first (`<dir>.superseded-<hash>`), never resumed.
"""
from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .config import Recipe
from .configio import to_dict
from .paths import RunPaths, atomic_write_text
from .pipeline_book import Book, StageFailed, fmt_s
from .data.mixture import BUILD_VERSION
from .train.plan import trainer_settings
from .pipeline_eta import (FIXED_BASIS, LAST_RUN_BASIS, LENGTH_BOUND_KINDS, PROBED_KINDS, Rates,  # noqa: F401
                           _eval_work, _readiness_work, _rl_work, _validation_work, calibrate, default_rates,
                           estimate_note, probe_rates, recalibrate, work_seconds)

KINDS = ("data", "midtrain", "probe", "rl", "eval", "report")


@dataclass
class Stage:
    kind: str
    name: str
    deps: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)  # the recipe values this stage reads
    estimate_s: float = 0.0
    output: Path | None = None
    hash: str = ""
    work: dict = field(default_factory=dict)  # what the estimate divides by throughputs (see `work_seconds`)
    basis: str = ""  # where the estimate's throughputs came from (for the plan's wording)

    @property
    def id(self) -> str:
        return self.kind if self.kind == "report" else f"{self.kind}:{self.name}"


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan(recipe: Recipe, time_probe: bool = True) -> list[Stage]:
    """The ordered stage list of a recipe, with dependencies, hashes and time estimates. `time_probe=False` skips the
    timing probe (importing torch and transformers takes longer than the probe itself: ~10 s on a 2-core CPU)
    and estimates from the last run's times or fixed rates; a parallel run does so, its workers import torch."""
    paths = RunPaths(recipe.run_dir)
    stages: list[Stage] = []
    world = to_dict(recipe.toyworld)
    data_settings = {k: v for k, v in to_dict(recipe.data).items() if k != "mixtures"}  # a mixture hashes only its own
    data_common = {"toyworld": world, "tokenizer": to_dict(recipe.tokenizer), "data": data_settings, "seed": recipe.run.seed,
                   "build": BUILD_VERSION}  # as `data.build.mixture_hash`
    from .data.readers import data_files_stamp

    stamp = data_files_stamp(recipe)  # local source files and the benchmark folder, by name, size and mtime
    data_files = {"files": stamp} if stamp else {}
    used_mixtures = [st.mixture for st in recipe.midtrain.stages.values()]
    for mix in dict.fromkeys(used_mixtures or list(recipe.data.mixtures)):
        tokens = recipe.data.mixtures[mix].tokens
        cfg = {**data_common, "mixture": to_dict(recipe.data.mixtures[mix]), **data_files}  # as `data.build.mixture_hash`
        stages.append(Stage("data", mix, [], cfg, output=paths.data(mix), work={"fixed_s": 5, "data_tokens": tokens}))
    trainer_common = trainer_settings(recipe.midtrain)  # as the stage's own hash: cadences do not retrain
    for name, st in recipe.midtrain.stages.items():
        deps = [f"data:{st.mixture}"]
        if st.init_from and st.init_from in recipe.midtrain.stages:
            deps.append(f"midtrain:{st.init_from}")
        tokens = st.tokens or recipe.data.mixtures[st.mixture].tokens
        cfg = {"stage": to_dict(st), "trainer": trainer_common, "model": to_dict(recipe.model), "seed": recipe.run.seed}
        stages.append(Stage("midtrain", name, deps, cfg, output=paths.midtrain(name),
                            work={"fixed_s": 5, "train_tokens": tokens}))  # 5 s: model build, evals, checkpoints
    rl = recipe.rl
    rl_runs = rl.runs()
    shared = shared_validation(rl_runs)
    readiness = recipe.experiment.probe
    for name in readiness_probed(rl_runs) if readiness.enabled else []:
        src, run_cfg = rl_runs[name]
        deps, source = _source(recipe, src, stages)
        cfg = {"rl": _rl_settings(recipe, run_cfg), "source": source, "seed": recipe.run.seed, "probe": to_dict(readiness),
               "toyworld": world}
        stages.append(Stage("probe", name, deps, cfg, output=paths.root / "probe" / name,
                            work=_readiness_work(run_cfg, readiness)))
    for name, (src, run_cfg) in rl_runs.items():
        deps, source = _source(recipe, src, stages)
        cfg = {"rl": _rl_settings(recipe, run_cfg), "source": source, "seed": recipe.run.seed, "toyworld": world}
        if (run_cfg.prompt_set or run_cfg.prompts_path) and run_cfg.decontaminate:  # what decontamination reads
            cfg["decontam"] = {"benchmark_dir": recipe.eval.benchmark_dir, "ngram": recipe.data.decontamination.ngram}
        # a group sharing step 0 computes it once, in its first run (`defers_step0`)
        step0 = not defers_step0(name, shared)
        stages.append(Stage("rl", name, deps, cfg, output=paths.rl(name), work=_rl_work(run_cfg, step0)))
    ev = recipe.eval
    evaluable = lambda src: src != "base" or src in recipe.midtrain.stages or recipe.model.init == "pretrained"  # noqa: E731
    eval_models = ev.models or list(dict.fromkeys([*(src for src, _ in rl_runs.values() if evaluable(src)),
                                                   *(f"rl-{n}" for n in rl_runs)]))  # a tiny base has no model dir
    for model in eval_models:
        if model.startswith("rl-") and f"rl:{model[3:]}" in {s.id for s in stages}:
            deps, source = [f"rl:{model[3:]}"], model
        else:
            deps, source = _source(recipe, model, stages)
        template = rl.template_for(model[3:]) if model.startswith("rl-") else rl.template
        label = Path(model).name if "/" in model else model  # a directory model: eval/<its name>/, as run_eval writes
        settings = ev.for_model(label)  # an RL model's rl_* benchmarks and sampling, as run_eval uses them
        hashed = {k: v for k, v in to_dict(settings).items() if k != "models"}  # the other models are not its input
        cfg = {"eval": hashed, "model": source, "toyworld": world, "rl_template": template}
        stages.append(Stage("eval", model, deps, cfg, output=paths.eval(label), work=_eval_work(settings)))
    stages.append(Stage("report", "report", [s.id for s in stages], {"report": to_dict(recipe.report)}, output=paths.report,
                        work={"fixed_s": 5}))
    by_id = {}
    for s in stages:
        s.hash = _hash({"id": s.id, "config": s.config, "deps": [by_id[d].hash for d in s.deps if d in by_id]})
        by_id[s.id] = s
    calibrate(stages, read_state(recipe.run_dir), default_rates(recipe), (lambda: probe_rates(recipe)) if time_probe else (lambda: None))
    return stages


def _source(recipe: Recipe, src: str, stages: list[Stage]) -> tuple[list[str], object]:
    """The dependencies of a stage that starts from model `src`, and what its hash records of that model: a
    mid-training stage or a directory by name (a stage's own hash covers the rest); `base` outside mid-training by
    the sections that make it, which no upstream stage carries (a tiny one, built on the run's tokenizer, waits
    for a data stage)."""
    if src in recipe.midtrain.stages:
        return [f"midtrain:{src}"], src
    if src != "base":  # a directory (or an outside run's model): its name and, once it exists, its checkpoint's files
        return [], _dir_stamp(src)
    made_of = {"name": src, "model": to_dict(recipe.model), "tokenizer": to_dict(recipe.tokenizer)}
    tokenizer_from = [s.id for s in stages if s.kind == "data"][:1]
    return (tokenizer_from if recipe.model.init != "pretrained" else []), made_of


def _dir_stamp(src: str):
    """What a hash records of a model directory: the name, and when it exists the resolved checkpoint's files
    (name, size, mtime), so a checkpoint rewritten in place is not taken for the one a cached stage read."""
    from .data.readers import files_stamp
    from .model.checkpoint import latest_checkpoint

    p = Path(src)
    ck = (p if (p / "config.json").is_file() else latest_checkpoint(p)) if p.is_dir() else None
    if ck is None:
        return src
    return {"name": src, "checkpoint": str(Path(ck).resolve()), "files": files_stamp(ck, every=True)}


def _rl_settings(recipe: Recipe, run_cfg) -> dict:
    """What an RL run's hash records of its settings: its own (not the other runs' `init_from` entries), with the
    validation benchmarks it really uses (`eval.benchmarks` when `validate_benchmarks` is empty) and their dir."""
    out = {k: v for k, v in to_dict(run_cfg).items() if k not in ("init_from", "variants")}
    if run_cfg.validate_every:
        out["validate_benchmarks"] = list(run_cfg.validate_benchmarks or recipe.eval.benchmarks)
        out["benchmark_dir"] = recipe.eval.benchmark_dir
    return out


def readiness_probed(rl_runs: dict) -> list[str]:
    """The RL runs whose initial model the readiness probe measures: every native run but the controls."""
    return [n for n, (_, cfg) in rl_runs.items() if cfg.reward_control == "none" and cfg.engine == "native"]


VALIDATION_KEYS = ("template", "validate_every", "validate_limit", "validate_samples", "validate_temperature",
                   "validate_rl_prompts", "validate_benchmarks", "answer_kind", "reward_timeout", "prompt_set",
                   "prompts_path", "decontaminate", "on_bad_record", "engine")


def shared_validation(rl_runs: dict) -> dict[str, list[str]]:
    """RL runs whose step-0 validation is the same computation (same init model, validation settings, budget and
    trained-on prompt count), grouped under their first run's name; only groups of two or more (a control arm
    beside its treatment). The first run validates step 0 before it trains, into the shared cache; the others
    start training without that point (`defers_step0`, `run_rl(defer_step0=True)`) and read it there at their
    end, so no run waits for another and the point is computed once. Only a later run that finds no entry at its
    end (the first one not run yet, or still validating) computes it too, from its reloaded initial model."""
    from .rl.validation import validation_budget

    groups: dict[str, list[str]] = {}
    for name, (src, cfg) in rl_runs.items():
        if not cfg.validate_every or cfg.engine != "native":
            continue
        key = json.dumps([src, {k: getattr(cfg, k) for k in VALIDATION_KEYS}, validation_budget(cfg),
                          cfg.steps * cfg.prompts_per_step], sort_keys=True, default=str)
        groups.setdefault(key, []).append(name)
    return {members[0]: members for members in groups.values() if len(members) > 1}


def defers_step0(name: str, groups: dict[str, list[str]]) -> bool:
    """Whether RL run `name` trains before its step-0 point: a run of a `shared_validation` group but its first.
    The first computes the point at its start, so a treatment and its control running side by side never both
    compute it (when both deferred it, the two ended together and each computed it)."""
    return any(name in members[1:] for members in groups.values())


def select(stages: list[Stage], only: list[str] | None = None, start: str | None = None) -> list[Stage]:
    """Filter by `--only` (kinds or stage ids) and `--from` (a stage id or kind: it and all later)."""
    ids = [s.id for s in stages]
    if start:
        match = [i for i, s in enumerate(stages) if s.id == start or s.kind == start]
        if not match:
            raise ValueError(f"--from {start!r}: no such stage; stages are: {', '.join(ids)}")
        stages = stages[match[0]:]
    if only:
        unknown = [o for o in only if o not in ids and o not in KINDS]
        if unknown:
            raise ValueError(f"--only {unknown[0]!r}: no such stage or kind; stages are: {', '.join(ids)}")
        stages = [s for s in stages if s.id in only or s.kind in only]
    return stages


def read_state(run_dir: str | Path) -> dict:
    """`pipeline.json` of a run directory: stage id -> {hash, status, wall_s, ...} ({} before the first run)."""
    path = Path(run_dir) / "pipeline.json"
    return json.loads(path.read_text()) if path.exists() else {}


def is_cached(stage: Stage, state: dict) -> bool:
    """Whether `state` records `stage` finished with its current config hash."""
    prev = state.get(stage.id, {})
    return prev.get("status") == "done" and prev.get("hash") == stage.hash


def _reusable(stage: Stage, state: dict) -> bool:
    """Cached (`is_cached`) and its output still there: a run skips it, and a stage after it may read it."""
    return is_cached(stage, state) and bool(stage.output) and stage.output.exists()


def describe_plan(recipe: Recipe, stages: list[Stage], state: dict, budget: bool = False) -> str:
    """The plan: one line per stage with its estimate, then (with `budget`) the compute budget table
    (`octothinker.budget`), then the estimated work. A pretrained model's GPU stages are timed from the
    budget (its GPUs and utilisation), since this machine's CPU rates do not stand for them."""
    from .budget import budget_text, hours, stage_seconds

    lines = [f"plan for run {recipe.run.name!r} in {recipe.run_dir} ({len(stages)} stages):"]
    table, rows = budget_text(recipe, stages) if budget else ("", None)
    on_gpus = bool(rows) and recipe.model.init == "pretrained"
    seconds = stage_seconds(recipe, stages, rows)
    total = 0.0
    for s in stages:
        done = is_cached(s, state)
        total += 0 if done else seconds[s.id]
        mark = "cached" if done else f"~{hours(seconds[s.id] / 3600)} h" if on_gpus else f"~{fmt_s(seconds[s.id])}"
        lines.append(f"  {s.id:<24} {mark:>10}   -> {s.output}")
    if table:
        lines.append(table)
    pending = [s for s in stages if not is_cached(s, state)]
    if on_gpus:
        lines.append(f"estimated work: ~{hours(total / 3600)} h wall, stages one after another (GPU stages from the compute "
                     f"budget above; data and report from {FIXED_BASIS})")
        return "\n".join(lines)
    how = estimate_note(pending) if pending else "nothing to run"
    if any(s.kind in LENGTH_BOUND_KINDS and s.basis != LAST_RUN_BASIS for s in pending):
        how += "; RL and eval times follow response lengths, known only once a run has done them"
    lines.append(f"estimated work: ~{fmt_s(total)} (rough; {how})")
    return "\n".join(lines)


def _runner(kind: str) -> Callable:
    if kind == "data":
        from .data.build import run_data

        return lambda r, s: run_data(r, mixtures=[s.name])
    if kind == "midtrain":
        from .train.midtrain import run_midtrain

        return lambda r, s: run_midtrain(r, stages=[s.name])
    if kind == "rl":
        from .rl.run import run_rl

        # a group sharing step 0: its first run computes that point first, the others train at once and read it at their end
        return lambda r, s: run_rl(r, names=[s.name], defer_step0=defers_step0(s.name, shared_validation(r.rl.runs())))
    if kind == "probe":
        from .probe.runner import run_probe

        def probe(r, s):
            src, _ = r.rl.runs()[s.name]
            p = r.experiment.probe
            return run_probe(r, src, p.prompts, p.samples, out=RunPaths(r.run_dir).root / "probe" / s.name, rl_run=s.name)[1]

        return probe
    if kind == "eval":
        from .eval.runner import run_eval

        return lambda r, s: run_eval(r, models=[s.name])
    if kind == "report":
        from .report import run_report

        return lambda r, s: run_report(r)
    raise ValueError(kind)


def run_pipeline(
    recipe: Recipe,
    only: list[str] | None = None,
    start: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    echo: Callable[[str], None] = print,
    jobs: int = 1,
) -> Path:
    """Run the recipe's stages (in order, or with `jobs` > 1 independent ones side by side); returns the run directory."""
    run_dir = Path(recipe.run_dir)
    state = read_state(run_dir)
    every = plan(recipe, time_probe=jobs == 1)
    stages = select(every, only, start)
    echo(describe_plan(recipe, stages, state, budget=dry_run))
    if dry_run:
        return run_dir
    check_inputs(every, stages, state, force)
    book, todo = prepare(recipe, stages, state, force, echo)
    if jobs > 1 and len(todo) > 1:
        run_side_by_side([(recipe, book, todo)], jobs, echo)
    else:
        for s in todo:
            book.start(s, None)
            t0 = time.time()
            try:
                _run_stage(recipe, s)
            except KeyboardInterrupt:
                book.interrupted(s)
                raise
            except Exception as exc:
                err = f"{type(exc).__name__}: {exc}"
                book.failed(s, err)
                raise book.failure(s, err, time.time() - t0, traceback.format_exc(limit=-3)) from exc
            book.done(s, time.time() - t0)
            book.refresh(todo)
    echo(f"run {recipe.run.name!r} finished in {fmt_s(time.time() - book.t_start)}: {run_dir}")
    return run_dir


def check_inputs(every: list[Stage], selected: list[Stage], state: dict, force: bool = False) -> None:
    """Refuse a selection (`--only`, `--from`) that would run a stage whose input stage is neither selected nor
    finished with its current settings: it would read a partial or stale model, and be cached as if it had not."""
    chosen = {s.id for s in selected}
    by_id = {s.id: s for s in every}
    for s in selected:
        if not force and _reusable(s, state):
            continue  # skipped anyway
        for d in s.deps:
            dep = by_id.get(d)
            if d in chosen or dep is None or _reusable(dep, state):
                continue
            prev = state.get(d, {})
            why = ("made with other settings" if prev.get("status") == "done" else
                   f"{prev['status']}" if prev.get("status") else "not run yet")
            raise ValueError(f"{s.id} needs {d}, which has not finished with this recipe's settings ({why}); "
                             f"run it first, or select it too (e.g. --from {d})")


def prepare(recipe: Recipe, stages: list[Stage], state: dict, force: bool, echo: Callable[[str], None]) -> tuple[Book, list[Stage]]:
    """Create the run directory and its resolved config; report cached stages; return the bookkeeper and the rest."""
    run_dir = Path(recipe.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.resolved.yaml", recipe.to_yaml())
    book = Book(recipe, stages, state, force, echo)
    todo = []
    for s in stages:
        if not force and _reusable(s, state):
            book.skip(s)
        else:
            todo.append(s)
    return book, todo


@dataclass
class _Tagged:
    """A stage of one of several runs scheduled together: its id and deps carry the run's tag."""

    id: str
    deps: list[str]
    run: int
    stage: Stage

    @property
    def estimate_s(self) -> float:  # the stage's own, which `Book.refresh` updates as the run goes
        return self.stage.estimate_s


def _run_tagged(recipes: list[Recipe], t: _Tagged) -> None:
    _run_stage(recipes[t.run], t.stage)


def run_side_by_side(runs: list[tuple[Recipe, Book, list[Stage]]], jobs: int, echo: Callable[[str], None]) -> None:
    """Run the pending stages of one or more runs (e.g. an experiment's seeds) as one graph, `jobs` at a time."""
    from .scheduler import cpu_budget, run_parallel

    tag = (lambda i, sid: sid) if len(runs) == 1 else (lambda i, sid: f"{Path(runs[i][0].run_dir).name}/{sid}")
    tagged = [_Tagged(tag(i, s.id), [tag(i, d) for d in s.deps], i, s)
              for i, (_, _, todo) in enumerate(runs) for s in todo]
    books = [book for _, book, _ in runs]
    cores = cpu_budget()
    echo(f"running up to {jobs} stages at a time on {cores} core(s), threads split between them")

    def done(t: _Tagged, wall: float) -> None:
        books[t.run].done(t.stage, wall)
        pooled = None  # one run: its own state; several: every run's, ids tagged (the kind stays before ":")
        if len(runs) > 1:
            pooled = {f"{sid}@{i}": rec for i, b in enumerate(books) for sid, rec in b.state.items()}
        for (_, book, todo) in runs:  # the ETAs of every run's stages left learn from this one
            book.refresh(todo, pooled)

    try:
        failure = run_parallel([r for r, _, _ in runs], tagged, jobs, _run_tagged,
                               lambda t, n, eta: books[t.run].start(t.stage, n, eta), done,
                               lambda t, f: books[t.run].failed(t.stage, f), cores=cores)
    except KeyboardInterrupt:
        for book in books:
            book.interrupt_running()
        raise
    if failure is not None:
        t = next(t for t in tagged if t.id == failure.stage_id)
        exc = books[t.run].failure(t.stage, failure.error, failure.wall_s, failure.trace)
        raise exc from (ValueError(failure.error) if failure.bad_input else None)  # bad input: one line, as in a serial run


def _run_stage(recipe: Recipe, stage: Stage) -> None:
    """Run one stage in this process (a module-level function, so a worker process can be handed it)."""
    _runner(stage.kind)(recipe, stage)
