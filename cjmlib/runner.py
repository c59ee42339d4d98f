"""Run the numbered notebooks with papermill into one run folder per run.

A run folder ``reports/<run_id>/`` holds, per notebook, the executed ``.ipynb`` and its HTML
export with code hidden, the tables the notebooks wrote, ``kernel.log`` and ``manifest.json``
(parameters, input file hashes, package versions, timings, status). A run folder is never
overwritten: a second run in the same second gets a suffix.

Parameters flow by name: the runner knows a set of run-level values (``output_dir``,
``raw_dir``, ``events_path``, ``units_path``, ...) and passes each notebook exactly the ones
its ``parameters`` cell declares, so no notebook receives a name it does not know.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from cjmlib import config

NOTEBOOKS: tuple[str, ...] = (
    "01_collect", "02_journeys", "03_voice", "04_pilot_design", "05_pilot_eval", "06_report",
)
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
) -> dict[str, Any]:
    """Run-level parameter values, passed to every notebook that declares them."""
    pilot_dir = raw_dir / "pilot"
    values: dict[str, Any] = {
        "output_dir": str(run_dir),
        "raw_dir": str(raw_dir),
        "processed_dir": str(processed_dir),
        "events_path": str(processed_dir / "events.parquet"),
        "feedback_path": str(processed_dir / "feedback.parquet"),
        "customers_path": str(processed_dir / "customers.parquet"),
        "sources_path": str(config.CONFIGS_DIR / "sources.yaml"),
        "config_path": str(config.CONFIGS_DIR / "journey.yaml"),
        "pilot_config_path": str(config.CONFIGS_DIR / "pilot.yaml"),
        "units_path": str(pilot_dir / "ab_units.csv"),
        "panel_path": str(pilot_dir / "store_panel.csv"),
    }
    if pilot_path is not None:
        values[_pilot_kind(pilot_path)] = str(pilot_path)
    return values


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


def new_run_dir(reports_dir: Path, *, now: datetime | None = None) -> Path:
    """Create and return a fresh ``reports/<run_id>`` folder; never reuse an existing one."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    reports_dir.mkdir(parents=True, exist_ok=True)
    for k in range(1000):
        candidate = reports_dir / (stamp if k == 0 else f"{stamp}-{k + 1}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {reports_dir}")


def file_hashes(paths: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """SHA-256 and size of every file under the given files or folders."""
    out: dict[str, dict[str, Any]] = {}
    for root in paths:
        if not root.exists():
            continue
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for f in files:
            digest = hashlib.sha256()
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            out[str(f)] = {"sha256": digest.hexdigest(), "bytes": f.stat().st_size}
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
    html.write_text(body, encoding="utf-8")


def _failure_message(exc: Exception, notebook: str, executed: Path) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        source = "\n".join("    " + line for line in str(exc.source).splitlines()[:6])
        return (f"{notebook} failed in cell {exc.cell_index} (In [{exc.exec_count}]): "
                f"{exc.ename}: {exc.evalue}\n  cell source:\n{source}\n"
                f"  executed notebook kept at {executed}")
    return f"{notebook} failed: {type(exc).__name__}: {exc}\n  see {executed}"


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
) -> RunResult:
    """Execute ``notebooks`` in order into a new run folder and return its manifest.

    Raises :class:`RunFailed` naming the notebook, cell and error when one fails; the partial
    run folder (executed notebooks, HTML of those that finished, manifest with
    ``status: failed``) is kept.
    """
    import papermill
    from jupyter_client.manager import AsyncKernelManager

    say = progress or (lambda message: None)
    raw_dir = (raw_dir or config.raw_dir()).resolve()
    processed_dir = (processed_dir or config.processed_dir()).resolve()
    reports_dir = (reports_dir or config.reports_dir()).resolve()
    notebooks_dir = (notebooks_dir or config.NOTEBOOKS_DIR).resolve()
    paths = [notebooks_dir / f"{name}.ipynb" for name in notebooks]
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"notebook not found: {p}")
    plan_parameters(paths, {}, overrides or {})  # unknown overrides fail before any folder exists
    run_dir = new_run_dir(reports_dir)
    values = default_run_values(raw_dir=raw_dir, processed_dir=processed_dir, run_dir=run_dir,
                                pilot_path=pilot_path.resolve() if pilot_path else None)
    plan = plan_parameters(paths, values, overrides or {})
    inputs = [raw_dir, config.CONFIGS_DIR] + ([pilot_path] if pilot_path else [])
    manifest: dict[str, Any] = {
        "run_id": run_dir.name,
        "status": "running",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "inputs": file_hashes(inputs),
        "overrides": dict(overrides or {}),
        "notebooks": [],
    }
    manifest_path = run_dir / "manifest.json"

    def write_manifest() -> None:
        tmp = manifest_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(manifest_path)

    write_manifest()
    say(f"run folder: {run_dir}")
    kernel_log = open(run_dir / "kernel.log", "w", encoding="utf-8")  # noqa: SIM115

    class _QuietKernelManager(AsyncKernelManager):
        """Kernel whose start-up chatter goes to kernel.log instead of the terminal."""

        async def _async_start_kernel(self, **kw: Any) -> None:
            kw.setdefault("stdout", kernel_log)
            kw.setdefault("stderr", kernel_log)
            await super()._async_start_kernel(**kw)

        start_kernel = _async_start_kernel

    # papermill's own notices ("Input Notebook", parser warnings) would drown the progress lines
    logging.getLogger("papermill").setLevel(logging.ERROR)
    try:
        for k, path in enumerate(paths, start=1):
            executed = run_dir / path.name
            entry: dict[str, Any] = {"notebook": path.stem, "parameters": plan[path.stem]}
            manifest["notebooks"].append(entry)
            started = time.perf_counter()
            say(f"[{k}/{len(paths)}] {path.stem} ...")
            try:
                papermill.execute_notebook(
                    str(path), str(executed), parameters=plan[path.stem],
                    kernel_name="python3", progress_bar=False, log_output=False,
                    cwd=str(config.ROOT), kernel_manager_class=_QuietKernelManager,
                )
            except Exception as exc:  # a failing notebook stops the run, folder kept
                entry.update(status="failed", seconds=round(time.perf_counter() - started, 2))
                message = _failure_message(exc, path.stem, executed)
                entry["error"] = message
                manifest.update(status="failed", failed_notebook=path.stem,
                                finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
                write_manifest()
                raise RunFailed(message, run_dir) from exc
            export_html(executed, executed.with_suffix(".html"))
            seconds = round(time.perf_counter() - started, 2)
            entry.update(status="succeeded", seconds=seconds,
                         html=executed.with_suffix(".html").name)
            write_manifest()
            say(f"[{k}/{len(paths)}] {path.stem} done in {seconds:.1f} s")
    finally:
        kernel_log.close()
    manifest.update(status="succeeded",
                    finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
                    outputs=sorted(p.name for p in run_dir.iterdir() if p.is_file()))
    write_manifest()
    return RunResult(run_dir=run_dir, manifest=manifest)


def print_progress(message: str, stream: TextIO | None = None) -> None:
    """Progress line on stderr (stdout stays clean for scripts)."""
    print(message, file=stream or sys.stderr, flush=True)
