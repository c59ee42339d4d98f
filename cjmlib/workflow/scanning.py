"""The run's privacy scan (see :mod:`cjmlib.workflow.runner`): the raw data's personal data
read on a thread from the start of the run (:class:`ReadAhead`), each notebook's outputs
searched on a thread as soon as it has finished (:class:`SearchAhead`), and the check of the
whole run folder at its end (:func:`privacy_check`), which searches again only the files
written or changed since. Nothing is stored: values and masked hits live in the runner's
memory."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cjmlib.core.io import file_sha256
from cjmlib.core.runs import NOTEBOOKS_FOLDER


def privacy_check(run_dir: Path, sources: Sequence[Path],
                  say: Callable[[str], None] | None = None, *,
                  read: Callable[[], Any] | None = None,
                  searched: Callable[[], Mapping[str, tuple[str, Any]]] | None = None
                  ) -> tuple[dict[str, Any], Any]:
    """Scan ``run_dir`` for the personal data of ``sources`` (raw folder, pilot file); the
    manifest entry and the :class:`cjmlib.core.privacy.PrivacyScan`. ``say`` hears how far
    the scan got when it takes more than a few seconds (a large run), and then when it
    ends. ``read``: returns the personal data of ``sources`` already read (see
    :class:`ReadAhead`) instead of reading them here; ``searched``: returns the files
    searched while the run went on (:class:`SearchAhead`, waited for here, so that the
    scan's seconds include the search of the last notebook's outputs), searched again only
    if changed since."""
    from cjmlib.core import privacy

    started = time.perf_counter()
    if read is not None:
        personal = read()
    else:
        present = [p for p in sources if p is not None and p.exists()]
        personal = privacy.personal_data(present, progress=say) if present else None
    before = searched() if searched is not None else None
    if personal is None or personal.empty:
        return ({"passed": True, "skipped": "no raw data with personal data to look for",
                 "seconds": round(time.perf_counter() - started, 2)}, None)
    scan = privacy.scan_outputs(run_dir, personal, exclude=("privacy_scan.csv",),
                                progress=say, searched=before)
    seconds = time.perf_counter() - started
    if say is not None and seconds >= privacy.PROGRESS_EVERY:
        say(f"privacy scan done in {seconds:.1f} s")
    entry = {"passed": scan.passed, "files_scanned": len(scan.files_scanned),
             "files_skipped": len(scan.files_skipped),
             # searched while the run went on and unchanged since (see SearchAhead)
             "files_searched_ahead": len(scan.files_searched_before),
             "hits": int(scan.hits["count"].sum())
             if len(scan.hits) else 0,
             "looked_for": {k: int(v) for k, v in
                            personal.summary().set_index("kind")["distinct_values"].items()},
             "seconds": round(seconds, 2)}
    return entry, scan


class ReadAhead:
    """The raw data's personal data, read on a thread from the start of the run while the
    notebooks execute (in other processes), so the scan at the end only searches. Nothing
    is stored: the values live in the runner's memory, as they would during the scan."""

    def __init__(self, sources: Sequence[Path | None]) -> None:
        self.present = [p for p in sources if p is not None and p.exists()]
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        threading.Thread(target=self._read, daemon=True, name="privacy-read-ahead").start()

    def _read(self) -> None:
        from cjmlib.core import privacy

        try:
            self._value = privacy.personal_data(self.present) if self.present else None
        except BaseException as exc:  # raised where the scan asks for it
            self._error = exc
        finally:
            self._done.set()

    def __call__(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


class SearchAhead:
    """Searches each notebook's outputs for the personal data on a thread as soon as the
    notebook has finished, while the next ones run, so the scan at the end searches only
    what came after (or changed since: every file is compared by its sha256). Nothing is
    stored: the masked hits live in the runner's memory until the scan uses them."""

    def __init__(self, run_dir: Path, read: ReadAhead) -> None:
        self.run_dir, self.read = run_dir, read
        self.searched: dict[str, tuple[str, Any]] = {}
        self._cancelled = False
        self._queue: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._search, daemon=True,
                                        name="privacy-search-ahead")
        self._thread.start()

    def submit(self, notebook: str, outputs: Sequence[str]) -> None:
        """Search a finished notebook's outputs (relative to the run folder), its executed
        notebook and its HTML when their turn comes."""
        self._queue.put([*outputs, f"{NOTEBOOKS_FOLDER}/{notebook}.ipynb",
                         f"{NOTEBOOKS_FOLDER}/{notebook}.html"])

    def _search(self) -> None:
        from cjmlib.core.privacy import IMAGE_SUFFIXES
        from cjmlib.core.privacy.scan import search_file

        while (files := self._queue.get()) is not None:
            try:
                personal = self.read()
                if personal is None or personal.empty:
                    continue
                for rel in files:
                    if self._cancelled:
                        return
                    path = self.run_dir / rel
                    if path.suffix.lower() in IMAGE_SUFFIXES or not path.is_file():
                        continue
                    digest = file_sha256(path)  # before the search: a later change shows
                    self.searched[rel] = (digest, search_file(path, personal))
            except Exception:  # the scan at the end searches the file again and says why
                continue

    def cancel(self) -> None:
        """Stop after the file being searched (the run failed or was stopped)."""
        self._cancelled = True
        self._queue.put(None)

    def finish(self) -> dict[str, tuple[str, Any]]:
        """Wait for what was submitted; the files searched, for :func:`scan_outputs`."""
        self._queue.put(None)
        self._thread.join()
        return self.searched
