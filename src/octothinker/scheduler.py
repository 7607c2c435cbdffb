"""Run independent pipeline stages side by side in worker processes, the CPU threads split between them.

Two processes with 2 threads each on 2 cores ran ~30x slower than one (OpenMP oversubscription), so the
scheduler never hands out more threads than the machine has: a stage gets every free thread when it is
the only one able to start or when all the work that could run beside it is smaller than its own (a
long stage the rest waits for, such as the stable stage), otherwise the free threads are shared
equally; among the stages ready to start, the one heading the longest remaining chain goes first. Each worker prints its lines
prefixed with its stage id; `pipeline.json` is written by the parent only.
"""
from __future__ import annotations

import io
import math
import multiprocessing as mp
import os
import queue
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Sequence


def cpu_budget() -> int:
    """Cores this process may use (its affinity set where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def auto_jobs(cores: int | None = None) -> int:
    """Default parallelism for a CPU run: one single-threaded stage per core, at most 4 (the DAG is rarely wider)."""
    return max(1, min(4, cores or cpu_budget()))


def _children(stages: Sequence) -> dict[str, list]:
    """For each stage id, the selected stages that depend on it directly (dependencies outside the list ignored)."""
    children: dict[str, list] = {s.id: [] for s in stages}
    for s in stages:
        for d in s.deps:
            if d in children:
                children[d].append(s)
    return children


def critical_path(stages: Sequence, weight: Callable[[object], float]) -> dict[str, float]:
    """For each stage id, its own weight plus the heaviest chain of selected stages that depend on it."""
    children = _children(stages)
    memo: dict[str, float] = {}

    def longest(s) -> float:
        if s.id not in memo:
            memo[s.id] = weight(s) + max((longest(c) for c in children[s.id]), default=0.0)
        return memo[s.id]

    return {s.id: longest(s) for s in stages}


def share_threads(free: int, slots: int) -> int:
    """Threads for the next stage to start: all that are free when it is the only one, else an equal share."""
    return max(1, free // max(1, slots))


def descendants(stages: Sequence) -> dict[str, set[str]]:
    """For each stage id, the ids of the selected stages that depend on it, directly or not."""
    children = _children(stages)
    memo: dict[str, set[str]] = {}

    def below(sid: str) -> set[str]:
        if sid not in memo:
            memo[sid] = set()
            for c in children[sid]:
                memo[sid] |= {c.id} | below(c.id)
        return memo[sid]

    return {s.id: below(s.id) for s in stages}


TWO_THREAD_GAIN = 1.5  # one toy stage on 2 threads vs 1 on this 2-core CPU: 1.34x at hidden 192, ~1.7x at 128


def _estimate(stage) -> float:
    return float(stage.estimate_s)


def runs_alone(stage, pending: Sequence, below: set[str], gain: float = TWO_THREAD_GAIN,
               est: Callable[[object], float] = _estimate) -> bool:
    """Whether `stage` should take every free thread: the other work that could run beside it (pending stages
    that do not wait for it) is so small that running it alone, faster, and the rest after it beats running
    them side by side: (own + beside) / gain < own, i.e. beside < own * (gain - 1)."""
    beside = sum(est(t) for t in pending if t.id != stage.id and t.id not in below)
    return beside < est(stage) * (gain - 1)


def thread_slowdown(threads: int, cores: int, gain: float = TWO_THREAD_GAIN) -> float:
    """How many times longer a stage takes on `threads` of `cores` threads than on all of them: each halving
    of the threads costs a factor `gain` (1.5 on this 2-core CPU: one thread of two takes 1.5x as long)."""
    if threads >= cores:
        return 1.0
    return (cores / max(1, threads)) ** math.log2(gain)


def stage_seconds(stage, threads: int, cores: int, gain: float = TWO_THREAD_GAIN) -> float:
    """A stage's estimated seconds on `threads` of `cores` threads."""
    return float(stage.estimate_s) * thread_slowdown(threads, cores, gain)


def next_starts(ready: list, pending: Sequence, below: dict[str, set[str]], running: int, jobs: int,
                free: int, est: Callable[[object], float] = _estimate) -> list[tuple]:
    """The (stage, threads) to start now, in order, from `ready` (sorted by priority; consumed): the one
    policy of the real scheduler and of its ETA simulation; `est` gives the estimates it decides by."""
    starts: list[tuple] = []
    while ready and running + len(starts) < jobs and free >= 1:
        s = ready.pop(0)
        chosen = {t.id for t, _ in starts}
        alone = runs_alone(s, [t for t in pending if t.id not in chosen], below[s.id], est=est)
        threads = free if alone else share_threads(free, min(jobs - running - len(starts), len(ready) + 1))
        starts.append((s, threads))
        free -= threads
    return starts


def _priority_order(stages: Sequence) -> list:
    """Stages by the longest remaining chain they head (ties: the bigger stage first)."""
    priority = critical_path(stages, lambda s: max(float(s.estimate_s), 1.0))
    return sorted(stages, key=lambda s: (-priority[s.id], -float(s.estimate_s)))


def simulate_wall(stages: Sequence, running: dict[str, tuple[float, int]], jobs: int, cores: int,
                  gain: float = TWO_THREAD_GAIN, ordered: bool = False,
                  decide: Callable[[object], float] = _estimate) -> float:
    """Seconds until every stage is done if each takes its `estimate_s` (at all cores; slower on fewer threads,
    `thread_slowdown`) and the scheduler's own policy starts them: the wall-clock ETA of a parallel run.

    `stages` are those not started yet (dependencies outside them and `running` count as met); `running`
    maps a started stage's id to (seconds it still needs, threads it holds). `ordered`: `stages` come in the
    real scheduler's order already (it sorts once, at the start of a run), so they are not sorted again;
    `decide` gives the estimates the scheduler decides by (those of the run's start), durations are `estimate_s`."""
    ids = {s.id for s in stages} | set(running)
    below = descendants(stages)
    pending = list(stages) if ordered else _priority_order(stages)
    busy = {sid: (left, threads) for sid, (left, threads) in running.items()}  # id -> (finish time, threads)
    done: set[str] = set()
    now = 0.0
    while pending or busy:
        ready = [s for s in pending if all(d in done or d not in ids for d in s.deps)]
        free = cores - sum(t for _, t in busy.values())
        for s, threads in next_starts(ready, pending, below, len(busy), jobs, free, est=decide):
            busy[s.id] = (now + stage_seconds(s, threads, cores, gain), threads)
            pending.remove(s)
        if not busy:  # nothing could start: no finite estimate (cannot happen in a plan, whose graph is acyclic)
            return math.inf
        now = max(now, min(t for t, _ in busy.values()))
        for sid in [i for i, (t, _) in busy.items() if t <= now]:  # every stage ending then frees its threads
            del busy[sid]
            done.add(sid)
    return now


class _Prefixed(io.TextIOBase):
    """A text stream that writes whole lines to `target`, each prefixed (a worker's stdout/stderr)."""

    def __init__(self, target, prefix: str) -> None:
        self.target, self.prefix, self.buf = target, prefix, ""

    def write(self, text: str) -> int:
        self.buf += text.replace("\r", "\n")
        *lines, self.buf = self.buf.split("\n")
        for line in lines:
            if line:
                self.target.write(f"{self.prefix}{line}\n")
        self.target.flush()
        return len(text)

    def flush(self) -> None:
        if self.buf:
            self.target.write(f"{self.prefix}{self.buf}\n")
            self.buf = ""
        self.target.flush()

    def isatty(self) -> bool:  # plain progress lines, never carriage-return bars, from a worker
        return False


def _set_threads(threads: int) -> None:
    """This process's thread count: the env vars (read by torch on first import, by the Rust tokenizers' rayon
    pool when it first starts, and by child processes) and, once torch is loaded, its OpenMP pool."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def _worker(run_stage: Callable, recipe, tasks, results) -> None:
    """A worker process (spawned: torch is imported once, by its first stage, and reused by the next ones):
    take `(stage, threads)` tasks until `None`, pin the thread count, run the stage, report its outcome."""
    import gc

    _exit_with_parent()
    while True:
        task = tasks.get()
        if task is None:
            return
        stage, threads = task
        _set_threads(threads)
        sys.stdout = _Prefixed(sys.__stdout__, f"[{stage.id}] ")
        sys.stderr = _Prefixed(sys.__stderr__, f"[{stage.id}] ")
        err, trace, bad_input = None, "", False
        try:
            run_stage(recipe, stage)
        except BaseException as exc:  # reported to the parent, which records and re-raises it
            from .cli import _input_errors

            err, trace = f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=-3)
            bad_input = isinstance(exc, _input_errors())
        sys.stdout.flush()
        sys.stderr.flush()
        gc.collect()
        results.put((stage.id, err, trace, bad_input))


def _exit_with_parent(poll_s: float = 1.0) -> None:
    """End this worker when the process that started it is gone (killed with SIGKILL/SIGTERM, which leaves its
    daemon children running): a stage left running would hold a core and write into a run nobody watches."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class _Pool:
    """Up to `size` long-lived worker processes, each fed one stage at a time; a dead one is replaced."""

    def __init__(self, ctx, size: int, run_stage: Callable, recipe, results) -> None:
        self.ctx, self.size, self.run_stage, self.recipe, self.results = ctx, size, run_stage, recipe, results
        self.idle: list[tuple] = []
        self.all: list[tuple] = []

    def submit(self, stage, threads: int) -> tuple:
        while self.idle and not self.idle[-1][0].is_alive():
            self.idle.pop()
        if self.idle:
            worker = self.idle.pop()
        else:
            tasks = self.ctx.Queue()
            proc = self.ctx.Process(target=_worker, args=(self.run_stage, self.recipe, tasks, self.results),
                                    name=f"octothinker-worker-{len(self.all)}", daemon=True)
            proc.start()
            worker = (proc, tasks)
            self.all.append(worker)
        worker[1].put((stage, threads))
        return worker

    def release(self, worker: tuple) -> None:
        self.idle.append(worker)

    def close(self, kill: bool = False) -> None:
        for proc, tasks in self.all:
            if kill:
                proc.terminate()
            elif proc.is_alive():
                tasks.put(None)
        for proc, _ in self.all:
            proc.join(10)


@dataclass
class _Running:
    worker: tuple
    threads: int
    stage: object  # its `estimate_s` may be refreshed while it runs
    started: float = field(default_factory=time.time)


@dataclass
class Failure:
    stage_id: str
    error: str
    trace: str
    wall_s: float
    bad_input: bool = False  # the stage failed on bad input (a file, record, name, value): shown as one line


def run_parallel(recipe, stages: Sequence, jobs: int, run_stage: Callable, on_start: Callable, on_done: Callable,
                 on_fail: Callable, cores: int | None = None, poll_s: float = 0.5) -> Failure | None:
    """Run `stages` (dependencies outside the list count as met) with at most `jobs` at a time, in at most
    `jobs` worker processes that stay up between stages (importing torch and transformers costs seconds).

    `on_start(stage, threads, eta_s)`, `on_done(stage, wall_s)` and `on_fail(stage, failure)` do the bookkeeping;
    `eta_s` is `simulate_wall`'s seconds until every stage is done, from the stages' estimates.
    After a failure no new stage starts; the running ones finish; the first failure is returned.
    """
    cores = cores or cpu_budget()
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    pool = _Pool(ctx, jobs, run_stage, recipe, results)
    pending = _priority_order(stages)
    planned = {s.id: float(s.estimate_s) for s in stages}  # decisions keep the start's estimates (ETAs may refine)
    decide = lambda s: planned[s.id]  # noqa: E731
    ids = {s.id for s in stages}
    done: set[str] = set()
    running: dict[str, _Running] = {}
    by_id = {s.id: s for s in stages}
    below = descendants(stages)
    failure: Failure | None = None
    try:
        while pending or running:
            ready = [s for s in pending if all(d in done or d not in ids for d in s.deps)] if failure is None else []
            free = cores - sum(r.threads for r in running.values())
            starts = next_starts(ready, pending, below, len(running), jobs, free, est=decide)
            if starts:
                for s, threads in starts:
                    pending.remove(s)
                eta = _eta(pending, running, starts, cores, jobs, decide)
                for s, threads in starts:
                    on_start(s, threads, eta)
                    running[s.id] = _Running(pool.submit(s, threads), threads, s)
            if not running:
                break
            for sid, err, trace, bad_input in _drain(results, poll_s):
                r = running.pop(sid)
                pool.release(r.worker)
                wall = time.time() - r.started
                if err is None:
                    done.add(sid)
                    on_done(by_id[sid], wall)
                else:
                    f = Failure(sid, err, trace, wall, bad_input)
                    on_fail(by_id[sid], f)
                    failure = failure or f
            for sid, r in list(running.items()):
                proc = r.worker[0]
                if not proc.is_alive():  # killed (or out of memory): it sent nothing
                    running.pop(sid)
                    f = Failure(sid, f"worker process died with exit code {proc.exitcode} (killed, or out of memory?)",
                                "", time.time() - r.started)
                    on_fail(by_id[sid], f)
                    failure = failure or f
    except BaseException:
        pool.close(kill=True)
        raise
    pool.close()
    return failure


def _eta(pending: Sequence, running: dict, starts: list[tuple], cores: int, jobs: int,
         decide: Callable[[object], float]) -> float:
    """Simulated seconds until the whole graph is done, right after `starts` begin beside `running`."""
    now = time.time()
    busy = {sid: (max(0.0, stage_seconds(r.stage, r.threads, cores) - (now - r.started)), r.threads)
            for sid, r in running.items()}
    busy.update({s.id: (stage_seconds(s, threads, cores), threads) for s, threads in starts})
    return simulate_wall(list(pending), busy, jobs, cores, ordered=True, decide=decide)


def _drain(results, timeout: float) -> list[tuple]:
    """Every message waiting on the queue (blocking up to `timeout` for the first one)."""
    out = []
    try:
        out.append(results.get(timeout=timeout))
        while True:
            out.append(results.get_nowait())
    except queue.Empty:
        pass
    return out
