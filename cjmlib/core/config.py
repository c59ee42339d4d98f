"""Project paths and YAML configs, resolved once from the project root.

Two roots matter:

* ``ROOT`` -- the project checkout (holds ``configs/`` and ``notebooks/``).
* ``WORKSPACE`` -- where data and reports live (``data/raw``, ``data/processed``,
  ``reports``). It is ``ROOT`` unless the environment variable ``CJM_WORKSPACE``
  names another folder, which is how tests and scheduled jobs keep their data apart.

Relative paths given as notebook parameters are resolved by :func:`resolve_path`, so a
notebook behaves the same whether JupyterLab started its kernel in ``notebooks/`` or
papermill started it in the project root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def _find_root() -> Path:
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").exists():
        return here
    return Path.cwd()


ROOT: Path = _find_root()
CONFIGS_DIR: Path = ROOT / "configs"
NOTEBOOKS_DIR: Path = ROOT / "notebooks"


def workspace() -> Path:
    """Folder holding ``data/`` and ``reports/``: ``$CJM_WORKSPACE`` or the project root."""
    env = os.environ.get("CJM_WORKSPACE")
    return Path(env).expanduser().resolve() if env else ROOT


def configs_dir() -> Path:
    """The configs a run uses by default: ``<workspace>/configs`` when the workspace has its
    own (a project made for other data), else the project's ``configs/``."""
    own = workspace() / "configs"
    return own if own.is_dir() else CONFIGS_DIR


def raw_dir() -> Path:
    """Immutable raw inputs (``<workspace>/data/raw``)."""
    return workspace() / "data" / "raw"


def processed_dir() -> Path:
    """Canonical tables written by 01_collect (``<workspace>/data/processed``)."""
    return workspace() / "data" / "processed"


def reports_dir() -> Path:
    """One folder per run (``<workspace>/reports``)."""
    return workspace() / "reports"


def resolve_path(path: str | os.PathLike[str], *, must_exist: bool = False) -> Path:
    """Resolve a path parameter.

    Absolute paths are returned as they are. A relative path is looked up, in order, in the
    workspace, the current directory and the project root; the first place where it exists
    wins (the workspace comes first so that a test or scheduled workspace is never shadowed
    by the project's own data). A relative path that exists nowhere (an output to be created) is placed under the
    workspace. With ``must_exist=True`` a missing file raises ``FileNotFoundError`` naming
    every place that was searched.
    """
    p = Path(path).expanduser()
    if p.is_absolute():
        candidates = [p]
    else:
        candidates = list(dict.fromkeys([workspace() / p, Path.cwd() / p, ROOT / p]))
    for candidate in candidates:
        if candidate.exists():
            return candidate.resolve()
    if must_exist:
        looked = ", ".join(str(c) for c in candidates)
        raise FileNotFoundError(f"{path}: no such file or folder (looked in: {looked})")
    return (p if p.is_absolute() else workspace() / p).resolve()


def resolve_input(value: str | os.PathLike[str], *, must_exist: bool = True) -> Path | str:
    """A table parameter: a path (:func:`resolve_path`), or, when an engine other than
    DuckDB is selected (:func:`cjmlib.core.engine.use_engine`) and no such file exists, the
    name of a table of that engine's catalog (``events``, ``analytics.events``), returned as
    it is for :func:`cjmlib.core.engine.as_table`."""
    from cjmlib.core.engine import engine_name, is_table_name

    try:
        return resolve_path(value, must_exist=must_exist)
    except FileNotFoundError:
        if engine_name() != "duckdb" and isinstance(value, str) and is_table_name(value):
            return value
        raise


def output_path(path: str | os.PathLike[str]) -> Path:
    """Resolve a path the workbench *writes*: absolute as given, relative under the workspace.

    Unlike :func:`resolve_path`, it never falls back to the current directory or the project
    root, so a test or scheduled workspace can never write into the project's own data.
    """
    p = Path(path).expanduser()
    return (p if p.is_absolute() else workspace() / p).resolve()


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML config into a dict, with the file named in any error."""
    resolved = resolve_path(path, must_exist=True)
    try:
        with open(resolved, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ValueError(f"{resolved}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"{resolved}: expected a mapping at the top level, found {type(data).__name__}"
        )
    return data
