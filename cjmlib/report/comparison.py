"""Run-to-run comparison: what changed since the previous run in the same reports folder.

:func:`compare_runs` sets the key tables of a run next to those of the previous run in the
same reports folder (:func:`cjmlib.core.runs.find_previous_run`): touchpoint exit and
conversion rates, priority ranks, CSAT/NPS per touchpoint, the pilot's primary and guardrail
effects and verdict, the store pilot estimate and the backlog, and counts the input files
whose content differs (from the two run manifests). The interval of a change treats the two
runs as independent samples, which is conservative when they share data: the Newcombe
interval of a difference of proportions for rates, a normal approximation from the two
runs' own intervals otherwise (each read at the level its table's ``alpha`` states, 95% for
tables written before results carried it). Change intervals are at ``1 - alpha``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.runs import read_run_table


def _approx_diff(prev: float, cur: float, prev_ci: tuple[float, float],
                 cur_ci: tuple[float, float], *, prev_alpha: float, cur_alpha: float,
                 alpha: float) -> tuple[float, float]:
    """Interval of cur - prev at ``1 - alpha`` from the two runs' intervals (at
    ``1 - prev_alpha`` and ``1 - cur_alpha``), as independent normal estimates."""
    from scipy.stats import norm

    se1 = (prev_ci[1] - prev_ci[0]) / (2 * norm.ppf(1 - prev_alpha / 2))
    se2 = (cur_ci[1] - cur_ci[0]) / (2 * norm.ppf(1 - cur_alpha / 2))
    half = norm.ppf(1 - alpha / 2) * math.sqrt(se1**2 + se2**2)
    return cur - prev - half, cur - prev + half


def _alpha_of(row: dict[str, Any], suffix: str = "") -> float:
    """The ``alpha`` a table row's intervals were computed at (0.05 when not recorded)."""
    value = row.get(f"alpha{suffix}")
    return float(value) if value is not None and not pd.isna(value) else 0.05


def compare_runs(current: str | os.PathLike[str], previous: str | os.PathLike[str], *,
                 alpha: float = 0.05) -> pd.DataFrame:
    """What changed between two run folders (see the module docstring).

    One row per item: ``section`` (touchpoints, voice, pilot, store pilot, backlog, inputs),
    ``item``, ``metric``, ``previous``, ``current``, ``change`` (numbers), ``ci_low``/
    ``ci_high`` (interval of the change at ``1 - alpha``, where both runs give one),
    ``previous_label``/``current_label`` (statuses and verdicts), ``changed`` (the interval
    excludes 0, or a rank, status or verdict differs), ``note`` and ``alpha``. Tables missing
    from either run are skipped.
    """
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    cur, prev = Path(current), Path(previous)
    rows: list[dict[str, Any]] = []

    def add(section: str, item: str, metric: str, p: Any, c: Any,
            ci: tuple[float, float] | None = None, note: str = "") -> None:
        def is_number(v: Any) -> bool:
            return isinstance(v, (int, float, np.integer, np.floating)) and not pd.isna(v)

        numeric = is_number(p) and is_number(c)
        change = float(c) - float(p) if numeric else np.nan
        if ci is not None and numeric:
            changed = bool(ci[0] > 0 or ci[1] < 0)
        else:
            changed = (p != c) if not numeric else bool(change != 0)
        # numbers and words in separate columns, so the table writes to Parquet
        rows.append({"section": section, "item": item, "metric": metric,
                     "previous": float(p) if is_number(p) else np.nan,
                     "current": float(c) if is_number(c) else np.nan, "change": change,
                     "ci_low": ci[0] if ci else np.nan, "ci_high": ci[1] if ci else np.nan,
                     "previous_label": None if is_number(p) or p is None else str(p),
                     "current_label": None if is_number(c) or c is None else str(c),
                     "changed": changed, "note": note})

    tp_c, tp_p = read_run_table(cur, "touchpoint_metrics"), read_run_table(prev, "touchpoint_metrics")
    if tp_c is not None and tp_p is not None:
        from statsmodels.stats.proportion import confint_proportions_2indep

        both = tp_c.merge(tp_p, on="touchpoint", suffixes=("", "_prev"))
        for r in both.to_dict("records"):
            for metric, count, base in (
                    ("exit_rate", "exits",
                     "closed_journeys" if "closed_journeys" in r else "journeys"),
                    ("conversion_rate", "converted_journeys", "journeys")):
                if not (np.isfinite(r.get(metric, np.nan))
                        and np.isfinite(r.get(f"{metric}_prev", np.nan))):
                    continue
                ci = None
                # an exit rate's denominator is the closed journeys (open ones are censored)
                prev_base = base if f"{base}_prev" in r else "journeys"
                if all(k in r and np.isfinite(r[k]) and r[k] >= 0 for k in
                       (count, base, f"{count}_prev", f"{prev_base}_prev")) and (
                        r[base] > 0 and r[f"{prev_base}_prev"] > 0):
                    lo, hi = confint_proportions_2indep(
                        r[count], r[base], r[f"{count}_prev"], r[f"{prev_base}_prev"],
                        method="newcomb", alpha=alpha)
                    ci = (float(lo), float(hi))
                add("touchpoints", r["touchpoint"], metric, float(r[f"{metric}_prev"]),
                    float(r[metric]), ci)
            if "priority_rank" in r and not (pd.isna(r["priority_rank"])
                                             and pd.isna(r["priority_rank_prev"])):
                p = None if pd.isna(r["priority_rank_prev"]) else int(r["priority_rank_prev"])
                c = None if pd.isna(r["priority_rank"]) else int(r["priority_rank"])
                add("touchpoints", r["touchpoint"], "priority_rank", p, c)
    sv_c, sv_p = read_run_table(cur, "survey_metrics"), read_run_table(prev, "survey_metrics")
    if sv_c is not None and sv_p is not None:
        keys = ["level", "group"]
        both = sv_c[sv_c["level"] == "touchpoint"].merge(
            sv_p[sv_p["level"] == "touchpoint"], on=keys, suffixes=("", "_prev"))
        for r in both.to_dict("records"):
            for metric in ("csat_mean", "nps"):
                lo_col = "csat_ci_low" if metric == "csat_mean" else "nps_ci_low"
                hi_col = "csat_ci_high" if metric == "csat_mean" else "nps_ci_high"
                vals = [r.get(k) for k in (metric, f"{metric}_prev", lo_col, hi_col,
                                           f"{lo_col}_prev", f"{hi_col}_prev")]
                if any(v is None or pd.isna(v) for v in vals):
                    continue
                ci = _approx_diff(r[f"{metric}_prev"], r[metric],
                                  (r[f"{lo_col}_prev"], r[f"{hi_col}_prev"]),
                                  (r[lo_col], r[hi_col]), prev_alpha=_alpha_of(r, "_prev"),
                                  cur_alpha=_alpha_of(r), alpha=alpha)
                add("voice", r["group"], metric, float(r[f"{metric}_prev"]), float(r[metric]),
                    ci)
    pr_c, pr_p = read_run_table(cur, "pilot_results"), read_run_table(prev, "pilot_results")
    if pr_c is not None and pr_p is not None:
        keys = ["metric", "treatment"]
        both = pr_c.merge(pr_p, on=keys, suffixes=("", "_prev"))
        if "role" in both.columns:
            both = both[both["role"].isin(["primary", "guardrail"])]
        for r in both.to_dict("records"):
            ci = _approx_diff(r["effect_prev"], r["effect"], (r["ci_low_prev"], r["ci_high_prev"]),
                              (r["ci_low"], r["ci_high"]), prev_alpha=_alpha_of(r, "_prev"),
                              cur_alpha=_alpha_of(r), alpha=alpha)
            add("pilot", r["metric"], "effect", float(r["effect_prev"]), float(r["effect"]), ci)
            add("pilot", r["metric"], "decision", r["decision_prev"], r["decision"])
    dd_c, dd_p = read_run_table(cur, "did_results"), read_run_table(prev, "did_results")
    if dd_c is not None and dd_p is not None:
        def pick(d: pd.DataFrame) -> pd.DataFrame:
            return d[d["default"].astype(bool)] if "default" in d.columns else d

        both = pick(dd_c).merge(pick(dd_p), on=["metric", "inference"], suffixes=("", "_prev"))
        for r in both.to_dict("records"):
            ci = _approx_diff(r["estimate_prev"], r["estimate"],
                              (r["ci_low_prev"], r["ci_high_prev"]), (r["ci_low"], r["ci_high"]),
                              prev_alpha=_alpha_of(r, "_prev"), cur_alpha=_alpha_of(r),
                              alpha=alpha)
            add("store pilot", r["metric"], "estimate", float(r["estimate_prev"]),
                float(r["estimate"]), ci)
    bl_c, bl_p = read_run_table(cur, "backlog"), read_run_table(prev, "backlog")
    if bl_c is not None and bl_p is not None:
        both = bl_c.merge(bl_p, on="id", how="outer", suffixes=("", "_prev"), indicator=True)
        for r in both.to_dict("records"):
            if r["_merge"] == "left_only":
                add("backlog", r["id"], "status", None, r["status"], note="new candidate")
                continue
            if r["_merge"] == "right_only":
                add("backlog", r["id"], "status", r["status_prev"], None,
                    note="no longer in the config")
                continue
            add("backlog", r["id"], "status", r["status_prev"], r["status"])
            p = None if pd.isna(r.get("rank_prev")) else int(r["rank_prev"])
            c = None if pd.isna(r.get("rank")) else int(r["rank"])
            add("backlog", r["id"], "rank", p, c)
    inputs = _input_changes(cur, prev)
    if inputs is not None:
        add("inputs", "input files", "changed files", 0, inputs,
            note="files whose content differs from the previous run's (manifest hashes)")
    cols = ["section", "item", "metric", "previous", "current", "change", "ci_low", "ci_high",
            "previous_label", "current_label", "changed", "note"]
    out = pd.DataFrame(rows, columns=cols)
    out["alpha"] = alpha
    return out


def _input_changes(cur: Path, prev: Path) -> int | None:
    """Number of input files whose hash differs (or that only one run read), from the two
    run manifests; None when a manifest is missing."""
    try:
        a = json.loads((cur / "manifest.json").read_text(encoding="utf-8"))["inputs"]
        b = json.loads((prev / "manifest.json").read_text(encoding="utf-8"))["inputs"]
    except (OSError, ValueError, KeyError):
        return None
    ha = {k: v.get("sha256") for k, v in a.items()}
    hb = {k: v.get("sha256") for k, v in b.items()}
    return sum(1 for k in set(ha) | set(hb) if ha.get(k) != hb.get(k))
