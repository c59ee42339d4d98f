"""Touchpoint impact: Markov-chain attribution with removal effects solved analytically.

The journeys form an absorbing Markov chain (Anderl, Becker, von Wangenheim & Schumann 2016,
"Mapping the customer journey: lessons learned from graph-based online attribution
modeling", *IJRM* 33(3)): transient states are ``(start)`` and the touchpoints (or, for
``order`` k > 1, the last k touchpoints), absorbing states are ``(conversion)`` (the first
conversion touchpoint of a journey) and ``(null)`` (the journey ends without converting).
Transition probabilities are maximum-likelihood estimates from directly-follows counts,
computed in the engine.

With ``Q`` the transient-to-transient block and ``r`` the transient-to-conversion column,
the conversion probability from each state is ``p = (I - Q)^{-1} r`` (the fundamental matrix
``N = (I - Q)^{-1}``, Kemeny & Snell 1960, *Finite Markov Chains*, ch. 3), solved with
``numpy.linalg.solve``: exact, reproducible, no simulation. The *removal effect* of a
touchpoint is ``1 - p_without / p``, where ``p_without`` is the conversion probability from
``(start)`` when every state containing the touchpoint leads to ``(null)``. Attributed
conversions split the observed conversions in proportion to removal effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import execute
from cjmlib.journeys.build import START, Journeys, check_journeys, segment_keys

CONVERSION, NULL = "(conversion)", "(null)"
_SEP = " > "


@dataclass(frozen=True)
class MarkovAttribution:
    """Result of :func:`markov_attribution`.

    ``removal_effects``: one row per touchpoint (per segment first when asked):
    ``touchpoint``, ``removal_effect`` (0..1: share of the conversion probability lost
    without it), ``conversion_probability_without``, ``attributed_conversions``,
    ``attributed_share``, ``journeys`` (journeys through it, the evidence behind it).
    ``conversion_probability``: probability that a journey from ``(start)`` converts, per
    segment (``"all"`` without segments). ``transition_counts``: the counts the chain was
    estimated from (``source``, ``target``, ``count``). Removal effects are model
    quantities without a sampling interval; read them beside ``journeys``.
    """

    order: int
    removal_effects: pd.DataFrame
    conversion_probability: dict[str, float]
    conversions: dict[str, int]
    journeys: dict[str, int]
    transition_counts: pd.DataFrame

    def to_pandas(self) -> pd.DataFrame:
        """The removal-effects table."""
        return self.removal_effects.copy()

    def _repr_html_(self) -> str:
        return self.removal_effects._repr_html_()


def markov_attribution(journeys: Journeys, *, order: int = 1,
                       by_segment: bool = False) -> MarkovAttribution:
    """Removal effects of every touchpoint from an ``order``-k absorbing Markov chain.

    Journeys are read up to their first conversion (later steps belong to the next purchase
    journey, as in Anderl et al. 2016). Conversion touchpoints are the absorbing
    ``(conversion)`` state, so they get no removal effect of their own. ``order`` 1 uses the
    current touchpoint as state; ``order`` 2 or 3 the last two or three touchpoints.
    """
    check_journeys(journeys)
    check_scalar(order, "order", typ=int, ge=1, le=4)
    seg = segment_keys(journeys, by_segment)
    if order == 1 and not journeys.is_kept(journeys.precomputed):
        counts, through, _ = _coded_first_order(journeys, seg)
    else:
        counts, through = _chain_counts(journeys, seg, order)
    return _attribution(counts, through, seg, order)


def markov_attribution_and_loops(journeys: Journeys, *, by_channel: bool = False,
                                 by_segment: bool = False
                                 ) -> tuple[MarkovAttribution, pd.DataFrame]:
    """:func:`markov_attribution` of order 1 and
    :func:`cjmlib.journeys.transitions.loop_rates` together, the same two results: on a
    log not kept by :mod:`cjmlib.journeys.persist` both come from one ordered pass (one sort
    of the events instead of two, what the full touchpoint table of a large log spends most
    on); on kept journeys, whose neighbours are stored, each is a plain scan."""
    check_journeys(journeys)
    if journeys.is_kept(journeys.precomputed):
        from cjmlib.journeys.transitions import loop_rates

        return (markov_attribution(journeys, by_segment=by_segment),
                loop_rates(journeys, by_channel=by_channel, by_segment=by_segment))
    seg = segment_keys(journeys, by_segment)
    keys = [*seg, "touchpoint", *(["channel"] if by_channel else [])]
    counts, through, loops = _coded_first_order(journeys, seg, loop_keys=keys)
    assert loops is not None
    return _attribution(counts, through, seg, 1), loops


def _chain_counts(journeys: Journeys, seg: list[str], order: int
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The chain's transition counts (``source``, ``target``, ``count``) and the journeys
    through each touchpoint before their first conversion (``touchpoint``, ``journeys``),
    per segment in ``seg``, from one ordered pass over the touchpoint names."""
    import ibis

    # One ordered pass. Steps before the first conversion are chain states; the step after
    # the last of them is (conversion) when it converts and (null) when the journey ends.
    s = journeys.ordered("prev_touchpoint", "next_touchpoint", "conversions_so_far")
    w = ibis.window(group_by="journey_id", order_by=[s.event_time, s.seq])
    lags = [s.touchpoint.lag(k).over(w) for k in range(order - 1, 0, -1)]
    s = s.mutate(**{f"_lag{k}": lag for k, lag in zip(range(order - 1, 0, -1), lags,
                                                        strict=True)})
    state = _join_state([s[f"_lag{k}"] for k in range(order - 1, 0, -1)] + [s.touchpoint])
    next_state = _join_state([s[f"_lag{k}"] for k in range(order - 2, 0, -1)]
                             + [s.touchpoint, s.next_touchpoint]) if order > 1 \
        else s.next_touchpoint
    convs = list(journeys.conversion_touchpoints)
    target = ibis.cases((s.next_touchpoint.isin(convs), ibis.literal(CONVERSION)),
                        (s.next_touchpoint.isnull(), ibis.literal(NULL)),
                        else_=next_state)
    before = s.filter(s.conversions_so_far == 0)
    body = before.select(*seg, journey_id=before.journey_id, source=state, target=target,
                         touchpoint=before.touchpoint)
    # Every journey opens with (start) -> its first state, or straight to (conversion).
    first = s.filter(s.prev_touchpoint.isnull())
    opening = first.select(
        *seg, journey_id=first.journey_id, source=ibis.literal(START),
        target=ibis.ifelse(first.is_conversion, ibis.literal(CONVERSION), first.touchpoint),
        touchpoint=ibis.literal(START))
    pairs = body.union(opening)
    # the transition counts and the journeys through each touchpoint in one query, so the
    # ordered pass runs once (DuckDB materialises a subquery used more than once)
    counts = pairs.group_by([*seg, "source", "target"]).aggregate(
        count=pairs.count(), touchpoint=ibis.null().cast("string"))
    through = body.group_by([*seg, "touchpoint"]).aggregate(
        count=body.journey_id.nunique(), source=ibis.null().cast("string"),
        target=ibis.null().cast("string"))
    cols = [*seg, "source", "target", "touchpoint", "count"]
    both = execute(ibis.union(counts.select(*cols), through.select(*cols)))
    is_through = both["touchpoint"].notna()
    through = both[is_through].rename(columns={"count": "journeys"})[
        [*seg, "touchpoint", "journeys"]].reset_index(drop=True)
    counts = both[~is_through][[*seg, "source", "target", "count"]].sort_values(
        [*seg, "source", "target"]).reset_index(drop=True)
    counts["count"] = counts["count"].astype("int64")
    return counts, through


def _coded_first_order(journeys: Journeys, seg: list[str],
                       loop_keys: list[str] | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """:func:`_chain_counts` of order 1 from one ordered pass that carries the touchpoints
    as integer codes (:meth:`Journeys.ordered`; the engine sorts and compares small integers
    much faster than strings) and names them on the few rows that come back; with
    ``loop_keys`` (segment, ``touchpoint``, maybe ``channel``), the loop counts of
    :func:`cjmlib.journeys.transitions.loop_rates` from the same pass too, so that the full
    touchpoint table orders a large uncached log once for both."""
    import ibis

    names = list(journeys.touchpoint_names)
    converting = [i for i, name in enumerate(names) if name in
                  set(journeys.conversion_touchpoints)]
    to_conversion, to_null, from_start = -1, -2, -3  # codes of the chain's other states
    s = journeys.ordered("touchpoint_code", "prev_touchpoint_code", "next_touchpoint_code",
                         "conversions_so_far",
                         *(["after_next_touchpoint_code"] if loop_keys else []))
    before = s.filter(s.conversions_so_far == 0)
    nxt = before.next_touchpoint_code
    target = ibis.cases((nxt.isin(converting), to_conversion), (nxt.isnull(), to_null),
                        else_=nxt)
    body = before.select(*seg, journey_id=before.journey_id,
                         source=before.touchpoint_code.cast("int64"),
                         target=target.cast("int64"))
    first = s.filter(s.prev_touchpoint_code.isnull())
    opening = first.select(*seg, journey_id=first.journey_id,
                           source=ibis.literal(from_start, type="int64"),
                           target=ibis.ifelse(first.is_conversion, to_conversion,
                                              first.touchpoint_code).cast("int64"))
    pairs = body.union(opening)
    channel = ibis.null().cast("string")
    cols = [*seg, "_part", "source", "target", "channel", "count"]
    parts = [
        pairs.group_by([*seg, "source", "target"]).aggregate(
            count=pairs.count(), _part=ibis.literal(0), channel=channel),
        body.group_by([*seg, "source"]).aggregate(
            count=body.journey_id.nunique(), _part=ibis.literal(1),
            target=ibis.null().cast("int64"), channel=channel),
    ]
    if loop_keys:
        hit = s.filter((s.after_next_touchpoint_code == s.touchpoint_code)
                       & (s.next_touchpoint_code != s.touchpoint_code))
        hit = hit.mutate(source=hit.touchpoint_code.cast("int64"))
        by = [*seg, "source", *(["channel"] if "channel" in loop_keys else [])]
        parts.append(hit.group_by(by).aggregate(
            count=hit.journey_id.nunique(), _part=ibis.literal(2),
            target=ibis.null().cast("int64"),
            **({} if "channel" in loop_keys else {"channel": channel})))
    # one query: the ordered pass runs once (DuckDB materialises a subquery used more than
    # once)
    both = execute(ibis.union(*[t.select(*cols) for t in parts]))
    state = np.asarray([*names, START, NULL, CONVERSION], dtype=object)

    def named(column: pd.Series) -> np.ndarray:
        return state[column.astype("int64").to_numpy()]  # -1, -2, -3 index from the end

    pair = both[both["_part"] == 0]
    counts = pd.DataFrame({**{k: pair[k].to_numpy() for k in seg},
                           "source": named(pair["source"]), "target": named(pair["target"]),
                           "count": pair["count"].astype("int64").to_numpy()})
    counts = counts.sort_values([*seg, "source", "target"]).reset_index(drop=True)
    th = both[both["_part"] == 1]
    through = pd.DataFrame({**{k: th[k].to_numpy() for k in seg},
                            "touchpoint": named(th["source"]),
                            "journeys": th["count"].to_numpy()})
    loops = None
    if loop_keys:
        lp = both[both["_part"] == 2]
        loops = pd.DataFrame({**{k: lp[k].to_numpy() for k in seg},
                              "touchpoint": named(lp["source"]),
                              **({"channel": lp["channel"].to_numpy()}
                                 if "channel" in loop_keys else {}),
                              "loops": lp["count"].astype("int64").to_numpy()})
        loops = loops[[*loop_keys, "loops"]].sort_values(loop_keys).reset_index(drop=True)
    return counts, through, loops


def _attribution(counts: pd.DataFrame, through: pd.DataFrame, seg: list[str], order: int
                 ) -> MarkovAttribution:
    """Removal effects, attributed conversions and journeys per touchpoint from the chain's
    counts (see :func:`markov_attribution`)."""
    groups = [("all", counts, through)] if not seg else [
        (str(k), g, through[through[seg[0]] == k]) for k, g in counts.groupby(seg[0])]
    frames, prob, conv, n = [], {}, {}, {}
    for key, c, th in groups:
        table, p0 = _solve(c)
        conversions = int(c.loc[c["target"] == CONVERSION, "count"].sum())
        n_journeys = int(c.loc[c["source"] == START, "count"].sum())
        total = table["removal_effect"].sum()
        table["attributed_conversions"] = (table["removal_effect"] / total * conversions
                                           if total > 0 else 0.0)
        table["attributed_share"] = table["removal_effect"] / total if total > 0 else 0.0
        table = table.merge(th[["touchpoint", "journeys"]], on="touchpoint", how="left")
        table["journeys"] = table["journeys"].fillna(0).astype("int64")
        if seg:
            table.insert(0, seg[0], key)
        frames.append(table)
        prob[key], conv[key], n[key] = p0, conversions, n_journeys
    effects = pd.concat(frames, ignore_index=True).sort_values(
        [*seg, "removal_effect", "touchpoint"],
        ascending=[True] * len(seg) + [False, True]).reset_index(drop=True)
    return MarkovAttribution(order=order, removal_effects=effects, conversion_probability=prob,
                             conversions=conv, journeys=n, transition_counts=counts)


def _join_state(parts):
    """Last touchpoints joined with ' > ', skipping the missing ones at a journey's start."""
    import ibis

    out = None
    for part in parts:
        if out is None:
            out = part
        else:
            out = ibis.ifelse(out.isnull(), part, out + _SEP + part)
    return out


def removal_effects_from_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """Removal effects from a table of ``source``, ``target``, ``count`` (chain already
    counted). Sources are ``(start)`` and states; targets also ``(conversion)``/``(null)``.
    Returns ``touchpoint``, ``removal_effect``, ``conversion_probability_without``."""
    table, _ = _solve(counts)
    return table


def conversion_probability(counts: pd.DataFrame) -> float:
    """Probability of reaching ``(conversion)`` from ``(start)`` in the counted chain."""
    return _solve(counts)[1]


def _solve(counts: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    states = sorted(set(counts["source"]) | set(counts["target"]) - {CONVERSION, NULL})
    states = [START] + [x for x in states if x != START]
    index = {x: i for i, x in enumerate(states)}
    m = len(states)
    q = np.zeros((m, m))
    r = np.zeros(m)
    for src, tgt, cnt in counts[["source", "target", "count"]].itertuples(index=False):
        i = index[src]
        if tgt == CONVERSION:
            r[i] += cnt
        elif tgt != NULL:
            q[i, index[tgt]] += cnt
    totals = q.sum(axis=1) + r + _null_counts(counts, index, m)
    totals[totals == 0] = 1.0  # states never left (none in a journey chain): absorbing
    q /= totals[:, None]
    r /= totals
    base = _conversion_from_start(q, r)
    touchpoints = sorted({tp for x in states[1:] for tp in x.split(_SEP)})
    rows = []
    for tp in touchpoints:
        removed = np.array([i > 0 and tp in states[i].split(_SEP) for i in range(m)])
        q2, r2 = q.copy(), r.copy()
        q2[removed, :] = 0.0  # entering a removed state leads nowhere but (null)
        r2[removed] = 0.0
        p = _conversion_from_start(q2, r2)
        effect = 1.0 - p / base if base > 0 else 0.0
        rows.append((tp, float(max(effect, 0.0)), float(p)))
    table = pd.DataFrame(rows, columns=["touchpoint", "removal_effect",
                                        "conversion_probability_without"])
    return table, float(base)


def _null_counts(counts: pd.DataFrame, index: dict[str, int], m: int) -> np.ndarray:
    out = np.zeros(m)
    nulls = counts[counts["target"] == NULL]
    for src, cnt in nulls[["source", "count"]].itertuples(index=False):
        out[index[src]] += cnt
    return out


def _conversion_from_start(q: np.ndarray, r: np.ndarray) -> float:
    """Absorption probability into (conversion) from (start): solve (I - Q) p = r."""
    p = np.linalg.solve(np.eye(len(r)) - q, r)
    return float(p[0])
