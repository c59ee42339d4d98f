"""Touchpoint metrics, pain-point prioritisation and importance-performance analysis.

:func:`touchpoint_metrics` measures every touchpoint in the engine (reach, conversion, exit,
dwell, loops) and returns the ``touchpoint_metrics`` table of ``DESIGN.md``, joined with the
attitude measures of the feedback (CSAT, NPS, sentiment) and the Markov removal effects;
:func:`prioritise` scores and ranks the pain points with the formula below and
:func:`importance_performance` places each touchpoint in the importance-performance grid
(Martilla & James 1977, "Importance-performance analysis", *J. Marketing* 41(1)).

Priority score
--------------
For each touchpoint, every available signal is put on a 0..1 "how bad" scale::

    exit      = exit_rate                      closed journeys ending here without converting
                                               (or reaching another ending)
    loop      = loop_rate                      journeys going A -> B -> A from here
    time      = min(1, max(0, median_duration_s / target_median_duration_s - 1))
                                               only where a future-state target exists
    csat      = (5 - csat_mean) / 4            CSAT on 1..5
    nps       = (100 - nps) / 200              NPS on -100..100
    sentiment = (1 - sentiment_mean) / 2       sentiment on -1..1

    pain      = sum(w_k * signal_k) / sum(w_k)   over the signals available for it
    impact    = removal_effect / max(removal_effect)  (share of conversions that need it,
                                                      relative to the most needed one)
    priority_score = 100 * pain * (0.5 + 0.5 * impact)

so the score is the weighted badness of the experience, counted in full where the
touchpoint carries the most conversions and at half weight where it carries none (a bad
service contact still matters, but less for conversion). Default weights: behaviour
(exit 0.20, loop 0.10, time 0.10) and attitude (csat 0.30, nps 0.15, sentiment 0.15) each
sum to one half; ``configs/journey.yaml`` (``priority_weights``) overrides them. A signal
that is missing for a touchpoint drops out of its average (``priority_basis`` lists the
signals used). Conversion touchpoints have no exit by definition and are not ranked
against the others when they have no attitude data; other ending touchpoints have no exit
signal. Rank 1 is the most urgent.

Exit rate
---------
A journey *exits* at a touchpoint when its last step is there, it did not convert, the step
is no ending touchpoint (conversions and the ``endings`` of the journeys: approved, declined,
cancelled end a journey, they do not lose it) and the journey is not *open*: journeys still
going when the data end (last event within the open horizon of the end of observation, see
:mod:`cjmlib.journeys.build`) are right-censored, left out of the numerator and the
denominator. So ``exit_rate = exits / closed_journeys`` with
``closed_journeys = journeys - open_journeys``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import execute, group_quantiles, materialized
from cjmlib.journeys.build import Journeys, check_journeys, segment_keys
from cjmlib.stats.intervals import MIN_CELL, add_rate

#: Contract columns of the touchpoint_metrics table (DESIGN.md), in order.
METRIC_COLUMNS = ("touchpoint", "stage", "channel", "events", "customers", "reach_share",
                  "conversion_rate", "ci_low", "ci_high", "exit_rate", "median_duration_s",
                  "csat_mean", "nps", "sentiment_mean", "removal_effect", "priority_score",
                  "priority_rank")

#: Default weights of the priority score (see the module docstring).
PRIORITY_WEIGHTS: dict[str, float] = {"exit": 0.20, "loop": 0.10, "time": 0.10,
                                      "csat": 0.30, "nps": 0.15, "sentiment": 0.15}

_ATTITUDE = ("csat_mean", "nps", "sentiment_mean")


def touchpoint_metrics(
    journeys: Journeys,
    *,
    by_channel: bool = False,
    by_segment: bool = False,
    attitude: pd.DataFrame | None = None,
    removal_effects: pd.DataFrame | bool = True,
    loops: bool = True,
    targets: pd.DataFrame | None = None,
    weights: Mapping[str, float] | None = None,
    min_customers: int = MIN_CELL,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """The touchpoint_metrics table: one row per touchpoint (and channel, and segment).

    Columns, in the DESIGN.md order: ``touchpoint``, ``stage``, ``channel`` (``"all"``
    unless ``by_channel``), ``events``, ``customers`` (distinct customers who touched it),
    ``reach_share`` (customers / all customers), ``conversion_rate`` (share of the journeys
    through it that converted) with its Wilson interval ``ci_low``/``ci_high`` at ``1 - alpha``,
    ``exit_rate`` (share of the closed journeys through it that end there without converting
    or reaching another ending; open journeys are censored, see the module docstring),
    ``median_duration_s`` (dwell, seconds), ``csat_mean``, ``nps``, ``sentiment_mean`` (from
    ``attitude``; NaN without feedback), ``removal_effect`` (first-order Markov, see
    :mod:`cjmlib.journeys.attribution`), ``priority_score``, ``priority_rank`` (see
    :func:`prioritise`). Then: ``journeys`` (the denominator of the journey rates),
    ``converted_journeys``, ``conversion_lift`` (conversion_rate / base rate of all
    journeys), ``base_conversion_rate``, ``open_journeys`` (journeys through it still open
    at the end of observation), ``closed_journeys`` (the others: the denominator of the exit
    rate), ``exits`` with ``exit_rate_ci_low``/``_high``,
    ``p90_duration_s``, ``loop_rate`` (journeys with an A -> B -> A loop starting here, from
    :func:`cjmlib.journeys.transitions.loop_rates`; NaN with ``loops=False``) and ``repeat_rate``
    (journeys with the touchpoint twice or more), each with its Wilson
    interval and count, ``customers_total`` and ``reach_share_ci_low``/``_high``, the
    attitude counts when given, ``small_cell`` (``customers < min_customers``: shown, read
    with care) and the priority components.

    ``attitude``: a table with ``touchpoint`` and any of ``csat_mean``, ``nps``,
    ``sentiment_mean`` (and counts such as ``n``), or a ``survey_metrics`` table (its
    ``level == "touchpoint"`` rows are used). ``removal_effects``: True to compute them,
    False to skip, or a table with ``touchpoint`` and ``removal_effect``. ``loops``: compute
    loop rates (one ordered pass over the journeys; False skips it). ``targets``:
    future-state targets (``touchpoint`` plus metric columns) used by the time signal.
    """
    import ibis

    check_journeys(journeys)
    check_scalar(min_customers, "min_customers", typ=int, ge=0)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    seg = segment_keys(journeys, by_segment)
    keys = [*seg, "touchpoint", *(["channel"] if by_channel else [])]
    # One row per (touchpoint, journey), so that journey rates count each journey once
    # however often it came back; each journey's outcome and last step come from those
    # rows (last = latest by time, then seq). No ordered window here: loops, which need the
    # order, come from cjmlib.journeys.transitions.loop_rates.
    s = journeys.steps
    per_customer = journeys.unit != "customer"  # with unit="customer" a journey is a customer
    jt = s.group_by([*keys, "journey_id"]).aggregate(
        **({"customer_id": s.customer_id.max()} if per_customer else {}),
        _events=s.count(),
        _key=journeys.order_key(s).max(),
        _last_us=s.time_us.max(),
        _conv_here=s.is_conversion.max(),
    )
    # the journey's last step is the (touchpoint, channel) whose latest event is latest; the
    # journey ended when that step is at an ending touchpoint (build: open journeys)
    endings = list(journeys.ending_touchpoints)
    jj = jt.group_by("journey_id").aggregate(
        _converted=jt._conv_here.max(),
        _last_key=jt._key.max(),
        _end_key=(jt._key.max(where=jt.touchpoint.isin(endings)) if endings
                  else ibis.null().cast("int64")),
        _journey_last_us=jt._last_us.max(),
    )
    ended = (jj._end_key == jj._last_key).fill_null(False)
    jj = jj.mutate(_open=journeys.open_flag(ended, jj._journey_last_us), _ended=ended)
    x = jt.join(jj, "journey_id")
    conv = x._converted
    last = x._key == x._last_key
    is_open = x._open
    metrics = dict(
        events=x._events.sum(),
        journeys=x.count(),
        converted_journeys=conv.cast("int64").sum(),
        open_journeys=is_open.cast("int64").sum(),
        exits=(last & ~conv & ~x._ended & ~is_open).cast("int64").sum(),
        repeats=(x._events >= 2).cast("int64").sum(),
        # every journey ends exactly once: the totals are sums over touchpoints
        _ends=last.cast("int64").sum(),
        _converted_ends=(last & conv).cast("int64").sum(),
    )
    if per_customer:
        metrics["customers"] = x.customer_id.nunique()
    counts = execute(x.group_by(keys).aggregate(**metrics))
    if not per_customer:
        counts["customers"] = counts["journeys"]
    s = journeys.steps
    # large logs: on DuckDB the durations go into a table first (see materialized), other
    # engines rank them by sorting
    large = journeys.sort_quantiles
    d = s.select(*keys, "stage", "duration_s")
    with materialized(d) if large else nullcontext(d) as d_table:
        dwell = execute(group_quantiles(d_table, keys, "duration_s",
                                        {"median_duration_s": 0.5, "p90_duration_s": 0.9},
                                        by_sorting=large and d_table is d,
                                        extra={"stage": d_table.stage.max()}))
    dwell = dwell.drop(columns="_rows").rename(columns={"_n": "duration_n"})
    out = counts.merge(dwell, on=keys, how="left")
    # Totals per segment: every journey ends exactly once.
    if seg:
        tot = out.groupby(seg, as_index=False)[["_ends", "_converted_ends"]].sum()
    else:
        tot = pd.DataFrame({"_ends": [out["_ends"].sum()],
                            "_converted_ends": [out["_converted_ends"].sum()]})
    tot = tot.rename(columns={"_ends": "journeys_total", "_converted_ends": "converted_total"})
    if journeys.unit == "customer":
        tot["customers_total"] = tot["journeys_total"]
    else:
        cust = execute(s.group_by(seg).aggregate(customers_total=s.customer_id.nunique())
                       if seg else s.aggregate(customers_total=s.customer_id.nunique()))
        tot = tot.merge(cust, on=seg) if seg else tot.assign(
            customers_total=cust["customers_total"].iloc[0])
    out = out.drop(columns=["_ends", "_converted_ends"])
    out = out.merge(tot, on=seg, how="left") if seg else out.assign(**tot.iloc[0].to_dict())
    effects: pd.DataFrame | None = None
    if loops and removal_effects is True:  # both from one ordered pass
        from cjmlib.journeys.attribution import markov_attribution_and_loops

        chain, rates = markov_attribution_and_loops(journeys, by_channel=by_channel,
                                                    by_segment=by_segment)
        effects = chain.removal_effects
        out = out.merge(rates[[*keys, "loops"]], on=keys, how="left")
    elif loops:
        from cjmlib.journeys.transitions import loop_rates

        rates = loop_rates(journeys, by_channel=by_channel, by_segment=by_segment)
        out = out.merge(rates[[*keys, "loops"]], on=keys, how="left")
    else:
        out["loops"] = np.nan
    for c in ("events", "journeys", "customers", "converted_journeys", "open_journeys",
              "exits", "repeats", "customers_total", "journeys_total", "converted_total",
              "duration_n"):
        out[c] = out[c].fillna(0).astype("int64")
    if loops:
        out["loops"] = out["loops"].fillna(0).astype("int64")
    if not by_channel:
        out["channel"] = "all"
    add_rate(out, "reach_share", "customers", "customers_total", alpha=alpha)
    add_rate(out, "conversion_rate", "converted_journeys", "journeys", alpha=alpha)
    out = out.rename(columns={"conversion_rate_ci_low": "ci_low",
                              "conversion_rate_ci_high": "ci_high"})
    out["base_conversion_rate"] = out["converted_total"] / out["journeys_total"]
    out["conversion_lift"] = out["conversion_rate"] / out["base_conversion_rate"]
    out["closed_journeys"] = out["journeys"] - out["open_journeys"]
    add_rate(out, "exit_rate", "exits", "closed_journeys", alpha=alpha)
    if loops:
        add_rate(out, "loop_rate", "loops", "journeys", alpha=alpha)
    else:
        out["loop_rate"] = out["loop_rate_ci_low"] = out["loop_rate_ci_high"] = np.nan
    add_rate(out, "repeat_rate", "repeats", "journeys", alpha=alpha)
    for c in ("median_duration_s", "p90_duration_s"):
        out[c] = out[c].astype(float)

    out = _join_attitude(out, attitude, seg)
    if removal_effects is True and effects is None:  # not computed with the loops above
        from cjmlib.journeys.attribution import markov_attribution

        effects = markov_attribution(journeys, by_segment=by_segment).removal_effects
    elif removal_effects is not True and removal_effects is not False:
        effects = removal_effects  # given (None: none)
    if effects is not None:
        missing = [c for c in ("touchpoint", "removal_effect") if c not in effects.columns]
        if missing:
            raise ValueError(f"removal_effects: missing columns {missing}; expected "
                             f"['touchpoint', 'removal_effect'], found {list(effects.columns)}")
        on = [c for c in (*seg, "touchpoint") if c in effects.columns]
        out = out.merge(effects[[*on, "removal_effect"]], on=on, how="left")
        conv = out["touchpoint"].isin(journeys.conversion_touchpoints)
        out.loc[~conv, "removal_effect"] = out.loc[~conv, "removal_effect"].fillna(0.0)
    else:
        out["removal_effect"] = np.nan
    out["small_cell"] = out["customers"] < min_customers
    out = prioritise(out, weights=weights, targets=targets, group_by=seg,
                     conversion_touchpoints=journeys.conversion_touchpoints,
                     endings=journeys.endings)
    out["alpha"] = alpha  # the intervals above are at 1 - alpha
    extra = [c for c in out.columns if c not in METRIC_COLUMNS and c not in seg]
    front = ["journeys", "converted_journeys", "conversion_lift", "base_conversion_rate",
             "open_journeys", "closed_journeys", "exits", "exit_rate_ci_low",
             "exit_rate_ci_high", "p90_duration_s", "duration_n",
             "loops", "loop_rate", "loop_rate_ci_low", "loop_rate_ci_high", "repeats",
             "repeat_rate", "repeat_rate_ci_low", "repeat_rate_ci_high", "customers_total",
             "reach_share_ci_low", "reach_share_ci_high", "small_cell"]
    extra = [c for c in front if c in extra] + [c for c in extra if c not in front
                                                and c not in ("journeys_total",
                                                              "converted_total")]
    out = out[[*METRIC_COLUMNS, *seg, *extra]]
    return out.sort_values([*seg, "priority_rank", "touchpoint", "channel"],
                           na_position="last").reset_index(drop=True)


def _join_attitude(out: pd.DataFrame, attitude: pd.DataFrame | None,
                   seg: list[str]) -> pd.DataFrame:
    if attitude is None:
        for c in _ATTITUDE:
            out[c] = np.nan
        return out
    att = attitude.copy()
    if "level" in att.columns and "group" in att.columns:  # a survey_metrics table
        att = att[att["level"] == "touchpoint"].rename(columns={"group": "touchpoint"})
    if "touchpoint" not in att.columns:
        raise ValueError(f"attitude: missing column 'touchpoint'; expected touchpoint and any "
                         f"of {list(_ATTITUDE)}, found {list(attitude.columns)}")
    keep = ["touchpoint", *[c for c in seg if c in att.columns],
            *[c for c in att.columns if c in _ATTITUDE
              or c.startswith(("n_", "csat_n", "nps_n", "sentiment_n"))
              or (c.startswith(("csat_", "nps_", "sentiment_")) and "_ci_" in c)]]
    if "n" in att.columns:
        att = att.rename(columns={"n": "feedback_n"})
        keep.append("feedback_n")
    att = att[list(dict.fromkeys(keep))]
    on = ["touchpoint", *[c for c in seg if c in att.columns]]
    out = out.merge(att, on=on, how="left")
    for c in _ATTITUDE:
        if c not in out.columns:
            out[c] = np.nan
    return out


def prioritise(metrics: pd.DataFrame, *, weights: Mapping[str, float] | None = None,
               targets: pd.DataFrame | None = None, group_by: list[str] | None = None,
               conversion_touchpoints: tuple[str, ...] | list[str] = (),
               endings: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """Add the priority score and rank (formula in the module docstring) to a metrics table.

    Adds ``priority_score`` (0..100, higher is more urgent), ``priority_rank`` (1 = most
    urgent; ties share a rank; ranked within ``group_by`` columns and within each channel),
    ``pain``, ``impact``, one ``signal_<name>`` column per signal and ``priority_basis``
    (the signals used). ``weights`` override :data:`PRIORITY_WEIGHTS` (unknown names raise).
    ``endings``: ending touchpoints other than conversions, whose exit rate is zero by
    definition and so is no signal.
    """
    w = dict(PRIORITY_WEIGHTS)
    if weights:
        unknown = [k for k in weights if k not in PRIORITY_WEIGHTS]
        if unknown:
            raise ValueError(f"priority weights {unknown} are not signals; expected any of "
                             f"{list(PRIORITY_WEIGHTS)}")
        w.update({k: float(v) for k, v in weights.items()})
    out = metrics.copy()
    group_by = list(group_by or [])
    for c in ("exit_rate", "loop_rate", "median_duration_s", *_ATTITUDE, "removal_effect"):
        if c not in out.columns:
            out[c] = np.nan
    target_time = pd.Series(np.nan, index=out.index)
    if targets is not None and "median_duration_s" in targets.columns:
        target_time = out["touchpoint"].map(
            targets.set_index("touchpoint")["median_duration_s"]).astype(float)
    conv = out["touchpoint"].isin(list(conversion_touchpoints))
    signals = pd.DataFrame({
        "exit": out["exit_rate"].where(~conv & ~out["touchpoint"].isin(list(endings))),
        "loop": out["loop_rate"],
        "time": (out["median_duration_s"] / target_time - 1).clip(0, 1),
        "csat": (5 - out["csat_mean"]) / 4,
        "nps": (100 - out["nps"]) / 200,
        "sentiment": (1 - out["sentiment_mean"]) / 2,
    }, index=out.index).clip(0, 1)
    weight = pd.Series(w)
    present = signals.notna()
    num = (signals.fillna(0) * weight).sum(axis=1)
    den = (present * weight).sum(axis=1)
    pain = num / den.where(den > 0)
    # A conversion touchpoint with behaviour only (no exit by definition) is not a pain point.
    only_behaviour = ~present[["csat", "nps", "sentiment"]].any(axis=1)
    pain = pain.where(~(conv & only_behaviour))
    effect = out["removal_effect"].astype(float)
    keys = [c for c in (*group_by, "channel") if c in out.columns]
    top = effect.groupby([out[k] for k in keys]).transform("max") if keys else effect.max()
    impact = (effect / top.where(top > 0)).clip(0, 1).fillna(0.0)
    impact = impact.where(~conv)  # conversion is the outcome, not a lever
    factor = (0.5 + 0.5 * impact).fillna(0.5)
    out["priority_score"] = (100 * pain * factor).round(2)
    out["pain"] = pain
    out["impact"] = impact
    for name in signals.columns:
        out[f"signal_{name}"] = signals[name]
    out["priority_basis"] = present.apply(
        lambda r: ", ".join(k for k in signals.columns if r[k] and weight[k] > 0), axis=1)
    if keys:
        out["priority_rank"] = out.groupby(keys)["priority_score"].rank(
            ascending=False, method="min")
    else:
        out["priority_rank"] = out["priority_score"].rank(ascending=False, method="min")
    out["priority_rank"] = out["priority_rank"].astype("Int64")
    return out


def importance_performance(metrics: pd.DataFrame, *, importance: str = "removal_effect",
                           performance: str = "csat_mean",
                           split: str = "mean") -> pd.DataFrame:
    """Importance-performance grid (Martilla & James 1977).

    Returns ``touchpoint``, ``importance``, ``performance`` and ``quadrant``, one of
    ``"concentrate here"`` (important, performing below the split), ``"keep up the good
    work"``, ``"low priority"`` and ``"possible overkill"``, plus the split values
    ``importance_split``/``performance_split`` (mean or median across touchpoints, data-
    centred as in Bacon 2003). Touchpoints missing either value get quadrant
    ``"not rated"``. ``performance`` may be any column where higher is better (e.g.
    ``csat_mean``); use ``"1-exit_rate"`` for behaviour only.
    """
    check_scalar(split, "split", in_=("mean", "median"))
    if importance not in metrics.columns:
        raise ValueError(f"importance column {importance!r} not found; found "
                         f"{list(metrics.columns)}")
    if performance == "1-exit_rate":
        perf = 1 - metrics["exit_rate"]
    elif performance in metrics.columns:
        perf = metrics[performance]
    else:
        raise ValueError(f"performance column {performance!r} not found; found "
                         f"{list(metrics.columns)}")
    out = pd.DataFrame({"touchpoint": metrics["touchpoint"],
                        "importance": metrics[importance].astype(float),
                        "performance": perf.astype(float)})
    for c in ("stage", "channel", "customers", "small_cell"):
        if c in metrics.columns:
            out[c] = metrics[c].to_numpy()
    rated = out["importance"].notna() & out["performance"].notna()
    agg = np.mean if split == "mean" else np.median
    i_split = float(agg(out.loc[rated, "importance"])) if rated.any() else np.nan
    p_split = float(agg(out.loc[rated, "performance"])) if rated.any() else np.nan
    high_i = out["importance"] >= i_split
    high_p = out["performance"] >= p_split
    quadrant = np.select(
        [high_i & ~high_p, high_i & high_p, ~high_i & ~high_p],
        ["concentrate here", "keep up the good work", "low priority"],
        default="possible overkill")
    out["quadrant"] = np.where(rated, quadrant, "not rated")
    out["importance_split"] = i_split
    out["performance_split"] = p_split
    return out.reset_index(drop=True)
