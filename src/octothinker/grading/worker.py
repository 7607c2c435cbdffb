"""Symbolic equivalence through math-verify, run inside an isolated worker process.

Only LaTeX extraction is used (math-verify's plain-expression path goes through sympy's
``parse_expr``, which evaluates Python); the worker caps its own memory and uses math-verify's
signal timeouts in its main thread, while the parent enforces a hard wall-clock limit.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import lru_cache
from types import SimpleNamespace

MEMORY_LIMIT_BYTES = int(os.environ.get("OCTOTHINKER_GRADER_MEM_MB", "3072")) * 2**20


@lru_cache(maxsize=1)
def _mv():
    from math_verify import LatexExtractionConfig, parse, verify

    return parse, verify, [LatexExtractionConfig(boxed_match_priority=0)]


@lru_cache(maxsize=4096)
def _parsed(ans: str, timeout: int):
    parse, _, config = _mv()
    return parse("\\boxed{" + ans + "}", extraction_config=config, parsing_timeout=timeout)


def symbolic_equal(golds: tuple[str, ...], pred: str, timeout: int | None) -> tuple[bool, str]:
    """True if ``pred`` equals any gold under math-verify; the reason names the path taken.

    ``timeout`` (whole seconds) arms math-verify's signal alarm; use None off the main thread.
    """
    _, verify, _ = _mv()
    try:
        p = _parsed(pred, timeout)
        if not p:
            return False, "unparsable answer"
        for gold in golds:
            g = _parsed(gold, timeout)
            if g and verify(g, p, timeout_seconds=timeout):
                return True, "symbolic"
        return False, "symbolic"
    except Exception as exc:  # any failure of the library is a wrong verdict, never a crash
        return False, f"error: {type(exc).__name__}"


def _limit_resources() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(10_000)


def _hang_forever() -> None:
    """Block until killed (test hook: the parent must detect the deadline and replace this worker)."""
    import threading

    threading.Event().wait()


def worker_main(conn, hang_token: str | None = None) -> None:
    """Serve batches ``[(golds, pred, timeout), ...]`` over ``conn``, streaming ``(i, ok, reason)``.

    ``hang_token`` (tests only, from ``WorkerPool(test_hang_token=...)``): a pred equal to it blocks forever.
    """
    _limit_resources()
    for name in ("math_verify", "latex2sympy2_extended"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    _mv()
    conn.send(("ready",))
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        for i, (golds, pred, timeout) in enumerate(batch):
            if hang_token is not None and pred == hang_token:
                _hang_forever()
            try:
                ok, reason = symbolic_equal(tuple(golds), pred, max(1, int(timeout // 3)))
            except MemoryError:
                ok, reason = False, "error: MemoryError"
            conn.send((i, ok, reason))


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m octothinker.grading.worker READ_FD WRITE_FD [--test-hang-on=TOKEN]``."""
    from multiprocessing.connection import Connection

    from octothinker.grading.pool import HANG_FLAG

    args = sys.argv[1:] if argv is None else argv
    reader, writer = Connection(int(args[0]), writable=False), Connection(int(args[1]), readable=False)
    hang = next((a[len(HANG_FLAG):] for a in args[2:] if a.startswith(HANG_FLAG)), None)
    worker_main(SimpleNamespace(send=writer.send, recv=reader.recv), hang)


if __name__ == "__main__":
    main()
