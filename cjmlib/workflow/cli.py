"""``cjm``: the workbench's command line.

    cjm sample --out data/raw --customers 20000 --seed 42
    cjm init DIR --raw EXPORTS [--force]
    cjm run [--raw DIR] [--config FILE] [--pilot PATH] [--out DIR] [-p NAME VALUE ...]
            [--engine ENGINE] [--jobs N] [--reuse | --no-reuse] [--no-privacy-scan]

``cjm run --pilot NEW.csv`` writes a new run folder in which the notebooks that do not depend
on the pilot data (same inputs, parameters and code as in the previous run) are copied from
that run, and the rest are executed (:mod:`cjmlib.workflow.runner`).

Exit codes of ``cjm run``: 0 succeeded, 1 failed (a notebook, the privacy scan, a full disk),
2 refused (a bad option or parameter), 75 busy (another run holds the processed data: try
again later), 128 + the signal's number when a signal stopped it (130 for Ctrl-C, 143 for
SIGTERM); the run folder's manifest says the same (``succeeded``, ``failed``, ``aborted``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

#: Notebooks with the parameter ``engine`` (``cjm run --engine``).
ENGINE_NOTEBOOKS = ("02_journeys", "03_voice", "04_pilot_design", "05_pilot_eval", "06_report")
#: Exit code when another run holds the processed data (EX_TEMPFAIL: try again later).
EXIT_BUSY = 75


def _parse_value(text: str) -> Any:
    """Parse a -p value as YAML, so numbers, booleans, lists and dicts keep their types."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cjm", description="Customer-journey research workbench.")
    sub = parser.add_subparsers(dest="command", required=True)

    sample = sub.add_parser("sample", help="write realistic raw multi-channel sample data")
    sample.add_argument("--out", type=Path, required=True, help="folder for the raw files")
    sample.add_argument("--customers", type=int, default=20_000,
                        help="number of real people (default 20000)")
    sample.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    sample.add_argument("--start", default="2026-01-05", help="first day of the data window")
    sample.add_argument("--weeks", type=int, default=26, help="length of the window in weeks")

    init = sub.add_parser("init", help="a new project for your own exports: propose configs")
    init.add_argument("folder", type=Path, help="the project folder (configs/ is written there)")
    init.add_argument("--raw", type=Path, required=True,
                      help="folder of raw exports (CSV, TSV, JSON lines, Parquet, Excel; "
                           "gzip/bz2/zip compressed)")
    init.add_argument("--force", action="store_true", help="overwrite an existing configs/")

    run = sub.add_parser("run", help="run the notebook chain into reports/<run_id>/")
    run.add_argument("--raw", type=Path, help="raw data folder (default data/raw)")
    run.add_argument("--processed", type=Path,
                     help="folder for the canonical tables (default data/processed)")
    run.add_argument("--config", type=Path,
                     help="run config YAML: paths and per-notebook parameters "
                          "(default configs/run.yaml)")
    run.add_argument("--pilot", type=Path,
                     help="new pilot data: an A/B units table or a store panel (CSV/Parquet)")
    run.add_argument("--out", type=Path, help="reports folder (default reports/)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                     metavar=("NAME", "VALUE"),
                     help="notebook parameter (YAML value); NAME or NOTEBOOK.NAME; repeatable")
    run.add_argument("--engine",
                     help="engine of the analysis notebooks (02-06): duckdb (default), pyspark, "
                          "pyspark:<master>, a Spark master URL (spark://host:7077) or an "
                          "Ibis connection string; the notebook parameter `engine`")
    run.add_argument("--jobs", type=int, metavar="N",
                     help="notebooks run at once where they do not read each other's results "
                          "(01 with 04, then 02, 03 and 05, then 06); default CJM_JOBS or one "
                          "per core, at most 4; 1 runs them one after another")
    run.add_argument("--notebooks", nargs="+",
                     help="run only these notebooks (names without .ipynb), in the given order")
    reuse = run.add_mutually_exclusive_group()
    reuse.add_argument("--reuse", dest="reuse", action="store_true", default=None,
                       help="copy notebooks whose inputs, parameters and code are unchanged "
                            "since the previous run (default with --pilot)")
    reuse.add_argument("--no-reuse", dest="reuse", action="store_false",
                       help="execute every notebook, even with --pilot")
    run.add_argument("--no-privacy-scan", dest="privacy_scan", action="store_false",
                     help="skip the search of the outputs for raw e-mails, phones and names")
    return parser


def _choose_workspace(config: Any) -> None:
    """``cjm run`` in a folder of its own (with ``data/`` or ``configs/``, e.g. one made by
    ``cjm init``) works there: that folder becomes the workspace unless ``CJM_WORKSPACE``
    names one. Either way the workspace is said before anything is written."""
    import os

    here = Path.cwd().resolve()
    if ("CJM_WORKSPACE" not in os.environ and here != config.ROOT
            and ((here / "data").is_dir() or (here / "configs").is_dir())):
        os.environ["CJM_WORKSPACE"] = str(here)
    print(f"workspace: {config.workspace()} (configs: {config.configs_dir()})",
          file=sys.stderr, flush=True)


def _load_run_config(path: Path | None) -> dict[str, Any]:
    from cjmlib.core import config

    default = config.configs_dir() / "run.yaml"
    if path is None and not default.exists():
        return {}
    return config.load_yaml(path or default)


def _config_parameters(values: dict[str, Any], selected: Sequence[str]) -> dict[str, Any]:
    """The run config's parameters for the notebooks of this run: a name only a notebook left
    out of the run declares (``--notebooks 02_journeys`` with 03_voice's brand in run.yaml)
    is not passed; a name no notebook of the chain declares stays, so it is refused as a typo.
    """
    from cjmlib.core import config
    from cjmlib.workflow.plan import declared_parameters

    def declared(stems: Sequence[str]) -> set[str]:
        paths = [config.NOTEBOOKS_DIR / f"{s}.ipynb" for s in stems]
        return {p for path in paths if path.is_file() for p in declared_parameters(path)}

    stems = [p.stem for p in sorted(config.NOTEBOOKS_DIR.glob("*.ipynb"))]
    in_run, chain = declared(selected), declared(stems)
    kept = {}
    for key, value in values.items():
        target, _, name = key.rpartition(".")
        elsewhere = (target in stems and target not in selected if target
                     else name in chain and name not in in_run)
        if not elsewhere:
            kept[key] = value
    return kept


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "sample":
        from cjmlib.sample.generator import make_sample

        started = time.perf_counter()
        truth = make_sample(args.out, n_customers=args.customers, seed=args.seed,
                            start=args.start, weeks=args.weeks,
                            progress=lambda m: print(f"  {m}", file=sys.stderr))
        print(f"sample written to {args.out}: {truth['n_customers']} customers, "
              f"{truth['n_events']} events, ground truth in "
              f"{args.out / 'ground_truth.json'} ({time.perf_counter() - started:.1f} s)",
              file=sys.stderr)
        return 0

    if args.command == "init":
        from cjmlib.workflow.project import init_project

        try:
            result = init_project(args.folder, args.raw, force=args.force)
        except (ValueError, FileNotFoundError, FileExistsError) as exc:
            print(f"cjm init: {exc}", file=sys.stderr)
            return 2
        print(result.summary())
        return 0

    from cjmlib.core import config
    from cjmlib.core.locks import LockHeld
    from cjmlib.workflow.runner import (
        NOTEBOOKS,
        RunAborted,
        RunFailed,
        jobs_value,
        print_progress,
        run_notebooks,
    )

    _choose_workspace(config)
    run_cfg = _load_run_config(args.config)
    config_name = args.config or config.configs_dir() / "run.yaml"

    def path_option(cli_value: Path | None, key: str, *, output: bool = False) -> Path | None:
        # a path typed on the command line is relative to the current directory, like any
        # command's; one from the run config is resolved against the workspace
        if cli_value is not None:
            return cli_value.expanduser().resolve()
        value = run_cfg.get(key)
        if not value:
            return None
        if output:  # a folder the run writes belongs to the workspace, even before it exists
            path = Path(value).expanduser()
            return path if path.is_absolute() else (config.workspace() / path).resolve()
        return config.resolve_path(value)

    selected = list(args.notebooks or run_cfg.get("notebooks") or NOTEBOOKS)
    try:
        overrides = _config_parameters(run_cfg.get("parameters") or {}, selected)
        overrides.update({name: _parse_value(value) for name, value in args.parameter})
        given = any(name.split(".")[-1] == "engine" for name, _ in args.parameter)
        engine = args.engine or (None if given else run_cfg.get("engine"))
        if engine:  # the analysis notebooks take it; 01_collect writes Parquet any engine reads
            overrides.update({f"{nb}.engine": str(engine) for nb in selected
                              if nb in ENGINE_NOTEBOOKS})
        result = run_notebooks(
            raw_dir=path_option(args.raw, "raw_dir"),
            processed_dir=path_option(args.processed, "processed_dir", output=True),
            reports_dir=path_option(args.out, "reports_dir", output=True),
            pilot_path=path_option(args.pilot, "pilot"),
            overrides=overrides,
            notebooks=selected,
            progress=print_progress,
            reuse=args.reuse,
            privacy_scan=args.privacy_scan,
            jobs=(jobs_value(args.jobs, "--jobs") if args.jobs is not None else
                  None if run_cfg.get("jobs") is None else
                  jobs_value(run_cfg["jobs"], f"{config_name} jobs")),
            config_files=[p for p in (args.config, config.configs_dir() / "run.yaml")
                          if p is not None and Path(p).is_file()][:1],
        )
    except RunAborted as exc:
        print(f"run aborted: {exc}", file=sys.stderr)
        print(f"partial run kept in {exc.run_dir} (manifest status: aborted)", file=sys.stderr)
        return 128 + int(getattr(signal, exc.signal_name, 15))
    except RunFailed as exc:
        print(f"run failed: {exc}", file=sys.stderr)
        print(f"partial run kept in {exc.run_dir}", file=sys.stderr)
        return 1
    except LockHeld as exc:
        print(f"cjm run: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except (ValueError, FileNotFoundError) as exc:
        print(f"cjm run: {exc}", file=sys.stderr)
        return 2
    print(result.run_dir)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
