"""Peak memory of a notebook's kernel, for the run manifest and ``make bench``.

A kernel is a separate process, so the runner's own memory says nothing about it. On Linux
``/proc/<pid>/status`` holds ``VmHWM``, the process's peak resident memory (native memory of
DuckDB and Spark's Python side included). :class:`PeakWatcher` reads it every
``interval`` seconds on a daemon thread while the kernel lives and keeps the largest value;
the last reading before the kernel exits is at most ``interval`` old, and ``VmHWM`` is a
high-water mark, so only a peak reached in the kernel's last ``interval`` can be missed.
Elsewhere (no ``/proc``) the peak is None.
"""

from __future__ import annotations

import threading
from pathlib import Path


def peak_mb(pid: int) -> float | None:
    """``VmHWM`` of a live process in megabytes (10^6 bytes); None when unreadable."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return None


class PeakWatcher:
    """Largest ``VmHWM`` of the processes handed to :meth:`watch` since :meth:`reset`."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._peak: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def peak(self) -> float | None:
        with self._lock:
            return self._peak

    def reset(self) -> None:
        with self._lock:
            self._peak = None

    def watch(self, pid: int | None) -> None:
        """Poll ``pid`` until it exits (or :meth:`stop`)."""
        if pid is None:
            return
        threading.Thread(target=self._poll, args=(pid,), daemon=True,
                         name=f"peak-memory-{pid}").start()

    def stop(self) -> None:
        self._stop.set()

    def _poll(self, pid: int) -> None:
        while not self._stop.is_set():
            value = peak_mb(pid)
            if value is None:
                return
            with self._lock:
                self._peak = value if self._peak is None else max(self._peak, value)
            self._stop.wait(self.interval)
