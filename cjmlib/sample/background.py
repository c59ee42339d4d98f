"""Work the sample generator hands to a second process: writing finished files, the truth.

Every step of the generator draws from one random stream in a fixed order, so the steps run
one after another. Once a table is drawn, though, turning it into text and writing it needs
no more draws, and neither does most of the ground truth. :class:`Background` runs such work
in forked child processes (:mod:`multiprocessing`, ``fork`` start method): a child sees the
parent's tables as they were when it started (copy-on-write, nothing is pickled on the way
in), writes its file and sends back its result, while the parent goes on drawing. The files
are the same bytes whichever process writes them. Where ``fork`` is not available the work
runs at once, in the calling process.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


class BackgroundError(RuntimeError):
    """Work run in a child process failed; the message holds the child's traceback."""


class Job:
    """One piece of work handed to :class:`Background`; :meth:`Background.result` waits."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.done = False
        self.value: Any = None
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None


class Background:
    """Runs work in at most ``workers`` forked children at a time.

    :meth:`run` starts the work (waiting first for a child to end when ``workers`` are
    busy); :meth:`result` waits for one job and returns its value; :meth:`close` waits for
    all and raises :class:`BackgroundError` for the first that failed. Use it as a context
    manager so that no child outlives the generator.
    """

    def __init__(self, *, workers: int = 2) -> None:
        self.workers = workers
        self.running: list[Job] = []
        self.forking = "fork" in multiprocessing.get_all_start_methods()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(raise_errors=exc[0] is None)

    def run(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:
        """Start ``fn(*args, **kwargs)``; ``name`` says what it is in an error message."""
        job = Job(name)
        if not self.forking:
            job.value, job.done = fn(*args, **kwargs), True
            return job
        while len(self.running) >= self.workers:
            # wait for whichever child answers first (a result, or the end of its pipe)
            ready = multiprocessing.connection.wait([job.conn for job in self.running])
            self.result(next(job for job in self.running if job.conn in ready))
        parent_end, child_end = multiprocessing.Pipe(duplex=False)
        process = multiprocessing.get_context("fork").Process(
            target=_child, args=(child_end, fn, args, kwargs), daemon=False)
        process.start()
        child_end.close()
        job.process, job.conn = process, parent_end
        self.running.append(job)
        return job

    def result(self, job: Job) -> Any:
        """Wait for ``job`` and return its value (its child's exception as BackgroundError)."""
        if job.done:
            return job.value
        self.running.remove(job)
        try:
            ok, value = job.conn.recv()
        except EOFError:  # the child died without a word (killed, out of memory)
            ok, value = False, None
        job.conn.close()
        job.process.join()
        job.done = True
        if not ok:
            value = value or (f"the child process ended without a result (exit code "
                              f"{job.process.exitcode}; killed, or out of memory?)")
            raise BackgroundError(f"{job.name} failed in a child process:\n{value}")
        job.value = value
        return value

    def close(self, *, raise_errors: bool = True) -> None:
        """Wait for every job; raise for the first that failed (unless ``raise_errors`` is
        false, as when the parent is already failing)."""
        first: BackgroundError | None = None
        while self.running:
            try:
                self.result(self.running[0])
            except BackgroundError as error:
                first = first or error
        if first is not None and raise_errors:
            raise first


def _child(conn: Connection, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    try:
        value = fn(*args, **kwargs)
    except BaseException:  # reported to the parent, which raises
        conn.send((False, traceback.format_exc()))
    else:
        conn.send((True, value))
    conn.close()
