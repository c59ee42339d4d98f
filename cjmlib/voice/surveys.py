"""Voice of the customer: survey metrics with intervals, trends, competitor benchmark and the
experience curve per journey stage.

Every function takes the canonical ``feedback`` table (DESIGN.md: one row per survey answer
or verbatim; ``customer_id``, ``response_time``, ``touchpoint``, ``channel``, ``csat`` 1-5,
``nps`` 0-10, ``ces`` 1-7, ``text``, ``language``, ``source``, plus ``survey``,
``response_id``, ``stage`` and ``brand`` as agreed with collection) as a pandas DataFrame or a
Parquet/CSV path, and returns a pandas table. Feedback tables are small (one row per answer),
so they are handled in pandas; event logs never are.

Metrics and their intervals (95% unless ``alpha`` says otherwise):

* CSAT mean: score interval of the mean of the 1-5 answers (Rao's score test over the
  scale's points, :func:`cjmlib.stats.intervals.score_interval_from_counts`): within 1-5,
  never of zero width (also when every answer is the same), 96-97% coverage of a 95%
  interval from 10 answers on when most answers are 5, where the Student-t interval
  covered 65-89%.
* top-2-box: share of CSAT 4 or 5 with the Wilson (1927) score interval.
* NPS: the mean of respondents coded promoter (9-10) +1, passive (7-8) 0, detractor (0-6) -1,
  times 100. Its variance is ``(p_pro + p_det - NPS^2) / n`` (NPS as a fraction), the variance
  of that mean -- not the sum of two independent proportions' variances, which ignores their
  negative covariance (``nps_se`` is its square root). The interval is the score interval of
  that mean (Rocks 2016, "Interval estimation for the Net Promoter Score", The American
  Statistician), within -100..100 and never of zero width; the Wald interval covered 65% /
  85% at n = 10 / 30 with 90% promoters.
* CES mean: score interval of the mean of the 1-7 answers, as for CSAT.

Coverage of both score intervals is simulated in ``benchmarks/validity_surveys.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_columns, check_scalar
from cjmlib.core.schema import REQUIRED_FEEDBACK_COLUMNS, SCORE_RANGES
from cjmlib.stats.intervals import mean_interval, nps_interval, wilson_interval
from cjmlib.stats.multiplicity import adjust_p_values

#: The metric columns of ``survey_metrics`` in contract order (DESIGN.md).
METRIC_COLUMNS = ("n", "csat_mean", "csat_ci_low", "csat_ci_high", "top2box", "nps",
                  "nps_ci_low", "nps_ci_high", "ces_mean")
#: Extra columns after the contract ones: denominators and the other intervals.
EXTRA_COLUMNS = ("n_csat", "top2box_ci_low", "top2box_ci_high", "n_nps", "promoters",
                 "passives", "detractors", "nps_se", "n_ces", "ces_ci_low", "ces_ci_high")
#: Default survey kinds for touchpoint metrics: answers given right after an interaction.
POST_INTERACTION = ("post_interaction",)


# --------------------------------------------------------------------------------------------
# Reading and checking feedback
# --------------------------------------------------------------------------------------------


def read_feedback(data: pd.DataFrame | str | os.PathLike[str], *,
                  what: str | None = None,
                  required: Sequence[str] = REQUIRED_FEEDBACK_COLUMNS) -> pd.DataFrame:
    """Return the feedback table as a checked pandas DataFrame (a copy).

    ``data`` is a DataFrame or a Parquet/CSV path. Checks that ``required`` columns exist and
    that ``csat``, ``nps`` and ``ces`` (where present) are numbers in 1-5, 0-10 and 1-7;
    ``response_time`` (where present) is parsed to UTC. Raises ``ValueError`` naming the
    table, the column, the first offending row and what was expected.
    """
    from cjmlib.core.io import read_table

    if isinstance(data, pd.DataFrame):
        what = what or "feedback table"
        frame = data.copy()
    elif isinstance(data, (str, os.PathLike)):
        what = what or str(data)
        frame = read_table(data)
    else:
        raise TypeError(f"feedback must be a pandas DataFrame or a path, got "
                        f"{type(data).__name__}")
    check_columns(frame, required, what=what)
    for col, (low, high) in SCORE_RANGES.items():
        if col not in frame.columns:
            continue
        values = frame[col]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            parsed = pd.to_numeric(values, errors="coerce")
            bad = parsed.isna() & values.notna()
            if bad.any():
                row = bad.idxmax()
                raise ValueError(f"{what}: column {col!r} must hold numbers {low:g}-{high:g}; "
                                 f"found {values[row]!r} in row {row}")
            values = parsed
        values = values.astype("float64")
        out = values.notna() & ((values < low) | (values > high))
        if out.any():
            row = out.idxmax()
            raise ValueError(
                f"{what}: column {col!r} must be between {low:g} and {high:g}; found "
                f"{values[row]:g} in row {row} ({int(out.sum())} rows out of range)")
        frame[col] = values
    if "response_time" in frame.columns:
        frame["response_time"] = _utc_times(frame["response_time"], what=what)
    return frame


def _utc_times(times: pd.Series, *, what: str) -> pd.Series:
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        return times.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_any_dtype(times):
        raise ValueError(f"{what}: column 'response_time' must be a UTC timestamp with time "
                         f"zone; found naive timestamps ({times.dtype})")
    parsed = pd.to_datetime(times, errors="coerce", utc=True, format="ISO8601")
    bad = parsed.isna() & times.notna()
    if bad.any():
        row = bad.idxmax()
        raise ValueError(f"{what}: column 'response_time' has unparseable values (first at row "
                         f"{row}: {times[row]!r}); expected an ISO-8601 time with offset")
    return parsed


def select_surveys(feedback: pd.DataFrame, surveys: Sequence[str] | None, *,
                   what: str = "feedback table") -> pd.DataFrame:
    """Rows of the given ``survey`` kinds (all rows when ``surveys`` is None or the table has
    no ``survey`` column). Raises ``ValueError`` when none of the kinds is present."""
    if surveys is None or "survey" not in feedback.columns:
        return feedback
    keep = feedback["survey"].isin(list(surveys))
    if not keep.any():
        found = sorted(feedback["survey"].dropna().unique().tolist())
        raise ValueError(f"{what}: no rows of survey {list(surveys)}; found surveys {found}")
    return feedback[keep]


def score_summary(group: pd.DataFrame, *, alpha: float = 0.05) -> dict[str, float]:
    """All survey metrics of one group of feedback rows (the columns of ``survey_metrics``
    after ``level`` and ``group``)."""
    has_score = group[["csat", "nps", "ces"]].notna().any(axis=1)
    n_csat, csat_mean, csat_lo, csat_hi = mean_interval(group["csat"].to_numpy(float),
                                                        alpha=alpha, scale=SCORE_RANGES["csat"])
    csat = group["csat"].dropna()
    top = int((csat >= 4).sum())
    t_lo, t_hi = wilson_interval(top, n_csat, alpha=alpha)
    nps = nps_interval(group["nps"].to_numpy(float), alpha=alpha)
    n_ces, ces_mean, ces_lo, ces_hi = mean_interval(group["ces"].to_numpy(float), alpha=alpha,
                                                    scale=SCORE_RANGES["ces"])
    return {
        "n": int(has_score.sum()), "csat_mean": csat_mean, "csat_ci_low": csat_lo,
        "csat_ci_high": csat_hi, "top2box": top / n_csat if n_csat else np.nan,
        "nps": nps["nps"], "nps_ci_low": nps["nps_ci_low"], "nps_ci_high": nps["nps_ci_high"],
        "ces_mean": ces_mean, "n_csat": n_csat, "top2box_ci_low": t_lo,
        "top2box_ci_high": t_hi, "n_nps": nps["n"], "promoters": nps["promoters"],
        "passives": nps["passives"], "detractors": nps["detractors"], "nps_se": nps["nps_se"],
        "n_ces": n_ces, "ces_ci_low": ces_lo, "ces_ci_high": ces_hi,
    }


# --------------------------------------------------------------------------------------------
# Survey metrics
# --------------------------------------------------------------------------------------------


def survey_metrics(
    feedback: pd.DataFrame | str | os.PathLike[str],
    *,
    by: Sequence[str] = ("touchpoint", "stage", "channel"),
    segments: pd.DataFrame | None = None,
    segment_col: str = "persona_name",
    stage_map: Mapping[str, str] | None = None,
    surveys: Sequence[str] | None = POST_INTERACTION,
    min_n: int = 1,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """CSAT, top-2-box, NPS and CES per group, each with its n and interval.

    One block of rows per entry of ``by`` (``touchpoint``, ``stage``, ``channel``,
    ``segment`` or any other column of the feedback). The ``segment`` level groups by
    ``segment_col``, which may come from ``segments`` (a table with ``customer_id`` and
    ``segment_col``, e.g. the segments table of :mod:`cjmlib.voice.segments`, whose
    ``persona_name`` is the default), joined on ``customer_id``. ``stage_map`` (touchpoint ->
    stage) fills a missing ``stage``. Only rows of ``surveys`` kinds are used (default the
    post-interaction survey; None for all rows). Groups with fewer than ``min_n`` scored
    responses are left out.

    Returns the DESIGN.md columns ``level, group, n, csat_mean, csat_ci_low, csat_ci_high,
    top2box, nps, nps_ci_low, nps_ci_high, ces_mean`` (NPS on -100..100, intervals
    ``1 - alpha``), then ``n_csat``, ``top2box_ci_low``/``_high`` (Wilson), ``n_nps``,
    ``promoters``, ``passives``, ``detractors`` (shares of ``n_nps``), ``nps_se``, ``n_ces``,
    ``ces_ci_low``/``_high``, ``alpha``. ``n`` counts responses with at least one score; each rate's
    own denominator is its ``n_*`` column. Methods: see the module docstring.

    Raises ``ValueError`` for missing columns, scores out of range, a ``by`` column with no
    values or no scored response at all.
    """
    check_scalar(min_n, "min_n", typ=int, ge=1)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    if isinstance(by, str):
        by = [by]
    frame = _prepare(feedback, segments=segments, segment_col=segment_col,
                     stage_map=stage_map, surveys=surveys)
    rows = []
    for level in by:
        col = segment_col if level == "segment" else level
        if col not in frame.columns:
            hint = " (pass segments=... to join them on customer_id)" if level == "segment" \
                else ""
            raise ValueError(f"feedback table: cannot group by {level!r}: no column {col!r}"
                             f"{hint}; found {list(frame.columns)}")
        if frame[col].notna().sum() == 0:
            raise ValueError(f"feedback table: column {col!r} has no values to group by "
                             f"({len(frame)} scored rows, all null)")
        for group, part in frame.groupby(col, sort=True, dropna=True):
            summary = score_summary(part, alpha=alpha)
            if summary["n"] >= min_n:
                rows.append({"level": level, "group": str(group), **summary})
    if not rows:
        raise ValueError(f"feedback table: no group of {list(by)} has at least min_n={min_n} "
                         "scored responses")
    out = pd.DataFrame(rows, columns=["level", "group", *METRIC_COLUMNS, *EXTRA_COLUMNS])
    out["alpha"] = alpha  # the intervals are at 1 - alpha
    return out


def touchpoint_attitude(feedback: pd.DataFrame | str | os.PathLike[str], *,
                        scored: pd.DataFrame | None = None,
                        alpha: float = 0.05) -> pd.DataFrame:
    """What customers said at each touchpoint, for the priority score of
    :func:`cjmlib.journeys.touchpoints.touchpoint_metrics` (its ``attitude``).

    One row per touchpoint of the post-interaction survey: ``touchpoint``, ``n``,
    ``csat_mean`` with ``csat_ci_low``/``_high`` and ``nps`` with ``nps_ci_low``/``_high``
    (as :func:`survey_metrics`, intervals at ``1 - alpha``); with ``scored`` (comments scored
    by :func:`cjmlib.voice.sentiment.score_sentiment`) also ``sentiment_mean`` (-1..1) and
    ``sentiment_n`` (scored comments).
    """
    survey = survey_metrics(feedback, by=["touchpoint"], alpha=alpha)
    out = survey.rename(columns={"group": "touchpoint"})[
        ["touchpoint", "n", "csat_mean", "csat_ci_low", "csat_ci_high", "nps", "nps_ci_low",
         "nps_ci_high"]]
    if scored is not None:
        check_columns(scored, ["touchpoint", "sentiment"], what="scored comments")
        sentiment = (scored.groupby("touchpoint")["sentiment"]
                     .agg(sentiment_mean="mean", sentiment_n="count").reset_index())
        out = out.merge(sentiment, on="touchpoint", how="left")
    return out


def _prepare(feedback: Any, *, segments: pd.DataFrame | None, segment_col: str,
             stage_map: Mapping[str, str] | None, surveys: Sequence[str] | None,
             require_scores: bool = True) -> pd.DataFrame:
    frame = read_feedback(feedback)
    frame = select_surveys(frame, surveys)
    if stage_map is not None:
        mapped = frame["touchpoint"].map(dict(stage_map))
        frame["stage"] = frame["stage"].fillna(mapped) if "stage" in frame.columns else mapped
    if segments is not None:
        frame = join_segments(frame, segments, segment_col=segment_col)
    if require_scores:
        scored = frame[["csat", "nps", "ces"]].notna().any(axis=1)
        if not scored.any():
            raise ValueError(f"feedback table: no row has a csat, nps or ces score "
                             f"({len(frame)} rows of surveys {surveys})")
        frame = frame[scored]
    return frame


def join_segments(frame: pd.DataFrame, segments: pd.DataFrame, *,
                  segment_col: str = "segment") -> pd.DataFrame:
    """Add ``segment_col`` of ``segments`` (keyed by ``customer_id``) to ``frame``; rows of
    customers without a segment get null."""
    check_columns(segments, ["customer_id", segment_col], what="segments table")
    if segments["customer_id"].duplicated().any():
        dup = segments.loc[segments["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise ValueError(f"segments table: customer_id must be unique; {dup!r} appears more "
                         "than once")
    lookup = segments.set_index("customer_id")[segment_col]
    out = frame.drop(columns=[segment_col], errors="ignore")
    out[segment_col] = out["customer_id"].map(lookup)
    return out


# --------------------------------------------------------------------------------------------
# Trends
# --------------------------------------------------------------------------------------------


def survey_trend(
    feedback: pd.DataFrame | str | os.PathLike[str],
    *,
    freq: str = "M",
    by: str | None = None,
    surveys: Sequence[str] | None = POST_INTERACTION,
    stage_map: Mapping[str, str] | None = None,
    min_n: int = 1,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Survey metrics per period of ``response_time`` (and per ``by`` group), with intervals.

    ``freq`` is a pandas period alias: ``"W"`` (weeks Monday to Sunday), ``"M"`` (calendar
    months), ``"Q"`` (quarters), computed on UTC times. Returns ``period`` (the period's start,
    UTC),
    ``level`` (``by`` or ``"all"``), ``group`` and the columns of :func:`survey_metrics`.
    """
    check_scalar(min_n, "min_n", typ=int, ge=1)
    frame = _prepare(feedback, segments=None, segment_col="segment", stage_map=stage_map,
                     surveys=surveys)
    if frame["response_time"].isna().all():
        raise ValueError("feedback table: column 'response_time' has no values; a trend needs "
                         "response times")
    frame = frame[frame["response_time"].notna()]
    naive = frame["response_time"].dt.tz_convert("UTC").dt.tz_localize(None)
    try:
        period = naive.dt.to_period(freq).dt.start_time
    except (ValueError, TypeError) as exc:
        raise ValueError(f"freq must be a pandas period alias such as 'W', 'M' or 'Q'; got "
                         f"{freq!r}") from exc
    frame = frame.assign(_period=period.dt.tz_localize("UTC"))
    keys = ["_period"]
    if by is not None:
        if by not in frame.columns:
            raise ValueError(f"feedback table: cannot break the trend down by {by!r}: no such "
                             f"column; found {list(frame.columns)}")
        keys.append(by)
    rows = []
    for key, part in frame.groupby(keys, sort=True, dropna=True):
        summary = score_summary(part, alpha=alpha)
        if summary["n"] >= min_n:
            rows.append({"period": key[0], "level": by or "all",
                         "group": str(key[1]) if by else "all", **summary})
    if not rows:
        raise ValueError(f"feedback table: no period has at least min_n={min_n} scored "
                         "responses")
    out = pd.DataFrame(rows, columns=["period", "level", "group", *METRIC_COLUMNS,
                                      *EXTRA_COLUMNS])
    out["alpha"] = alpha
    return out


# --------------------------------------------------------------------------------------------
# Competitor benchmark
# --------------------------------------------------------------------------------------------


def benchmark(
    feedback: pd.DataFrame | str | os.PathLike[str],
    *,
    ours: str,
    brand_col: str = "brand",
    by: str = "touchpoint",
    respondent_col: str = "response_id",
    surveys: Sequence[str] | None = ("market_benchmark",),
    alpha: float = 0.05,
) -> pd.DataFrame:
    """CSAT and NPS per ``by`` group and brand side by side, with the significance of each gap.

    ``ours`` names our brand in ``brand_col``; every other brand is a competitor. For each
    group (and ``"overall"``: every answer for CSAT, every respondent once for NPS) and brand
    the table gives ``n_csat``, ``csat_mean`` and ``n_nps``, ``nps`` (intervals as in
    :func:`survey_metrics`). When NPS is one answer per respondent (the same value on all
    of a respondent's rows of ``respondent_col``), it is given in the overall rows only. For competitor rows, ``csat_gap`` = ours minus
    competitor (negative: we are behind) with the Welch (1947) interval and t-test p-value
    (statsmodels ``CompareMeans``, unequal variances), and ``nps_gap`` with a normal
    interval and z-test from the two NPS variances (independent samples). ``*_p_adjusted``
    are Holm (1979) adjusted over all gaps of that metric in the table.
    """
    from scipy import stats
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    frame = read_feedback(feedback)
    frame = select_surveys(frame, surveys)
    check_columns(frame, [brand_col, by], what="feedback table (benchmark)")
    brands = sorted(frame[brand_col].dropna().unique().tolist())
    if ours not in brands:
        raise ValueError(f"feedback table: our brand {ours!r} not found in column "
                         f"{brand_col!r}; found brands {brands}")
    if len(brands) < 2:
        raise ValueError(f"feedback table: a benchmark needs at least one competitor in "
                         f"{brand_col!r}; found only {brands}")
    z = float(stats.norm.ppf(1 - alpha / 2))
    groups: list[tuple[str, pd.DataFrame]] = [
        (str(g), part) for g, part in frame.groupby(by, sort=True, dropna=True)]
    # NPS asked once per respondent (repeated on each touchpoint row) belongs to the overall
    # rows only: per touchpoint it would repeat the same answers and the same test.
    per_respondent = False
    if respondent_col in frame.columns:
        overall = frame.drop_duplicates([brand_col, respondent_col])
        spread = frame.groupby([brand_col, respondent_col])["nps"].nunique(dropna=True)
        per_respondent = bool((spread <= 1).all()) and len(overall) < len(frame)
        # CSAT overall: every answer counts; NPS overall: one answer per respondent.
        groups.append(("overall", frame.assign(_nps_once=frame.index.isin(overall.index))))
    else:
        groups.append(("overall", frame))
    rows = []
    for group, part in groups:
        nps_rows = part[part["_nps_once"]] if "_nps_once" in part.columns else part
        if per_respondent and group != "overall":
            nps_rows = part.iloc[0:0]
        per_brand = {}
        for brand in brands:
            b = part[part[brand_col] == brand]
            csat = b["csat"].dropna().to_numpy(float)
            n_c, m, lo, hi = mean_interval(csat, alpha=alpha, scale=SCORE_RANGES["csat"])
            nps = nps_interval(nps_rows.loc[nps_rows[brand_col] == brand, "nps"].to_numpy(float),
                               alpha=alpha)
            per_brand[brand] = (csat, nps)
            rows.append({"group": group, "brand": brand, "is_ours": brand == ours,
                         "n_csat": n_c, "csat_mean": m, "csat_ci_low": lo, "csat_ci_high": hi,
                         "n_nps": nps["n"], "nps": nps["nps"], "nps_ci_low": nps["nps_ci_low"],
                         "nps_ci_high": nps["nps_ci_high"], "nps_se": nps["nps_se"]})
        ours_csat, ours_nps = per_brand[ours]
        for row in rows[-len(brands):]:
            if row["is_ours"]:
                continue
            comp_csat, comp_nps = per_brand[row["brand"]]
            if ours_csat.size >= 2 and comp_csat.size >= 2:
                cm = CompareMeans(DescrStatsW(ours_csat), DescrStatsW(comp_csat))
                lo, hi = cm.tconfint_diff(alpha=alpha, usevar="unequal")
                _, p, _ = cm.ttest_ind(usevar="unequal")
                row.update(csat_gap=float(ours_csat.mean() - comp_csat.mean()),
                           csat_gap_ci_low=float(lo), csat_gap_ci_high=float(hi),
                           csat_gap_p_value=float(p))
            se = np.hypot(ours_nps["nps_se"], comp_nps["nps_se"])
            gap = ours_nps["nps"] - comp_nps["nps"]
            if np.isfinite(se) and se > 0:
                row.update(nps_gap=gap, nps_gap_ci_low=gap - z * se, nps_gap_ci_high=gap + z * se,
                           nps_gap_p_value=float(2 * stats.norm.sf(abs(gap) / se)))
    out = pd.DataFrame(rows)
    for metric in ("csat_gap", "nps_gap"):
        for suffix in ("", "_ci_low", "_ci_high", "_p_value"):
            if metric + suffix not in out.columns:
                out[metric + suffix] = np.nan
        p = out[f"{metric}_p_value"]
        adjusted = np.full(len(out), np.nan)
        if p.notna().any():
            adjusted[p.notna().to_numpy()] = adjust_p_values(p.dropna(), method="holm")
        out[f"{metric}_p_adjusted"] = adjusted
    out.insert(0, "level", by)
    out.loc[out["group"] == "overall", "level"] = "overall"
    out["alpha"] = alpha
    return out[["level", "group", "brand", "is_ours", "n_csat", "csat_mean", "csat_ci_low",
                "csat_ci_high", "n_nps", "nps", "nps_ci_low", "nps_ci_high", "csat_gap",
                "csat_gap_ci_low", "csat_gap_ci_high", "csat_gap_p_value", "csat_gap_p_adjusted",
                "nps_gap", "nps_gap_ci_low", "nps_gap_ci_high", "nps_gap_p_value",
                "nps_gap_p_adjusted", "alpha"]]


# --------------------------------------------------------------------------------------------
# Experience curve
# --------------------------------------------------------------------------------------------


def experience_curve(
    feedback: pd.DataFrame | str | os.PathLike[str],
    *,
    stages: Sequence[str] | None = None,
    stage_map: Mapping[str, str] | None = None,
    sentiment_col: str = "sentiment",
    surveys: Sequence[str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Emotion per journey stage from survey scores and comment sentiment, for the journey map.

    Each response's *emotion* on -1..1 is the mean of what it carries: its CSAT rescaled as
    ``(csat - 3) / 2`` and the sentiment of its comment (``sentiment_col``, -1..1, e.g. from
    :func:`cjmlib.voice.sentiment.score_sentiment`; absent or null means no sentiment). A stage's
    emotion is the mean over its responses with a Student-t interval; CSAT (score interval,
    as in :func:`survey_metrics`) and sentiment (Student-t) are also given on their own, each
    with n and interval. ``stage`` comes from the feedback,
    filled from ``stage_map`` (touchpoint -> stage); ``stages`` fixes the order (default: as
    found). Rows are all surveys unless ``surveys`` selects some (market benchmark rows,
    which are about other brands too, are always left out).

    Returns ``stage``, ``order``, ``n`` (responses with an emotion), ``emotion``,
    ``emotion_ci_low``/``_high``, ``n_csat``, ``csat_mean``, ``csat_ci_low``/``_high``,
    ``n_sentiment``, ``sentiment_mean``, ``sentiment_ci_low``/``_high``.
    """
    frame = read_feedback(feedback)
    frame = select_surveys(frame, surveys)
    if "survey" in frame.columns:
        frame = frame[frame["survey"] != "market_benchmark"]
    if stage_map is not None:
        mapped = frame["touchpoint"].map(dict(stage_map))
        frame["stage"] = frame["stage"].fillna(mapped) if "stage" in frame.columns else mapped
    if "stage" not in frame.columns or frame["stage"].isna().all():
        raise ValueError("feedback table: no 'stage' values; pass stage_map (touchpoint -> "
                         "stage) or a feedback table with a stage column")
    sentiment = (frame[sentiment_col].astype(float) if sentiment_col in frame.columns
                 else pd.Series(np.nan, index=frame.index))
    if ((sentiment < -1) | (sentiment > 1)).any():
        row = ((sentiment < -1) | (sentiment > 1)).idxmax()
        raise ValueError(f"feedback table: column {sentiment_col!r} must be between -1 and 1; "
                         f"found {sentiment[row]} in row {row}")
    parts = pd.concat([(frame["csat"] - 3) / 2, sentiment], axis=1)
    frame = frame.assign(_emotion=parts.mean(axis=1, skipna=True), _sentiment=sentiment)
    frame = frame[frame["stage"].notna()]
    found = list(dict.fromkeys(frame["stage"]))
    order = list(stages) if stages is not None else found
    unknown = [s for s in found if s not in order]
    if unknown:
        raise ValueError(f"feedback table: stages {unknown} are not among stages={order}")
    rows = []
    for k, stage in enumerate(order, start=1):
        part = frame[frame["stage"] == stage]
        n, emo, e_lo, e_hi = mean_interval(part["_emotion"].to_numpy(float), alpha=alpha)
        n_c, c, c_lo, c_hi = mean_interval(part["csat"].to_numpy(float), alpha=alpha,
                                           scale=SCORE_RANGES["csat"])
        n_s, s, s_lo, s_hi = mean_interval(part["_sentiment"].to_numpy(float), alpha=alpha)
        rows.append({"stage": stage, "order": k, "n": n, "emotion": emo,
                     "emotion_ci_low": e_lo, "emotion_ci_high": e_hi, "n_csat": n_c,
                     "csat_mean": c, "csat_ci_low": c_lo, "csat_ci_high": c_hi,
                     "n_sentiment": n_s, "sentiment_mean": s, "sentiment_ci_low": s_lo,
                     "sentiment_ci_high": s_hi})
    out = pd.DataFrame(rows)
    if out["n"].sum() == 0:
        raise ValueError("feedback table: no response with a CSAT score or a sentiment in any "
                         "stage")
    out["alpha"] = alpha
    return out
