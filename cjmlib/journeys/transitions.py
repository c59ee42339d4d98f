"""Transitions between touchpoints: directly-follows counts, path variants, loops and rework.

All counting happens in the engine that holds the journeys (see :mod:`cjmlib.journeys.build`);
the functions return small pandas tables. The directly-follows relation is the one of
process mining (van der Aalst 2016, *Process Mining*, ch. 6): ``source -> target`` when
``target`` is the next step of the same journey. Every journey opens with a transition from
``(start)`` and closes with one to ``(end)``, so each source's counts sum to the times it was
left and probabilities are the first-order Markov transition probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import execute, group_quantiles, materialized
from cjmlib.journeys.build import END, START, Journeys, check_journeys, segment_keys
from cjmlib.stats.intervals import MIN_CELL, add_rate
from cjmlib.stats.multiplicity import adjust_p_values

#: Contract columns of the transitions table (DESIGN.md), in order.
TRANSITION_COLUMNS = ("source", "target", "count", "probability", "median_gap_s")

#: Columns of the rework table (DESIGN.md: journeys_rework), in order.
REWORK_COLUMNS = ("touchpoint", "touchpoint_journeys", "rework_journeys", "rework_rate",
                  "rework_rate_ci_low", "rework_rate_ci_high", "returns", "path_rank", "path",
                  "path_steps", "path_returns", "path_journeys", "path_rate",
                  "path_rate_ci_low", "path_rate_ci_high", "small_cell", "alpha")


def transitions(journeys: Journeys, *, by_segment: bool = False,
                min_count: int = MIN_CELL, alpha: float = 0.05) -> pd.DataFrame:
    """Directly-follows transitions with counts, probabilities and the median gap.

    Returns one row per ``(source, target)`` pair, sorted by descending ``count``:
    ``source``, ``target`` (touchpoints or the ``(start)``/``(end)`` pseudo-touchpoints),
    ``count`` (times ``target`` directly followed ``source``), ``probability`` (count / times
    ``source`` was left, the first-order transition probability), ``median_gap_s`` (median
    seconds between the two events; null from ``(start)`` and to ``(end)``), then
    ``source_count`` (the denominator), ``probability_ci_low``/``_high`` (95% Wilson)
    and ``small_cell`` (``source_count < min_count``: shown, read with care).
    With ``by_segment=True`` the segment column comes first and probabilities are within it.

    >>> import pandas as pd
    >>> from cjmlib.journeys.build import build_journeys
    >>> t0 = pd.Timestamp("2026-01-05 10:00", tz="UTC")
    >>> events = pd.DataFrame({
    ...     "customer_id": ["a", "a", "a", "b", "b"], "seq": [0, 1, 2, 0, 1],
    ...     "event_time": [t0, t0 + pd.Timedelta("1min"), t0 + pd.Timedelta("3min"), t0,
    ...                    t0 + pd.Timedelta("2min")],
    ...     "touchpoint": ["cart", "payment", "order", "cart", "payment"],
    ...     "channel": "web", "stage": "purchase"})
    >>> flows = transitions(build_journeys(events, conversion_touchpoints=["order"]))
    >>> flows[["source", "target", "count", "probability", "median_gap_s"]]
        source   target  count  probability  median_gap_s
    0  (start)     cart      2          1.0           NaN
    1     cart  payment      2          1.0          90.0
    2    order    (end)      1          1.0           NaN
    3  payment    (end)      1          0.5           NaN
    4  payment    order      1          0.5         120.0
    """
    check_journeys(journeys)
    check_scalar(min_count, "min_count", typ=int, ge=0)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    seg = segment_keys(journeys, by_segment)
    # One ordered pass: each step closes the pair (previous or (start) -> this touchpoint).
    # Every event is followed by another step or by the end of its journey, so the flows to
    # (end) are the events of a touchpoint minus the flows out of it: no second look-ahead.
    # Touchpoints go through the window and the grouping as integer codes, (start) as -1,
    # and are named on the few hundred rows that come back.
    o = journeys.ordered("touchpoint_code", "prev_touchpoint_code", "gap_s")
    pairs = o.select(*seg, source=o.prev_touchpoint_code.fill_null(-1),
                     target=o.touchpoint_code, gap=o.gap_s)
    keys = [*seg, "source", "target"]
    # large logs: on DuckDB the pairs go into a table first (see materialized), other
    # engines rank them by sorting
    large = journeys.sort_quantiles
    with materialized(pairs) if large else nullcontext(pairs) as table:
        body = execute(group_quantiles(table, keys, "gap", {"median_gap_s": 0.5},
                                       by_sorting=large and table is pairs))
    body = body.rename(columns={"_rows": "count"}).drop(columns="_n")
    body["source"] = _touchpoint_names(body["source"], journeys, start=True)
    body["target"] = _touchpoint_names(body["target"], journeys)
    body["count"] = body["count"].astype("int64")
    arrivals = body.groupby([*seg, "target"])["count"].sum()
    departures = body[body["source"] != START].groupby([*seg, "source"])["count"].sum()
    departures.index = departures.index.set_names([*seg, "target"])
    ends = (arrivals - departures.reindex(arrivals.index, fill_value=0)).reset_index(
        name="count")
    ends = ends[ends["count"] > 0].rename(columns={"target": "source"})
    ends["target"] = END
    ends["median_gap_s"] = np.nan
    out = pd.concat([body, ends], ignore_index=True)
    out["count"] = out["count"].astype("int64")
    out["source_count"] = out.groupby([*seg, "source"])["count"].transform("sum")
    add_rate(out, "probability", "count", "source_count", alpha=alpha)
    out["median_gap_s"] = out["median_gap_s"].astype(float)
    out["small_cell"] = out["source_count"] < min_count
    out["alpha"] = alpha
    cols = [*seg, *TRANSITION_COLUMNS, "source_count", "probability_ci_low",
            "probability_ci_high", "small_cell", "alpha"]
    return (out[cols].sort_values([*seg, "count", "source", "target"],
                                  ascending=[True] * len(seg) + [False, True, True])
            .reset_index(drop=True))


def _touchpoint_names(codes: pd.Series, journeys: Journeys, *, start: bool = False
                      ) -> np.ndarray:
    """Touchpoint names of ``touchpoint_code`` values (-1: ``(start)`` when ``start``)."""
    names = np.array([*journeys.touchpoint_names, START], dtype=object)  # -1: the last
    codes = codes.to_numpy(dtype="int64")
    if codes.size and (codes.max() >= len(names) - 1 or codes.min() < (-1 if start else 0)):
        raise ValueError("journeys: the steps hold touchpoints missing from "
                         f"touchpoint_counts {list(names[:-1])}; build them with build_journeys")
    return names[codes]


def compare_transitions(a: pd.DataFrame, b: pd.DataFrame, *,
                        labels: tuple[str, str] = ("a", "b"),
                        alpha: float = 0.05) -> pd.DataFrame:
    """Difference of transition probabilities between two transitions tables.

    ``a`` and ``b`` come from :func:`transitions` on two segments or two periods. For each
    pair found in either, returns the counts and probabilities of both (``count_<label>``,
    ``probability_<label>``, their denominators ``source_count_<label>``), the
    ``difference`` (b minus a), its Newcombe hybrid-score interval ``ci_low``/``ci_high``
    (Newcombe 1998, method 10) and the two-sided score-test ``p_value``
    (statsmodels ``confint_proportions_2indep``/``test_proportions_2indep``), then
    ``p_value_adjusted`` (Benjamini-Hochberg over all pairs), sorted by the absolute
    difference. Pairs whose source never occurs on one side have no difference (NaN).
    """
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    if len(labels) != 2 or labels[0] == labels[1]:
        raise ValueError(f"labels must be two different names, got {labels!r}")
    for name, frame in zip(labels, (a, b), strict=True):
        missing = [c for c in ("source", "target", "count", "source_count")
                   if c not in frame.columns]
        if missing:
            raise ValueError(f"transitions table {name!r}: missing columns {missing}; expected "
                             "the output of cjmlib.journeys.transitions.transitions")
    la, lb = labels
    keys = ["source", "target"]
    left = a[[*keys, "count", "source_count"]]
    right = b[[*keys, "count", "source_count"]]
    out = left.merge(right, on=keys, how="outer", suffixes=(f"_{la}", f"_{lb}"))
    for lab, frame in ((la, a), (lb, b)):
        totals = frame.groupby("source")["count"].sum()
        out[f"count_{lab}"] = out[f"count_{lab}"].fillna(0).astype("int64")
        out[f"source_count_{lab}"] = out["source"].map(totals).fillna(0).astype("int64")
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"probability_{lab}"] = np.where(
                out[f"source_count_{lab}"] > 0,
                out[f"count_{lab}"] / out[f"source_count_{lab}"].clip(lower=1), np.nan)
    out["difference"] = out[f"probability_{lb}"] - out[f"probability_{la}"]
    out["ci_low"] = np.nan
    out["ci_high"] = np.nan
    out["p_value"] = np.nan
    ok = (out[f"source_count_{la}"] > 0) & (out[f"source_count_{lb}"] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):  # statsmodels' odds ratio at 0 or 1
        _difference_tests(out, ok, la, lb, alpha)
    out["p_value_adjusted"] = np.nan
    tested = out["p_value"].notna()
    if tested.any():
        out.loc[tested, "p_value_adjusted"] = adjust_p_values(
            out.loc[tested, "p_value"], method="bh")
    cols = [*keys, f"count_{la}", f"source_count_{la}", f"probability_{la}",
            f"count_{lb}", f"source_count_{lb}", f"probability_{lb}", "difference",
            "ci_low", "ci_high", "p_value", "p_value_adjusted"]
    order = out["difference"].abs().fillna(-1).sort_values(ascending=False, kind="stable").index
    return out.loc[order, cols].reset_index(drop=True)


def _difference_tests(out: pd.DataFrame, ok: pd.Series, la: str, lb: str,
                      alpha: float) -> None:
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        test_proportions_2indep,
    )

    for i in np.flatnonzero(ok.to_numpy()):
        row = out.iloc[i]
        args = (row[f"count_{lb}"], row[f"source_count_{lb}"],
                row[f"count_{la}"], row[f"source_count_{la}"])
        low, high = confint_proportions_2indep(*args, method="newcomb", compare="diff",
                                               alpha=alpha)
        out.iloc[i, out.columns.get_loc("ci_low")] = low
        out.iloc[i, out.columns.get_loc("ci_high")] = high
        same = (args[0] == args[2] and args[1] == args[3]) or (
            args[0] in (0, args[1]) and args[2] in (0, args[3]) and
            args[0] / args[1] == args[2] / args[3])
        out.iloc[i, out.columns.get_loc("p_value")] = 1.0 if same else float(
            test_proportions_2indep(*args, method="score", compare="diff").pvalue)


def path_variants(journeys: Journeys, *, top: int = 10, max_steps: int = 12,
                  separator: str = " > ", alpha: float = 0.05) -> pd.DataFrame:
    """The most frequent journeys (variants), with their share and conversion rate.

    A variant is the ordered touchpoints of a journey; journeys longer than ``max_steps``
    are cut there and end in ``" > ..."``. Returns the ``top`` variants by number of
    journeys, then one ``(other variants)`` row so the shares add to one: ``path``,
    ``n_steps`` (of the variant, before cutting), ``journeys``, ``share`` of all journeys
    (+95% Wilson ``share_ci_low``/``_high``), ``converted`` journeys and ``conversion_rate``
    (+Wilson interval), ``small_cell``.
    """
    import ibis

    check_journeys(journeys)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    check_scalar(top, "top", typ=int, ge=1)
    check_scalar(max_steps, "max_steps", typ=int, ge=1)
    s = journeys.ordered("step")
    # Conditional aggregation spells the path without an order-sensitive aggregate, which
    # some engines (Spark) do not offer; a journey's steps are 1..n_steps.
    parts = [s.touchpoint.max(where=s.step == k) for k in range(1, max_steps + 1)]
    per_journey = s.group_by("journey_id").aggregate(
        n_steps=s.step.max(), converted=s.is_conversion.max(),
        **{f"_p{k}": p for k, p in enumerate(parts, start=1)})
    # concat_ws skips the nulls of journeys shorter than max_steps (DuckDB and Spark alike)
    path = ibis.literal(separator).join([per_journey[f"_p{k}"]
                                         for k in range(1, max_steps + 1)])
    path = ibis.ifelse(per_journey.n_steps > max_steps, path + separator + "...", path)
    per_journey = per_journey.select(path=path, n_steps=per_journey.n_steps,
                                     converted=per_journey.converted.cast("int64"))
    variants = per_journey.group_by("path").aggregate(
        n_steps=per_journey.n_steps.min(), journeys=per_journey.count(),
        converted=per_journey.converted.sum())
    total = per_journey.aggregate(path=ibis.null().cast("string"),
                                  n_steps=ibis.null().cast(variants.n_steps.type()),
                                  journeys=per_journey.count(),
                                  converted=per_journey.converted.sum(), _total=True)
    top_rows = variants.order_by([ibis.desc("journeys"), "path"]).limit(top).mutate(
        _total=False)
    # the top variants and the totals in one query, so the per-journey paths are spelled
    # once (DuckDB materialises a subquery used more than once)
    both = execute(ibis.union(top_rows, total.select(*top_rows.columns)))
    total = both[both["_total"]].reset_index(drop=True)
    head = (both[~both["_total"]].drop(columns="_total")
            .sort_values(["journeys", "path"], ascending=[False, True]).reset_index(drop=True))
    n_all = int(total["journeys"].iloc[0])
    other = pd.DataFrame({
        "path": ["(other variants)"], "n_steps": [np.nan],
        "journeys": [n_all - int(head["journeys"].sum())],
        "converted": [int(total["converted"].iloc[0]) - int(head["converted"].sum())]})
    out = pd.concat([head, other], ignore_index=True) if other["journeys"].iloc[0] else head
    out = out.astype({"journeys": "int64", "converted": "int64"})
    out["n_all"] = n_all
    add_rate(out, "share", "journeys", "n_all", alpha=alpha)
    add_rate(out, "conversion_rate", "converted", "journeys", alpha=alpha)
    out["small_cell"] = out["journeys"] < MIN_CELL
    out["alpha"] = alpha
    return out.drop(columns="n_all")[[
        "path", "n_steps", "journeys", "share", "share_ci_low", "share_ci_high", "converted",
        "conversion_rate", "conversion_rate_ci_low", "conversion_rate_ci_high", "small_cell",
        "alpha"]]


def loops(journeys: Journeys, *, by_segment: bool = False, alpha: float = 0.05
          ) -> pd.DataFrame:
    """Rework: ``A -> B -> A`` loops, where a journey goes to ``B`` and straight back to ``A``.

    Returns one row per ordered pair ``(touchpoint A, via B)`` with ``B != A``, sorted by
    journeys: ``touchpoint``, ``via``, ``occurrences`` (times the loop was run),
    ``journeys`` (journeys that ran it at least once), ``touchpoint_journeys`` (journeys that
    reached A, the denominator), ``loop_rate`` = journeys / touchpoint_journeys with its
    Wilson interval at ``1 - alpha``, ``small_cell``, ``alpha``. Immediate repeats (``A -> A``) are not loops here;
    they show as self-transitions in :func:`transitions` and as ``repeat_rate`` in
    :func:`cjmlib.journeys.touchpoints.touchpoint_metrics`.
    """
    check_journeys(journeys)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    seg = segment_keys(journeys, by_segment)
    s = journeys.ordered("next_touchpoint", "after_next_touchpoint")
    hit = s.filter((s.after_next_touchpoint == s.touchpoint)
                   & (s.next_touchpoint != s.touchpoint))
    agg = hit.group_by([*seg, "touchpoint", "next_touchpoint"]).aggregate(
        occurrences=hit.count(), journeys=hit.journey_id.nunique())
    reach = s.group_by([*seg, "touchpoint"]).aggregate(touchpoint_journeys=s.journey_id.nunique())
    out = execute(agg).rename(columns={"next_touchpoint": "via"})
    denominators = execute(reach)
    out = out.merge(denominators, on=[*seg, "touchpoint"], how="left")
    for c in ("occurrences", "journeys", "touchpoint_journeys"):
        out[c] = out[c].astype("int64")
    add_rate(out, "loop_rate", "journeys", "touchpoint_journeys", alpha=alpha)
    out["small_cell"] = out["touchpoint_journeys"] < MIN_CELL
    out["alpha"] = alpha
    cols = [*seg, "touchpoint", "via", "occurrences", "journeys", "touchpoint_journeys",
            "loop_rate", "loop_rate_ci_low", "loop_rate_ci_high", "small_cell", "alpha"]
    return (out[cols].sort_values([*seg, "journeys", "touchpoint", "via"],
                                  ascending=[True] * len(seg) + [False, True, True])
            .reset_index(drop=True))


def rework(journeys: Journeys, *, max_path: int = 4, top_paths: int = 3,
           by_segment: bool = False, separator: str = " > ",
           alpha: float = 0.05) -> pd.DataFrame:
    """Rework: returns to a touchpoint the journey had already been at, through other steps.

    A *return* to touchpoint A is a step at A whose previous step at A in the same journey
    lies two or more steps before it (``cart > delivery_options > help_center > cart``;
    the ``A -> B -> A`` loops of :func:`loops` are the returns through one step, and
    immediate repeats ``A -> A`` are none). Its *return path* is the steps in between,
    joined by ``separator`` and cut after ``max_path`` steps with ``" > ..."``. Counted in
    the engine in one ordered pass (a window over each journey's order and one over each
    touchpoint's visits in it); only aggregates come back.

    Returns one row per touchpoint and return path (its ``top_paths`` most frequent, then
    ``(other paths)`` when there are more; touchpoints without rework have one row with no
    path), sorted by rework journeys: ``touchpoint``, ``touchpoint_journeys`` (journeys that
    reached it: the denominator), ``rework_journeys`` (journeys that returned to it at least
    once), ``rework_rate`` with its Wilson interval at ``1 - alpha``, ``returns`` (all
    returns to it), ``path_rank`` (1 = most journeys), ``path``, ``path_steps`` (steps
    between leaving and returning, before cutting; the fewest for ``(other paths)``),
    ``path_returns``, ``path_journeys`` (journeys that returned by this path),
    ``path_rate`` = path_journeys / touchpoint_journeys with its Wilson interval,
    ``small_cell`` (touchpoint_journeys < 30) and ``alpha``. With customer journeys every
    later visit returns to the touchpoints of earlier visits; rework within a visit needs
    session journeys.
    """
    import ibis

    check_journeys(journeys)
    check_scalar(max_path, "max_path", typ=int, ge=1, le=12)
    check_scalar(top_paths, "top_paths", typ=int, ge=1)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    seg = segment_keys(journeys, by_segment)
    s = journeys.steps
    order = [s.event_time, s.seq]
    w = ibis.window(group_by="journey_id", order_by=order)
    visits = ibis.window(group_by=["journey_id", "touchpoint"], order_by=order)
    o = s.mutate(_step=ibis.row_number().over(w),
                 **{f"_n{m}": s.touchpoint.lead(m).over(w) for m in range(1, max_path + 1)})
    # each departure from A that later returns to A: the next visit of A is >= 2 steps on
    o = o.mutate(_next_visit=o._step.lead().over(visits))
    length = o._next_visit - o._step - 1
    path = ibis.literal(separator).join(
        [ibis.ifelse(length >= m, o[f"_n{m}"], ibis.null().cast("string"))
         for m in range(1, max_path + 1)])
    path = ibis.ifelse(length > max_path, path + separator + "...", path)
    back = o.filter(length >= 1).select("journey_id", *seg, "touchpoint", _path=path,
                                        _length=length)
    keys = [*seg, "touchpoint"]
    # returns per journey and path; the three summaries below go out as one query, so the
    # engine can run the ordered windows once for all of them (DuckDB materialises a
    # subquery used more than once)
    jp = back.group_by([*keys, "_path", "journey_id"]).aggregate(
        _returns=back.count(), _length=back._length.min())
    per_path = jp.group_by([*keys, "_path"]).aggregate(
        path_returns=jp._returns.sum(), path_journeys=jp.count(), path_steps=jp._length.min())
    ranked = per_path.mutate(path_rank=ibis.row_number().over(ibis.window(
        group_by=keys,
        order_by=[ibis.desc(per_path.path_journeys), ibis.desc(per_path.path_returns),
                  per_path._path])) + 1)
    head = ranked.filter(ranked.path_rank <= top_paths)
    # the other paths in one row each, so path_returns add up to the returns
    others = ranked.filter(ranked.path_rank > top_paths).select(*keys, "_path")
    bt = jp.join(others, [*keys, "_path"])
    rest = bt.group_by(keys).aggregate(
        path_returns=bt._returns.sum(), path_journeys=bt.journey_id.nunique(),
        path_steps=bt._length.min(), path_rank=ibis.literal(top_paths + 1, type="int64"),
        _path=ibis.literal("(other paths)"))
    per_tp = jp.group_by(keys).aggregate(
        path_returns=jp._returns.sum(), path_journeys=jp.journey_id.nunique(),
        path_steps=jp._length.min(), path_rank=ibis.literal(0, type="int64"),
        _path=ibis.null().cast("string"))
    cols = [*keys, "_path", "path_rank", "path_returns", "path_journeys", "path_steps"]
    both = execute(ibis.union(
        head.select(*cols).mutate(path_rank=head.path_rank.cast("int64")),
        rest.select(*cols), per_tp.select(*cols)))
    totals = both["path_rank"] == 0  # per touchpoint: journeys with rework, all returns
    per_tp = both[totals].rename(columns={"path_journeys": "rework_journeys",
                                          "path_returns": "returns"})[
        [*keys, "rework_journeys", "returns"]]
    paths = both[~totals].rename(columns={"_path": "path"})
    reached = execute(s.group_by(keys).aggregate(touchpoint_journeys=s.journey_id.nunique()))
    out = reached.merge(per_tp, on=keys, how="left").merge(paths, on=keys, how="left")
    for c in ("touchpoint_journeys", "rework_journeys", "returns"):
        out[c] = out[c].fillna(0).astype("int64")
    for c in ("path_rank", "path_steps", "path_returns", "path_journeys"):
        out[c] = out[c].astype("Int64")
    add_rate(out, "rework_rate", "rework_journeys", "touchpoint_journeys", alpha=alpha)
    add_rate(out, "path_rate", "path_journeys", "touchpoint_journeys", alpha=alpha)
    none = out["path"].isna()
    out.loc[none, ["path_rate", "path_rate_ci_low", "path_rate_ci_high"]] = np.nan
    out["small_cell"] = out["touchpoint_journeys"] < MIN_CELL
    out["alpha"] = alpha
    cols = [*seg, *REWORK_COLUMNS]
    return (out[cols].sort_values([*seg, "rework_journeys", "touchpoint", "path_rank"],
                                  ascending=[True] * len(seg) + [False, True, True])
            .reset_index(drop=True))


def loop_rates(journeys: Journeys, *, by_channel: bool = False,
               by_segment: bool = False) -> pd.DataFrame:
    """Journeys with an ``A -> B -> A`` loop starting at each touchpoint (any ``B``).

    Returns the grouping columns (segment, ``touchpoint``, ``channel`` when asked; sorted by
    them) and
    ``loops``: journeys in which the touchpoint (on that channel) was left for another one
    and returned to straight after. The denominators (journeys through the touchpoint) are
    in :func:`cjmlib.journeys.touchpoints.touchpoint_metrics`, which turns this into ``loop_rate``.
    """
    check_journeys(journeys)
    seg = segment_keys(journeys, by_segment)
    keys = [*seg, "touchpoint", *(["channel"] if by_channel else [])]
    if journeys.is_kept(journeys.precomputed):  # neighbours computed once: a scan
        s = journeys.ordered("next_touchpoint", "after_next_touchpoint")
        hit = s.filter((s.after_next_touchpoint == s.touchpoint)
                       & (s.next_touchpoint != s.touchpoint))
        out = execute(hit.group_by(keys).aggregate(loops=hit.journey_id.nunique()))
    else:
        # the window carries the touchpoints as integer codes (see Journeys.ordered), named
        # on the few rows that come back
        s = journeys.ordered("touchpoint_code", "next_touchpoint_code",
                             "after_next_touchpoint_code")
        hit = s.filter((s.after_next_touchpoint_code == s.touchpoint_code)
                       & (s.next_touchpoint_code != s.touchpoint_code))
        coded = ["touchpoint_code" if k == "touchpoint" else k for k in keys]
        out = execute(hit.group_by(coded).aggregate(loops=hit.journey_id.nunique()))
        names = np.asarray(journeys.touchpoint_names, dtype=object)
        out.insert(len(seg), "touchpoint", names[out.pop("touchpoint_code").astype("int64")])
        out = out[[*keys, "loops"]]
    out["loops"] = out["loops"].astype("int64")
    # sorted: the engine returns groups in no fixed order
    return out.sort_values(keys).reset_index(drop=True)


def transition_matrix(table: pd.DataFrame, *, order: Sequence[str] | None = None
                      ) -> pd.DataFrame:
    """Square probability matrix (sources as rows, targets as columns) from a transitions table.

    ``order`` fixes the touchpoint order; ``(start)`` comes first and ``(end)`` last.
    """
    names: list[Any] = list(order) if order is not None else sorted(
        set(table["source"]) | set(table["target"]) - {START, END})
    rows = [START, *[n for n in names if n not in (START, END)]]
    cols = [*[n for n in names if n not in (START, END)], END]
    mat = table.pivot_table(index="source", columns="target", values="probability",
                            aggfunc="sum", fill_value=0.0)
    return mat.reindex(index=rows, columns=cols, fill_value=0.0)
