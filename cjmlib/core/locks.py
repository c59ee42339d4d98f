"""Advisory locks: one writer at a time on the processed data and on each run folder.

A lock is a small file next to what it guards (``data/.processed.lock`` for
``data/processed``, ``reports/.locks/<run_id>.lock`` for a run folder), held with
``fcntl.flock``. The operating system releases a lock when the last process holding it dies,
even by ``kill -9``, so a lock is never stale; the file's text (pid, host, run id, start time)
only says who holds it, so that the second run can be told.

A child process that inherits the lock's descriptor holds the lock with its parent: ``cjm
run`` passes its processed-data lock to the notebook kernels, so a kernel that outlives a
killed ``cjm run`` keeps the data locked until it is gone. Code in the kernel that asks for
the same lock (``collect``) is given the inherited one: the environment variable
:data:`HELD_ENV` names the lock files and descriptors a process was handed, and each is
checked to be open on that very file before it is trusted.

POSIX only (``fcntl``); elsewhere the locks are no-ops and say so in :attr:`Lock.enforced`.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Environment variable listing locks a parent process holds for this one: JSON {path: fd}.
HELD_ENV = "CJM_HELD_LOCKS"


class LockHeld(RuntimeError):
    """Another live process holds the lock; the message names it and what to do."""


@dataclass
class Lock:
    """A held lock: release it with :meth:`release` (or use it as a context manager)."""

    path: Path
    fd: int | None
    inherited: bool = False

    @property
    def enforced(self) -> bool:
        return self.fd is not None

    def note(self, *, run_id: str) -> None:
        """Say in the lock file which run holds the lock (known only after it is taken)."""
        if self.fd is not None and not self.inherited:
            _describe(self.fd, run_id)

    def release(self) -> None:
        """Give the lock up (an inherited lock stays with the parent that holds it)."""
        if self.fd is not None and not self.inherited:
            os.close(self.fd)  # closing the last descriptor releases the flock
        self.fd = None

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_path_for(folder: str | os.PathLike[str]) -> Path:
    """The lock file of a folder that may be replaced as a whole: ``<parent>/.<name>.lock``,
    outside the folder so that swapping the folder keeps the lock."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


def acquire(path: str | os.PathLike[str], *, what: str, run_id: str | None = None) -> Lock:
    """Hold the lock file ``path`` guarding ``what`` (words for the message), or raise
    :class:`LockHeld` naming its holder. Never waits: a scheduled job that finds the data
    busy should fail loudly, not queue behind a run that may take hours."""
    path = Path(path)
    inherited = _inherited(path)
    if inherited is not None:
        return Lock(path, inherited, inherited=True)
    if fcntl is None:  # pragma: no cover - Windows
        return Lock(path, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockHeld(_held_message(path, what)) from None
    _describe(fd, run_id)
    return Lock(path, fd)


def _describe(fd: int, run_id: str | None) -> None:
    """Write who holds the lock into the lock file: pid, host, run id, since when."""
    text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "run_id": run_id,
                       "since": datetime.now(UTC).isoformat(timespec="seconds")})
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode() + b"\n", 0)


def is_held(path: str | os.PathLike[str]) -> bool:
    """Whether a live process holds the lock file ``path`` (False when there is none)."""
    path = Path(path)
    if fcntl is None or not path.exists():  # pragma: no cover - Windows
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock just taken


def holder(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What the lock file says about its (last) holder: pid, host, run_id, since; {} when
    unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def handed_down(*locks: Lock) -> dict[str, str]:
    """Environment for a child process that inherits ``locks`` (pass their descriptors with
    ``pass_fds``): :data:`HELD_ENV` naming each lock file and descriptor."""
    held = {str(lock.path): lock.fd for lock in locks if lock.fd is not None}
    return {HELD_ENV: json.dumps(held)} if held else {}


def _inherited(path: Path) -> int | None:
    """The descriptor of ``path`` this process was handed by its parent, if it is still
    open on that very file."""
    try:
        fd = json.loads(os.environ.get(HELD_ENV) or "{}").get(str(path))
        if fd is None:
            return None
        mine, theirs = os.fstat(int(fd)), os.stat(path)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    return int(fd) if (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino) else None


def _held_message(path: Path, what: str) -> str:
    info = holder(path)
    who = (f"run {info.get('run_id') or '(no run id)'}, pid {info.get('pid')} on "
           f"{info.get('host')}, since {info.get('since')}") if info else "another process"
    return (f"{what} is in use by {who} (lock {path}); wait until it has finished, or give "
            "this run other folders (--processed, --out)")
