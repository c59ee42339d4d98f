"""What a pilot evaluation pulls from the engine: aggregates per arm, not unit-level rows.

:class:`Aggregates` holds counts, sums and sums of cross-products per arm (arrays may carry
leading batch dimensions, for simulations); :func:`moment_aggregates` computes them for many
metrics in one engine query, each metric's variables given by :func:`metric_variables` (NPS
codes, top-box indicator, ratio numerator and denominator, CUPED covariates). Methods that
need more pull only what they need: :func:`value_counts` for rank tests and
:func:`survival_counts` (counts per time and event) for Kaplan-Meier, log-rank and RMST.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.pilots.metrics import MetricSpec
from cjmlib.pilots.units import UnitsData


@dataclass
class Aggregates:
    """Count, sums and sums of cross-products of a few variables, per arm.

    Arrays may carry leading batch dimensions (many simulated experiments at once).
    ``cross`` is keyed by sorted variable-name pairs. Means and (co)variances with
    ``ddof`` follow; a variable named ``None`` is the constant 1 (mean 1, variance 0).
    """

    n: np.ndarray
    sums: dict[str, np.ndarray]
    cross: dict[tuple[str, str], np.ndarray]

    @classmethod
    def from_arrays(cls, values: Mapping[str, np.ndarray], *, axis: int = -1) -> Aggregates:
        """Aggregates of raw values along ``axis`` (used by tests and simulations)."""
        arrays = {k: np.moveaxis(np.asarray(v, dtype=float), axis, -1)
                  for k, v in values.items()}
        first = next(iter(arrays.values()))
        names = sorted(arrays)
        return cls(
            n=np.full(first.shape[:-1], first.shape[-1], dtype=float),
            sums={k: arrays[k].sum(-1) for k in names},
            cross={(a, b): (arrays[a] * arrays[b]).sum(-1)
                   for i, a in enumerate(names) for b in names[i:]},
        )

    def __add__(self, other: Aggregates) -> Aggregates:
        return Aggregates(self.n + other.n,
                          {k: v + other.sums[k] for k, v in self.sums.items()},
                          {k: v + other.cross[k] for k, v in self.cross.items()})

    def mean(self, name: str | None) -> np.ndarray | float:
        return 1.0 if name is None else self.sums[name] / self.n

    def cov(self, a: str | None, b: str | None, ddof: int = 1) -> np.ndarray | float:
        if a is None or b is None:
            return 0.0
        key = (a, b) if a <= b else (b, a)
        return (self.cross[key] - self.sums[a] * self.sums[b] / self.n) / (self.n - ddof)

    def var(self, name: str | None, ddof: int = 1) -> np.ndarray | float:
        return self.cov(name, name, ddof)

    def ratio_var(self, num: str, den: str | None, ddof: int = 1) -> np.ndarray:
        """Per-unit variance of the ratio of means by the delta method (Deng et al. 2018)."""
        mx = self.mean(den)
        r = self.mean(num) / mx
        return (self.var(num, ddof) - 2 * r * self.cov(num, den, ddof)
                + r * r * self.var(den, ddof)) / (mx * mx)

    def ratio_cov(self, num1: str, den1: str | None, num2: str, den2: str | None,
                  ddof: int = 1) -> np.ndarray:
        """Per-unit covariance of two ratios of means by the delta method."""
        r1 = self.mean(num1) / self.mean(den1)
        r2 = self.mean(num2) / self.mean(den2)
        return (self.cov(num1, num2, ddof) - r2 * self.cov(num1, den2, ddof)
                - r1 * self.cov(den1, num2, ddof) + r1 * r2 * self.cov(den1, den2, ddof)
                ) / self.mean(den1) / self.mean(den2)


def metric_variables(t: Any, spec: MetricSpec) -> tuple[Any, dict[str, Any], str, str | None]:
    """(valid mask, {variable: float expression}, numerator name, denominator name)."""
    def f(col: str) -> Any:
        return t[col].cast("float64")

    if spec.kind == "ratio":
        variables = {"y": f(spec.numerator), "x": f(spec.denominator)}
        valid = t[spec.numerator].notnull() & t[spec.denominator].notnull()
        den: str | None = "x"
    else:
        col = t[spec.column]
        if spec.kind == "nps":
            y = (col >= 9).ifelse(1.0, (col <= 6).ifelse(-1.0, 0.0))
        elif spec.kind == "ordinal" and spec.method == "top2box":
            y = (col >= top_box(spec)).ifelse(1.0, 0.0)
        else:
            y = f(spec.column)
        variables = {"y": y}
        valid = col.notnull()
        den = None
    if spec.covariate is not None:
        variables["cy"] = f(spec.covariate)
        valid = valid & t[spec.covariate].notnull()
    if spec.covariate_denominator is not None:
        variables["cx"] = f(spec.covariate_denominator)
        valid = valid & t[spec.covariate_denominator].notnull()
    return valid, variables, "y", den


def top_box(spec: MetricSpec) -> float:
    return 4.0 if spec.top_box is None else float(spec.top_box)


def moment_aggregates(units: UnitsData, specs: Sequence[MetricSpec], by: Sequence[str]
                      ) -> dict[str, dict[tuple, Aggregates]]:
    """One engine query: per group of ``by`` and per metric, n, sums and cross-products."""
    exprs = moment_exprs(units.table, specs)
    if not exprs:
        return {}
    frame = units.execute(units.table.group_by(list(by)).aggregate(**exprs))
    return moments_from(frame, specs, by)


#: Kinds whose columns (and CUPED covariates) :func:`cjmlib.pilots.validation.check_units`
#: requires to have no missing value.
COMPLETE_KINDS = ("proportion", "mean", "ratio")


def moment_exprs(t: Any, specs: Sequence[MetricSpec], *, checked: bool = False
                 ) -> dict[str, Any]:
    """The aggregate expressions of :func:`moment_aggregates` (columns ``m{i}_*`` for the
    ``i``-th metric), to be computed in any grouped query over ``t``; read back by
    :func:`moments_from`.

    ``checked=True`` is for a table that passes
    :func:`cjmlib.pilots.validation.check_units` (the results are used only then): the
    proportion, mean and ratio metrics have a value in every row, so their sums need no
    mask of the rows with one, and are the same expressions as the balance check's sums of
    the same covariates, which the engine then computes once."""
    exprs: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        valid, variables, _, _ = metric_variables(t, spec)
        p = f"m{i}_"
        names = sorted(variables)
        if checked and spec.kind in COMPLETE_KINDS:
            exprs[p + "n"] = t.count()
            for a in names:
                exprs[f"{p}s_{a}"] = variables[a].sum()
            for j, a in enumerate(names):
                for b in names[j:]:
                    exprs[f"{p}c_{a}_{b}"] = (variables[a] * variables[b]).sum()
            continue
        exprs[p + "n"] = valid.cast("int64").sum()
        for a in names:
            exprs[f"{p}s_{a}"] = valid.ifelse(variables[a], 0.0).sum()
        for j, a in enumerate(names):
            for b in names[j:]:
                exprs[f"{p}c_{a}_{b}"] = valid.ifelse(variables[a] * variables[b], 0.0).sum()
    return exprs


def moments_from(frame: pd.DataFrame, specs: Sequence[MetricSpec], by: Sequence[str]
                 ) -> dict[str, dict[tuple, Aggregates]]:
    """Per metric and group of ``by``, the :class:`Aggregates` in ``frame``, the result of
    a query grouped by ``by`` with the columns of :func:`moment_exprs`."""
    out: dict[str, dict[tuple, Aggregates]] = {}
    records = frame.to_dict("records")
    for i, spec in enumerate(specs):
        p = f"m{i}_"
        names = sorted(c[len(p) + 2:] for c in frame.columns if c.startswith(p + "s_"))
        per: dict[tuple, Aggregates] = {}
        for row in records:
            key = tuple(row[c] for c in by)
            per[key] = Aggregates(
                n=np.asarray(float(row[p + "n"] or 0)),
                sums={a: np.asarray(float(row[f"{p}s_{a}"] or 0)) for a in names},
                cross={(a, b): np.asarray(float(row[f"{p}c_{a}_{b}"] or 0))
                       for j, a in enumerate(names) for b in names[j:]},
            )
        out[spec.name] = per
    return out


def value_counts(units: UnitsData, columns: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    """Counts per group and per distinct value combination of ``columns`` (nulls dropped)."""
    t = units.table
    cond = None
    for c in columns:
        cond = t[c].notnull() if cond is None else cond & t[c].notnull()
    keys = [*by, *columns]
    kept = t.filter(cond)
    return units.execute(kept.group_by(keys).aggregate(count=kept.count()))


def arm_keys(frame: pd.DataFrame, variant_col: str) -> pd.Series:
    return frame[variant_col].astype(str)


def survival_counts(data: UnitsData, spec: MetricSpec, variant_col: str
                    ) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    counts = value_counts(data, [spec.duration, spec.event], [variant_col])
    counts["_arm"] = arm_keys(counts, variant_col)
    counts["_t"] = counts[spec.duration].astype(float)
    counts["_e"] = counts[spec.event].astype(float)
    times = np.sort(counts["_t"].unique())
    per: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for arm, g in counts.groupby("_arm"):
        ev = g[g["_e"] == 1].groupby("_t")["count"].sum().reindex(times, fill_value=0)
        ce = g[g["_e"] == 0].groupby("_t")["count"].sum().reindex(times, fill_value=0)
        per[str(arm)] = (ev.to_numpy(float), ce.to_numpy(float))
    return times, per
