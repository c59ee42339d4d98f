"""What keeps a ``cjm run`` from corrupting, leaking or misleading when things go wrong.

* Signals: SIGTERM, SIGINT and SIGHUP kill the running kernel and unwind the run
  (:class:`KernelGuard`, :class:`Stopped`) so that its manifest says ``aborted``, instead of
  the process vanishing mid-write.
* Kernels die with the run: each is started in its own process group, killed when the run
  ends however it ends, and on Linux asked to die with its parent (``prctl(PR_SET_PDEATHSIG,
  SIGKILL)``), so that even ``kill -9`` of ``cjm run`` leaves no kernel writing on.
  ipykernel's own parent poller (``JPY_PARENT_PID``, checked once a second) is the backstop
  elsewhere.
* Disk full: an ``OSError`` ENOSPC or EDQUOT anywhere, in the runner or in a notebook,
  becomes one clear message naming the folder (:func:`disk_full`).
* Output names: ``report_name`` and the run-folder parameters cannot point outside the run
  folder or onto the runner's own files (:func:`check_output_names`).
* Leaks: a run that fails the privacy scan loses the files holding personal data
  (:func:`withhold_leaks`), so that nothing of it can be shared by mistake.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import Any

#: Signals that stop a run, recorded in its manifest as ``aborted``.
STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGTERM", "SIGINT",
                                                                     "SIGHUP")) if s)
#: Parameters naming a file the notebook writes inside its run folder.
OUTPUT_NAME_PARAMETERS = frozenset({"report_name"})
#: Parameters naming the run folder: set by the runner, never by the user.
RUN_FOLDER_PARAMETERS = frozenset({"output_dir", "run_dir"})
#: Files of the run folder the runner writes itself; no notebook output may take their names.
RESERVED_NAMES = frozenset({"manifest.json", "index.html", "privacy_scan.csv"})


class Stopped(BaseException):
    """A stop signal arrived: raised in the main thread wherever the run is, so that every
    ``finally`` runs. A BaseException, so that no ``except Exception`` of a library keeps it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class KernelGuard:
    """The kernels of a run, whether one is executing, and the stop signals received.

    A stop signal while a notebook executes kills its kernel and lets papermill notice the
    dead kernel and unwind by itself: an exception raised into its event loop would leave
    its ZeroMQ sockets open, and the process would hang on exit. At any other moment the
    signal raises :class:`Stopped` at once.
    """

    def __init__(self) -> None:
        self.processes: list[Any] = []
        self.executing = 0  # notebooks executing now (several when they run side by side)
        self.signals: list[int] = []
        self._lock = threading.Lock()

    @contextmanager
    def running(self) -> Iterator[None]:
        """Within the block a notebook executes: a stop signal kills the kernels."""
        with self._lock:
            self.executing += 1
        try:
            yield
        finally:
            with self._lock:
                self.executing -= 1

    def started(self, process: Any) -> None:
        """Record a kernel ``Popen``; kill it at once if a stop came while it started."""
        self.processes.append(process)
        if self.signals:
            self.kill()

    def kill(self) -> None:
        kill_process_groups(self.processes)

    def check(self) -> None:
        """Raise :class:`Stopped` when a stop signal has arrived."""
        if self.signals:
            raise Stopped(self.signals[0])

    def on_signal(self, signum: int, frame: Any) -> None:
        self.signals.append(signum)
        if len(self.signals) > 1:
            return  # a second signal during the clean-up: recorded, the clean-up goes on
        if self.executing:
            self.kill()
            return
        raise Stopped(signum)


@contextmanager
def stop_on_signals(guard: KernelGuard) -> Iterator[KernelGuard]:
    """Within the block, a stop signal goes to ``guard`` (:meth:`KernelGuard.on_signal`).
    Outside the main thread, where Python cannot install handlers, it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    previous = {s: signal.signal(s, guard.on_signal) for s in STOP_SIGNALS}
    try:
        yield guard
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def kernel_launch_options(*, inherit_fds: tuple[int, ...] = (),
                          env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Popen options for a notebook kernel: die with this process, inherit ``inherit_fds``
    (the processed-data lock), and the environment ``env`` added to this one's."""
    options: dict[str, Any] = {"preexec_fn": die_with_parent(os.getpid())}
    if inherit_fds:
        options["pass_fds"] = tuple(inherit_fds)
    if env:
        options["env"] = {**os.environ, **env}
    return options


def die_with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` for a child that must not outlive ``parent`` (this process): on Linux
    ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (the signal comes when the thread that started the
    child exits: ``cjm run`` starts kernels from its main thread); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def kill_process_groups(processes: list[Any]) -> None:
    """SIGKILL the process group of every kernel ``Popen`` still running (each kernel leads
    its own group: jupyter_client starts it in a new session), then reap it."""
    for proc in processes:
        if proc is None or proc.poll() is not None:
            continue
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        try:
            proc.wait(timeout=10)
        except Exception:  # a kernel that will not die must not hide why the run ended
            pass


def disk_full(exc: BaseException | None) -> OSError | bool:
    """The ENOSPC or EDQUOT ``OSError`` in ``exc``'s chain (True for a notebook's error that
    reports one, which arrives as text), else False."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return exc
        if getattr(exc, "ename", None) and "[Errno 28]" in str(getattr(exc, "evalue", "")):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def disk_full_message(exc: OSError | bool, where: os.PathLike[str] | str) -> str:
    """One line for a full disk: what could not be written, and what to do. ``exc``: from
    :func:`disk_full` (True: a notebook's cell failed on it, see its error); ``where``: the
    run folder, the runner's only place to write."""
    if exc is True:
        place = "a notebook could not write its outputs (see its failing cell below)"
    elif isinstance(exc, OSError) and exc.filename:
        place = f"could not write {exc.filename}"
    else:
        place = f"could not write into {where}"
    return (f"disk full: no space left on device; {place}. Free space (or give --out or "
            "--processed another folder) and run again")


def check_output_names(overrides: Mapping[str, Any]) -> None:
    """Refuse output names that would write outside the run folder: ``report_name`` must be a
    relative path below the run folder and not a file the runner writes; the run-folder
    parameters are the runner's to set. Raises ValueError naming the parameter and the rule."""
    for key, value in overrides.items():
        name = key.rpartition(".")[2]
        if name in RUN_FOLDER_PARAMETERS:
            raise ValueError(f"parameter {key} = {value!r}: the run folder is chosen by cjm run "
                             "(reports/<run_id>); use --out to choose the reports folder")
        if name not in OUTPUT_NAME_PARAMETERS:
            continue
        problem = _outside(value)
        if problem:
            raise ValueError(f"parameter {key} = {value!r}: {problem}; expected a file name "
                             "inside the run folder, such as 'report.html' or "
                             "'reports/summary.html'")


def _outside(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "not a file name"
    path = PurePath(value)
    if path.is_absolute() or value.startswith("~"):
        return "an absolute path writes outside the run folder"
    if ".." in path.parts:
        return "'..' leads outside the run folder"
    if any(part.startswith(".") for part in path.parts):
        return "hidden names are not written"
    if str(path) in RESERVED_NAMES:
        return f"{path} is written by cjm run itself"
    return None


def withhold_leaks(run_dir: Path, hits: Any) -> list[str]:
    """Remove every file of ``run_dir`` in which the privacy scan found personal data (the
    report, HTML exports, tables), so that a failed run leaves nothing to share by mistake;
    return their names (relative to the run folder). The masked hits stay in
    ``privacy_scan.csv``; running again after the fix writes them anew."""
    removed = []
    for rel in sorted(set(hits["file"])):
        target = (run_dir / rel).resolve()
        if target.is_relative_to(run_dir.resolve()) and target.is_file():
            target.unlink()
            removed.append(str(rel))
    return removed
