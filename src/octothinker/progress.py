"""Progress display: a tqdm bar on a terminal, a plain line every few seconds anywhere else.

tqdm redraws its bar with carriage returns; written to a file or a CI log that becomes one line per
refresh. `progress(...)` takes the tqdm arguments the stages use and returns a real tqdm bar when
the output stream is a terminal, otherwise a `PlainProgress` that prints at most one line per
`interval` seconds (plus a last line at close), e.g. ``data mix_a: 1.2M/4.0M tok (30%), 52.1k tok/s, eta 0:00:54``.
`TQDM_DISABLE=1` or ``disable=True`` silences both.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Iterable, Iterator, Optional, TextIO

INTERVAL = 5.0  # seconds between plain lines


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _env_disabled() -> bool:
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def _num(x: float, scale: bool) -> str:
    if scale:
        for prefix in ("", "k", "M", "G", "T"):
            if abs(x) < 999.5:
                return f"{x:.3g}{prefix}"
            x /= 1000.0
        return f"{x:.3g}P"
    return str(int(x)) if float(x).is_integer() else f"{x:.3g}"


def _clock_text(seconds: float) -> str:
    s = int(max(0.0, seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class PlainProgress:
    """The subset of tqdm the stages use (update, set_postfix, close, iteration), as timed plain lines."""

    def __init__(self, iterable: Optional[Iterable] = None, *, total: Optional[float] = None, initial: float = 0,
                 desc: str = "", unit: str = "it", unit_scale: bool = False, disable: bool = False,
                 file: Optional[TextIO] = None, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.iterable = iterable
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.total, self.n, self.initial = total, initial, initial
        self.desc, self.unit, self.unit_scale = desc, unit, unit_scale
        self.disable = disable
        self.file = file
        self.interval, self.clock = interval, clock
        self.start = self.last_print = clock()
        self.printed_n: Optional[float] = None
        self.postfix = ""
        self.closed = False

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("PlainProgress was created without an iterable")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        if not self.disable and self.clock() - self.last_print >= self.interval:
            self._print()

    def set_postfix(self, ordered_dict: Optional[dict] = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str = "", refresh: bool = True) -> None:
        self.desc = desc

    def refresh(self) -> None:  # tqdm compatibility; lines come on their own schedule
        pass

    def line(self) -> str:
        """The status line as it would be printed now."""
        now = self.clock()
        elapsed = now - self.start
        done = self.n - self.initial
        parts = [f"{_num(self.n, self.unit_scale)}"]
        if self.total:
            parts[0] += f"/{_num(self.total, self.unit_scale)} {self.unit} ({100.0 * self.n / self.total:.0f}%)"
        else:
            parts[0] += f" {self.unit}"
        if elapsed > 0 and done > 0:
            rate = done / elapsed
            parts.append(f"{_num(rate, True)} {self.unit}/s")
            if self.total and self.n < self.total:
                parts.append(f"eta {_clock_text((self.total - self.n) / rate)}")
        parts.append(f"elapsed {_clock_text(elapsed)}")
        if self.postfix:
            parts.append(self.postfix)
        head = f"{self.desc}: " if self.desc else ""
        return head + ", ".join(parts)

    def _print(self) -> None:
        stream = self.file if self.file is not None else sys.stderr
        print(self.line(), file=stream, flush=True)
        self.last_print = self.clock()
        self.printed_n = self.n

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.disable and self.n != self.printed_n and self.n != self.initial:
            self._print()


def progress(iterable: Optional[Iterable] = None, *, file: Optional[TextIO] = None, interval: Optional[float] = None,
             clock: Optional[Callable[[], float]] = None, **kwargs: Any):
    """A tqdm bar when ``file`` (default stderr) is a terminal, else a `PlainProgress` with the same arguments.

    Accepts tqdm's ``total, initial, desc, unit, unit_scale, disable``; other tqdm options
    (``mininterval``, ``dynamic_ncols``, ...) apply to the bar only.
    """
    stream = file if file is not None else sys.stderr
    if _is_tty(stream):
        from tqdm.auto import tqdm

        if file is not None:
            kwargs["file"] = file
        return tqdm(iterable, **kwargs)
    plain = {k: kwargs[k] for k in ("total", "initial", "desc", "unit", "unit_scale") if k in kwargs}
    disable = bool(kwargs.get("disable", False)) or _env_disabled()
    return PlainProgress(iterable, disable=disable, file=file, interval=INTERVAL if interval is None else interval,
                         clock=clock or time.monotonic, **plain)
