"""The state one report is built from, shared by the findings and the sections.

:class:`ReportContext` holds the run's tables, the report's language, the backlog, the
monitoring result, the comparison with the previous run and the options of
:func:`cjmlib.report.builder.build_report`, and records the tables found missing while the
report is built. Its methods are the lookups the findings (:mod:`cjmlib.report.findings`) and
the sections (:mod:`cjmlib.report.journey_sections`, :mod:`cjmlib.report.results_sections`)
share: a table (noting it when missing), the touchpoint metrics in priority order, a
touchpoint's survey scores, the pilot's primary result, the store pilot's rows and an
improvement's title.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cjmlib.report.run_tables import TABLE_SOURCES
from cjmlib.report.text import Language, escape


def table_alpha(frame: pd.DataFrame | None) -> float | None:
    """The ``alpha`` a results table states (its first non-null ``alpha``), or None."""
    if frame is None or "alpha" not in frame.columns:
        return None
    values = pd.to_numeric(frame["alpha"], errors="coerce").dropna()
    return float(values.iloc[0]) if len(values) else None


class ReportContext:
    """What one report is built from (the run's tables, the language, the backlog, the
    monitoring result, the comparison, the options) and the tables found missing while
    building it; the lookups the findings and the sections share."""

    def __init__(self, run_dir: Path, tables: Mapping[str, pd.DataFrame], lang: Language, *,
                 stages: Sequence[str], backlog: pd.DataFrame | None,
                 backlog_reason: str | None, monitoring: Any, monitoring_reason: str | None,
                 comparison: pd.DataFrame | None, previous_run: str | None,
                 min_group_size: int, rollouts: Sequence[Any], pilot_name: str | None,
                 charts_shown: int, skipped: Mapping[str, str] | None = None,
                 funnel_name: str = "funnel") -> None:
        self.run_dir = run_dir
        self.tables = dict(tables)
        self.lang = lang
        self.t = lang.t
        self.stages = list(stages)
        self.backlog = backlog
        self.backlog_reason = backlog_reason
        self.monitoring = monitoring
        self.monitoring_reason = monitoring_reason
        self.comparison = comparison
        self.previous_run = previous_run
        self.k = min_group_size
        self.rollouts = list(rollouts)
        self.pilot_name = pilot_name
        self.charts_shown = charts_shown
        #: notebooks the run skipped for lack of data -> reason code (``no_pilot``, ...)
        self.skipped = dict(skipped or {})
        #: the funnel's name in configs/journey.yaml (the report never names it itself)
        self.funnel_name = funnel_name
        self.missing: dict[str, str] = {}

    def interval(self, name: str) -> dict[str, str]:
        """Interval label words (``ci_label``, ``level``) for the numbers of table ``name``:
        the level is ``1 - alpha`` of that table (its ``alpha`` column), or of the monitoring
        result for ``"monitoring"``; the report's default when it does not say."""
        if name == "monitoring":
            alpha = getattr(self.monitoring, "alpha", None)
        else:
            alpha = table_alpha(self.tables.get(name))
        return self.lang.interval_words(None if alpha is None else 1 - alpha)

    def table(self, name: str) -> pd.DataFrame | None:
        df = self.tables.get(name)
        if df is None or df.empty:
            self.missing.setdefault(name, TABLE_SOURCES.get(name, "?"))
            return None
        return df

    def missing_note(self, name: str) -> str:
        notebook = TABLE_SOURCES.get(name, "?")
        if notebook in self.skipped:
            return (f'<p class="missing">{escape(self.not_run(notebook))}</p>')
        return (f'<p class="missing">{escape(self.t("missing", what=self.t("table_word", name=name), notebook=notebook))}'
                "</p>")

    def not_run(self, notebook: str) -> str:
        """Why ``notebook`` did not run, in the report's language."""
        return self.t("not_run", notebook=notebook,
                      reason=self.t(f"skip_{self.skipped.get(notebook, 'no_input')}"))

    def metrics(self) -> pd.DataFrame | None:
        tm = self.table("touchpoint_metrics")
        if tm is None:
            return None
        if "channel" in tm.columns and (tm["channel"] == "all").any():
            tm = tm[tm["channel"] == "all"]
        return tm.sort_values("priority_rank", na_position="last") if (
            "priority_rank" in tm.columns) else tm

    def sentiment_basis(self) -> str | None:
        """Which scorer produced the comment sentiment and how well it agrees with the CSAT
        of the same comments (the ``all`` row of ``sentiment_agreement``, else its single
        language row); None when the run has no such table."""
        ag = self.tables.get("sentiment_agreement")
        if ag is None or ag.empty or "spearman_rho" not in ag.columns:
            return None
        rows = ag[ag["language"] == "all"] if (ag["language"] == "all").any() else ag
        r = rows.iloc[0].to_dict()
        scorer = r.get("scorer")
        if not isinstance(scorer, str) or not scorer:
            scorer = ", ".join(sorted(ag["scorer"].dropna().astype(str).unique())) \
                if "scorer" in ag.columns else "?"
        if not isinstance(r.get("spearman_rho"), (int, float)) or r["spearman_rho"] != \
                r["spearman_rho"]:
            return None
        return self.t("sentiment_basis", scorer=scorer, rho=f"{r['spearman_rho']:.2f}",
                      lo=f"{r['spearman_ci_low']:.2f}", hi=f"{r['spearman_ci_high']:.2f}",
                      n=f"{int(r['n']):,}")

    def survey_row(self, touchpoint: str) -> dict[str, Any] | None:
        sv = self.tables.get("survey_metrics")
        if sv is None or sv.empty:
            return None
        rows = sv[(sv["level"] == "touchpoint") & (sv["group"] == touchpoint)]
        return rows.iloc[0].to_dict() if len(rows) else None

    def primary_pilot(self) -> tuple[dict[str, Any] | None, pd.DataFrame | None]:
        pr = self.table("pilot_results")
        if pr is None:
            return None, None
        prim = pr[pr["role"] == "primary"] if "role" in pr.columns else pr.iloc[:1]
        if prim.empty:
            prim = pr.iloc[:1]
        return prim.iloc[0].to_dict(), pr

    def did_rows(self) -> pd.DataFrame | None:
        dd = self.tables.get("did_results")
        if dd is None or dd.empty:
            return None
        if "default" in dd.columns and dd["default"].astype(bool).any():
            return dd[dd["default"].astype(bool)]
        return dd.groupby("metric", sort=False).head(1)

    def title_of(self, row: Mapping[str, Any]) -> str:
        if self.lang.code == "zh" and isinstance(row.get("title_zh"), str):
            return row["title_zh"]
        return str(row.get("title") or row.get("id"))
