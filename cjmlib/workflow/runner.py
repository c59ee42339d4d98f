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
already in the run folder when it starts (the results of the notebooks before it, except the
files it writes itself). A notebook whose fingerprint equals the one recorded for it in the
latest earlier run of the reports folder is not executed again: its executed notebook, HTML
export and outputs are copied from that run (and whatever it wrote outside the run folder,
e.g. ``data/processed``, must still hash the same), and the manifest records it as
``reused`` with the source run. Everything downstream of new pilot data (its fingerprint
changes) is executed. Reuse is on by default when ``pilot_path`` is given; any change to the
library's code reruns everything.

Privacy: after the last notebook, every file of the run folder is searched for the e-mails,
phones and names of the raw data (:mod:`cjmlib.core.privacy`); a hit fails the run
(``failed_step: privacy_scan``), with the masked hits in ``privacy_scan.csv``, and the files
holding them are removed.

Safety (docs/design.md, The run folder): the run holds the locks of the processed data and of
its run folder (:mod:`cjmlib.core.locks`), cleans what an interrupted run left
(:mod:`cjmlib.core.generations`), marks runs whose ``cjm run`` is gone ``aborted``, and ends
every way it can end -- a failing notebook, a stop signal, a full disk -- with its kernels
killed and the manifest saying how (:mod:`cjmlib.workflow.guards`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from cjmlib.core import config
from cjmlib.core.generations import recover
from cjmlib.core.io import atomic_write, file_sha256, has_rows, write_json
from cjmlib.core.locks import Lock, acquire, handed_down, lock_path_for
from cjmlib.core.runs import (
    NOTEBOOKS_FOLDER,
    earlier_runs,
    find_previous_run,
    mark_abandoned_runs,
    new_run_dir,
    run_lock_path,
)
from cjmlib.journeys.persist import CACHE_FOLDER as JOURNEYS_CACHE
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

NOTEBOOKS: tuple[str, ...] = (
    "01_collect", "02_journeys", "03_voice", "04_pilot_design", "05_pilot_eval", "06_report",
)
#: Parameters that name where a notebook writes: hashed by value, not by content.
OUTPUT_PARAMETERS = frozenset({"output_dir", "run_dir", "processed_dir"})
#: Parameters naming the run folder itself: a new folder every run, so not fingerprinted.
RUN_FOLDER_PARAMETERS = frozenset({"output_dir", "run_dir"})
#: Run-folder files that are not notebook results.
_RUN_FILES = frozenset({"manifest.json", f"{NOTEBOOKS_FOLDER}/kernel.log", "privacy_scan.csv",
                        "manifest.json.tmp", "index.html"})
#: Packages whose versions go into every manifest.
MANIFEST_PACKAGES = (
    "cjm-workbench", "pandas", "numpy", "scipy", "statsmodels", "matplotlib", "seaborn",
    "ibis-framework", "duckdb", "pyarrow", "papermill", "nbconvert", "ipykernel", "pyyaml",
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


def default_run_values(
    *,
    raw_dir: Path,
    processed_dir: Path,
    run_dir: Path,
    pilot_path: Path | None = None,
    previous_run: Path | None = None,
) -> dict[str, Any]:
    """Run-level parameter values, passed to every notebook that declares them."""
    pilot_dir = raw_dir / "pilot"
    units, panel = pilot_dir / "ab_units.csv", pilot_dir / "store_panel.csv"
    configs = config.configs_dir()
    values: dict[str, Any] = {
        "output_dir": str(run_dir),
        "run_dir": str(run_dir),
        "raw_dir": str(raw_dir),
        "processed_dir": str(processed_dir),
        "events_path": str(processed_dir / "events.parquet"),
        "feedback_path": str(processed_dir / "feedback.parquet"),
        "customers_path": str(processed_dir / "customers.parquet"),
        "sources_path": str(configs / "sources.yaml"),
        "config_path": str(configs / "journey.yaml"),
        # optional configs a project may not have (cjm init writes none): None, not a path
        "pilot_config_path": _if_exists(configs / "pilot.yaml"),
        # a pilot file the raw data does not have is no input: None, never a default path
        "units_path": str(units) if units.exists() else None,
        "panel_path": str(panel) if panel.exists() else None,
        "report_config_path": str(configs / "report.yaml"),
        "improvements_path": _if_exists(configs / "improvements.yaml"),
        "previous_run": str(previous_run) if previous_run is not None else None,
    }
    if pilot_path is not None:
        values[_pilot_kind(pilot_path)] = str(pilot_path)
    return values


def _if_exists(path: Path) -> str | None:
    return str(path) if path.exists() else None


def _pilot_kind(path: Path) -> str:
    """Tell an A/B units table from a store panel by its header."""
    import pandas as pd

    columns = set(pd.read_csv(path, nrows=0).columns) if path.suffix != ".parquet" else set(
        pd.read_parquet(path).columns)
    if {"unit_id", "variant"} <= columns:
        return "units_path"
    if {"unit", "period", "treated", "post"} <= columns:
        return "panel_path"
    raise ValueError(
        f"{path}: not a pilot table; expected columns unit_id, variant (A/B units) or "
        f"unit, period, treated, post (store panel), found {sorted(columns)}"
    )


def used_config_files(plan: Mapping[str, Mapping[str, Any]], extra: Sequence[Path] = (), *,
                      outputs: Sequence[Path] = ()) -> list[Path]:
    """The files a planned run reads besides its data: every ``*_path`` parameter value that
    names an existing file outside ``outputs`` (the processed, run and raw folders, hashed
    as a whole or written by the run), plus ``extra``; sorted, each once."""
    found: set[Path] = {Path(p).resolve() for p in extra if Path(p).is_file()}
    for parameters in plan.values():
        for name, value in parameters.items():
            if not name.endswith("_path") or not isinstance(value, str) or not value:
                continue
            path = config.resolve_path(value)
            if path.is_file() and not any(path.is_relative_to(o) for o in outputs):
                found.add(path)
    return sorted(found)


#: What each input a notebook may need is, in words, and the code a skip is recorded with.
NEEDS: dict[str, tuple[str, str]] = {
    "raw_dir": ("no_raw_data", "no raw data"),
    "events_path": ("no_events", "no events"),
    "feedback_path": ("no_feedback", "no feedback: no survey answers or comments to hear"),
    "units_path": ("no_pilot", "no pilot data"),
    "panel_path": ("no_pilot", "no pilot data"),
    "pilot_config_path": ("no_pilot_plan", "no pilot plan"),
}


def unmet_needs(notebook: Path, parameters: Mapping[str, Any]) -> tuple[str, str] | None:
    """Why ``notebook`` has nothing to do, as ``(code, reason)``, or None when it can run.

    A notebook declares what it needs in its metadata, ``{"cjm": {"needs": [[...], ...]}}``:
    every group names path parameters of which at least one must hold data
    (:func:`cjmlib.core.io.has_rows`), e.g. ``[["units_path", "panel_path"]]`` for the pilot
    evaluation. The parameters are the values the notebook will receive.
    """
    import nbformat

    needs = nbformat.read(notebook, as_version=4).metadata.get("cjm", {}).get("needs", [])
    for group in needs:
        if any(has_rows(config.resolve_path(v)) for v in (parameters.get(name) for name in group)
               if isinstance(v, str) and v):
            continue
        code, words = NEEDS.get(group[0], ("no_input", f"no {group[0]}"))
        given = ", ".join(f"{name} = {parameters.get(name)!r}" for name in group)
        return code, f"{words} ({given})"
    return None


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """Names and default values a notebook declares in its cell tagged ``parameters``.

    Read with :mod:`ast`, not papermill's line parser, which drops some valid declarations.
    """
    import ast

    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise ValueError(f"{notebook}: no cell tagged 'parameters'")
    declared: dict[str, Any] = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared[node.target.id] = ast.literal_eval(node.value) if node.value else None
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    declared[target.id] = ast.literal_eval(node.value)
    return declared


def plain_value(value: Any) -> Any:
    """A parameter value papermill can write into a notebook: dates and times (YAML reads
    ``launch: 2017-05-08`` as a date) become ISO text, inside lists and dicts too.

    >>> import datetime as dt
    >>> plain_value({"launch": dt.date(2017, 5, 8), "at": [dt.datetime(2017, 5, 8, 9, 30)]})
    {'launch': '2017-05-08', 'at': ['2017-05-08T09:30:00']}
    """
    import datetime as dt

    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return value


def plan_parameters(
    notebooks: Sequence[Path],
    run_values: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """Parameters for each notebook: run values and overrides it declares.

    An override ``name`` applies to every notebook declaring it; ``02_journeys.name`` to that
    notebook only. An override no notebook declares is an error, listing what exists.
    """
    declared = {nb.stem: declared_parameters(nb) for nb in notebooks}
    unused = dict(overrides)
    plan: dict[str, dict[str, Any]] = {}
    for stem, params in declared.items():
        chosen = {k: v for k, v in run_values.items() if k in params}
        for key, value in overrides.items():
            target, _, name = key.rpartition(".")
            if (not target or target == stem) and name in params:
                chosen[name] = value
                unused.pop(key, None)
        plan[stem] = chosen
    if unused:
        known = sorted({p for params in declared.values() for p in params})
        raise ValueError(
            f"unknown parameter(s) {', '.join(sorted(unused))}: no notebook declares them; "
            f"known parameters: {', '.join(known)}"
        )
    return plan


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


def package_versions(names: Sequence[str] = MANIFEST_PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that shape the results."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


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


# --------------------------------------------------------------------------------------------
# Fingerprints and reuse
# --------------------------------------------------------------------------------------------
#: Folders of derived caches inside an output folder, left out of its hash: the journeys
#: that 02_journeys keeps beside the events (cjmlib.journeys.persist) are not 01's output.
CACHE_FOLDERS = (JOURNEYS_CACHE,)


def tree_hash(path: Path, *, exclude: frozenset[str] | set[str] = frozenset()) -> str:
    """SHA-256 over the relative names and contents of every file under ``path`` (or of one
    file); ``"missing"`` when it does not exist. ``exclude``: relative names to skip; the
    cache folders of :data:`CACHE_FOLDERS` directly under ``path`` are skipped too."""
    if not path.exists():
        return "missing"
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        rel = str(f.relative_to(path)) if path.is_dir() else f.name
        if rel in exclude or rel.endswith(".tmp") or (
                path.is_dir() and f.relative_to(path).parts[0] in CACHE_FOLDERS):
            continue
        digest.update(rel.encode() + b"\0")
        file_sha256(f, digest=digest)
        digest.update(b"\0")
    return digest.hexdigest()


def code_fingerprint() -> str:
    """SHA-256 of the library's source files, the Python version and the package versions."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]  # cjmlib/
    for f in sorted(package.rglob("*.py")):
        digest.update(str(f.relative_to(package)).encode() + b"\0" + f.read_bytes())
    digest.update(sys.version.encode())
    digest.update(json.dumps(package_versions(), sort_keys=True).encode())
    return digest.hexdigest()


def _is_path_parameter(name: str) -> bool:
    return name.endswith(("_path", "_dir", "_file")) or name == "previous_run"


def _notebook_files(notebooks: Sequence[str]) -> set[str]:
    """Relative paths of the executed notebooks and their HTML exports in a run folder."""
    return {f"{NOTEBOOKS_FOLDER}/{stem}{suffix}" for stem in notebooks
            for suffix in (".ipynb", ".html")}


def run_state(run_dir: Path, *, skip: set[str] | frozenset[str] = frozenset()
              ) -> dict[str, str]:
    """SHA-256 of every result file in the run folder (bookkeeping and ``skip`` aside)."""
    return {rel: tree_hash(p) for p in sorted(run_dir.rglob("*")) if p.is_file()
            and (rel := str(p.relative_to(run_dir))) not in _RUN_FILES and rel not in skip
            and not rel.endswith(".tmp")}


def notebook_fingerprint(
    notebook: Path,
    parameters: Mapping[str, Any],
    *,
    state: Mapping[str, str],
    code: str,
    overwrites: Sequence[str] = (),
) -> str:
    """The fingerprint of one notebook execution (see the module docstring).

    ``parameters``: every parameter the notebook will see (defaults and planned values).
    ``state``: :func:`run_state` of the run folder when the notebook starts; ``overwrites``:
    files of it the notebook writes itself (not inputs: a table an earlier notebook wrote
    under the same name is replaced, not read).
    """
    digest = hashlib.sha256()
    digest.update(notebook.read_bytes())
    digest.update(code.encode())
    for name in sorted(parameters):
        if name in RUN_FOLDER_PARAMETERS:
            continue
        value = parameters[name]
        digest.update(name.encode() + b"=" + json.dumps(value, sort_keys=True,
                                                         default=str).encode())
        if name in OUTPUT_PARAMETERS or not _is_path_parameter(name):
            continue
        if isinstance(value, str) and value:
            digest.update(tree_hash(config.resolve_path(value)).encode())
    skip = set(overwrites)
    for rel in sorted(state):
        if rel not in skip:
            digest.update(rel.encode() + b"\0" + state[rel].encode())
    return digest.hexdigest()


def _snapshot(run_dir: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(run_dir)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in run_dir.rglob("*") if p.is_file()}


def _external_outputs(parameters: Mapping[str, Any]) -> dict[str, str]:
    """Hashes of the places outside the run folder a notebook writes (``processed_dir``)."""
    return {str(config.resolve_path(v)): tree_hash(config.resolve_path(v))
            for k, v in parameters.items()
            if k in OUTPUT_PARAMETERS and k not in RUN_FOLDER_PARAMETERS and isinstance(v, str)
            and v}


def find_reusable(notebook: str, fingerprint: Callable[[Sequence[str]], str],
                  runs: Sequence[Path]) -> tuple[Path, dict[str, Any], str] | None:
    """The latest earlier run that ran ``notebook`` with the same fingerprint, with every
    file it recorded still present and its outside outputs unchanged, as (run, its manifest
    entry, the fingerprint); else None. ``fingerprint(overwrites)`` computes this run's
    fingerprint given the files the notebook wrote in that run."""
    for run in runs:
        try:
            manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        entry = next((e for e in manifest.get("notebooks", []) if e.get("notebook") == notebook
                      and e.get("status") in ("succeeded", "reused")), None)
        if entry is None:
            continue  # this run did not run the notebook: look further back
        mine = fingerprint(entry.get("outputs", []))
        if entry.get("fingerprint") != mine:
            return None  # the latest record differs: the notebook must run again
        files = [*entry.get("outputs", []), *sorted(_notebook_files([notebook]))]
        if not all((run / f).exists() for f in files):
            return None
        if any(tree_hash(Path(path)) != digest
               for path, digest in (entry.get("external_outputs") or {}).items()):
            return None
        return run, entry, mine
    return None


def _reuse(source: Path, entry: Mapping[str, Any], notebook: str, run_dir: Path) -> list[str]:
    import shutil

    outputs = list(entry.get("outputs", []))
    for rel in [*outputs, *sorted(_notebook_files([notebook]))]:
        target = run_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, target)
    return outputs


def privacy_check(run_dir: Path, sources: Sequence[Path],
                  say: Callable[[str], None] | None = None) -> tuple[dict[str, Any], Any]:
    """Scan ``run_dir`` for the personal data of ``sources`` (raw folder, pilot file); the
    manifest entry and the :class:`cjmlib.core.privacy.PrivacyScan`. ``say`` hears how far
    the scan got when it takes more than a few seconds (a large run), and then when it
    ends."""
    from cjmlib.core import privacy

    started = time.perf_counter()
    present = [p for p in sources if p is not None and p.exists()]
    personal = privacy.personal_data(present, progress=say) if present else None
    if personal is None or personal.empty:
        return ({"passed": True, "skipped": "no raw data with personal data to look for",
                 "seconds": round(time.perf_counter() - started, 2)}, None)
    scan = privacy.scan_outputs(run_dir, personal, exclude=("privacy_scan.csv",),
                                progress=say)
    seconds = time.perf_counter() - started
    if say is not None and seconds >= privacy.PROGRESS_EVERY:
        say(f"privacy scan done in {seconds:.1f} s")
    entry = {"passed": scan.passed, "files_scanned": len(scan.files_scanned),
             "files_skipped": len(scan.files_skipped), "hits": int(scan.hits["count"].sum())
             if len(scan.hits) else 0,
             "looked_for": {k: int(v) for k, v in
                            personal.summary().set_index("kind")["distinct_values"].items()},
             "seconds": round(seconds, 2)}
    return entry, scan


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
) -> RunResult:
    """Execute ``notebooks`` in order into a new run folder and return its manifest.

    The manifest hashes the raw data, the pilot file and the config files the run actually
    reads: every ``*_path`` parameter a notebook receives that names an existing file outside
    the processed and run folders, and ``config_files`` (the run config).

    ``reuse``: copy notebooks whose fingerprint is unchanged since the latest earlier run
    instead of executing them (see the module docstring); None: only when ``pilot_path`` is
    given. ``privacy_scan``: search the finished run for the raw data's personal data.

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

    def write(self) -> None:
        write_json(self.manifest, self.path)

    def finish(self, status: str, **fields: Any) -> None:
        """Record the end of the run; a manifest that cannot be written (a full disk) is
        reported on stderr, since it is the one place that would have said so."""
        for entry in self.manifest.get("notebooks", []):
            if entry.get("status", "running") == "running":  # the notebook that was running
                entry["status"] = status
        self.manifest.update(status=status, **fields,
                             finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
        try:
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
) -> RunResult:
    """Plan, run (or reuse) each notebook, scan for personal data: the body of
    :func:`run_notebooks`. ``guard`` holds every kernel started and the stop signals."""
    import papermill
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
    (run_dir / NOTEBOOKS_FOLDER).mkdir()
    kernel_log = open(run_dir / NOTEBOOKS_FOLDER / "kernel.log", "w", encoding="utf-8")
    launch = kernel_launch_options(
        inherit_fds=(data_lock.fd,) if data_lock.enforced and not data_lock.inherited else (),
        env=handed_down(data_lock))

    class _QuietKernelManager(AsyncKernelManager):
        """Kernel whose start-up chatter goes to kernel.log instead of the terminal, which
        dies with the run and holds the processed-data lock with it."""

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

    # papermill's own notices ("Input Notebook", parser warnings) would drown the progress lines
    logging.getLogger("papermill").setLevel(logging.ERROR)
    code = code_fingerprint()
    skip = _notebook_files([p.stem for p in paths])
    peaks = PeakWatcher()
    try:
        for k, path in enumerate(paths, start=1):
            executed = run_dir / NOTEBOOKS_FOLDER / path.name
            entry: dict[str, Any] = {"notebook": path.stem, "parameters": plan[path.stem]}
            manifest["notebooks"].append(entry)
            started = time.perf_counter()
            seen = {**declared_parameters(path), **plan[path.stem]}
            unmet = unmet_needs(path, seen)
            if unmet is not None:  # nothing to do with the data at hand: say so, go on
                code_, reason = unmet
                entry.update(status="skipped", skip_code=code_, reason=reason, seconds=0.0)
                write_manifest()
                say(f"[{k}/{len(paths)}] {path.stem} skipped: {reason}")
                continue
            try:  # bad values fail here, before a kernel starts (the notebook checks too)
                check_parameter_values(seen, notebook=path.stem)
            except ValueError as exc:
                entry.update(status="failed", seconds=0.0, error=str(exc))
                record.finish("failed", failed_notebook=path.stem)
                raise RunFailed(str(exc), run_dir) from exc
            state = run_state(run_dir, skip=skip)

            def fingerprint(overwrites: Sequence[str], path: Path = path,
                            seen: dict[str, Any] = seen, state: dict[str, str] = state) -> str:
                return notebook_fingerprint(path, seen, state=state, code=code,
                                            overwrites=overwrites)

            found = find_reusable(path.stem, fingerprint, runs_before) if reuse else None
            if found is not None:
                source, before, entry["fingerprint"] = found
                entry["outputs"] = _reuse(source, before, path.stem, run_dir)
                entry.update(status="reused", reused_from=source.name,
                             executed_in=before.get("executed_in", source.name),
                             external_outputs=before.get("external_outputs", {}),
                             html=f"{NOTEBOOKS_FOLDER}/{path.stem}.html",
                             seconds=round(time.perf_counter() - started, 2))
                write_manifest()
                say(f"[{k}/{len(paths)}] {path.stem} reused from {source.name} (inputs and "
                    "parameters unchanged)")
                continue
            say(f"[{k}/{len(paths)}] {path.stem} ...")
            entry["status"] = "running"  # until it ends: a killed run shows where it stopped
            write_manifest()
            before_files = _snapshot(run_dir)
            peaks.reset()
            guard.check()
            try:
                guard.executing = True
                with Heartbeat(executed, f"[{k}/{len(paths)}] {path.stem}", say):
                    papermill.execute_notebook(
                        str(path), str(executed), parameters=plan[path.stem],
                        kernel_name="python3", progress_bar=False, log_output=False,
                        cwd=str(config.ROOT), kernel_manager_class=_QuietKernelManager,
                    )
            except Exception as exc:  # a failing notebook stops the run, folder kept
                guard.executing = False
                if guard.signals:  # its kernel was killed by a stop signal
                    raise Stopped(guard.signals[0]) from exc
                entry.update(status="failed", seconds=round(time.perf_counter() - started, 2))
                message = _failure_message(exc, path.stem, executed)
                entry["error"] = message
                record.finish("failed", failed_notebook=path.stem)
                raise RunFailed(message, run_dir) from exc
            guard.executing = False
            guard.check()
            export_html(executed, executed.with_suffix(".html"))
            after_files = _snapshot(run_dir)
            seconds = round(time.perf_counter() - started, 2)
            outputs = sorted(f for f, stamp in after_files.items()
                             if before_files.get(f) != stamp and f not in _RUN_FILES
                             and f not in skip)
            entry.update(status="succeeded", seconds=seconds, kernel_peak_mb=peaks.peak,
                         html=f"{NOTEBOOKS_FOLDER}/{path.stem}.html", executed_in=run_dir.name,
                         outputs=outputs, fingerprint=fingerprint(outputs),
                         external_outputs=_external_outputs(plan[path.stem]))
            write_manifest()
            say(f"[{k}/{len(paths)}] {path.stem} done in {seconds:.1f} s")
    finally:
        peaks.stop()
        kernel_log.close()
    if privacy_scan:
        entry, scan = privacy_check(run_dir, [raw_dir, pilot_path.resolve() if pilot_path
                                              else None], say)
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


def _write_index(run_dir: Path, manifest: Mapping[str, Any],
                 say: Callable[[str], None]) -> None:
    """index.html of the run; a failure to write it is reported, never fatal."""
    try:
        write_index(run_dir, manifest)
    except Exception as exc:  # the run's results matter more than its table of contents
        say(f"index.html not written: {type(exc).__name__}: {exc}")


def print_progress(message: str, stream: TextIO | None = None) -> None:
    """Progress line on stderr (stdout stays clean for scripts)."""
    print(message, file=stream or sys.stderr, flush=True)
