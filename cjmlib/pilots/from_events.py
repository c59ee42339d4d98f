"""Pilot inputs built from the event log: the A/B units table and the store/region panel.

:func:`units_from_events` turns the events table plus an assignment table (unit -> arm, with
one launch time or an assignment time per unit, e.g. a campaign table household -> campaign
with its start date) into the ``units`` table 05_pilot_eval reads: one row per assigned unit
with its outcomes in the outcome window after assignment and the same measures over the
pre-period before it (``pre_<outcome>``, the CUPED covariates and the balance check's
inputs). :func:`panel_from_events` turns events whose unit is a column of the events
(``store_id``, ``region``) plus the list of pilot units and the launch date into the
``panel`` table of :mod:`cjmlib.pilots.quasi_experiments`.

Outcomes are :class:`OutcomeSpec` (or dicts): ``conversion`` (1 when the unit has any event
of the outcome's touchpoints in the window, else 0), ``revenue`` (sum of ``value`` over those
events, missing values as 0), ``count`` (number of those events) and, in a panel only,
``customers`` (distinct customers with such an event in the period). Windows are half-open
and measured from each unit's assignment time: outcome window ``[t0, t0 + window_days)``,
pre-period ``[t0 - pre_days, t0)``. The events are aggregated in the engine (DuckDB through
Ibis); only one row per unit (or unit and period) comes back.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import as_table, epoch_microseconds, execute
from cjmlib.core.io import read_table

OutcomeKind = Literal["conversion", "revenue", "count", "customers"]
OUTCOME_KINDS: tuple[str, ...] = ("conversion", "revenue", "count", "customers")
#: Outcome kinds that make sense per unit (A/B) and per unit and period (panel).
UNIT_KINDS = ("conversion", "revenue", "count")
PANEL_KINDS = ("revenue", "count", "customers")
_DAY_US = 86_400_000_000
_RESERVED = ("unit_id", "variant", "unit", "period", "treated", "post")


# --------------------------------------------------------------------------------------
# Outcome specifications
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutcomeSpec:
    """One outcome computed from the events: its column name, kind and which events count.

    ``touchpoints`` and ``channels`` restrict the events (empty: every event).

    >>> OutcomeSpec("converted", "conversion", touchpoints=("order_confirmation",)).kind
    'conversion'
    """

    name: str
    kind: OutcomeKind
    touchpoints: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_scalar(self.name, "outcome name", typ=str)
        check_scalar(self.kind, f"outcome {self.name!r}: kind", in_=OUTCOME_KINDS)
        if not self.name or self.name in _RESERVED or self.name.startswith("pre_"):
            raise ValueError(f"outcome {self.name!r}: the name must be non-empty, must not "
                             f"start with 'pre_' and must not be one of {list(_RESERVED)}")
        for key in ("touchpoints", "channels"):
            value = getattr(self, key)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, key, tuple(str(v) for v in value))

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any] | OutcomeSpec, *,
                  where: str = "outcome") -> OutcomeSpec:
        """Build a spec from a plain dict (``name``, ``kind``, optional ``touchpoints``,
        ``channels``), as the notebook's ``outcomes`` parameter holds them."""
        if isinstance(spec, OutcomeSpec):
            return spec
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where}: expected a dict with 'name' and 'kind', got "
                             f"{type(spec).__name__} {spec!r}")
        known = {"name", "kind", "touchpoints", "channels"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(known)}")
        missing = [k for k in ("name", "kind") if k not in spec]
        if missing:
            raise ValueError(f"{where}: missing key(s) {missing} (got {dict(spec)})")
        try:
            return cls(**dict(spec))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from exc


def parse_outcomes(specs: Iterable[Mapping[str, Any] | OutcomeSpec], *,
                   allowed: Sequence[str] = OUTCOME_KINDS, what: str = "outcomes"
                   ) -> list[OutcomeSpec]:
    """Outcome specs from dicts, naming a bad entry by its index; names must be unique and
    kinds among ``allowed``."""
    out = [OutcomeSpec.from_dict(s, where=f"{what}[{i}]") for i, s in enumerate(specs)]
    if not out:
        raise ValueError(f"{what}: no outcomes given; expected at least one dict such as "
                         "{'name': 'converted', 'kind': 'conversion', 'touchpoints': [...]}")
    names = [o.name for o in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{what}: duplicate outcome name(s) {dupes}; names must be unique")
    for i, o in enumerate(out):
        if o.kind not in allowed:
            raise ValueError(f"{what}[{i}] ({o.name!r}): kind {o.kind!r} is not available here; "
                             f"expected one of {list(allowed)}")
    return out


def default_outcomes(conversion_touchpoints: Sequence[str]) -> list[OutcomeSpec]:
    """The usual outcomes of a journey pilot: ``converted`` and ``revenue`` over the
    conversion touchpoints (configs/journey.yaml), and ``events``, all events."""
    tps = tuple(conversion_touchpoints)
    return [OutcomeSpec("converted", "conversion", touchpoints=tps),
            OutcomeSpec("revenue", "revenue", touchpoints=tps),
            OutcomeSpec("events", "count")]


# --------------------------------------------------------------------------------------
# The A/B units table
# --------------------------------------------------------------------------------------
@dataclass
class EventUnits:
    """The units table built from events (:func:`units_from_events`) and how it was built.

    ``units`` follows the ``units`` contract: ``unit_id``, ``variant``, the kept assignment
    columns, one column per outcome, then ``pre_<outcome>`` per outcome (with a pre-period).
    ``counts`` reconciles the inputs: assigned units, units without any event in either
    window, events read, events in the outcome windows, in the pre-periods, of assigned units
    outside both, and of ids not in the assignment (ignored).
    """

    units: pd.DataFrame
    outcomes: list[OutcomeSpec]
    window_days: float
    pre_days: float
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def to_pandas(self) -> pd.DataFrame:
        return self.units

    @property
    def covariates(self) -> list[str]:
        """The pre-period columns (empty without a pre-period)."""
        return [f"pre_{o.name}" for o in self.outcomes] if self.pre_days > 0 else []

    def metric_specs(self) -> list[dict[str, Any]]:
        """Metric specs for :func:`cjmlib.pilots.evaluation.evaluate_pilot`: a proportion per
        conversion outcome, a mean per revenue or count outcome, each with its pre-period
        column as CUPED covariate; the first evaluated outcome is primary. An outcome that is
        the same for every unit (a revenue over touchpoints that carry no value) is left out,
        and a pre-period column without variation is no covariate; ``notes`` says so."""
        out = []
        for o in self.outcomes:
            if self.units[o.name].nunique(dropna=True) < 2:
                self._note(f"{o.name!r} is the same for every unit "
                           f"({self.units[o.name].iloc[0] if len(self.units) else 'no units'}):"
                           " not evaluated.")
                continue
            spec: dict[str, Any] = {"name": o.name, "column": o.name,
                                    "kind": "proportion" if o.kind == "conversion" else "mean",
                                    "role": "secondary" if out else "primary"}
            pre = f"pre_{o.name}"
            if self.pre_days > 0 and self.units[pre].nunique(dropna=True) >= 2:
                spec["covariate"] = pre
            elif self.pre_days > 0:
                self._note(f"{pre!r} does not vary: {o.name!r} is evaluated without CUPED.")
            out.append(spec)
        return out

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def summary(self) -> pd.DataFrame:
        """``counts`` as a two-column table (what, number)."""
        return pd.DataFrame({"what": list(self.counts), "number": list(self.counts.values())})

    def message(self) -> str:
        c = self.counts
        text = (f"Units table built from events: {c['assigned_units']:,} assigned units "
                f"({c['units_without_events']:,} without any event in either window, kept with "
                f"zeros); outcome window {self.window_days:g} days after assignment, "
                f"pre-period {self.pre_days:g} days before it; {c['events_read']:,} events "
                f"read, {c['events_in_window']:,} in outcome windows, "
                f"{c['events_in_pre_period']:,} in pre-periods, "
                f"{c['events_outside_windows']:,} of assigned units outside both, "
                f"{c['events_not_assigned']:,} events of {c['ids_not_assigned']:,} ids that are not in the "
                "assignment (ignored).")
        return " ".join([text, *self.notes])

    def _repr_html_(self) -> str:
        return f"<p>{self.message()}</p>" + self.units.head(10).to_html(index=False)


def units_from_events(
    events: Any,
    assignment: Any,
    *,
    outcomes: Sequence[Mapping[str, Any] | OutcomeSpec],
    launch: str | dt.datetime | dt.date | pd.Timestamp | None = None,
    window_days: float = 28.0,
    pre_days: float = 28.0,
    unit_col: str = "unit_id",
    arm_col: str = "variant",
    assigned_at_col: str | None = None,
    arms: Sequence[str] | None = None,
    keep_cols: Sequence[str] = (),
    events_unit_col: str = "customer_id",
    time_col: str = "event_time",
    name: str | None = None,
) -> EventUnits:
    """Build the A/B units table from the events and an assignment table.

    ``events`` is the events table (DataFrame, Parquet/CSV path or Ibis table) whose
    ``events_unit_col`` holds the unit ids of the assignment (``customer_id`` by default; a
    household or account column when those were assigned). ``assignment`` (DataFrame or
    CSV/Parquet path) has one row per unit: ``unit_col``, ``arm_col`` and, for per-unit
    assignment times (staggered entry, campaign start dates), ``assigned_at_col``; otherwise
    ``launch`` is every unit's assignment time (a date means midnight UTC; naive times are
    UTC). ``arms``: the expected arm labels (default: those found; at least two).
    ``keep_cols``: assignment columns carried into the units table (segments).

    Returns an :class:`EventUnits`: ``units`` has one row per assigned unit (units without
    events get zeros, never dropped), outcomes over ``[t0, t0 + window_days)`` and
    ``pre_<outcome>`` over ``[t0 - pre_days, t0)`` (none when ``pre_days`` is 0); events of
    ids not in the assignment are ignored and counted. Raises ``ValueError`` naming the table
    and column for missing columns, a unit listed twice, empty ids or arms, an expected arm
    without units, unreadable assignment times, an assignment time outside the span of the
    events, and outcome touchpoints or channels the events never show.
    """
    check_scalar(window_days, "window_days", typ=float, gt=0)
    check_scalar(pre_days, "pre_days", typ=float, ge=0)
    specs = parse_outcomes(outcomes, allowed=UNIT_KINDS)
    ev_name = name or _name_of(events, "events")
    asg_name = _name_of(assignment, "assignment")
    asg = _frame(assignment, asg_name)
    start_us = _assignment_times(asg, asg_name, launch=launch, assigned_at_col=assigned_at_col)
    ids, variant = _check_assignment(asg, asg_name, unit_col=unit_col, arm_col=arm_col,
                                     arms=arms, keep_cols=keep_cols)
    ev = _events(events, ev_name, unit_col=events_unit_col, time_col=time_col, specs=specs)
    span = _span(ev)
    _check_times_in_span(start_us, span, ids, asg_name, launch=launch,
                         assigned_at_col=assigned_at_col, ev_name=ev_name, time_col=time_col)
    _check_levels(ev, specs, ev_name)

    import ibis

    keys = ibis.memtable(pd.DataFrame({"_unit": ids, "_t0": start_us.astype("int64")}))
    j = ev.join(keys, ev["_id"] == keys["_unit"])
    rel = j["_us"] - j["_t0"]
    window_us, pre_us = round(window_days * _DAY_US), round(pre_days * _DAY_US)
    in_window = (rel >= 0) & (rel < window_us)
    in_pre = (rel >= -pre_us) & (rel < 0)
    aggs: dict[str, Any] = {
        "_n": j.count(), "_n_window": in_window.ifelse(1, 0).sum(),
        "_n_pre": in_pre.ifelse(1, 0).sum()}
    periods = [("", in_window)] + ([("pre_", in_pre)] if pre_days > 0 else [])
    for prefix, inside in periods:
        for o in specs:
            hit = inside & _selection(j, o)
            aggs[prefix + o.name] = _measure(j, o, hit)
    per_unit = execute(j.group_by("_unit").aggregate(**aggs))

    out = pd.DataFrame({"unit_id": ids, "variant": variant})
    for c in keep_cols:
        out[c] = asg[c].to_numpy()
    found = out[["unit_id"]].merge(per_unit, left_on="unit_id", right_on="_unit", how="left")
    for prefix, _ in periods:
        for o in specs:
            col = prefix + o.name
            values = pd.to_numeric(found[col], errors="coerce").fillna(0)
            out[col] = values.astype(float if o.kind == "revenue" else "int64").to_numpy()
    n = {k: int(pd.to_numeric(found[k], errors="coerce").fillna(0).sum())
         for k in ("_n", "_n_window", "_n_pre")}
    units_with_events = int(found["_unit"].notna().sum())
    active = (pd.to_numeric(found["_n_window"], errors="coerce").fillna(0)
              + pd.to_numeric(found["_n_pre"], errors="coerce").fillna(0)) > 0
    counts = {
        "assigned_units": len(out),
        "units_without_events": int((~active).sum()),
        "events_read": span["events"],
        "events_in_window": n["_n_window"],
        "events_in_pre_period": n["_n_pre"],
        "events_outside_windows": n["_n"] - n["_n_window"] - n["_n_pre"],
        "events_not_assigned": span["events"] - n["_n"],
        "ids_not_assigned": span["ids"] - units_with_events,
    }
    notes = _window_notes(start_us, span, window_us, pre_us, pre_days)
    return EventUnits(out, specs, float(window_days), float(pre_days), counts, notes)


def _window_notes(start_us: np.ndarray, span: dict[str, int], window_us: int, pre_us: int,
                  pre_days: float) -> list[str]:
    notes = []
    late = int((start_us + window_us > span["last_us"] + 1).sum())
    if late:
        notes.append(f"The outcome window of {late:,} unit(s) ends after the last event "
                     f"({_fmt_us(span['last_us'])}): their outcomes cover only part of the "
                     "window.")
    early = int((start_us - pre_us < span["first_us"]).sum()) if pre_days > 0 else 0
    if early:
        notes.append(f"The pre-period of {early:,} unit(s) starts before the first event "
                     f"({_fmt_us(span['first_us'])}): their pre-period values cover only part "
                     "of it.")
    return notes


def _selection(t: Any, o: OutcomeSpec) -> Any:
    sel = t["_us"].notnull()   # every event (a column expression, so aggregates work on it)
    if o.touchpoints:
        sel = sel & t["_touchpoint"].isin(list(o.touchpoints))
    if o.channels:
        sel = sel & t["_channel"].isin(list(o.channels))
    return sel


def _measure(t: Any, o: OutcomeSpec, hit: Any) -> Any:
    if o.kind == "conversion":
        return hit.ifelse(1, 0).max()
    if o.kind == "revenue":
        return hit.ifelse(t["_value"].fill_null(0.0), 0.0).sum()
    if o.kind == "count":
        return hit.ifelse(1, 0).sum()
    return t["_customer"].nunique(where=hit)   # customers: panels only


# --------------------------------------------------------------------------------------
# The store/region panel
# --------------------------------------------------------------------------------------
@dataclass
class EventPanel:
    """The panel built from events (:func:`panel_from_events`) and how it was built.

    ``panel`` follows the ``panel`` contract: ``unit``, ``period`` (the period's first day,
    ``YYYY-MM-DD``), ``treated``, ``post``, one column per outcome; balanced (every unit in
    every period, zeros where a unit had no events).
    """

    panel: pd.DataFrame
    outcomes: list[OutcomeSpec]
    period: str
    launch: pd.Timestamp
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def to_pandas(self) -> pd.DataFrame:
        return self.panel

    def message(self) -> str:
        c = self.counts
        return " ".join([
            f"Panel built from events: {c['units']:,} units ({c['treated_units']:,} pilot, "
            f"{c['units'] - c['treated_units']:,} comparison) x {c['periods']:,} "
            f"{self.period}s ({c['post_periods']:,} from launch {self.launch:%Y-%m-%d}); "
            f"{c['events_read']:,} events read, {c['events_without_unit']:,} without a unit "
            "(ignored).", *self.notes])


def panel_from_events(
    events: Any,
    treated_units: Any,
    *,
    launch: str | dt.datetime | dt.date | pd.Timestamp,
    outcomes: Sequence[Mapping[str, Any] | OutcomeSpec],
    unit_col: str = "store_id",
    treated_unit_col: str | None = None,
    period: Literal["day", "week", "month"] = "week",
    customer_col: str = "customer_id",
    time_col: str = "event_time",
    name: str | None = None,
) -> EventPanel:
    """Build the unit-by-period panel of a store or region pilot from the events.

    ``events``' column ``unit_col`` names the store or region of each event (events without
    one are ignored and counted). ``treated_units`` is a DataFrame or CSV/Parquet path whose
    column ``treated_unit_col`` (default ``unit_col``) lists the pilot units, or a plain list
    of them; every other unit of the events is a comparison unit. Periods are calendar days,
    weeks (Monday first) or months in UTC from the first to the last event; the period holding
    ``launch`` is the first post-launch period. Outcomes: ``revenue``, ``count`` and
    ``customers`` (distinct ``customer_col`` values) over each outcome's events.

    Returns an :class:`EventPanel`, ready for
    :func:`cjmlib.pilots.quasi_experiments.difference_in_differences`. Raises ``ValueError``
    naming the table and column for missing columns, a launch outside the span of the
    events, pilot units the events never show, and no comparison unit.
    """
    check_scalar(period, "period", in_=("day", "week", "month"))
    specs = parse_outcomes(outcomes, allowed=PANEL_KINDS)
    ev_name = name or _name_of(events, "events")
    treated = _treated_list(treated_units, treated_unit_col or unit_col)
    ev = _events(events, ev_name, unit_col=unit_col, time_col=time_col, specs=specs,
                 customer_col=customer_col if any(o.kind == "customers" for o in specs)
                 else None)
    span = _span(ev)
    start = _utc(launch, "launch")
    launch_us = _us(start)
    if not span["first_us"] <= launch_us <= span["last_us"]:
        raise ValueError(
            f"launch {start:%Y-%m-%d %H:%M} UTC is outside the span of {ev_name} column "
            f"{time_col!r} ({_fmt_us(span['first_us'])} to {_fmt_us(span['last_us'])}); "
            "expected a launch with events before and after it")
    _check_levels(ev, specs, ev_name)

    import ibis

    day = ev["_us"] // _DAY_US
    date = ibis.literal(dt.date(1970, 1, 1)) + day.as_interval("D")
    bucket = {"day": date, "week": date.truncate("W"), "month": date.truncate("M")}[period]
    with_unit = ev.filter(ev["_id"].notnull()).mutate(_period=bucket)
    aggs = {o.name: _measure(with_unit, o, _selection(with_unit, o)) for o in specs}
    cells = execute(with_unit.group_by(["_id", "_period"]).aggregate(**aggs))
    cells["_period"] = pd.to_datetime(cells["_period"], utc=True).dt.strftime("%Y-%m-%d")
    units = sorted(cells["_id"].unique().tolist())
    missing = sorted(set(treated) - set(units))
    if missing:
        raise ValueError(
            f"{ev_name}: column {unit_col!r}: pilot unit(s) {missing[:10]} have no events; "
            f"found {len(units)} units, e.g. {units[:10]}; check the treated units' ids")
    if len(set(units) - set(treated)) == 0:
        raise ValueError(f"{ev_name}: column {unit_col!r}: every unit is a pilot unit; a "
                         "panel needs comparison units")
    first_day = pd.Timestamp(span["first_us"] // _DAY_US, unit="D")
    last_day = pd.Timestamp(span["last_us"] // _DAY_US, unit="D")
    freq = {"day": "D", "week": "W-MON", "month": "MS"}[period]
    to_start = {"day": lambda d: d, "week": lambda d: d - pd.Timedelta(days=d.weekday()),
                "month": lambda d: d.replace(day=1)}[period]
    starts = pd.date_range(to_start(first_day), last_day, freq=freq)
    labels = [f"{d:%Y-%m-%d}" for d in starts]
    launch_label = f"{to_start(pd.Timestamp(launch_us // _DAY_US, unit='D')):%Y-%m-%d}"
    grid = pd.MultiIndex.from_product([units, labels], names=["_id", "_period"]).to_frame(
        index=False)
    full = grid.merge(cells, on=["_id", "_period"], how="left")
    panel = pd.DataFrame({
        "unit": full["_id"].astype(str), "period": full["_period"],
        "treated": full["_id"].isin(treated).astype("int64"),
        "post": (full["_period"] >= launch_label).astype("int64")})
    for o in specs:
        values = pd.to_numeric(full[o.name], errors="coerce").fillna(0)
        panel[o.name] = values.astype(float if o.kind == "revenue" else "int64")
    n_without = int(execute(ev.filter(ev["_id"].isnull()).count().as_table()).iloc[0, 0])
    counts = {"units": len(units), "treated_units": len(set(treated)), "periods": len(labels),
              "post_periods": sum(label >= launch_label for label in labels),
              "events_read": span["events"], "events_without_unit": n_without}
    notes = []
    if launch_label != f"{start:%Y-%m-%d}":
        notes.append(f"The launch ({start:%Y-%m-%d}) falls inside the {period} starting "
                     f"{launch_label}, which counts as the first post-launch {period}.")
    return EventPanel(panel, specs, period, start, counts, notes)


def _treated_list(source: Any, col: str) -> list[str]:
    if isinstance(source, (list, tuple, set, pd.Series, np.ndarray)):
        values = list(source)
    else:
        label = _name_of(source, "treated units")
        frame = _frame(source, label)
        if col not in frame.columns:
            raise ValueError(f"{label}: missing column {col!r} (the pilot units); found "
                             f"{list(frame.columns)}")
        values = frame[col].dropna().tolist()
    out = sorted({str(v) for v in values if not pd.isna(v)})
    if not out:
        raise ValueError("treated units: no pilot unit given")
    return out


# --------------------------------------------------------------------------------------
# Shared helpers: reading, checking, times
# --------------------------------------------------------------------------------------
def assignment_as_customers(assignment: Any, *, unit_col: str, identifier_type: str,
                            audit: Any, identity: Any, salt: str | None = None
                            ) -> tuple[pd.DataFrame, str]:
    """An assignment table whose unit ids are raw identifiers (an A/B tool's user ids, a
    campaign list's household numbers) with ``unit_col`` replaced by the customer ids of the
    collected events (:func:`cjmlib.collection.identity.customers_of`, through the identity
    audit). A unit the events never saw keeps its row, as ``unseen_<n>``: it was assigned, so
    it counts, with no events (zeros); raw ids never reach the tables. Returns the table and
    a sentence saying how many units were matched.
    """
    from cjmlib.collection.identity import customers_of

    label = f"assignment {_name_of(assignment, 'table')}"
    frame = _frame(assignment, label).copy()
    if unit_col not in frame.columns:
        raise ValueError(f"{label}: no column {unit_col!r}; columns: {list(frame.columns)}")
    ids = customers_of(frame[unit_col], identifier_type, audit, identity, salt=salt)
    unseen = [i for i, c in enumerate(ids) if c is None]
    for n, i in enumerate(unseen, start=1):
        ids[i] = f"unseen_{n}"
    frame[unit_col] = ids
    text = (f"{len(frame) - len(unseen):,} of {len(frame):,} assigned units found among the "
            f"customers by their {identifier_type!r} identifier; {len(unseen):,} never appear "
            "in the events and count with no events.")
    return frame, text


def _name_of(source: Any, what: str) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return what


def _frame(source: Any, label: str) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: {label} not found")
        return read_table(path)
    raise TypeError(f"{label} must be a DataFrame or a CSV/Parquet path, got "
                    f"{type(source).__name__}")


def _rows(mask: Any, limit: int = 5) -> str:
    """1-based data rows (header not counted) where ``mask`` holds."""
    idx = np.flatnonzero(np.asarray(mask))[:limit] + 1
    return ", ".join(str(i) for i in idx)


def _check_assignment(asg: pd.DataFrame, label: str, *, unit_col: str, arm_col: str,
                      arms: Sequence[str] | None, keep_cols: Sequence[str]
                      ) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in (unit_col, arm_col, *keep_cols) if c not in asg.columns]
    if missing:
        raise ValueError(f"{label}: missing column(s) {missing}; expected the unit id "
                         f"({unit_col!r}), the arm ({arm_col!r}) and the kept columns "
                         f"{list(keep_cols)}; found {list(asg.columns)}")
    if asg.empty:
        raise ValueError(f"{label}: no rows; expected one row per assigned unit")
    for col, what in ((unit_col, "a unit id"), (arm_col, "an arm label")):
        empty = asg[col].isna() | (asg[col].astype(str).str.strip() == "")
        if empty.any():
            raise ValueError(f"{label}: column {col!r} is empty in {int(empty.sum())} row(s) "
                             f"(first: {_rows(empty)}); expected {what} in every row")
    ids = asg[unit_col].astype(str).to_numpy()
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids[dup][0]
        where = ids == first
        arms_seen = sorted(set(asg.loc[where, arm_col].astype(str)))
        raise ValueError(
            f"{label}: column {unit_col!r}: unit {first!r} is listed {int(where.sum())} times "
            f"(rows {_rows(where, 10)}; arms {arms_seen}); each unit must be listed once "
            f"({int(dup.sum())} rows share an id with another row)")
    variant = asg[arm_col].astype(str).to_numpy()
    found = sorted(set(variant))
    if arms:
        expected = [str(a) for a in arms]
        unknown = [a for a in found if a not in expected]
        if unknown:
            rows = _rows(np.isin(variant, unknown))
            raise ValueError(f"{label}: column {arm_col!r} has label(s) {unknown} that are not "
                             f"expected arms {expected} (rows {rows})")
        empty_arms = [a for a in expected if a not in found]
        if empty_arms:
            raise ValueError(f"{label}: column {arm_col!r}: arm(s) {empty_arms} have no units; "
                             f"found arms {found}")
    elif len(found) < 2:
        raise ValueError(f"{label}: column {arm_col!r}: only one arm {found}; a pilot needs "
                         "a control arm and at least one treatment arm")
    return ids, variant


def _utc(value: Any, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: cannot read {value!r} as a date or time; expected e.g. "
                         "'2026-03-01' or '2026-03-01T09:00:00Z'") from exc
    if pd.isna(ts):
        raise ValueError(f"{what}: no date or time given")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _us(ts: pd.Timestamp) -> int:
    return int((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1))


def _fmt_us(us: int) -> str:
    return f"{pd.Timestamp(us, unit='us', tz='UTC'):%Y-%m-%d %H:%M} UTC"


def _assignment_times(asg: pd.DataFrame, label: str, *, launch: Any,
                      assigned_at_col: str | None) -> np.ndarray:
    """Assignment time of every unit in microseconds since 1970 (UTC)."""
    if (launch is None) == (assigned_at_col is None):
        raise ValueError("give either launch (one assignment time for every unit) or "
                         "assigned_at_col (a column of the assignment with each unit's "
                         "assignment time), not both and not neither")
    if assigned_at_col is None:
        return np.full(len(asg), _us(_utc(launch, "launch")), dtype="int64")
    if assigned_at_col not in asg.columns:
        raise ValueError(f"{label}: missing column {assigned_at_col!r} (assignment time per "
                         f"unit); found {list(asg.columns)}")
    raw = asg[assigned_at_col]
    times = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed") if (
        raw.dtype == object) else pd.to_datetime(raw, utc=True, errors="coerce")
    bad = times.isna().to_numpy()
    if bad.any():
        example = raw[bad].iloc[0]
        raise ValueError(f"{label}: column {assigned_at_col!r}: {int(bad.sum())} row(s) without "
                         f"a readable date or time (first: rows {_rows(bad)}, e.g. "
                         f"{example!r}); expected e.g. 2026-03-01 or 2026-03-01T09:00:00Z")
    return ((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)).to_numpy(
        dtype="int64")


def _events(events: Any, label: str, *, unit_col: str, time_col: str,
            specs: Sequence[OutcomeSpec], customer_col: str | None = None) -> Any:
    """The events as an engine table with the columns the outcomes need, renamed."""
    t = as_table(events, what="events")
    need = [unit_col, time_col]
    if any(o.touchpoints for o in specs):
        need.append("touchpoint")
    if any(o.channels for o in specs):
        need.append("channel")
    if any(o.kind == "revenue" for o in specs):
        need.append("value")
    if customer_col:
        need.append(customer_col)
    missing = [c for c in dict.fromkeys(need) if c not in t.columns]
    if missing:
        raise ValueError(f"{label}: missing column(s) {missing} needed for the outcomes "
                         f"{[o.name for o in specs]}; expected {list(dict.fromkeys(need))}, "
                         f"found {list(t.columns)}")
    dtype = t.schema()[time_col]
    time = t[time_col]
    if dtype.is_string():
        time = time.cast("timestamp")
    elif not dtype.is_timestamp():
        raise ValueError(f"{label}: column {time_col!r} must hold timestamps, found {dtype}")
    if "value" in need and not t.schema()["value"].is_numeric():
        raise ValueError(f"{label}: column 'value' must be numeric for revenue outcomes, found "
                         f"{t.schema()['value']}")
    cols = {"_id": t[unit_col].cast("string"), "_us": epoch_microseconds(time, t)}
    if "touchpoint" in need:
        cols["_touchpoint"] = t["touchpoint"].cast("string")
    if "channel" in need:
        cols["_channel"] = t["channel"].cast("string")
    if "value" in need:
        cols["_value"] = t["value"].cast("float64")
    if customer_col:
        cols["_customer"] = t[customer_col].cast("string")
    return t.select(**cols)


def _span(ev: Any) -> dict[str, int]:
    row = execute(ev.aggregate(events=ev.count(), ids=ev["_id"].nunique(),
                               first_us=ev["_us"].min(), last_us=ev["_us"].max())).iloc[0]
    if int(row["events"]) == 0:
        raise ValueError("events: no rows; expected an event log")
    return {k: int(row[k]) for k in ("events", "ids", "first_us", "last_us")}


def _check_times_in_span(start_us: np.ndarray, span: dict[str, int], ids: np.ndarray,
                         label: str, *, launch: Any, assigned_at_col: str | None,
                         ev_name: str, time_col: str) -> None:
    outside = (start_us < span["first_us"]) | (start_us > span["last_us"])
    if not outside.any():
        return
    where = (f"{ev_name} column {time_col!r} spans {_fmt_us(span['first_us'])} to "
             f"{_fmt_us(span['last_us'])}")
    if assigned_at_col is None:
        raise ValueError(f"launch {_fmt_us(int(start_us[0]))} is outside the events: {where}; "
                         "expected a launch inside the span of the events")
    raise ValueError(f"{label}: column {assigned_at_col!r}: {int(outside.sum())} unit(s) were "
                     f"assigned outside the events (first: rows {_rows(outside)}, unit "
                     f"{ids[outside][0]!r} at {_fmt_us(int(start_us[outside][0]))}); {where}")


def _check_levels(ev: Any, specs: Sequence[OutcomeSpec], label: str) -> None:
    """Outcome touchpoints and channels the events never show are typos, not zeros."""
    for col, key in (("_touchpoint", "touchpoints"), ("_channel", "channels")):
        wanted = sorted({v for o in specs for v in getattr(o, key)})
        if not wanted:
            continue
        seen = set(execute(ev.select(col).distinct())[col].dropna().astype(str))
        unknown = [v for v in wanted if v not in seen]
        if unknown:
            raise ValueError(f"{label}: column {col[1:]!r} never holds {unknown} (outcome "
                             f"{key}); found {sorted(seen)[:30]}")
