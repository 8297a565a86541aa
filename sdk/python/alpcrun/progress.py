"""A progress line for long runs, on stderr: redrawn in place on a
terminal, else printed every few seconds so logs stay readable."""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")


class Progress:
    def __init__(self, total: int, *, label: str = "tasks", out: TextIO | None = None, interval: float | None = None):
        self.total, self.label, self.done = total, label, 0
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.interval = interval if interval is not None else (0.2 if self.tty else 5.0)
        self.start = self._last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.interval or self.done >= self.total:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        el = max(now - self.start, 1e-9)
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(30 * frac)
        rate = self.done / el
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        line = f"[{bar:<30}] {self.done}/{self.total} {self.label} {rate:,.0f}/s eta {eta:.0f}s"
        if self.tty:
            self.out.write("\r" + line + ("\n" if self.done >= self.total else ""))
        else:
            self.out.write(line + "\n")
        self.out.flush()


def track(items: Iterable[T], total: int, label: str = "tasks") -> Iterator[T]:
    """Yields items, drawing progress towards total, e.g. over
    session.map(...) or session.results()."""
    p = Progress(total, label=label)
    for it in items:
        yield it
        p.update()
