"""Run the numbered notebooks with papermill into one run folder per run.

A run folder ``reports/<run_id>/`` (layout in :mod:`cjmlib.core.runs`) holds ``report.html``,
``index.html`` (every output with the notebook that wrote it), ``manifest.json`` (parameters,
input file hashes, package versions, timings, status), ``notebooks/`` (each executed
``.ipynb``, its HTML export with code hidden, ``kernel.log``), ``tables/`` and ``figures/``.
A run folder is never overwritten: a second run in the same second gets a suffix.

Parameters flow by name: the runner knows a set of run-level values (``output_dir``,
``raw_dir``, ``events_path``, ``units_path``, ``previous_run``, ...) and passes each notebook
exactly the ones its ``parameters`` cell declares, so no notebook receives a name it does not
know.

Reuse (``cjm run --pilot NEW``): each notebook gets a *fingerprint* -- the SHA-256 of its own
file, of the library code and package versions, of its parameters (``output_dir`` aside), of
the content of every file or folder its path parameters name (``*_path``, ``*_dir``,
``previous_run``; output locations such as ``processed_dir`` by name only) and of the tables
of the notebooks it reads (its ``after``; without one, everything in the run folder when its
wave starts), except the files it writes itself; :mod:`cjmlib.workflow.reuse` computes it. A notebook whose fingerprint equals the one recorded for it in the
latest earlier run of the reports folder is not executed again: its executed notebook, HTML
export and outputs are copied from that run (and whatever it wrote outside the run folder,
e.g. ``data/processed``, must still hash the same), and the manifest records it as
``reused`` with the source run. Everything downstream of new pilot data (its fingerprint
changes) is executed. Reuse is on by default when ``pilot_path`` is given; any change to the
library's code reruns everything.

Side by side: notebooks that do not read each other's results run at once, up to ``jobs``
(waves from :func:`cjmlib.workflow.plan.notebook_waves`); what each wrote is told apart by
the run-folder files it declares it writes.

Privacy: after the last notebook, every file of the run folder is searched for the e-mails,
phones and names of the raw data (:mod:`cjmlib.workflow.scanning`; read on a thread while the
notebooks execute, and each notebook's outputs searched on a thread once it has finished, so
that the end searches only the files written or changed since); a hit fails the run
(``failed_step: privacy_scan``), with the masked hits in ``privacy_scan.csv``, and the files
holding them are removed.

Safety (docs/design.md, The run folder): the run holds the locks of the processed data and of
its run folder (:mod:`cjmlib.core.locks`), cleans what an interrupted run left
(:mod:`cjmlib.core.generations`), marks runs whose ``cjm run`` is gone ``aborted``, and ends
every way it can end -- a failing notebook, a stop signal, a full disk -- with its kernels
killed and the manifest saying how (:mod:`cjmlib.workflow.guards`).
"""

from __future__ import annotations

import logging
import os
import platform
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, TextIO

from cjmlib.core import config
from cjmlib.core.generations import recover
from cjmlib.core.io import atomic_write, file_sha256, write_json
from cjmlib.core.locks import Lock, acquire, handed_down, lock_path_for
from cjmlib.core.runs import (
    NOTEBOOKS_FOLDER,
    earlier_runs,
    find_previous_run,
    mark_abandoned_runs,
    new_run_dir,
    run_lock_path,
)
from cjmlib.report.index import write_index
from cjmlib.workflow.guards import (
    KernelGuard,
    Stopped,
    check_output_names,
    disk_full,
    disk_full_message,
    kernel_launch_options,
    stop_on_signals,
    withhold_leaks,
)
from cjmlib.workflow.heartbeat import Heartbeat
from cjmlib.workflow.memory import PeakWatcher
from cjmlib.workflow.parameters import check_parameter_values
from cjmlib.workflow.plan import (
    declared_parameters,
    default_run_values,
    notebook_metadata,
    notebook_waves,
    plain_value,
    plan_parameters,
    unmet_needs,
    used_config_files,
)
from cjmlib.workflow.reuse import (
    RUN_FILES,
    code_fingerprint,
    copy_reused,
    external_outputs,
    find_reusable,
    notebook_files,
    notebook_fingerprint,
    package_versions,
    run_state,
    snapshot,
)
from cjmlib.workflow.scanning import ReadAhead, SearchAhead, privacy_check

NOTEBOOKS: tuple[str, ...] = (
    "01_collect", "02_journeys", "03_voice", "04_pilot_design", "05_pilot_eval", "06_report",
)
class RunFailed(RuntimeError):
    """A notebook failed; ``run_dir`` keeps everything executed so far."""

    def __init__(self, message: str, run_dir: Path) -> None:
        super().__init__(message)
        self.run_dir = run_dir


@dataclass
class RunResult:
    """Outcome of :func:`run_notebooks`: the run folder and its manifest."""

    run_dir: Path
    manifest: dict[str, Any] = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.manifest.get("status") == "succeeded"


def file_hashes(paths: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """SHA-256 and size of every file under the given files or folders."""
    out: dict[str, dict[str, Any]] = {}
    for root in paths:
        if not root.exists():
            continue
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for f in files:
            out[str(f)] = {"sha256": file_sha256(f), "bytes": f.stat().st_size}
    return out


def export_html(notebook: Path, html: Path) -> None:
    """Export an executed notebook to HTML with code cells and prompts hidden."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    # atomically: a full disk or a kill leaves the previous file or none, never half a page
    atomic_write(html, lambda tmp: tmp.write_text(body, encoding="utf-8"))


def _failure_message(exc: Exception, notebook: str, executed: Path) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        source = "\n".join("    " + line for line in str(exc.source).splitlines()[:6])
        return (f"{notebook} failed in cell {exc.cell_index} (In [{exc.exec_count}]): "
                f"{exc.ename}: {exc.evalue}\n  cell source:\n{source}\n"
                f"  executed notebook kept at {executed}")
    return f"{notebook} failed: {type(exc).__name__}: {exc}\n  see {executed}"


def jobs_value(value: Any, where: str) -> int:
    """``value`` (``--jobs``, ``jobs:`` of run.yaml, ``CJM_JOBS``) as a number of notebooks
    to run at once; ``where`` names it in the message when it is not a whole number >= 1."""
    text = str(value).strip()
    if not isinstance(value, bool) and text.lstrip("+").isdigit() and int(text) >= 1:
        return int(text)
    raise ValueError(f"{where} = {value!r}: expected a whole number of notebooks to run at "
                     "once, 1 or more, such as 1 or 2")


def default_jobs() -> int:
    """Notebooks run at once by default: ``CJM_JOBS`` when set, else one per core, at most
    four (a notebook of a large run holds up to about 3 GB)."""
    value = os.environ.get("CJM_JOBS", "").strip()
    if value:
        return jobs_value(value, "CJM_JOBS")
    return max(1, min(os.cpu_count() or 1, 4))


def run_notebooks(
    *,
    raw_dir: Path | None = None,
    processed_dir: Path | None = None,
    reports_dir: Path | None = None,
    pilot_path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    notebooks: Sequence[str] = NOTEBOOKS,
    notebooks_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    reuse: bool | None = None,
    privacy_scan: bool = True,
    config_files: Sequence[Path] = (),
    jobs: int | None = None,
) -> RunResult:
    """Execute ``notebooks`` in order into a new run folder and return its manifest.

    The manifest hashes the raw data, the pilot file and the config files the run actually
    reads: every ``*_path`` parameter a notebook receives that names an existing file outside
    the processed and run folders, and ``config_files`` (the run config).

    ``reuse``: copy notebooks whose fingerprint is unchanged since the latest earlier run
    instead of executing them (see the module docstring); None: only when ``pilot_path`` is
    given. ``privacy_scan``: search the finished run for the raw data's personal data.
    ``jobs``: notebooks executed at once where they do not read each other's results
    (:func:`notebook_waves`); None: :func:`default_jobs`. The fingerprints and the outputs
    recorded are the same for every ``jobs``.

    One writer at a time: the run holds the lock of the processed folder from start to end
    (and hands it to its kernels) and the lock of its run folder; another run gets
    :class:`cjmlib.core.locks.LockHeld` naming the holder. Before it starts it completes or
    removes what an interrupted run left (:func:`cjmlib.core.generations.recover`) and marks
    runs whose ``cjm run`` is gone as ``aborted``.

    Raises :class:`RunFailed` naming the notebook, cell and error when one fails, the leaks
    when the privacy scan finds personal data (the files holding them are removed), or a
    full disk; :class:`RunAborted` when a signal stops the run (its kernels are killed). The
    partial run folder (executed notebooks, HTML of those that finished, manifest with
    ``status: failed`` or ``aborted``) is kept.
    """
    say = progress or (lambda message: None)
    raw_dir = (raw_dir or config.raw_dir()).resolve()
    processed_dir = (processed_dir or config.processed_dir()).resolve()
    reports_dir = (reports_dir or config.reports_dir()).resolve()
    notebooks_dir = (notebooks_dir or config.NOTEBOOKS_DIR).resolve()
    paths = [notebooks_dir / f"{name}.ipynb" for name in notebooks]
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"notebook not found: {p}")
    overrides = {k: plain_value(v) for k, v in (overrides or {}).items()}
    plan_parameters(paths, {}, overrides)  # unknown overrides fail before any folder exists
    check_output_names(overrides)
    reuse = pilot_path is not None if reuse is None else reuse
    reports_dir.mkdir(parents=True, exist_ok=True)
    with acquire(lock_path_for(processed_dir),
                 what=f"the processed data {processed_dir}") as data_lock:
        for line in recover(processed_dir):
            say(f"cleaned up after an interrupted run: {line}")
        run_dir = new_run_dir(reports_dir)
        data_lock.note(run_id=run_dir.name)
        for run in mark_abandoned_runs(reports_dir, by=run_dir.name):
            say(f"run {run.name} had been interrupted; its manifest now says aborted")
        with acquire(run_lock_path(run_dir), what=f"the run folder {run_dir}",
                     run_id=run_dir.name) as run_lock:
            try:
                return _guarded_run(
                    run_dir, paths=paths, raw_dir=raw_dir, processed_dir=processed_dir,
                    pilot_path=pilot_path, overrides=overrides, reuse=reuse,
                    privacy_scan=privacy_scan, config_files=config_files, say=say,
                    jobs=default_jobs() if jobs is None else jobs_value(jobs, "jobs"),
                    data_lock=data_lock)
            finally:
                run_lock.path.unlink(missing_ok=True)


class RunAborted(RunFailed):
    """A signal (SIGTERM, SIGINT, SIGHUP) stopped the run; its manifest says ``aborted``."""

    def __init__(self, message: str, run_dir: Path, signal_name: str) -> None:
        super().__init__(message, run_dir)
        self.signal_name = signal_name


class _Record:
    """A run's manifest: kept in memory, written atomically after every change."""

    def __init__(self, run_dir: Path, manifest: dict[str, Any]) -> None:
        self.run_dir, self.manifest = run_dir, manifest
        self.path = run_dir / "manifest.json"
        self.lock = threading.RLock()  # notebooks side by side note their ends in threads

    def write(self) -> None:
        with self.lock:
            write_json(self.manifest, self.path)

    def note(self, entry: dict[str, Any], **fields: Any) -> None:
        """Update a notebook's entry and write the manifest, as one step."""
        with self.lock:
            entry.update(fields)
            self.write()

    def finish(self, status: str, **fields: Any) -> None:
        """Record the end of the run; a manifest that cannot be written (a full disk) is
        reported on stderr, since it is the one place that would have said so."""
        try:
            with self.lock:
                for entry in self.manifest.get("notebooks", []):
                    if entry.get("status", "running") == "running":  # the ones running
                        entry["status"] = status
                self.manifest.update(status=status, **fields,
                                     finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
                self.write()
        except OSError as exc:
            print(f"{self.path}: could not record status {status!r} ({exc.strerror}); it may "
                  "still say 'running' until the next cjm run marks it aborted",
                  file=sys.stderr, flush=True)


def _guarded_run(run_dir: Path, *, say: Callable[[str], None], **options: Any) -> RunResult:
    """:func:`_execute` with its endings recorded: a stop signal, a full disk or any other
    error ends with the manifest saying ``aborted`` or ``failed`` and every kernel killed."""
    record = _Record(run_dir, {"run_id": run_dir.name, "status": "running",
                               "pid": os.getpid(), "host": socket.gethostname()})
    guard = KernelGuard()
    with stop_on_signals(guard):
        try:
            return _execute(run_dir, record=record, guard=guard, say=say, **options)
        except BaseException as exc:
            guard.kill()
            ending = _ending(record, exc, guard.signals)
            _write_index(run_dir, record.manifest, say)
            if ending is exc:
                raise
            raise ending from exc
        finally:
            guard.kill()


def _ending(record: _Record, exc: BaseException, received: Sequence[int]) -> BaseException:
    """Record how the run ended and return the exception to raise."""
    run_dir = record.run_dir
    if received:
        name = signal.Signals(received[0]).name
        record.finish("aborted", aborted=f"stopped by {name}")
        return RunAborted(f"stopped by {name}; its kernels were killed", run_dir, name)
    full = disk_full(exc)
    if full:
        message = disk_full_message(full, run_dir)
        if isinstance(exc, RunFailed):  # a notebook failed on the full disk: keep its cell
            message += "\n" + str(exc)
        record.finish("failed", failed_step=record.manifest.get("failed_step") or "disk_full",
                      error=message)
        return RunFailed(message, run_dir)
    if isinstance(exc, RunFailed):
        return exc  # recorded where it happened
    record.finish("failed", error=f"{type(exc).__name__}: {exc}")
    return exc


def _execute(
    run_dir: Path,
    *,
    record: _Record,
    guard: KernelGuard,
    paths: Sequence[Path],
    raw_dir: Path,
    processed_dir: Path,
    pilot_path: Path | None,
    overrides: Mapping[str, Any],
    reuse: bool,
    privacy_scan: bool,
    config_files: Sequence[Path],
    say: Callable[[str], None],
    data_lock: Lock,
    jobs: int,
) -> RunResult:
    """Plan, run (or reuse) each notebook, scan for personal data: the body of
    :func:`run_notebooks`. ``guard`` holds every kernel started and the stop signals."""
    from jupyter_client.manager import AsyncKernelManager

    reports_dir = run_dir.parent
    runs_before = earlier_runs(reports_dir, run_dir)
    values = default_run_values(raw_dir=raw_dir, processed_dir=processed_dir, run_dir=run_dir,
                                pilot_path=pilot_path.resolve() if pilot_path else None,
                                previous_run=find_previous_run(run_dir))
    plan = plan_parameters(paths, values, overrides or {})
    inputs = [raw_dir, *([pilot_path] if pilot_path else []),
              *used_config_files(plan, config_files, outputs=(processed_dir, run_dir,
                                                              raw_dir))]
    manifest = record.manifest
    manifest.update({
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "inputs": file_hashes(inputs),
        "overrides": dict(overrides or {}),
        "reuse": reuse,
        "notebooks": [],
    })
    write_manifest = record.write
    write_manifest()
    say(f"run folder: {run_dir}")
    scan_sources = [raw_dir, pilot_path.resolve() if pilot_path else None]
    read_ahead = ReadAhead(scan_sources) if privacy_scan else None
    search_ahead = SearchAhead(run_dir, read_ahead) if read_ahead is not None else None
    (run_dir / NOTEBOOKS_FOLDER).mkdir()
    kernel_log = open(run_dir / NOTEBOOKS_FOLDER / "kernel.log", "w", encoding="utf-8")
    launch = kernel_launch_options(
        inherit_fds=(data_lock.fd,) if data_lock.enforced and not data_lock.inherited else (),
        env=handed_down(data_lock))

    def manager(peaks: PeakWatcher) -> type[AsyncKernelManager]:
        """A kernel manager whose kernel's peak memory ``peaks`` follows."""

        class _QuietKernelManager(AsyncKernelManager):
            """Kernel whose start-up chatter goes to kernel.log instead of the terminal,
            which dies with the run and holds the processed-data lock with it."""

            async def _async_start_kernel(self, **kw: Any) -> None:
                kw.setdefault("stdout", kernel_log)
                kw.setdefault("stderr", kernel_log)
                for key, value in launch.items():
                    kw.setdefault(key, value)
                await super()._async_start_kernel(**kw)
                process = getattr(self.provisioner, "process", None)
                guard.started(process)
                peaks.watch(getattr(process, "pid", None))

            start_kernel = _async_start_kernel

        return _QuietKernelManager

    # papermill's own notices ("Input Notebook", parser warnings) would drown the progress lines
    logging.getLogger("papermill").setLevel(logging.ERROR)
    code = code_fingerprint()
    context = _Context(run_dir=run_dir, record=record, guard=guard, say=say, plan=plan,
                       manager=manager, skip=notebook_files([p.stem for p in paths]),
                       order=[p.stem for p in paths], search_ahead=search_ahead)
    try:
        for wave in notebook_waves(paths):
            state = run_state(run_dir, skip=context.skip)  # what the wave's notebooks read
            pending: list[_Pending] = []
            for path in wave:
                k = paths.index(path) + 1
                job = _prepare(context, k, path, state, code, reuse, runs_before)
                if job is not None:
                    pending.append(job)
            _run_side_by_side(context, pending, jobs)
    except BaseException:
        if search_ahead is not None:
            search_ahead.cancel()
        raise
    finally:
        kernel_log.close()
    if search_ahead is not None:
        entry, scan = privacy_check(run_dir, scan_sources, say, read=read_ahead,
                                    searched=search_ahead.finish)
        manifest["privacy_scan"] = entry
        if scan is not None and not scan.passed:
            from cjmlib.core.io import write_table

            entry["removed"] = withhold_leaks(run_dir, scan.hits)
            write_table(scan.hits, run_dir, "privacy_scan", formats=("csv",))
            record.finish("failed", failed_step="privacy_scan")
            raise RunFailed(scan.message() + f"\n  masked hits in {run_dir / 'privacy_scan.csv'}"
                            f"\n  removed the {len(entry['removed'])} file(s) holding them: "
                            + ", ".join(entry["removed"]), run_dir)
    manifest.update(status="succeeded",
                    finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
                    outputs=sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")
                                   if p.is_file()))
    write_manifest()
    _write_index(run_dir, manifest, say)  # again, now with the final status
    return RunResult(run_dir=run_dir, manifest=manifest)


def _written_by(files: Sequence[str], patterns: Sequence[str], others: Sequence[str]
                ) -> list[str]:
    """The files a notebook wrote among ``files`` (changed while it ran): those its
    ``writes`` patterns match, and those no notebook running beside it (``others``) claims."""
    def matches(name: str, globs: Sequence[str]) -> bool:
        return any(fnmatch(name, g) for g in globs)

    return sorted(f for f in files if matches(f, patterns) or not matches(f, others))


@dataclass
class _Context:
    """What every notebook execution of one run shares."""

    run_dir: Path
    record: _Record
    guard: KernelGuard
    say: Callable[[str], None]
    plan: Mapping[str, Mapping[str, Any]]
    manager: Callable[[PeakWatcher], type]
    skip: set[str]
    order: list[str]
    search_ahead: SearchAhead | None = None

    @property
    def total(self) -> int:
        return len(self.order)


@dataclass
class _Pending:
    """A notebook to execute: its place in the run, entry, parameters and fingerprint."""

    k: int
    path: Path
    entry: dict[str, Any]
    fingerprint: Callable[[Sequence[str]], str]
    writes: list[str]


def _prepare(context: _Context, k: int, path: Path, state: Mapping[str, str], code: str,
             reuse: bool, runs_before: Sequence[Path]) -> _Pending | None:
    """Record ``path`` in the manifest and decide: skipped (nothing to do with the data at
    hand), failed (a bad parameter value), reused, or to execute (returned)."""
    record, say, run_dir = context.record, context.say, context.run_dir
    entry: dict[str, Any] = {"notebook": path.stem, "parameters": context.plan[path.stem]}
    with record.lock:  # in the run's order, whatever order the waves run them in
        notebooks = record.manifest["notebooks"]
        notebooks.append(entry)
        order = {stem: i for i, stem in enumerate(context.order)}
        notebooks.sort(key=lambda e: order.get(e["notebook"], len(order)))
    meta = notebook_metadata(path)
    after = meta.get("after")
    if after is not None:  # it reads only these notebooks' results
        read = {f for e in notebooks if e["notebook"] in after for f in e.get("outputs", [])}
        state = {f: digest for f, digest in state.items() if f in read}
    started = time.perf_counter()
    seen = {**declared_parameters(path), **context.plan[path.stem]}
    where = f"[{k}/{context.total}] {path.stem}"
    unmet = unmet_needs(path, seen)
    if unmet is not None:  # nothing to do with the data at hand: say so, go on
        code_, reason = unmet
        record.note(entry, status="skipped", skip_code=code_, reason=reason, seconds=0.0)
        say(f"{where} skipped: {reason}")
        return None
    try:  # bad values fail here, before a kernel starts (the notebook checks too)
        check_parameter_values(seen, notebook=path.stem)
    except ValueError as exc:
        entry.update(status="failed", seconds=0.0, error=str(exc))
        record.finish("failed", failed_notebook=path.stem)
        raise RunFailed(str(exc), run_dir) from exc

    def fingerprint(overwrites: Sequence[str]) -> str:
        return notebook_fingerprint(path, seen, state=state, code=code, overwrites=overwrites)

    found = find_reusable(path.stem, fingerprint, runs_before) if reuse else None
    if found is not None:
        source, before, mine = found
        outputs = copy_reused(source, before, path.stem, run_dir)
        record.note(entry, fingerprint=mine, outputs=outputs, status="reused",
                    reused_from=source.name,
                    executed_in=before.get("executed_in", source.name),
                    external_outputs=before.get("external_outputs", {}),
                    html=f"{NOTEBOOKS_FOLDER}/{path.stem}.html",
                    seconds=round(time.perf_counter() - started, 2))
        if context.search_ahead is not None:  # its privacy scan starts now
            context.search_ahead.submit(path.stem, outputs)
        say(f"{where} reused from {source.name} (inputs and parameters unchanged)")
        return None
    return _Pending(k, path, entry, fingerprint, list(meta.get("writes") or []))


def _run_side_by_side(context: _Context, pending: Sequence[_Pending], jobs: int) -> None:
    """Execute the notebooks of one wave, up to ``jobs`` at once. When one fails, the
    others running finish and no new one starts (as ``make -j`` does); then the run is
    recorded as failed and the first failure raised."""
    if not pending:
        return
    if jobs <= 1 or len(pending) == 1:
        for i, job in enumerate(pending):
            try:
                _run_one(context, job, others=[])
            except BaseException as exc:
                _drop(context, pending[i + 1:])
                _fail(context, job, exc)
        return
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    claims = {job.path.stem: job.writes for job in pending}
    pool = ThreadPoolExecutor(max_workers=min(jobs, len(pending)), thread_name_prefix="nb")
    try:
        futures = [pool.submit(_run_one, context, job,
                               others=[p for stem, pats in claims.items()
                                       if stem != job.path.stem for p in pats])
                   for job in pending]
        wait(futures, return_when=FIRST_EXCEPTION)
        for f in futures:
            f.cancel()  # those not started stay so: the run stops after this wave
        wait(futures)
        _drop(context, [job for job, f in zip(pending, futures, strict=True)
                        if f.cancelled()])
        for job, f in zip(pending, futures, strict=True):
            if not f.cancelled() and f.exception() is not None:
                _fail(context, job, f.exception())  # type: ignore[arg-type]
    except BaseException:
        if context.guard.signals:  # a stop: the kernels beside go too
            context.guard.kill()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _drop(context: _Context, jobs: Sequence[_Pending]) -> None:
    """Take notebooks that never started out of the manifest, as if not reached."""
    with context.record.lock:
        notebooks = context.record.manifest["notebooks"]
        notebooks[:] = [e for e in notebooks if not any(e is j.entry for j in jobs)]


def _fail(context: _Context, job: _Pending, exc: BaseException) -> None:
    """Record the run as failed at ``job`` when it failed on its own (not stopped)."""
    if isinstance(exc, RunFailed) and job.entry.get("status") == "failed":
        context.record.finish("failed", failed_notebook=job.path.stem)
    raise exc


def _run_one(context: _Context, job: _Pending, *, others: Sequence[str]) -> None:
    """Execute one notebook with papermill, export its HTML and record it."""
    import papermill

    record, say, run_dir, guard = context.record, context.say, context.run_dir, context.guard
    path, entry = job.path, job.entry
    executed = run_dir / NOTEBOOKS_FOLDER / path.name
    where = f"[{job.k}/{context.total}] {path.stem}"
    guard.check()
    started = time.perf_counter()
    say(f"{where} ...")
    # until it ends: a killed run shows where it stopped
    record.note(entry, status="running")
    before_files = snapshot(run_dir)
    peaks = PeakWatcher()
    try:
        with guard.running(), Heartbeat(executed, where, say):
            papermill.execute_notebook(
                str(path), str(executed), parameters=context.plan[path.stem],
                kernel_name="python3", progress_bar=False, log_output=False,
                cwd=str(config.ROOT), kernel_manager_class=context.manager(peaks),
            )
    except Exception as exc:  # a failing notebook stops the run, folder kept
        peaks.stop()
        if guard.signals:  # its kernel was killed by a stop signal
            raise Stopped(guard.signals[0]) from exc
        message = _failure_message(exc, path.stem, executed)
        record.note(entry, status="failed", error=message,
                    seconds=round(time.perf_counter() - started, 2))
        raise RunFailed(message, run_dir) from exc
    peaks.stop()
    guard.check()
    export_html(executed, executed.with_suffix(".html"))
    after_files = snapshot(run_dir)
    seconds = round(time.perf_counter() - started, 2)
    changed = [f for f, stamp in after_files.items() if before_files.get(f) != stamp
               and f not in RUN_FILES and f not in context.skip]
    outputs = _written_by(changed, job.writes, others)
    record.note(entry, status="succeeded", seconds=seconds, kernel_peak_mb=peaks.peak,
                html=f"{NOTEBOOKS_FOLDER}/{path.stem}.html", executed_in=run_dir.name,
                outputs=outputs, fingerprint=job.fingerprint(outputs),
                external_outputs=external_outputs(context.plan[path.stem]))
    if context.search_ahead is not None:  # its privacy scan starts now
        context.search_ahead.submit(path.stem, outputs)
    say(f"{where} done in {seconds:.1f} s")


def _write_index(run_dir: Path, manifest: Mapping[str, Any],
                 say: Callable[[str], None]) -> None:
    """index.html of the run; a failure to write it is reported, never fatal."""
    try:
        write_index(run_dir, manifest)
    except Exception as exc:  # the run's results matter more than its table of contents
        say(f"index.html not written: {type(exc).__name__}: {exc}")


_PRINTING = threading.Lock()


def print_progress(message: str, stream: TextIO | None = None) -> None:
    """Progress line on stderr (stdout stays clean for scripts), whole even when notebooks
    side by side report at the same moment."""
    out = stream or sys.stderr
    with _PRINTING:
        out.write(message + "\n")
        out.flush()
