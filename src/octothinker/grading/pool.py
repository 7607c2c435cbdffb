"""A thread-safe pool of persistent math-verify worker processes with hard per-item timeouts.

Each worker is a separate Python process that imports math-verify once and serves batches.
A worker killed for running past its deadline is replaced in the background at once. Any
thread may submit work; a batch streams results back, so a hung item costs only itself.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Sequence

Task = tuple[Sequence[str], str, float]  # (golds, pred, timeout seconds)
START_TIMEOUT = 60.0
HANG_FLAG = "--test-hang-on="  # worker argv flag; only WorkerPool(test_hang_token=...) passes it


class _Worker:
    """One ``python -m octothinker.grading.worker`` process and the parent ends of its pipes.

    A plain subprocess (not multiprocessing) so the caller's ``__main__`` is never re-imported
    and no global start-method state is touched.
    """

    def __init__(self, test_hang_token: str | None = None) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        argv = [sys.executable, "-m", "octothinker.grading.worker", str(to_child_r), str(from_child_w)]
        if test_hang_token is not None:
            argv.append(HANG_FLAG + test_hang_token)
        try:
            self.proc = subprocess.Popen(
                argv,
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._out = Connection(to_child_w, readable=False)
        self._in = Connection(from_child_r, writable=False)
        if not self._in.poll(START_TIMEOUT):
            self.kill()
            raise RuntimeError("grader worker did not start")
        self._in.recv()

    def send(self, obj) -> None:
        self._out.send(obj)

    def poll(self, timeout: float) -> bool:
        return self._in.poll(timeout)

    def recv(self):
        return self._in.recv()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(5)
        except Exception:
            pass
        for conn in (self._out, self._in):
            try:
                conn.close()
            except Exception:
                pass

    def close(self) -> None:
        try:
            self._out.send(None)
            self.proc.wait(2)
        except Exception:
            pass
        self.kill()  # also closes the pipes


class WorkerPool:
    """Up to ``size`` workers; ``run(tasks)`` returns ``(ok, reason)`` per task, never hangs.

    ``test_hang_token`` is for tests only: workers of such a pool block forever on a task whose
    pred is exactly that token, so the kill-and-replace path is exercised by construction rather
    than by an input that is merely slow. The process-wide pool (``get_pool``) never sets it, so no
    grading input can reach the hang.
    """

    def __init__(self, size: int = 1, test_hang_token: str | None = None) -> None:
        self.size = max(1, size)
        self._hang = test_hang_token
        self._idle: list[_Worker] = []
        self._count = 0
        self._cond = threading.Condition()
        self.kills = 0
        self._closed = False

    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                if self._idle:
                    return self._idle.pop()
                if self._count < self.size:
                    self._count += 1
                    break
                self._cond.wait()
        try:
            return _Worker(self._hang)
        except Exception:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if worker.alive() and not self._closed:
                self._idle.append(worker)
            else:
                worker.kill()
                self._count -= 1
            self._cond.notify()

    def _replenish(self) -> None:
        """Start a replacement worker in the background so the next call finds one warm."""
        with self._cond:
            if self._closed or self._count >= self.size:
                return
            self._count += 1
        try:
            worker = _Worker(self._hang)
        except Exception:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            return
        self._release(worker)

    def run(self, tasks: Sequence[Task]) -> list[tuple[bool, str]]:
        """Verify ``tasks`` on one worker; an item past its timeout is 'timeout' and its worker replaced."""
        results: list[tuple[bool, str] | None] = [None] * len(tasks)
        start = 0
        while start < len(tasks):
            worker = self._acquire()
            try:
                start = self._run_on(worker, tasks, start, results)
            finally:
                dead = not worker.alive()
                self._release(worker)
                if dead:
                    threading.Thread(target=self._replenish, daemon=True).start()
        return [r if r is not None else (False, "error: lost") for r in results]

    def _run_on(self, worker: _Worker, tasks: Sequence[Task], start: int, results: list) -> int:
        """Send ``tasks[start:]``; collect results until done or a deadline; return next start index."""
        batch = [(list(g), p, t) for g, p, t in tasks[start:]]
        try:
            worker.send(batch)
        except (OSError, ValueError):
            results[start] = (False, "error: worker died")
            worker.kill()
            return start + 1
        pos = start
        item_started = time.monotonic()
        while pos < len(tasks):
            limit = max(0.05, tasks[pos][2]) + 0.5
            remaining = item_started + limit - time.monotonic()
            try:
                ready = worker.poll(max(0.0, remaining))
                msg = worker.recv() if ready else None
            except (EOFError, OSError):
                msg, ready = None, False
            if msg is None:
                results[pos] = (False, "timeout" if worker.alive() else "error: worker died")
                worker.kill()
                self.kills += 1
                return pos + 1
            i, ok, reason = msg
            results[start + i] = (ok, reason)
            pos = start + i + 1
            item_started = time.monotonic()
        return pos

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for w in idle:
            w.close()


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def default_size() -> int:
    env = os.environ.get("OCTOTHINKER_GRADER_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(4, (os.cpu_count() or 1)))


def get_pool() -> WorkerPool:
    """The process-wide worker pool, created on first use."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = WorkerPool(default_size())
            atexit.register(_POOL.close)
        return _POOL


def shutdown_pool() -> None:
    """Stop the process-wide pool's workers (a later call starts fresh ones)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.close()
