"""`cjm run` end to end on a small generated sample, in a temporary folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cjmlib.workflow.runner import NOTEBOOKS

pytestmark = pytest.mark.slow


def _cjm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CJM_WORKSPACE": str(cwd)}
    return subprocess.run([sys.executable, "-m", "cjmlib", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("e2e")
    sample = _cjm("sample", "--out", "data/raw", "--customers", "1200", "--seed", "5", cwd=home)
    assert sample.returncode == 0, sample.stderr
    done = _cjm("run", "--raw", "data/raw", "--processed", "data/processed", "--out", "reports",
                cwd=home)
    assert done.returncode == 0, done.stderr
    return {"home": home, "stdout": done.stdout, "stderr": done.stderr,
            "run_dir": Path(done.stdout.strip().splitlines()[-1])}


def test_run_folder_holds_every_notebook_and_its_html(run: dict) -> None:
    run_dir = run["run_dir"]
    assert run_dir.parent == run["home"] / "reports"
    for name in NOTEBOOKS:
        assert (run_dir / "notebooks" / f"{name}.ipynb").exists(), name
        html = (run_dir / "notebooks" / f"{name}.html").read_text(encoding="utf-8")
        assert "check_parameters(globals())" not in html, f"{name}.html shows code"
        # no code editor element, and every code cell rendered without its input
        assert not re.search(r'class="[^"]*jp-InputArea-editor', html), f"{name}.html"
        code_cells = re.findall(r'class="([^"]*jp-CodeCell[^"]*)"', html)
        assert code_cells and all("jp-mod-noInput" in c for c in code_cells), name


def test_manifest_records_parameters_inputs_versions_and_timings(run: dict) -> None:
    manifest = json.loads((run["run_dir"] / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert [n["notebook"] for n in manifest["notebooks"]] == list(NOTEBOOKS)
    assert all(n["status"] == "succeeded" and n["seconds"] > 0 for n in manifest["notebooks"])
    raw = run["home"] / "data" / "raw"
    hashed = {Path(p) for p in manifest["inputs"]}
    assert {p for p in raw.rglob("*") if p.is_file()} <= hashed
    assert all(len(v["sha256"]) == 64 for v in manifest["inputs"].values())
    configs = Path(__file__).resolve().parents[2] / "configs"
    for name in ("sources.yaml", "journey.yaml", "pilot.yaml", "report.yaml",
                 "improvements.yaml", "run.yaml"):  # the configs this run read
        assert str(configs / name) in manifest["inputs"], name
    assert manifest["packages"]["papermill"] and manifest["packages"]["ibis-framework"]
    first = manifest["notebooks"][0]["parameters"]
    assert first["output_dir"] == str(run["run_dir"])


def test_progress_is_one_line_per_notebook_and_otherwise_quiet(run: dict) -> None:
    # a notebook running past a minute says which cell it is in, once a minute
    lines = [line for line in run["stderr"].splitlines() if line.strip()
             and not re.search(r" \.\.\. (cell \d+ of \d+ running|\d+ of \d+ cells done) \(", line)]
    assert lines[0] == (f"workspace: {run['home']} (configs: "
                        f"{Path(__file__).resolve().parents[2] / 'configs'})")
    assert lines[1].startswith("run folder: ")
    done = [line for line in lines if " done in " in line]
    assert len(done) == len(NOTEBOOKS)
    assert len(lines) == 2 + 2 * len(NOTEBOOKS), "\n".join(lines)


def test_report_states_pain_point_pilot_effect_and_verdict(run: dict) -> None:
    truth = json.loads((run["home"] / "data" / "raw" / "ground_truth.json").read_text())
    report = (run["run_dir"] / "report.html").read_text(encoding="utf-8")
    start = report.index('<section id="summary">')
    summary = report[start: report.index("</section>", start)]
    assert "Payment" in summary or truth["pain_point_touchpoint"] in summary
    results = pd.read_csv(run["run_dir"] / "tables" / "pilot_results.csv")
    primary = results[results["decision"].isin(["ship", "iterate", "stop", "inconclusive"])]
    row = primary.iloc[0]
    assert f"{100 * row.ci_low:+.1f} pp to {100 * row.ci_high:+.1f} pp" in summary
    assert f"Verdict: <b>{row.decision}</b>" in summary


def test_no_personal_data_in_any_output(run: dict) -> None:
    manifest = json.loads((run["run_dir"] / "manifest.json").read_text())
    assert manifest["privacy_scan"]["passed"] is True
    scan = manifest["privacy_scan"]
    # the notebooks' outputs were searched as each finished; what the run writes at its
    # end (index.html, the last notebook's report when it changed) is searched then
    assert 0 < scan["files_searched_ahead"] < scan["files_scanned"]


def test_new_pilot_data_reruns_only_what_depends_on_it(run: dict) -> None:
    # a new export from the experimentation platform: a week more of data, so new values
    units = pd.read_csv(run["home"] / "data" / "raw" / "pilot" / "ab_units.csv")
    units["sessions"] = units["sessions"] + 1
    pilot = run["home"] / "new_pilot.csv"
    units.to_csv(pilot, index=False)
    again = _cjm("run", "--raw", "data/raw", "--processed", "data/processed", "--out",
                 "reports", "--pilot", str(pilot), cwd=run["home"])
    assert again.returncode == 0, again.stderr
    second = Path(again.stdout.strip().splitlines()[-1])
    assert second != run["run_dir"] and (run["run_dir"] / "manifest.json").exists()
    manifest = json.loads((second / "manifest.json").read_text())
    status = {n["notebook"]: n["status"] for n in manifest["notebooks"]}
    assert [status[n] for n in NOTEBOOKS[:3]] == ["reused"] * 3
    assert status["05_pilot_eval"] == "succeeded" and status["06_report"] == "succeeded"
    report = (second / "report.html").read_text(encoding="utf-8")
    assert f"Compared with run {run['run_dir'].name}" in report


# ------------------------------------------------------------------------------------------
# The run folder a person can read: layout, names, the schema, index.html
# ------------------------------------------------------------------------------------------
STEP_PREFIXES = ("collect_", "journeys_", "voice_", "design_", "pilot_", "report_")


def test_run_folder_layout(run: dict) -> None:
    run_dir = run["run_dir"]
    assert {p.name for p in run_dir.iterdir() if p.is_file()} == {
        "report.html", "index.html", "manifest.json"}
    assert {p.name for p in run_dir.iterdir() if p.is_dir()} == {
        "notebooks", "tables", "figures"}
    assert {p.suffix for p in (run_dir / "figures").iterdir()} == {".png"}
    assert {p.suffix for p in (run_dir / "tables").iterdir()} <= {".csv", ".parquet", ".json",
                                                                 ".md"}
    for folder in ("tables", "figures"):
        names = [p.name for p in (run_dir / folder).iterdir()]
        assert all(n.startswith(STEP_PREFIXES) for n in names), names


def test_every_output_is_described_by_the_schema_and_has_its_columns(run: dict) -> None:
    """Each table the chain wrote has a TableSpec whose columns (in order, with types) are
    the file's; each figure has a FigureSpec."""
    import pyarrow.parquet as pq

    from cjmlib.core import schema

    arrow = {"string": ("string", "large_string", "extension<arrow.json>"),
             "int": ("int64", "int32"), "float": ("double",), "bool": ("bool",),
             "timestamp": ("timestamp[us, tz=UTC]",), "local timestamp": ("timestamp[us]",),
             "date": ("date32[day]",), "json": ("string", "extension<arrow.json>")}
    tables = sorted((run["run_dir"] / "tables").glob("*.parquet"))
    assert len(tables) > 30
    for path in tables:
        spec = schema.table_for_file(path.stem)
        assert spec is not None, f"{path.name} has no TableSpec"
        found = pq.read_schema(path)
        declared = {c.name: c for c in spec.columns}
        for name, typ in zip(found.names, found.types, strict=True):
            if name in declared:
                assert str(typ) in arrow[declared[name].type] or (
                    str(typ) == "null"), f"{path.name}.{name}: {typ} vs {declared[name].type}"
            else:
                assert spec.patterns, f"{path.name}: column {name!r} not in the schema"
        missing = [c.name for c in spec.columns if not c.optional and c.name not in found.names]
        assert missing == [], f"{path.name}: schema columns missing: {missing}"
    for path in (run["run_dir"] / "figures").glob("*.png"):
        assert schema.figure_for_file(path.stem) is not None, f"{path.name}: no FigureSpec"
    for path in (run["run_dir"] / "tables").glob("*.json"):
        assert schema.table_for_file(path.stem) is not None, path.name


def test_index_lists_every_output_with_its_notebook(run: dict) -> None:
    index = (run["run_dir"] / "index.html").read_text(encoding="utf-8")
    for name in NOTEBOOKS:
        assert f'<h2 id="{name}">' in index and f'href="notebooks/{name}.html"' in index
    for path in (run["run_dir"] / "tables").iterdir():
        assert f'href="tables/{path.name}"' in index, path.name
    for path in (run["run_dir"] / "figures").iterdir():
        assert f'src="figures/{path.name}"' in index, path.name
    # customers' own words are not previewed
    assert "free text not shown: text" in index and "free text not shown: quotes" in index


@pytest.mark.browser
def test_index_opens_in_a_browser_with_every_link_resolving(run: dict) -> None:
    from urllib.parse import unquote, urlparse

    from tests.report.test_browser import CHROMIUM, Browser

    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium")
    browser = Browser()
    try:
        browser.load((run["run_dir"] / "index.html").as_uri())
        assert browser.problems() == []
        links = browser.evaluate("Array.from(document.querySelectorAll('a[href]'))"
                                 ".map(a => a.href)")
        images = browser.evaluate("Array.from(document.images).map(i => [i.src, i.complete && "
                                  "i.naturalWidth > 0])")
        title = browser.evaluate("document.title")
    finally:
        browser.close()
    assert title.startswith("Run ")
    assert len(links) > 50 and len(images) > 20
    for url in links + [src for src, _ in images]:
        parsed = urlparse(url)
        assert parsed.scheme == "file", url
        assert Path(unquote(parsed.path)).is_file(), f"broken link: {url}"
    assert all(ok for _, ok in images), [src for src, ok in images if not ok]


# ------------------------------------------------------------------------------------------
# Results carry their level: `cjm run -p alpha 0.1` says 90% wherever it shows an interval
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_at_90(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("alpha")
    sample = _cjm("sample", "--out", "data/raw", "--customers", "1200", "--seed", "6", cwd=home)
    assert sample.returncode == 0, sample.stderr
    runs = {}
    for language, extra in (("en", []), ("zh", ["--reuse"])):
        done = _cjm("run", "--raw", "data/raw", "--processed", "data/processed", "--out",
                    "reports", "-p", "alpha", "0.1", "-p", "language", language, *extra,
                    cwd=home)
        assert done.returncode == 0, done.stderr
        runs[language] = Path(done.stdout.strip().splitlines()[-1])
    return runs


def test_intervals_are_computed_at_the_alpha_given(run_at_90: dict) -> None:
    from statsmodels.stats.proportion import proportion_confint

    tables = run_at_90["en"] / "tables"
    for name in ("journeys_touchpoint_metrics", "voice_survey_metrics", "pilot_results",
                 "pilot_did_results", "journeys_transitions", "report_monitoring_trends"):
        table = pd.read_parquet(tables / f"{name}.parquet")
        assert "alpha" in table.columns and set(table["alpha"]) == {0.1}, name
    tm = pd.read_parquet(tables / "journeys_touchpoint_metrics.parquet")
    # exit rates are over the closed journeys (open ones at the data's end are censored)
    assert (tm["closed_journeys"] + tm["open_journeys"] == tm["journeys"]).all()
    low, high = proportion_confint(tm["exits"], tm["closed_journeys"], alpha=0.1,
                                   method="wilson")
    assert tm["exit_rate_ci_low"].to_numpy() == pytest.approx(low.to_numpy())
    assert tm["exit_rate_ci_high"].to_numpy() == pytest.approx(high.to_numpy())


def test_the_report_labels_every_interval_with_the_level_used(run_at_90: dict) -> None:
    english = (run_at_90["en"] / "report.html").read_text(encoding="utf-8")
    chinese = (run_at_90["zh"] / "report.html").read_text(encoding="utf-8")
    assert "90% CI" in english and "95% CI" not in english
    assert "90% intervals" in english and "95% intervals" not in english
    assert "90% 置信区间" in chinese and "95% 置信区间" not in chinese
    assert "95% CI" not in chinese and "CI " not in chinese.replace("90% CI", "")
    # the Chinese run reused every notebook but the report
    manifest = json.loads((run_at_90["zh"] / "manifest.json").read_text())
    status = {n["notebook"]: n["status"] for n in manifest["notebooks"]}
    assert status["06_report"] == "succeeded" and status["02_journeys"] == "reused"


def test_the_report_states_the_data_span_of_the_events(run: dict) -> None:
    """The header's data span is the first and last event (pandas on events.parquet), not
    the complete monitoring weeks."""
    events = pd.read_parquet(run["home"] / "data" / "processed" / "events.parquet",
                             columns=["event_time"])
    first, last = events["event_time"].min(), events["event_time"].max()
    report = (run["run_dir"] / "report.html").read_text(encoding="utf-8")
    assert f"data {first:%Y-%m-%d} – {last:%Y-%m-%d}" in report


# ------------------------------------------------------------------------------------------
# The same run on Spark (README: "Bigger than one machine")
# ------------------------------------------------------------------------------------------
#: Columns that name the run itself (its id), not a result.
RUN_IDENTITY = {"report_backlog": ["status_since"]}


@pytest.mark.spark
def test_the_run_on_spark_writes_the_tables_of_the_duckdb_run(run: dict) -> None:
    """``cjm run --engine pyspark:local[2]``: 02-06 read the processed Parquet with Spark and
    compute every aggregate there; each table must equal the DuckDB run's (floats to 1e-9,
    everything else exactly)."""
    import shutil

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime: PySpark needs a JRE 17+ (make system-deps installs it)")
    pytest.importorskip("pyspark")
    import numpy as np

    done = _cjm("run", "--raw", "data/raw", "--processed", "data/processed", "--out",
                "reports-spark", "--engine", "pyspark:local[2]", "--no-reuse", cwd=run["home"])
    assert done.returncode == 0, done.stderr
    spark_dir = Path(done.stdout.strip().splitlines()[-1])
    manifest = json.loads((spark_dir / "manifest.json").read_text())
    engines = {n["notebook"]: n["parameters"].get("engine") for n in manifest["notebooks"]}
    assert engines == {"01_collect": None, **{n: "pyspark:local[2]" for n in NOTEBOOKS[1:]}}
    want_dir, got_dir = run["run_dir"] / "tables", spark_dir / "tables"
    assert sorted(p.name for p in got_dir.iterdir()) == sorted(p.name for p in
                                                               want_dir.iterdir())
    compared = 0
    for path in sorted(want_dir.glob("*.parquet")):
        want, got = pd.read_parquet(path), pd.read_parquet(got_dir / path.name)
        drop = RUN_IDENTITY.get(path.stem, [])
        want, got = want.drop(columns=drop), got.drop(columns=drop)
        assert list(got.columns) == list(want.columns) and len(got) == len(want), path.name
        for col in want.columns:
            a, b = want[col], got[col]
            if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(b):
                ok = np.isclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, atol=1e-9,
                                equal_nan=True)
                assert ok.all(), (f"{path.name}: column {col!r} differs in rows "
                                  f"{np.flatnonzero(~ok)[:5].tolist()}: {a[~ok].head(3).tolist()}"
                                  f" (DuckDB) vs {b[~ok].head(3).tolist()} (Spark)")
            else:
                pd.testing.assert_series_equal(b, a, check_dtype=False,
                                               obj=f"{path.name}: {col}")
        compared += 1
    for path in sorted(want_dir.glob("journeys_*.json")):
        assert json.loads((got_dir / path.name).read_text()) == json.loads(path.read_text())
    assert compared >= 40
