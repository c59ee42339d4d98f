"""What a run executes and with what: the parameters of each notebook, what it needs, and
the order of the notebooks.

Parameters flow by name (see :mod:`cjmlib.workflow.runner`): :func:`default_run_values` are
the run-level values, :func:`plan_parameters` gives each notebook those it declares
(:func:`declared_parameters`) and the overrides. :func:`unmet_needs` tells a notebook that
has nothing to do with the data at hand; :func:`notebook_waves` orders the notebooks into
waves that may run side by side.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cjmlib.core import config
from cjmlib.core.io import has_rows


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
    needs = notebook_metadata(notebook).get("needs", [])
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

    nb = _read_notebook(notebook)
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


def notebook_waves(paths: Sequence[Path]) -> list[list[Path]]:
    """The notebooks in waves: each wave runs once every notebook it reads from has finished.

    A notebook names the notebooks whose results it reads in its metadata,
    ``{"cjm": {"after": ["01_collect"]}}`` (those not in this run are ignored), and the run
    folder files it writes, ``{"cjm": {"writes": ["tables/journeys_*", ...]}}``. Without
    ``after`` it reads every notebook before it; without ``writes`` it runs alone in its
    wave, since what it wrote could not be told from what a notebook beside it wrote.
    """
    stems = [p.stem for p in paths]
    metas = {p: notebook_metadata(p) for p in paths}  # each file read once
    level: dict[str, int] = {}
    waves: list[list[Path]] = []
    for i, path in enumerate(paths):
        meta = metas[path]
        after = meta.get("after")
        before = stems[:i] if after is None else [s for s in after if s in stems[:i]]
        wave = max((level[s] + 1 for s in before), default=0)
        if not meta.get("writes"):  # alone, after everything before it
            wave = max([wave, len(waves)])
        elif wave < len(waves) and not all(metas[p].get("writes") for p in waves[wave]):
            wave = len(waves)
        level[path.stem] = wave
        if wave == len(waves):
            waves.append([])
        waves[wave].append(path)
    return waves


def notebook_metadata(path: Path) -> dict[str, Any]:
    """The ``cjm`` entry of a notebook's metadata (``needs``, ``after``, ``writes``)."""
    return copy.deepcopy(dict(_read_notebook(path).metadata.get("cjm", {})))


def _read_notebook(path: Path) -> Any:
    """The notebook at ``path``, parsed once while the file stays the same (a run asks for
    its metadata, needs and parameters in turn). Callers must not change it."""
    stat = os.stat(path)
    return _parsed(os.fspath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _parsed(path: str, mtime_ns: int, size: int) -> Any:
    import nbformat

    return nbformat.read(path, as_version=4)
