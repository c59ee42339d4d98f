"""The table schema (cjmlib.core.schema): unique names and files, step prefixes, complete
entries, the column contracts of the modules that write the tables, and the Markdown it prints.

The columns of real notebook outputs are checked against the schema in the end-to-end test;
here only the structure.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from cjmlib.core import schema
from cjmlib.core.schema import (
    STEPS,
    TABLES,
    TYPES,
    canonical,
    collection,
    figure_for_file,
    journeys,
    pilots,
    report,
    table,
    table_for_file,
    voice,
)
from cjmlib.journeys.funnel import FUNNEL_COLUMNS
from cjmlib.journeys.touchpoints import METRIC_COLUMNS
from cjmlib.journeys.transitions import TRANSITION_COLUMNS
from cjmlib.pilots.evaluation import EXTRA_COLUMNS, PILOT_RESULTS_COLUMNS
from cjmlib.pilots.quasi_experiments import DID_RESULTS_COLUMNS
from cjmlib.report.backlog import BACKLOG_COLUMNS
from cjmlib.voice import surveys

ROOT = Path(__file__).resolve().parents[2]
OUTPUT_MODULES = (collection, journeys, voice, pilots, report)
ALL_TABLES = [t for module in (canonical, *OUTPUT_MODULES) for t in module.TABLES]
OUTPUT_TABLES = [t for module in OUTPUT_MODULES for t in module.TABLES]
#: Formats of documents (no columns) and of tables (columns).
DOCUMENTS = {("json",), ("md",)}
TABULAR = ("csv", "parquet")


def duplicates(values) -> list:
    return sorted(v for v, n in Counter(values).items() if n > 1)


def test_table_names_and_files_are_unique() -> None:
    # TABLES is a dict by name: a repeated name would silently drop a table
    assert duplicates(t.name for t in ALL_TABLES) == []
    assert len(TABLES) == len(ALL_TABLES)
    assert duplicates(t.file for t in ALL_TABLES) == []
    assert duplicates(f.file for f in schema.FIGURES) == []


def test_every_output_file_starts_with_its_step() -> None:
    assert {t.step for t in OUTPUT_TABLES} == set(STEPS)
    for t in OUTPUT_TABLES:
        assert t.step in STEPS, t
        assert t.file.startswith(f"{t.step}_"), (t.name, t.file)
    for f in schema.FIGURES:
        assert f.step in STEPS, f
        assert f.file.startswith(f"{f.step}_"), f.file
    assert {t.step for t in canonical.TABLES} == {"canonical", "input"}


def test_each_step_module_holds_only_its_own_steps() -> None:
    own = {collection: {"collect"}, journeys: {"journeys"}, voice: {"voice"},
           pilots: {"design", "pilot"}, report: {"report"}}
    for module, steps in own.items():
        assert {t.step for t in module.TABLES} <= steps, module.__name__
        assert {f.step for f in module.FIGURES} <= steps, module.__name__


def test_entries_are_complete() -> None:
    for t in ALL_TABLES:
        assert t.description.strip().endswith("."), t.name
        names = t.names()
        assert duplicates(names) == [], t.name
        if t.formats in DOCUMENTS:
            assert t.columns == () and t.patterns == (), t.name
        else:
            assert t.formats == TABULAR, t.name
            assert t.columns, t.name
        for c in t.columns:
            assert c.type in TYPES, (t.name, c.name)
            assert c.name.strip() == c.name and c.name, (t.name, c.name)
            assert c.meaning.strip(), (t.name, c.name)
            # a bar would split the Markdown table row of docs/design.md
            assert "|" not in c.meaning, (t.name, c.name)
        for pattern, meaning in t.patterns:
            assert "<" in pattern, (t.name, pattern)
            assert meaning.strip() and "|" not in meaning, (t.name, pattern)
    for f in schema.FIGURES:
        assert f.description.strip().endswith("."), f.file
        assert "*" not in f.file[:-1], f.file  # a star only at the end


def test_every_interval_says_its_level() -> None:
    """95% where fixed, 1 - alpha where it follows the notebook's alpha."""
    bounds = ("ci_low", "ci_high", "cs_low", "cs_high")
    for t in OUTPUT_TABLES:
        for c in t.columns:
            if c.name.endswith(bounds):
                assert "95%" in c.meaning or "1 - alpha" in c.meaning, (t.name, c.name)


def test_lookups_by_file() -> None:
    for t in OUTPUT_TABLES:
        assert table_for_file(t.file) is t
        assert table(t.name) is t
    assert table_for_file("no_such_table") is None
    with pytest.raises(KeyError, match="known tables: .*touchpoint_metrics"):
        table("no_such_table")
    assert figure_for_file("journeys_journey_map").file == "journeys_journey_map"
    assert figure_for_file("journeys_journey_map_future_state").file == \
        "journeys_journey_map_future_state"
    assert figure_for_file("pilot_km_checkout_time").file == "pilot_km_*"
    assert figure_for_file("pilot_segments_region").file == "pilot_segments_*"
    assert figure_for_file("pilot_did_event_study_sales").file == "pilot_did_event_study_*"
    assert figure_for_file("voice_drivers_overall_nps").file == "voice_drivers_*"
    assert figure_for_file("design_power_curve").step == "design"
    assert figure_for_file("pilot_power_curve") is None


def test_renamed_files() -> None:
    files = {t.name: t.file for t in OUTPUT_TABLES}
    assert files["touchpoint_metrics"] == "journeys_touchpoint_metrics"
    assert files["journeys_summary"] == "journeys_summary"
    assert files["survey_metrics"] == "voice_survey_metrics"
    assert files["pilot_design"] == "design_sample_size"
    assert files["pilot_assignment"] == "design_assignment"
    assert files["preregistration"] == "design_preregistration"
    assert files["pilot_results"] == "pilot_results"
    assert files["did_results"] == "pilot_did_results"
    assert files["did_event_study"] == "pilot_did_event_study"
    assert files["backlog"] == "report_backlog"
    assert files["run_comparison"] == "report_run_comparison"
    assert table("collect_manifest").formats == ("json",)
    assert table("preregistration").location == "tables/design_preregistration.md"
    assert table("pilot_summary").names()[6] == "interval"


def test_optional_columns_and_patterns() -> None:
    results = table("pilot_results")
    assert results.names(optional=False)[-1] == "reason"
    assert results.names()[-5:] == ("prob_better", "expected_loss", "prior", "cs_low",
                                    "cs_high")
    assert dict(table("personas").patterns).keys() == {"mean_<feature>"}
    assert table("collect_coverage").column("period").type == "local timestamp"
    assert table("survey_trend").column("period").type == "timestamp"


def test_contract_columns_of_the_writing_modules_come_first_in_order() -> None:
    """The column constants the modules write with are the schema's leading columns."""
    def head(name: str, n: int) -> tuple[str, ...]:
        return table(name).names()[:n]

    contracts = {
        "touchpoint_metrics": METRIC_COLUMNS, "touchpoint_metrics_by_channel": METRIC_COLUMNS,
        "touchpoint_metrics_by_segment": METRIC_COLUMNS,
        "transitions": TRANSITION_COLUMNS, "funnel": FUNNEL_COLUMNS,
        "funnel_variants": FUNNEL_COLUMNS,
        "survey_metrics": ("level", "group", *surveys.METRIC_COLUMNS, *surveys.EXTRA_COLUMNS),
        "survey_trend": ("period", "level", "group", *surveys.METRIC_COLUMNS,
                         *surveys.EXTRA_COLUMNS),
        "pilot_results": (*PILOT_RESULTS_COLUMNS, *EXTRA_COLUMNS),
        "did_results": tuple(DID_RESULTS_COLUMNS), "backlog": tuple(BACKLOG_COLUMNS),
    }
    for name, cols in contracts.items():
        assert head(name, len(cols)) == tuple(cols), name
    assert table("backlog").names() == tuple(BACKLOG_COLUMNS)


def test_markdown_lists_every_table_figure_and_pattern() -> None:
    text = schema.markdown()
    for t in ALL_TABLES:
        assert f"#### {t.name}\n" in text
        assert f"`{t.location}`" in text
    for f in schema.FIGURES:
        assert f"- `{f.file}`:" in text
    for title in STEPS.values():
        assert f"### Written by {title}\n" in text
    assert "| `mean_<feature>` | any |" in text


def test_module_prints_the_markdown_quietly() -> None:
    done = subprocess.run([sys.executable, "-m", "cjmlib.core.schema"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == schema.markdown()
