"""Journeys: the ordered touchpoints of each customer (or session), built inside the engine.

Everything here runs through Ibis, on embedded DuckDB by default and unchanged on PySpark or
any other Ibis backend: :func:`cjmlib.journeys.events.read_events` accepts a pandas DataFrame, a Parquet/CSV path or
an Ibis table, checks it against the events contract of ``DESIGN.md`` and returns a lazy Ibis
table; :func:`build_journeys` orders the events of each journey and adds the step number, the
gap since the previous step and the journey's outcome, still lazily. Only the small aggregates
computed by :mod:`cjmlib.journeys.touchpoints`, :mod:`cjmlib.journeys.transitions`, :mod:`cjmlib.journeys.funnel`,
:mod:`cjmlib.journeys.attribution` and :mod:`cjmlib.journeys.channels` come back to pandas.

A *journey* is, with ``unit="customer"``, all events of one customer in the analysis window;
with ``unit="session"``, one session (the ``session_id`` of the events when the source gave
one, otherwise a new session after ``session_timeout_minutes`` of inactivity, as web analytics
tools do). Events are ordered by ``event_time`` and then ``seq``. With
``ends_at_conversion=True`` a journey stops at its first conversion touchpoint (the usual
path-to-purchase view, Anderl et al. 2016); otherwise it runs to its last event and *converted*
means that it reached a conversion touchpoint anywhere.

Open journeys (right censoring)
-------------------------------
Data end while some journeys are still going; those must not read as exits or drop-offs.
A journey is *ended* when its last step is an ending touchpoint (a conversion touchpoint or
one of ``endings``: the outcomes of the journey config and terminal events such as approved,
declined, cancelled). A journey that has not ended is *open* when its last event lies within
the *open horizon* of the end of observation (``observed_until``): it may still go on.
The horizon (``open_horizon`` of :func:`build_journeys`) is, by default (``"auto"``), the
session timeout for session journeys (a session quiet for less than that may continue, the
rule that defines sessions) and, for customer (case) journeys, the 95th percentile of the
gaps between consecutive steps of the journeys: a journey quiet for less than 95% of the
pauses within journeys may still resume. ``open_horizon=None`` treats no journey as open
(the behaviour before censoring). Open journeys are left out of exit rates
(:mod:`cjmlib.journeys.touchpoints`) and are censored, not dropped, in funnels
(:mod:`cjmlib.journeys.funnel`), as incomplete cohorts are in survival analysis
(Kaplan & Meier 1958).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import (
    SORT_QUANTILES_ABOVE,
    as_table,
    epoch_microseconds,
    execute,
    group_quantiles,
    is_spark,
    materialized,
)
from cjmlib.journeys.events import read_events
from cjmlib.stats.intervals import add_rate

if TYPE_CHECKING:  # pragma: no cover
    import ibis.expr.types as ir

#: Pseudo-touchpoints that open and close every journey in transition tables and chains.
START, END = "(start)", "(end)"
#: The window columns :meth:`Journeys.ordered` can add.
ORDERED_COLUMNS = ("step", "prev_touchpoint", "next_touchpoint", "after_next_touchpoint",
                   "prev_channel", "next_channel", "gap_s", "next_gap_s", "next_time_us",
                   "conversions_so_far", "touchpoint_code", "prev_touchpoint_code")


# --------------------------------------------------------------------------------------------
# Journeys
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Journeys:
    """Events arranged into journeys, kept lazily in the engine.

    ``steps`` is an Ibis table with one row per step: ``journey_id``, ``customer_id``,
    ``event_time``, ``seq``, ``time_us`` (event time in microseconds since 1970, for exact
    gaps), ``touchpoint``, ``stage``, ``channel``, ``duration_s``, ``value``,
    ``is_conversion`` and the segment column when one was asked for. Journey order is
    ``(event_time, seq)``; :meth:`ordered` adds the step number and neighbouring steps,
    :meth:`per_journey` one row per journey. The other fields echo the options and what
    was found: ``observed_from``/``observed_until`` (first event, and last event or window
    end: the end of observation for censoring), ``touchpoint_counts`` (events per
    touchpoint), ``endings`` (ending touchpoints besides the conversion touchpoints) and
    ``open_horizon`` (as given; :attr:`open_horizon_us` resolves it). Open and ended
    journeys are defined in the module docstring; :meth:`journey_status` flags them.
    ``precomputed`` (None unless the journeys were kept, :mod:`cjmlib.journeys.persist`)
    is a table of the steps with every :data:`ORDERED_COLUMNS` computed once; :meth:`ordered`
    reads it while ``steps`` is still its plain selection, and computes the windows again
    for steps changed since (filtered, extended). ``precomputed_journeys`` likewise (None
    unless kept) is :meth:`journey_table` computed once: :meth:`per_journey` and
    :meth:`journey_status` read it while ``steps`` is the plain selection of ``precomputed``.
    """

    steps: ir.Table
    unit: Literal["customer", "session"]
    conversion_touchpoints: tuple[str, ...]
    ends_at_conversion: bool
    session_timeout_minutes: float
    window: tuple[pd.Timestamp | None, pd.Timestamp | None]
    segment_col: str | None
    observed_from: pd.Timestamp
    observed_until: pd.Timestamp
    touchpoint_counts: pd.DataFrame
    seq_range: tuple[int, int] = (0, 0)
    endings: tuple[str, ...] = ()
    open_horizon: Any = "auto"
    precomputed: Any = None
    precomputed_journeys: Any = None

    @property
    def ending_touchpoints(self) -> tuple[str, ...]:
        """Touchpoints that end a journey rather than lose it: the conversion touchpoints
        and ``endings``."""
        return tuple(dict.fromkeys((*self.conversion_touchpoints, *self.endings)))

    @cached_property
    def open_horizon_us(self) -> int | None:
        """The open horizon in microseconds (None: no journey is open); ``"auto"`` is
        resolved as the module docstring says, with one query for customer journeys."""
        if self.open_horizon is None:
            return None
        if self.open_horizon != "auto":
            return duration_us(self.open_horizon, "open_horizon", allow_zero=True)
        timeout_us = int(round(self.session_timeout_minutes * 60_000_000))
        if self.unit == "session":
            return timeout_us
        if self.is_kept(self.precomputed):  # stored with the steps
            o = self.ordered("gap_s")
        else:
            # the gaps of a journey are the differences of its sorted times: events at the
            # same time are 0 apart whatever their seq, so ordering by the time alone gives
            # the same gaps, and the engine sorts one integer instead of a timestamp and seq
            import ibis

            s = self.steps
            w = ibis.window(group_by="journey_id", order_by=s.time_us)
            o = s.select(gap_s=(s.time_us - s.time_us.lag().over(w)) / 1e6)
        gaps = o.filter(o.gap_s.notnull()).select("gap_s", _all=1)
        # large logs: on DuckDB the gaps go into a table first (see materialized), other
        # engines rank them by sorting
        large = self.sort_quantiles
        with materialized(gaps) if large else nullcontext(gaps) as table:
            q = execute(group_quantiles(table, ["_all"], "gap_s", {"p95": 0.95},
                                        by_sorting=large and table is gaps))
        if q.empty or pd.isna(q["p95"].iloc[0]):  # single-step journeys only: no pauses
            return timeout_us
        return int(np.ceil(float(q["p95"].iloc[0]) * 1e6))

    def open_flag(self, ended: Any, last_us: Any) -> Any:
        """The open rule as an expression: not ``ended`` and ``last_us`` (the journey's last
        event, microseconds) within the open horizon of ``observed_until``."""
        import ibis

        horizon = self.open_horizon_us
        if horizon is None:
            return ibis.literal(False)
        until_us = int(self.observed_until.value // 1000)
        return ~ended & (last_us >= ibis.literal(until_us - horizon, type="int64"))

    def journey_status(self) -> ir.Table:
        """One row per journey (lazy): ``journey_id``, ``converted``, ``last_us`` (last
        event, microseconds), ``last_touchpoint``, ``ended`` (last step at an ending
        touchpoint) and ``open`` (see the module docstring)."""
        import ibis

        if self.is_kept(self.precomputed_journeys):
            t = self.precomputed_journeys
            pj = t.select("journey_id", "converted", last_us=t.end_us,
                          last_touchpoint=t.last_touchpoint)
        else:
            s = self.steps
            pj = s.group_by("journey_id").aggregate(
                converted=s.is_conversion.max(), last_us=s.time_us.max(),
                last_touchpoint=s.touchpoint.argmax(self.order_key(s)))

        ended = (pj.last_touchpoint.isin(list(self.ending_touchpoints))
                 if self.ending_touchpoints else ibis.literal(False))
        pj = pj.mutate(ended=ended)
        return pj.mutate(open=self.open_flag(pj.ended, pj.last_us))

    def order_key(self, table: ir.Table | None = None) -> Any:
        """An expression that orders the steps of a journey: ``(event_time, seq)`` packed
        into one int64 when the data's time span and ``seq`` range allow it exactly (a
        single integer is much cheaper to compare than a struct), else a struct."""
        import ibis

        t = self.steps if table is None else table
        lo, hi = self.seq_range
        base = int(self.observed_from.value // 1000)
        span = int(self.observed_until.value // 1000) - base + 1
        width = hi - lo + 1
        if lo >= -(2**31) and span > 0 and width > 0 and span * width < 2**62:
            return (t.time_us - base) * width + (t.seq - lo)
        return ibis.struct({"t": t.time_us, "q": t.seq})

    @property
    def n_events(self) -> int:
        """Events in the journeys (before ``ends_at_conversion`` cuts)."""
        return int(self.touchpoint_counts["events"].sum())

    @property
    def sort_quantiles(self) -> bool:
        """Whether quantiles are computed by sorting (large logs, see
        :func:`group_quantiles`)."""
        return self.n_events > SORT_QUANTILES_ABOVE

    @property
    def touchpoint_names(self) -> list[str]:
        """The touchpoints of the journeys, sorted; ``touchpoint_code`` (:meth:`ordered`)
        is the position of a step's touchpoint in this list."""
        return sorted(self.touchpoint_counts["touchpoint"])

    def ordered(self, *columns: str) -> ir.Table:
        """``steps`` plus window columns computed in one pass over each journey in order.

        Any of: ``step`` (1, 2, ...), ``prev_touchpoint``, ``next_touchpoint``,
        ``after_next_touchpoint`` (two steps on), ``prev_channel``, ``next_channel``,
        ``gap_s`` (seconds since the previous step), ``next_gap_s`` (seconds to the next),
        ``next_time_us`` (time of the next step, microseconds),
        ``conversions_so_far`` (conversion steps up to and including this one),
        ``touchpoint_code``, ``prev_touchpoint_code``, ``next_touchpoint_code`` and
        ``after_next_touchpoint_code`` (the touchpoint as its position in
        :attr:`touchpoint_names`, an int64: the engine carries and groups small integers
        much faster than strings, which matters over tens of millions of steps; the last
        two are not kept by :mod:`cjmlib.journeys.persist`). Neighbours are null where there
        is none.
        """
        import ibis

        pre = self.precomputed
        if self.is_kept(pre) and set(columns) <= set(pre.columns):
            return pre.select(*self.steps.columns, *columns)  # computed once, when kept
        s = self.steps
        if {c for c in columns if c.endswith("touchpoint_code")}:
            # coded before the window, so that the window sorts no touchpoint strings
            s = s.mutate(touchpoint_code=ibis.array(self.touchpoint_names).index(s.touchpoint))
        w = ibis.window(group_by="journey_id", order_by=[s.event_time, s.seq])
        cumulative = ibis.window(group_by="journey_id", order_by=[s.event_time, s.seq],
                                 rows=(None, 0))
        make = {
            "step": lambda: ibis.row_number().over(w) + 1,
            "prev_touchpoint": lambda: s.touchpoint.lag().over(w),
            "next_touchpoint": lambda: s.touchpoint.lead().over(w),
            "after_next_touchpoint": lambda: s.touchpoint.lead(2).over(w),
            "prev_channel": lambda: s.channel.lag().over(w),
            "next_channel": lambda: s.channel.lead().over(w),
            "gap_s": lambda: (s.time_us - s.time_us.lag().over(w)) / 1e6,
            "next_gap_s": lambda: (s.time_us.lead().over(w) - s.time_us) / 1e6,
            "next_time_us": lambda: s.time_us.lead().over(w),
            "conversions_so_far": lambda: s.is_conversion.cast("int64").sum().over(cumulative),
            "touchpoint_code": lambda: s.touchpoint_code,
            "prev_touchpoint_code": lambda: s.touchpoint_code.lag().over(w),
            "next_touchpoint_code": lambda: s.touchpoint_code.lead().over(w),
            "after_next_touchpoint_code": lambda: s.touchpoint_code.lead(2).over(w),
        }
        unknown = [c for c in columns if c not in make]
        if unknown:
            raise ValueError(f"unknown ordered columns {unknown}; expected any of {list(make)}")
        return s.mutate(**{c: make[c]() for c in columns})

    def is_kept(self, table: Any) -> bool:
        """Whether ``table`` (``precomputed`` or ``precomputed_journeys``) describes the
        current ``steps``: kept, and ``steps`` still the plain selection of ``precomputed``
        (not filtered or extended since). The analyses read stored columns only then (a
        scan), and compute them otherwise (an ordered pass)."""
        pre = self.precomputed
        return (table is not None and pre is not None
                and set(self.steps.columns) <= set(pre.columns)
                and self.steps.equals(pre.select(*self.steps.columns)))

    def per_journey(self) -> ir.Table:
        """One row per journey (lazy): ``journey_id``, ``customer_id``, ``converted``,
        ``n_steps``, ``start_us``, ``end_us`` (first and last event, microseconds) and the
        segment column."""
        if self.is_kept(self.precomputed_journeys):
            return self.precomputed_journeys.drop("last_touchpoint")
        return self._journey_aggregate(last_touchpoint=False)

    def journey_table(self) -> ir.Table:
        """One row per journey computed from ``steps`` (lazy): the columns of
        :meth:`per_journey` and ``last_touchpoint`` (the touchpoint of the last step in
        journey order); what :mod:`cjmlib.journeys.persist` keeps as
        ``precomputed_journeys``."""
        return self._journey_aggregate(last_touchpoint=True)

    def _journey_aggregate(self, *, last_touchpoint: bool) -> ir.Table:
        s = self.steps
        seg = [self.segment_col] if self.segment_col else []
        return s.group_by(["journey_id", *seg]).aggregate(
            customer_id=s.customer_id.max(),
            converted=s.is_conversion.max(),
            n_steps=s.count(),
            start_us=s.time_us.min(),
            end_us=s.time_us.max(),
            **({"last_touchpoint": s.touchpoint.argmax(self.order_key(s))}
               if last_touchpoint else {}),
        )

    def to_pandas(self, *, limit: int | None = 10_000) -> pd.DataFrame:
        """The first ``limit`` steps in journey order, with step numbers and gaps (for a
        look, not for analysis)."""
        expr = self.ordered("step", "gap_s").drop("time_us").order_by(["journey_id", "step"])
        if limit is not None:
            expr = expr.limit(limit)
        return execute(expr)

    def summary(self, *, alpha: float = 0.05) -> pd.DataFrame:
        """One row: ``unit``, ``customers``, ``journeys``, ``steps``, ``converted_journeys``,
        ``median_steps``, the conversion rate of journeys with its Wilson interval at
        ``1 - alpha``, and ``alpha``."""
        pj = self.per_journey()
        row = execute(pj.aggregate(
            customers=pj.customer_id.nunique(),
            journeys=pj.count(),
            steps=pj.n_steps.sum(),
            converted_journeys=pj.converted.cast("int64").sum(),
            median_steps=pj.n_steps.median(),
        ))
        row = row.astype({"customers": "int64", "journeys": "int64", "steps": "int64",
                          "converted_journeys": "int64"})
        add_rate(row, "conversion_rate", "converted_journeys", "journeys", alpha=alpha)
        row.insert(0, "unit", self.unit)
        row["alpha"] = alpha
        return row


def build_journeys(
    events: Any,
    *,
    conversion_touchpoints: Sequence[str],
    unit: Literal["customer", "session"] = "customer",
    sessions: Literal["given", "inactivity"] = "given",
    session_timeout_minutes: float = 30.0,
    window: tuple[Any, Any] | None = None,
    ends_at_conversion: bool = False,
    exclude_touchpoints: Iterable[str] = (),
    customers: Any = None,
    segment_col: str | None = None,
    endings: Iterable[str] = (),
    open_horizon: Any = "auto",
) -> Journeys:
    """Arrange an events table into journeys (lazily, in the engine holding the events).

    ``events``: pandas DataFrame, Parquet/CSV path or Ibis table with the events contract.
    ``conversion_touchpoints``: touchpoints that make a journey converted (none: no journey
    converts, as in a clickstream of views only); each must occur
    in the events (in the window). ``unit``: ``"customer"`` (one journey per customer) or
    ``"session"``. ``sessions``: with ``"given"`` a session is the events' ``session_id``,
    and events without one are split into sessions after ``session_timeout_minutes`` of
    inactivity; with ``"inactivity"`` the ``session_id`` is ignored and every customer's
    events, on all channels, are split after that much inactivity (cross-channel visits:
    a call right after a web session stays in its journey). ``window``: ``(start, end)`` of
    event times kept, end exclusive; either may be None; naive bounds are read as UTC.
    ``ends_at_conversion``: drop the steps after a journey's first conversion.
    ``exclude_touchpoints``: touchpoints that are not steps of a journey (e.g. e-mails the
    company sends). ``segment_col``: a column of the events or of ``customers`` (table with
    ``customer_id``) to break results down by. ``endings``: touchpoints that end a journey
    as the conversion touchpoints do (other outcomes, approved/declined/cancelled): a
    journey ending there is no exit (need not occur in the events). ``open_horizon``:
    ``"auto"``, a duration (``pandas.Timedelta``, ``"3 days"``, seconds as a number) or None
    (no journey is open); see the module docstring.

    Raises ``ValueError`` for a bad events table (see :func:`read_events`), a conversion
    touchpoint that never occurs, an empty window or a segment column that does not exist.
    """
    import ibis

    check_scalar(unit, "unit", in_=("customer", "session"))
    check_scalar(sessions, "sessions", in_=("given", "inactivity"))
    check_scalar(session_timeout_minutes, "session_timeout_minutes", typ=float, gt=0)
    check_scalar(ends_at_conversion, "ends_at_conversion", typ=bool)
    if isinstance(conversion_touchpoints, str):
        conversion_touchpoints = [conversion_touchpoints]
    conversions = tuple(dict.fromkeys(conversion_touchpoints))
    exclude = tuple(exclude_touchpoints)
    if isinstance(endings, str):
        endings = [endings]
    endings = tuple(e for e in dict.fromkeys(endings) if e not in conversions)
    if open_horizon is not None and open_horizon != "auto":
        duration_us(open_horizon, "open_horizon", allow_zero=True)
    clash = [c for c in conversions if c in exclude]
    if clash:
        raise ValueError(f"conversion touchpoints {clash} are also in exclude_touchpoints")

    t = read_events(events)
    what = "events table" if not isinstance(events, (str, os.PathLike)) else str(events)
    keep = ["customer_id", "event_time", "channel", "touchpoint", "stage", "session_id",
            "duration_s", "value", "seq"]
    if segment_col is not None:
        check_scalar(segment_col, "segment_col", typ=str)
        if segment_col in keep:
            raise ValueError(
                f"segment_col {segment_col!r} is a journey column; choose a segment such as "
                "a customers attribute"
            )
        if segment_col in t.columns:
            t = t.select(*keep, segment_col)
        else:
            t = t.select(*keep)
            if customers is None:
                raise ValueError(
                    f"segment column {segment_col!r} not found: the events table has "
                    f"{list(t.columns)} and no customers table was given"
                )
            cust = as_table(customers, what="customers table")
            if segment_col not in cust.columns or "customer_id" not in cust.columns:
                raise ValueError(
                    f"segment column {segment_col!r} not found: expected it in the events "
                    f"table or the customers table (with customer_id); events have "
                    f"{list(t.columns)}, customers have {list(cust.columns)}"
                )
            seg = cust.select(customer_id=cust.customer_id.cast("string"),
                              **{segment_col: cust[segment_col].cast("string")})
            t = t.left_join(seg, "customer_id").select(*keep, segment_col)
        t = t.mutate(**{segment_col: t[segment_col].cast("string").fill_null("(missing)")})
    else:
        t = t.select(*keep)

    if exclude:
        t = t.filter(~t.touchpoint.isin(exclude))
    start, end = _window_bounds(window)
    if start is not None:
        t = t.filter(t.event_time >= _time_literal(start, t))
    if end is not None:
        t = t.filter(t.event_time < _time_literal(end, t))

    # Two small queries: the events per touchpoint, and the time span (for censoring),
    # seq range and missing customers of all events. Kept apart, the second is answered
    # from Parquet statistics without reading the data when no filter applies.
    counts = execute(t.group_by("touchpoint").aggregate(events=t.count()))
    if counts.empty:
        whole = execute(read_events(events).aggregate(
            first=lambda x: x.event_time.min(), last=lambda x: x.event_time.max(),
            n=lambda x: x.count()))
        raise ValueError(
            f"{what}: no events in the window [{start}, {end})"
            + (f" after excluding {list(exclude)}" if exclude else "")
            + f"; the events span {whole['first'].iloc[0]} to {whole['last'].iloc[0]} "
            f"({int(whole['n'].iloc[0])} events)"
        )
    span = execute(t.aggregate(
        first=t.event_time.min(), last=t.event_time.max(), seq_min=t.seq.min(),
        seq_max=t.seq.max(), null_customers=t.count() - t.customer_id.count())).iloc[0]
    if counts["touchpoint"].isna().any():
        raise ValueError(f"{what}: column 'touchpoint' is empty in "
                         f"{int(counts.loc[counts['touchpoint'].isna(), 'events'].sum())} rows")
    if int(span["null_customers"]):
        raise ValueError(f"{what}: column 'customer_id' is empty in "
                         f"{int(span['null_customers'])} rows")
    found = sorted(counts["touchpoint"])
    never = [c for c in conversions if c not in found]
    if never:
        where = "in the window" if window else "in the events"
        raise ValueError(
            f"conversion touchpoint(s) {never} never occur {where}; touchpoints found: {found}"
        )

    t = t.mutate(time_us=epoch_microseconds(t.event_time, t),
                 # no conversion (a clickstream of views only): no journey converts
                 is_conversion=(t.touchpoint.isin(list(conversions)) if conversions
                                else ibis.literal(False)))
    if unit == "customer":
        t = t.mutate(journey_id=t.customer_id)
    else:
        by_customer = ibis.window(group_by="customer_id", order_by=[t.event_time, t.seq])
        new = (t.time_us - t.time_us.lag().over(by_customer)).fill_null(-1)
        limit_us = int(round(session_timeout_minutes * 60_000_000))
        t = t.mutate(_new=((new < 0) | (new > limit_us)).cast("int64"))
        t = t.mutate(_session=t._new.cumsum().over(
            ibis.window(group_by="customer_id", order_by=[t.event_time, t.seq])))
        derived = ibis.literal("~") + t._session.cast("string")
        given = t.session_id if sessions == "given" else ibis.null().cast("string")
        t = t.mutate(journey_id=t.customer_id + "|" + given.fill_null(derived))
        t = t.drop("_new", "_session")
    if ends_at_conversion:
        in_journey = ibis.window(group_by="journey_id", order_by=[t.event_time, t.seq])
        t = t.mutate(_conv_so_far=t.is_conversion.cast("int64").cumsum().over(in_journey))
        t = t.filter((t._conv_so_far - t.is_conversion.cast("int64")) == 0).drop("_conv_so_far")
    cols = ["journey_id", "customer_id", "event_time", "seq", "time_us", "touchpoint", "stage",
            "channel", "duration_s", "value", "is_conversion"]
    if segment_col is not None:
        cols.append(segment_col)
    steps = t.select(*cols)
    tp_counts = counts[["touchpoint", "events"]].sort_values(
        ["events", "touchpoint"], ascending=[False, True]).reset_index(drop=True)
    return Journeys(
        steps=steps, unit=unit, conversion_touchpoints=conversions,
        ends_at_conversion=ends_at_conversion,
        session_timeout_minutes=float(session_timeout_minutes), window=(start, end),
        segment_col=segment_col,
        observed_from=_utc(span["first"]),
        observed_until=_utc(end if end is not None else span["last"]),
        touchpoint_counts=tp_counts,
        seq_range=(int(span["seq_min"]), int(span["seq_max"])),
        endings=endings, open_horizon=open_horizon,
    )


def duration_us(value: Any, name: str, *, allow_zero: bool = False) -> int:
    """Microseconds of a duration: a ``pandas.Timedelta``, a string such as ``"7 days"`` or
    seconds as a number; ``ValueError`` naming ``name`` when it is not one or not positive
    (zero allowed with ``allow_zero``)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        delta = pd.Timedelta(seconds=float(value))
    else:
        try:
            delta = pd.Timedelta(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} must be a duration such as '7 days', got {value!r}"
                             ) from exc
    if pd.isna(delta) or delta < pd.Timedelta(0) or (delta == pd.Timedelta(0)
                                                     and not allow_zero):
        raise ValueError(f"{name} must be {'zero or ' if allow_zero else ''}positive, "
                         f"got {value!r}")
    return int(delta / pd.Timedelta(microseconds=1))


def check_journeys(journeys: Any, *, what: str = "journeys") -> Journeys:
    """Raise a clear ``TypeError`` unless ``journeys`` comes from :func:`build_journeys`."""
    if not isinstance(journeys, Journeys):
        raise TypeError(
            f"{what} must be a Journeys object from cjmlib.journeys.build.build_journeys(events, "
            f"conversion_touchpoints=...), got {type(journeys).__name__}"
        )
    return journeys


def check_touchpoints_occur(journeys: Journeys, names: Iterable[str], *, what: str) -> None:
    """``ValueError`` when any of ``names`` never occurs in the journeys."""
    found = list(journeys.touchpoint_counts["touchpoint"])
    never = [n for n in names if n not in found]
    if never:
        raise ValueError(f"{what} {never} never occur in the journeys; touchpoints found: "
                         f"{sorted(found)}")


def segment_keys(journeys: Journeys, by_segment: bool) -> list[str]:
    """The segment column as a grouping key, or ``ValueError`` when none was built in."""
    if not by_segment:
        return []
    if journeys.segment_col is None:
        raise ValueError("by_segment=True needs journeys built with segment_col=...; "
                         "found segment_col=None")
    return [journeys.segment_col]


#: Above this many events, per-group quantiles are computed by sorting (see
#: :func:`group_quantiles`) instead of by the engine's quantile aggregate.
def _window_bounds(window: tuple[Any, Any] | None
                   ) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    if window is None:
        return None, None
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise ValueError(f"window must be (start, end), got {window!r}")
    bounds = []
    for name, value in zip(("start", "end"), window, strict=True):
        if value is None:
            bounds.append(None)
            continue
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"window {name} {value!r} is not a time: {exc}") from exc
        bounds.append(_utc(ts))
    start, end = bounds
    if start is not None and end is not None and not start < end:
        raise ValueError(f"window start {start} must be before its end {end}")
    return start, end


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _time_literal(ts: pd.Timestamp, table: ir.Table) -> Any:
    import ibis

    if is_spark(table):  # Spark compares instants in the (UTC) session time zone
        return ibis.literal(ts.tz_convert("UTC").tz_localize(None).to_pydatetime())
    return ibis.literal(ts.to_pydatetime(), type="timestamp('UTC')")


def infer_journey_unit(events: Any) -> Literal["customer", "session"]:
    """The journey unit the data supports: ``"session"`` when any event carries a session
    (given by its source or derived by 01_collect), else ``"customer"``: sources that declare
    no sessions hold cases -- applications, tickets, claims -- whose journey is the whole case,
    which inactivity gaps must not cut into visits.

    >>> frame = pd.DataFrame({"customer_id": ["a", "a"], "channel": "branch",
    ...     "touchpoint": ["apply", "approve"], "stage": "s", "session_id": [None, None],
    ...     "event_time": pd.to_datetime(["2026-01-05", "2026-02-05"], utc=True)})
    >>> infer_journey_unit(frame)
    'customer'
    """
    table = read_events(events)
    sessions = execute(table.aggregate(n=table.session_id.notnull().sum()))["n"].iloc[0]
    return "session" if sessions and int(sessions) > 0 else "customer"
