"""Fingerprints of notebook executions and the reuse of unchanged ones (``cjm run --pilot``).

What a fingerprint covers and when a notebook is reused is told in
:mod:`cjmlib.workflow.runner`'s docstring; this module computes it: the hash of a file tree
(:func:`tree_hash`), of the library code (:func:`code_fingerprint`), of a run folder's
results (:func:`run_state`), of one notebook execution (:func:`notebook_fingerprint`), and
finds and copies a reusable earlier execution (:func:`find_reusable`, :func:`copy_reused`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from cjmlib.core import config
from cjmlib.core.io import file_sha256
from cjmlib.core.runs import NOTEBOOKS_FOLDER
from cjmlib.journeys.persist import CACHE_FOLDER as JOURNEYS_CACHE

#: Parameters that name where a notebook writes: hashed by value, not by content.
OUTPUT_PARAMETERS = frozenset({"output_dir", "run_dir", "processed_dir"})
#: Parameters naming the run folder itself: a new folder every run, so not fingerprinted.
RUN_FOLDER_PARAMETERS = frozenset({"output_dir", "run_dir"})
#: Run-folder files that are not notebook results.
RUN_FILES = frozenset({"manifest.json", f"{NOTEBOOKS_FOLDER}/kernel.log", "privacy_scan.csv",
                        "manifest.json.tmp", "index.html"})
#: Packages whose versions go into every manifest.
MANIFEST_PACKAGES = (
    "cjm-workbench", "pandas", "numpy", "scipy", "statsmodels", "matplotlib", "seaborn",
    "ibis-framework", "duckdb", "pyarrow", "papermill", "nbconvert", "ipykernel", "pyyaml",
)

#: Folders of derived caches inside an output folder, left out of its hash: the journeys
#: that 02_journeys keeps beside the events (cjmlib.journeys.persist) are not 01's output.
CACHE_FOLDERS = (JOURNEYS_CACHE,)


def package_versions(names: Sequence[str] = MANIFEST_PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that shape the results."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions



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


def is_path_parameter(name: str) -> bool:
    return name.endswith(("_path", "_dir", "_file")) or name == "previous_run"


def notebook_files(notebooks: Sequence[str]) -> set[str]:
    """Relative paths of the executed notebooks and their HTML exports in a run folder."""
    return {f"{NOTEBOOKS_FOLDER}/{stem}{suffix}" for stem in notebooks
            for suffix in (".ipynb", ".html")}


def run_state(run_dir: Path, *, skip: set[str] | frozenset[str] = frozenset()
              ) -> dict[str, str]:
    """SHA-256 of every result file in the run folder (bookkeeping and ``skip`` aside)."""
    return {rel: tree_hash(p) for p in sorted(run_dir.rglob("*")) if p.is_file()
            and (rel := str(p.relative_to(run_dir))) not in RUN_FILES and rel not in skip
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
        if name in OUTPUT_PARAMETERS or not is_path_parameter(name):
            continue
        if isinstance(value, str) and value:
            digest.update(tree_hash(config.resolve_path(value)).encode())
    skip = set(overwrites)
    for rel in sorted(state):
        if rel not in skip:
            digest.update(rel.encode() + b"\0" + state[rel].encode())
    return digest.hexdigest()


def snapshot(run_dir: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(run_dir)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in run_dir.rglob("*") if p.is_file()}


def external_outputs(parameters: Mapping[str, Any]) -> dict[str, str]:
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
        files = [*entry.get("outputs", []), *sorted(notebook_files([notebook]))]
        if not all((run / f).exists() for f in files):
            return None
        if any(tree_hash(Path(path)) != digest
               for path, digest in (entry.get("external_outputs") or {}).items()):
            return None
        return run, entry, mine
    return None


def copy_reused(source: Path, entry: Mapping[str, Any], notebook: str, run_dir: Path
                ) -> list[str]:
    """Copy what ``notebook`` wrote in the run ``source`` (its manifest ``entry``) and its
    executed notebook and HTML export into ``run_dir``; the outputs copied."""
    outputs = list(entry.get("outputs", []))
    for rel in [*outputs, *sorted(notebook_files([notebook]))]:
        target = run_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, target)
    return outputs
