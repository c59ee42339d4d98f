"""A line now and then while a long notebook runs, for people watching ``cjm run``.

papermill saves the output notebook when each cell starts and ends, with the cell's
``metadata.papermill.status`` (``pending``, ``running``, ``completed``). :class:`Heartbeat`
reads that file every ``every`` seconds once the notebook has run ``after`` seconds and says
``[2/6] 02_journeys ... cell 14 of 36 running (3 min 05 s)`` through the run's progress
callback. A notebook that ends within ``after`` seconds says nothing more than before.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType


def cell_status(path: Path) -> tuple[int, int, int | None] | None:
    """(completed code cells, code cells, index among code cells of the running one or
    None) of a notebook papermill is writing; None while it cannot be read."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    status = [c.get("metadata", {}).get("papermill", {}).get("status") for c in cells]
    running = next((i for i, s in enumerate(status) if s == "running"), None)
    return sum(s == "completed" for s in status), len(cells), running


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class Heartbeat:
    """``with Heartbeat(executed_path, "[2/6] 02_journeys", say): papermill...``"""

    def __init__(self, path: Path, label: str, say: Callable[[str], None] | None, *,
                 after: float = 60.0, every: float = 60.0) -> None:
        self.path, self.label, self.say = Path(path), label, say
        self.after, self.every = after, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = time.monotonic()

    def __enter__(self) -> Heartbeat:
        self._start = time.monotonic()
        if self.say is not None:
            self._thread = threading.Thread(target=self._beat, daemon=True,
                                            name="notebook-heartbeat")
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def line(self) -> str | None:
        """The line to say now, or None when the notebook cannot be read yet."""
        status = cell_status(self.path)
        if status is None:
            return None
        done, total, running = status
        elapsed = _duration(time.monotonic() - self._start)
        where = (f"cell {running + 1} of {total} running" if running is not None
                 else f"{done} of {total} cells done")
        return f"{self.label} ... {where} ({elapsed})"

    def _beat(self) -> None:
        if self._stop.wait(self.after):
            return
        while True:
            text = self.line()
            if text is not None and self.say is not None:
                self.say(text)
            if self._stop.wait(self.every):
                return
