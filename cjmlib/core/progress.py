"""Progress of long loops: a line on stderr now and then, never for short work.

:class:`Progress` counts steps and, once the loop has run ``after`` seconds, prints
``label: done/total (elapsed, about N s left)`` at most every ``every`` seconds, and a last
line when it ends. A loop that finishes within ``after`` seconds prints nothing, so quick
runs and tests stay quiet; a notebook run by papermill shows the lines in its output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO


class Progress:
    """``with Progress(n, "placebo fits") as p: ... p.step()``.

    >>> with Progress(3, "quick") as p:
    ...     for _ in range(3):
    ...         p.step()
    >>> p.done
    3
    """

    def __init__(self, total: int, label: str, *, after: float = 5.0, every: float = 10.0,
                 stream: TextIO | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        self.total, self.label = int(total), label
        self.after, self.every = after, every
        self.stream = stream
        self.say = say  # where the lines go (default: print to ``stream``, else stderr)
        self.done = 0
        self._start = time.monotonic()
        self._last: float | None = None

    def _due(self, now: float) -> bool:
        """``after`` seconds since the start and ``every`` since the last line."""
        return now - self._start >= self.after and (
            self._last is None or now - self._last >= self.every)

    def _emit(self, text: str, now: float) -> None:
        if self.say is not None:
            self.say(text)
        else:
            print(text, file=self.stream or sys.stderr, flush=True)
        self._last = now

    def _say(self, now: float, final: bool = False) -> None:
        elapsed = now - self._start
        text = f"{self.label}: {self.done:,}/{self.total:,} ({elapsed:.0f} s"
        if not final and 0 < self.done < self.total:
            left = elapsed / self.done * (self.total - self.done)
            text += f", about {left:.0f} s left"
        self._emit(text + ")", now)

    def step(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self._due(now):
            self._say(now)

    def note(self, message: str) -> None:
        """Pass ``message`` on when a line is due (the same timing as :meth:`step`), for a
        loop that words its own lines."""
        now = time.monotonic()
        if self._due(now):
            self._emit(message, now)

    def close(self) -> None:
        """The last line (only when a progress line was printed)."""
        if self._last is not None:
            self._say(time.monotonic(), final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
