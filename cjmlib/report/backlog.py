"""Improvement backlog: candidate improvements scored from the evidence and ranked.

Candidates come from ``configs/improvements.yaml`` (:func:`load_improvements`): each names
the touchpoints it changes, its effort in person-weeks, the share of the exits at those
touchpoints it is expected to prevent (a low-high range) and, once piloted, the pilot metric
that measured it. :func:`score_backlog` joins them with the run's ``touchpoint_metrics``
(and ``pilot_results``) and scores each one:

* **reach** -- customers who touched its touchpoints (the largest of them: the same customer
  may touch several) and their share of all customers;
* **severity** -- how bad the experience is there, 0..1: per touchpoint the mean of the
  available signals ``exit_rate``, ``(5 - CSAT) / 4`` and ``(100 - NPS) / 200`` (the scales of
  :mod:`cjmlib.journeys.touchpoints`), the worst of its touchpoints;
* **impact** -- journeys kept (completed instead of abandoned) over the analysed period, with
  an interval. *Modelled*: ``Σ exits × r`` over its touchpoints with ``r`` the midpoint of
  the expected exit reduction; interval from ``journeys × exit_rate_ci_low × r_low`` to
  ``journeys × exit_rate_ci_high × r_high`` (95% Wilson interval of the exit rate times the
  range of the assumption). *Measured*: when ``pilot_metric`` names a proportion metric of a
  trustworthy pilot, ``journeys × effect`` with the pilot's interval (journeys through its
  first touchpoint: the population the pilot ran on). Each journey exits at one touchpoint
  only, so exits of several touchpoints add up;
* **effort** -- person-weeks, from the config;
* **score** = ``impact × (0.5 + 0.5 × severity) / effort``: journeys kept per person-week,
  counted in full where customers are most unhappy and at half weight where they are not
  (the same form as the priority score of :mod:`cjmlib.journeys.touchpoints`).

Open candidates (proposed, piloting) are ranked by score (rank 1 first); shipped and
rejected ones are listed without a rank.

Status is carried from run to run (:func:`carry_status`): a ``status`` written in the config
is a decision and wins; otherwise the status of the same ``id`` in the previous run's
``backlog`` table is kept; a new candidate starts as ``proposed``. ``status_since`` is the
run in which the current status was first recorded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_columns

STATUSES = ("proposed", "piloting", "shipped", "rejected")
OPEN_STATUSES = ("proposed", "piloting")
#: Columns of the backlog table, in order.
BACKLOG_COLUMNS = [
    "rank", "id", "title", "title_zh", "touchpoints", "status", "status_source",
    "status_since", "reach_customers", "reach_share", "journeys", "exits", "severity",
    "impact", "impact_low", "impact_high", "impact_basis", "effort_weeks", "score",
    "pilot_metric", "pilot_decision", "recommendation", "note",
]


@dataclass(frozen=True)
class Improvement:
    """One candidate improvement from the config (see the module docstring)."""

    id: str
    title: Mapping[str, str]
    touchpoints: tuple[str, ...]
    effort_weeks: float
    exit_reduction: tuple[float, float]
    pilot_metric: str | None = None
    status: str | None = None
    notes: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def title_in(self, language: str) -> str:
        return self.title.get(language) or self.title.get("en") or self.id


def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"{where}: {message}")


def parse_improvements(items: Sequence[Mapping[str, Any]], *, where: str = "improvements"
                       ) -> list[Improvement]:
    """Validate a list of improvement dicts (the ``improvements`` list of the config).

    Raises ``ValueError`` naming the item and the field for a missing id, touchpoints or
    effort, an effort that is not positive, an exit reduction that is not ``[low, high]``
    within 0..1, an unknown status or a duplicate id.

    >>> parse_improvements([{"id": "a", "title": "A", "touchpoints": "payment",
    ...                      "effort_weeks": 2, "exit_reduction": [0.1, 0.3]}])[0].touchpoints
    ('payment',)
    """
    out: list[Improvement] = []
    seen: set[str] = set()
    for k, item in enumerate(items, start=1):
        here = f"{where}, item {k}"
        if not isinstance(item, Mapping):
            raise _fail(here, f"expected a mapping with id, title, touchpoints, effort_weeks, "
                              f"found {type(item).__name__}")
        if not item.get("id"):
            raise _fail(here, "missing 'id'")
        ident = str(item["id"])
        here = f"{where}, item {k} ({ident!r})"
        if ident in seen:
            raise _fail(here, "duplicate id")
        seen.add(ident)
        tps = item.get("touchpoints")
        tps = (tps,) if isinstance(tps, str) else tuple(tps or ())
        if not tps:
            raise _fail(here, "'touchpoints' must name at least one touchpoint")
        effort = item.get("effort_weeks")
        if not isinstance(effort, (int, float)) or isinstance(effort, bool) or effort <= 0:
            raise _fail(here, f"'effort_weeks' must be a positive number of person-weeks, "
                              f"found {effort!r}")
        red = item.get("exit_reduction", [0.0, 0.0])
        if (not isinstance(red, (list, tuple)) or len(red) != 2
                or not all(isinstance(v, (int, float)) for v in red)
                or not 0 <= red[0] <= red[1] <= 1):
            raise _fail(here, f"'exit_reduction' must be [low, high] with 0 <= low <= high "
                              f"<= 1, found {red!r}")
        status = item.get("status")
        if status is not None and status not in STATUSES:
            raise _fail(here, f"'status' must be one of {', '.join(STATUSES)}, found "
                              f"{status!r}")
        title = item.get("title") or ident
        title = {"en": title} if isinstance(title, str) else {str(a): str(b) for a, b in
                                                             dict(title).items()}
        known = {"id", "title", "touchpoints", "effort_weeks", "exit_reduction",
                 "pilot_metric", "status", "notes"}
        out.append(Improvement(ident, title, tps, float(effort),
                               (float(red[0]), float(red[1])), item.get("pilot_metric"),
                               status, item.get("notes"),
                               {a: b for a, b in item.items() if a not in known}))
    return out


def load_improvements(path: str | os.PathLike[str]) -> list[Improvement]:
    """Read and validate ``configs/improvements.yaml`` (key ``improvements``)."""
    from cjmlib.core.config import load_yaml, resolve_path

    data = load_yaml(path)
    items = data.get("improvements")
    if not isinstance(items, list) or not items:
        raise ValueError(f"{resolve_path(path)}: expected a non-empty list under "
                         f"'improvements', found {type(items).__name__}")
    return parse_improvements(items, where=str(resolve_path(path)))


def carry_status(config_status: str | None, previous: Mapping[str, Any] | None,
                 *, run_id: str | None) -> tuple[str, str, str | None]:
    """``(status, source, since)`` of one candidate (rule in the module docstring).

    >>> carry_status(None, {"status": "piloting", "status_since": "r1"}, run_id="r2")
    ('piloting', 'previous run', 'r1')
    >>> carry_status("shipped", {"status": "piloting", "status_since": "r1"}, run_id="r2")
    ('shipped', 'config', 'r2')
    >>> carry_status(None, None, run_id="r2")
    ('proposed', 'default', 'r2')
    """
    prev_status = previous.get("status") if previous else None
    prev_since = previous.get("status_since") if previous else None
    if isinstance(prev_status, float):  # NaN from a table
        prev_status = None
    if config_status is not None:
        status, source = config_status, "config"
    elif prev_status in STATUSES:
        status, source = prev_status, "previous run"
    else:
        status, source = "proposed", "default"
    since = prev_since if (prev_status == status and isinstance(prev_since, str)) else run_id
    return status, source, since


def _severity(row: Mapping[str, Any]) -> float:
    signals = []
    exit_rate = row.get("exit_rate")
    if exit_rate is not None and np.isfinite(exit_rate):
        signals.append(float(exit_rate))
    csat = row.get("csat_mean")
    if csat is not None and np.isfinite(csat):
        signals.append(float(np.clip((5 - csat) / 4, 0, 1)))
    nps = row.get("nps")
    if nps is not None and np.isfinite(nps):
        signals.append(float(np.clip((100 - nps) / 200, 0, 1)))
    return float(np.mean(signals)) if signals else float("nan")


def score_backlog(
    improvements: Sequence[Improvement],
    touchpoint_metrics: pd.DataFrame,
    *,
    pilot_results: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    run_id: str | None = None,
) -> pd.DataFrame:
    """Score, rank and carry the status of every candidate (see the module docstring).

    ``touchpoint_metrics``: the run's table (one row per touchpoint; the ``channel == "all"``
    rows when there are several). ``pilot_results``: the run's table, for measured impacts
    and the pilot verdict. ``previous``: the previous run's backlog table. Returns the
    columns of :data:`BACKLOG_COLUMNS`; ``impact*`` in journeys kept over the analysed
    period; ``note`` says what was missing (a touchpoint not in the metrics, an
    untrustworthy pilot).
    """
    check_columns(touchpoint_metrics, ["touchpoint", "customers", "exit_rate"],
                  what="touchpoint_metrics")
    tm = touchpoint_metrics
    if "channel" in tm.columns and (tm["channel"] == "all").any():
        tm = tm[tm["channel"] == "all"]
    by_tp = {r["touchpoint"]: r for r in tm.to_dict("records")}
    total = (float(tm["customers_total"].iloc[0]) if "customers_total" in tm.columns
             and len(tm) else float("nan"))
    prev = ({str(r["id"]): r for r in previous.to_dict("records")}
            if previous is not None and "id" in previous.columns else {})
    pilots = pilot_results if pilot_results is not None else pd.DataFrame()
    rows = []
    for imp in improvements:
        notes = []
        found = [by_tp[t] for t in imp.touchpoints if t in by_tp]
        missing = [t for t in imp.touchpoints if t not in by_tp]
        if missing:
            notes.append(f"not in touchpoint_metrics: {', '.join(missing)}")
        status, source, since = carry_status(imp.status, prev.get(imp.id), run_id=run_id)
        row: dict[str, Any] = {
            "id": imp.id, "title": imp.title_in("en"), "title_zh": imp.title_in("zh"),
            "touchpoints": ", ".join(imp.touchpoints), "status": status,
            "status_source": source, "status_since": since, "effort_weeks": imp.effort_weeks,
            "pilot_metric": imp.pilot_metric, "pilot_decision": None,
        }
        if found and not any(np.isfinite(float(r.get("journeys", np.nan))) for r in found):
            notes.append("touchpoint_metrics has no journeys column: impact not estimated")
            found_counts = False
        else:
            found_counts = bool(found)
        if found_counts:
            customers = max(float(r["customers"]) for r in found)
            journeys = [float(r.get("journeys", np.nan)) for r in found]
            exits = [float(r.get("exits", np.nan)) if "exits" in r else
                     float(r["exit_rate"]) * float(r.get("journeys", np.nan)) for r in found]
            low_rates = [float(r.get("exit_rate_ci_low", r["exit_rate"])) for r in found]
            high_rates = [float(r.get("exit_rate_ci_high", r["exit_rate"])) for r in found]
            r_low, r_high = imp.exit_reduction
            share = customers / total if np.isfinite(total) and total > 0 else max(
                float(r.get("reach_share", np.nan)) for r in found)
            row.update(
                reach_customers=int(customers), reach_share=share,
                journeys=int(np.nansum(journeys)) if np.isfinite(journeys).any() else None,
                exits=float(np.nansum(exits)),
                severity=max(_severity(r) for r in found),
                impact=float(np.nansum(exits)) * (r_low + r_high) / 2,
                impact_low=float(np.nansum(np.multiply(journeys, low_rates))) * r_low,
                impact_high=float(np.nansum(np.multiply(journeys, high_rates))) * r_high,
                impact_basis="modelled",
            )
            measured = _pilot_row(pilots, imp.pilot_metric)
            if measured is not None:
                row["pilot_decision"] = measured.get("decision")
                if str(measured.get("kind")) != "proportion":
                    notes.append(f"pilot metric {imp.pilot_metric!r} is not a proportion: "
                                 "impact stays modelled")
                elif measured.get("trustworthy") is False or (
                        measured.get("trustworthy") is not None
                        and not bool(measured.get("trustworthy"))):
                    notes.append("pilot results untrustworthy (failed checks): impact stays "
                                 "modelled")
                else:
                    n = journeys[0]
                    row.update(impact=n * float(measured["effect"]),
                               impact_low=n * float(measured["ci_low"]),
                               impact_high=n * float(measured["ci_high"]),
                               impact_basis="measured in pilot")
            elif imp.pilot_metric:
                notes.append(f"pilot metric {imp.pilot_metric!r} not in pilot_results")
            row["score"] = (row["impact"] * (0.5 + 0.5 * (row["severity"] if np.isfinite(
                row["severity"]) else 0.0)) / imp.effort_weeks)
        else:
            row.update(reach_customers=None, reach_share=np.nan, journeys=None, exits=np.nan,
                       severity=np.nan, impact=np.nan, impact_low=np.nan, impact_high=np.nan,
                       impact_basis="no evidence", score=np.nan)
        row["note"] = "; ".join(notes)
        rows.append(row)
    out = pd.DataFrame(rows)
    open_ = out["status"].isin(OPEN_STATUSES) & out["score"].notna()
    order = out[open_].sort_values(["score", "impact_low"], ascending=False).index
    out["rank"] = pd.array([pd.NA] * len(out), dtype="Int64")
    out.loc[order, "rank"] = np.arange(1, len(order) + 1)
    out["recommendation"] = [_recommend(r) for r in out.to_dict("records")]
    proposed = out[(out["status"] == "proposed") & out["rank"].notna()]
    if len(proposed):
        out.loc[proposed["rank"].astype(int).idxmin(), "recommendation"] = "pilot_next"
    out = out.sort_values(["rank", "score"], ascending=[True, False], na_position="last")
    return out[BACKLOG_COLUMNS].reset_index(drop=True)


def _pilot_row(pilots: pd.DataFrame, metric: str | None) -> dict[str, Any] | None:
    if metric is None or pilots.empty or "metric" not in pilots.columns:
        return None
    rows = pilots[pilots["metric"] == metric]
    if rows.empty:
        return None
    return rows.iloc[0].to_dict()


def _recommend(row: Mapping[str, Any]) -> str:
    """What to do next, as a key the report translates."""
    status, decision = row["status"], row.get("pilot_decision")
    if status == "piloting":
        return {"ship": "roll_out", "stop": "consider_rejecting"}.get(
            str(decision), "keep_piloting")
    if status == "shipped":
        return "monitor"
    return ""
