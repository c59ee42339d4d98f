"""The improvement report: one self-contained HTML file a manager reads without a notebook.

:func:`build_report` reads the tables the other notebooks wrote into a run folder
(:data:`cjmlib.report.run_tables.TABLE_SOURCES` says which notebook writes which table),
takes the backlog (:mod:`cjmlib.report.backlog`), the monitoring result
(:mod:`cjmlib.report.monitoring`) and the run-to-run comparison (:mod:`cjmlib.report.comparison`)
and assembles, in English or Chinese (``language``):

1. an executive summary of three to five findings, each with its numbers and intervals: the
   most urgent pain point, the pilot's effect and verdict, a KPI shift seen by monitoring,
   the top of the backlog, the store pilot;
2. the journey map; 3. the top pain points with their evidence (behaviour, scores, themes,
   quotes, a channel breakdown); 4. the prioritised improvement backlog; 5. pilot results and
   verdict; 6. monitoring (control charts, shifts, rollouts) and the comparison with the
   previous run; 7. what to do next; 8. about the data and methods.

A section whose table is missing says so, naming the notebook that should have written it;
no section draws an empty chart. Figures are PNGs embedded as ``data:`` URIs, the CSS is
inline and there is no script, web font or other URL, so the file opens offline; a print
style sheet lays it out for A4. Free text (quotes) is redacted (:func:`cjmlib.core.privacy.redact`)
and breakdown rows with fewer than ``min_group_size`` units are suppressed
(:func:`cjmlib.core.privacy.suppress_small_groups`).

This module holds :func:`build_report` and the :class:`Report` it returns. The parts live beside
it: the words in both languages and the number formats in :mod:`cjmlib.report.text`, the run's
tables in :mod:`cjmlib.report.run_tables`, what a report is built from in
:mod:`cjmlib.report.context`, the summary in :mod:`cjmlib.report.findings`, sections 2-4 in
:mod:`cjmlib.report.journey_sections`, sections 5-8 in :mod:`cjmlib.report.results_sections`
and the HTML page with its style sheet in :mod:`cjmlib.report.document`.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.io import atomic_write
from cjmlib.core.runs import skipped_notebooks
from cjmlib.report import plots as figs
from cjmlib.report.change_sections import (
    finding_changes,
    finding_flow,
    finding_segment,
    section_changes,
)
from cjmlib.report.context import ReportContext, table_alpha
from cjmlib.report.document import document_html
from cjmlib.report.findings import (
    Finding,
    finding_backlog,
    finding_monitoring,
    finding_pain,
    finding_pilot,
    finding_store,
    section_summary,
)
from cjmlib.report.journey_sections import section_backlog, section_journey, section_pain
from cjmlib.report.results_sections import (
    next_steps,
    section_about,
    section_monitoring,
    section_pilot,
)
from cjmlib.report.run_tables import load_run_tables
from cjmlib.report.text import LANGUAGES, Language, escape

#: Lines of the executive summary at most.
MAX_SUMMARY = 8


@dataclass
class Report:
    """A built report: the HTML document, its findings, next steps, what was missing and the
    sections that could not be built (``errors``: section -> exception)."""

    html: str
    language: str
    findings: list[Finding]
    next_steps: list[str]
    missing: dict[str, str]
    run_id: str
    errors: dict[str, str] = field(default_factory=dict)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the HTML atomically (UTF-8) and return the path."""
        written = atomic_write(path, lambda tmp: tmp.write_text(self.html, encoding="utf-8"))
        written.chmod(0o644)  # a report is for reading: not the temporary file's 0600
        return written

    def summary_markdown(self) -> str:
        """The findings as a Markdown list (for the notebook)."""

        def md(h: str) -> str:
            return html.unescape(re.sub(r"</?b>", "**", re.sub(r"<(?!/?b>)[^>]+>", "", h)))

        return "\n".join(f"{k}. {md(f.html)}" for k, f in enumerate(self.findings, start=1))

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{f.html}</li>" for f in self.findings)
        return f"<ol>{items}</ol>"


def build_report(
    run_dir: str | os.PathLike[str],
    *,
    language: Literal["en", "zh"] = "en",
    stages: Sequence[str] = ("awareness", "consideration", "purchase", "service", "loyalty"),
    labels: Mapping[str, str] | None = None,
    stage_labels: Mapping[str, str] | None = None,
    metric_labels: Mapping[str, str] | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    backlog: pd.DataFrame | None = None,
    backlog_reason: str | None = None,
    monitoring: Any = None,
    monitoring_reason: str | None = None,
    comparison: pd.DataFrame | None = None,
    previous_run: str | None = None,
    rollouts: Sequence[Any] = (),
    pilot_name: str | None = None,
    min_group_size: int = 10,
    charts_shown: int = 4,
    generated_at: datetime | None = None,
    data_window: str | None = None,
    skipped: Mapping[str, str] | None = None,
    funnel_name: str = "funnel",
) -> Report:
    """Build the report of the run in ``run_dir`` (see the module docstring).

    ``labels`` / ``stage_labels``: touchpoint and stage names in the report's language.
    ``tables``: the run's tables (default: :func:`load_run_tables`). ``backlog``: from
    :func:`cjmlib.report.backlog.score_backlog` (``backlog_reason`` says why there is none).
    ``monitoring``: a :class:`cjmlib.report.monitoring.Monitoring` (``monitoring_reason`` says why
    there is none). ``comparison``: :func:`cjmlib.report.comparison.compare_runs` against
    ``previous_run`` (its run id). ``rollouts``: :class:`cjmlib.report.monitoring.Rollout` marked on
    the charts. ``pilot_name``: the experiment's name (configs/pilot.yaml). ``skipped``:
    notebooks the run skipped for lack of data -> reason code (default: from the run's
    ``manifest.json``); their sections say why they are empty. ``funnel_name``: the
    funnel's name in configs/journey.yaml. Never raises for
    a missing table: the section says what is missing; a table of an unexpected shape costs
    only its own section (listed in ``Report.errors``).
    """
    check_scalar(language, "language", in_=LANGUAGES)
    check_scalar(min_group_size, "min_group_size", typ=int, ge=1)
    run = Path(run_dir)
    tables = dict(tables) if tables is not None else load_run_tables(run)
    # the default interval level: the one the results state (a run has one alpha)
    stated = next((a for a in (table_alpha(tables.get(name)) for name in (
        "pilot_results", "touchpoint_metrics", "survey_metrics", "did_results"))
        if a is not None), 0.05)
    lang = Language(language, dict(labels or {}), dict(stage_labels or {}),
                    dict(metric_labels or {}), level=1 - stated)
    ctx = ReportContext(run, tables, lang, stages=stages, backlog=backlog,
                        backlog_reason=backlog_reason, monitoring=monitoring,
                        monitoring_reason=monitoring_reason, comparison=comparison,
                        previous_run=previous_run, min_group_size=min_group_size,
                        rollouts=rollouts, pilot_name=pilot_name, charts_shown=charts_shown,
                        skipped=skipped if skipped is not None else skipped_notebooks(run),
                        funnel_name=funnel_name)
    figs.report_style()
    errors: dict[str, str] = {}

    def safely(key: str, build: Callable[[], Any], fallback: Any) -> Any:
        # a table that breaks one section (an unexpected shape) must not cost the whole
        # report: the section says what went wrong and the others are built as usual
        try:
            return build()
        except Exception as exc:
            errors[key] = f"{type(exc).__name__}: {exc}"
            return fallback

    findings = []
    for name, finding in (("pain", finding_pain), ("pilot", finding_pilot),
                          ("monitoring", finding_monitoring), ("backlog", finding_backlog),
                          ("store", finding_store), ("segment", finding_segment),
                          ("flow", finding_flow)):
        found = safely(f"summary ({name})", partial(finding, ctx), None)
        if found is not None:
            findings.append(found)
    # changes found over time come right after the most urgent pain point
    changes = safely("summary (changes)", partial(finding_changes, ctx), [])
    at = 1 if findings and findings[0].key == "pain_point" else 0
    findings = (findings[:at] + changes + findings[at:])[:MAX_SUMMARY]
    sections: list[tuple[str, Callable[[], str]]] = [
        ("summary", lambda: section_summary(ctx, findings)),
        ("journey", partial(section_journey, ctx)),
        ("pain", partial(section_pain, ctx)),
        ("changes", partial(section_changes, ctx)),
        ("backlog", partial(section_backlog, ctx)),
        ("pilot", partial(section_pilot, ctx)),
        ("monitoring", partial(section_monitoring, ctx)),
        ("next", lambda: '<ol class="steps">' + "".join(f"<li>{x}</li>" for x in steps)
         + "</ol>"),
        ("about", partial(section_about, ctx)),
    ]
    steps: list[str] = []
    bodies = []
    for key, body in sections:
        if key == "next":
            steps = safely("next", partial(next_steps, ctx), None)
            if steps is None:
                body, steps = (lambda: None), []
        html_body = safely(key, body, None)
        if html_body is None:
            html_body = ('<p class="missing">'
                         f'{escape(lang.t("section_failed", error=errors.get(key, "?")))}</p>')
        bodies.append((key, html_body))
    generated = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    if data_window is None and monitoring is not None and len(monitoring.charts):
        periods = pd.to_datetime(monitoring.charts["period"])
        data_window = f"{periods.min():%Y-%m-%d} – {periods.max():%Y-%m-%d}"
    html_text = document_html(lang, run.name, generated, data_window or "–", bodies)
    return Report(html_text, language, findings, steps, dict(ctx.missing), run.name, errors)
