"""Pre-period balance: did the arms differ before launch? (:func:`check_balance`).

For every pre-period covariate (the ``pre_<metric>`` columns of the units table) and every
treatment arm against control: the standardised mean difference (SMD; Austin 2009, "Balance
diagnostics for comparing the distribution of baseline covariates", eq. 1 and 2:
``(mean_t - mean_c) / sqrt((s_t^2 + s_c^2) / 2)``, with ``p (1 - p)`` as the variance of a
0/1 covariate) and a test: Welch's t for a numeric covariate (scipy
``ttest_ind_from_stats(equal_var=False)``), the pooled two-proportion z test for a 0/1
covariate (statsmodels ``proportions_ztest``; the same p-value as Pearson's chi-square on the
2x2 table without continuity correction). p-values are Holm-adjusted over all covariates and
arms (:func:`cjmlib.stats.multiplicity.adjust_p_values`).

The flag. A row is ``imbalanced`` when its Holm-adjusted p-value is below ``alpha``. Under
random assignment every pre-period difference is chance, so this flag fires in at most a
share ``alpha`` of correctly randomised pilots whatever their size (family-wise, over all
covariates): it is an alarm about the assignment itself (assigned by hand, by earlier
behaviour, a pre-period that overlaps the launch), in the spirit of the SRM check. The rule
``|SMD| > 0.1`` (Austin 2009) is reported beside it as ``large_smd`` but does not raise the
flag: its false-alarm rate depends on the sample size (with 100 units per arm a single
covariate passes 0.1 by chance about half the time), and a chance imbalance in a randomised
pilot biases nothing; CUPED on the pre-period covariate removes its effect on precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.pilots.units import UnitsData, load_units
from cjmlib.stats.multiplicity import adjust_p_values

#: Column contract of ``pilot_balance`` (docs/design.md).
BALANCE_COLUMNS = [
    "covariate", "control", "treatment", "kind", "n_control", "n_treatment", "mean_control",
    "mean_treatment", "smd", "statistic", "p_value", "p_value_adjusted", "method",
    "large_smd", "imbalanced", "alpha", "smd_threshold",
]
WELCH = "Welch t test (scipy ttest_ind_from_stats, equal_var=False)"
TWO_PROPORTION = ("pooled two-proportion z test (statsmodels proportions_ztest; = chi-square "
                  "2x2 without continuity correction)")
RULE = ("imbalanced: Holm-adjusted p < alpha over all covariates and arms; |SMD| > threshold "
        "reported as large_smd")


@dataclass
class BalanceResult:
    """The balance check: one row per covariate and treatment arm (``table``, the
    ``pilot_balance`` columns) and the rule's settings."""

    table: pd.DataFrame
    alpha: float
    smd_threshold: float
    control: str
    rule: str = RULE

    @property
    def imbalanced(self) -> bool:
        """True when any covariate differs between arms beyond chance (adjusted p < alpha)."""
        return bool(self.table["imbalanced"].any())

    def to_pandas(self) -> pd.DataFrame:
        return self.table

    def message(self) -> str:
        """The verdict in plain words (English; the report has its own en/zh words)."""
        t = self.table
        n = t["covariate"].nunique()
        if self.imbalanced:
            rows = t[t["imbalanced"]]
            items = "; ".join(f"{r.covariate} ({r.treatment}: SMD {r.smd:+.2f}, adjusted p "
                              f"{r.p_value_adjusted:.2g})" for r in rows.itertuples())
            return (f"Arms differed before launch by more than chance allows: {items}. "
                    "Check how units were assigned; effects on related metrics may be biased.")
        large = t[t["large_smd"]]
        text = (f"Before launch the arms were balanced within chance on {n} pre-period "
                f"covariate(s) (no Holm-adjusted p below {self.alpha:g}).")
        if len(large):
            text += (" Still, " + ", ".join(sorted(set(large["covariate"])))
                     + f" differ(s) by more than {self.smd_threshold:g} standard deviations "
                     "(|SMD|), which a test on few units cannot tell from chance; CUPED on "
                     "these covariates adjusts for it.")
        return text

    def _repr_html_(self) -> str:
        return f"<p><b>{self.message()}</b></p>" + self.table.to_html(index=False)


def balance_covariates(units: Any, *, extra: Sequence[str] = (), unit_col: str = "unit_id",
                       variant_col: str = "variant") -> list[str]:
    """The pre-period covariates of a units table: numeric ``pre_*`` columns, then ``extra``
    (e.g. the metrics' CUPED covariates) that exist, each once."""
    data = load_units(units)
    schema = data.table.schema()
    cols = [c for c in data.table.columns if c.startswith("pre_")
            and c not in (unit_col, variant_col)
            and (schema[c].is_numeric() or schema[c].is_boolean())]
    cols += [c for c in extra if c in schema and c not in cols]
    return cols


def check_balance(
    units: Any,
    *,
    covariates: Sequence[str] | None = None,
    control: str = "control",
    arms: Sequence[str] | None = None,
    alpha: float = 0.05,
    smd_threshold: float = 0.1,
    unit_col: str = "unit_id",
    variant_col: str = "variant",
    moments: pd.DataFrame | None = None,
) -> BalanceResult | None:
    """Balance of the pre-period covariates between each treatment arm and control.

    ``units`` is a units table (DataFrame, path, Ibis table or :class:`UnitsData`);
    ``covariates`` default: :func:`balance_covariates`. Per arm, count, mean and variance of
    each covariate are computed in the engine (missing values left out) and the tests run on
    them (``moments``: those of :func:`covariate_moments` for ``covariates`` when already
    computed with other aggregates of the same scan). Returns a :class:`BalanceResult`, or
    None when there is no covariate. The rule is in the module docstring.
    """
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=0.5)
    check_scalar(smd_threshold, "smd_threshold", typ=float, gt=0)
    data = units if isinstance(units, UnitsData) else load_units(units)
    covs = list(covariates) if covariates is not None else balance_covariates(
        data, unit_col=unit_col, variant_col=variant_col)
    if not covs:
        return None
    missing = [c for c in covs if c not in data.table.columns]
    if missing:
        raise ValueError(f"{data.name}: balance covariate(s) {missing} not found; found "
                         f"{list(data.table.columns)}")
    if moments is None:
        moments = covariate_moments(data, covs, variant_col=variant_col)
    found = sorted(moments["arm"].unique().tolist())
    if control not in found:
        raise ValueError(f"{data.name}: column {variant_col!r}: no units in the control arm "
                         f"{control!r}; found arms {found}")
    order = [a for a in (arms or found) if a != control]
    return balance_from_moments(moments, control=control, treatments=order, alpha=alpha,
                                smd_threshold=smd_threshold)


def covariate_moments(data: UnitsData, covariates: Sequence[str], *, variant_col: str
                      ) -> pd.DataFrame:
    """Per covariate and arm: n (non-missing), mean, sample variance and whether every value
    is 0 or 1; one engine query."""
    t = data.table
    per_arm = data.execute(t.group_by(variant_col).aggregate(
        **covariate_moment_exprs(t, covariates)))
    return covariate_moments_from(per_arm, covariates, variant_col=variant_col)


def covariate_moment_exprs(t: Any, covariates: Sequence[str]) -> dict[str, Any]:
    """The aggregate expressions of :func:`covariate_moments` (columns ``b_*{i}`` for the
    ``i``-th covariate), to be computed in any query over ``t`` grouped by arm; read back by
    :func:`covariate_moments_from`.

    Count, sum and sum of squares (the variance follows from them, as for the metrics in
    :class:`cjmlib.pilots.aggregates.Aggregates`). Whether every value is 0 or 1: for a
    float column, a count of the other values; for an integer or boolean column, from the
    sums already there, since ``x^2 - x`` is 0 for an integer 0 or 1 and at least 2 for any
    other, so the sum of squares equals the sum exactly when every value is 0 or 1."""
    aggs: dict[str, Any] = {}
    schema = t.schema()
    for i, c in enumerate(covariates):
        x = t[c].cast("float64")
        aggs[f"b_n{i}"] = x.count()
        aggs[f"b_s{i}"] = x.sum()
        aggs[f"b_q{i}"] = (x * x).sum()
        if not (schema[c].is_integer() or schema[c].is_boolean()):
            aggs[f"b_b{i}"] = (x.notnull() & ~x.isin([0.0, 1.0])).cast("int64").sum()
    return aggs


def covariate_moments_from(per_arm: pd.DataFrame, covariates: Sequence[str], *,
                           variant_col: str) -> pd.DataFrame:
    """The moments of :func:`covariate_moments` from ``per_arm``, the result of a query
    grouped by ``variant_col`` with the columns of :func:`covariate_moment_exprs`."""
    rows = []
    records = per_arm.to_dict("records")
    for i, c in enumerate(covariates):
        if f"b_b{i}" in per_arm:
            binary = int(per_arm[f"b_b{i}"].fillna(0).sum()) == 0
        else:  # integers: sum of x^2 - x, at least 2 for each value other than 0 and 1
            binary = bool((per_arm[f"b_q{i}"].fillna(0) == per_arm[f"b_s{i}"].fillna(0)).all())
        for r in records:
            n = int(r[f"b_n{i}"]) if _known(r[f"b_n{i}"]) else 0
            s = float(r[f"b_s{i}"]) if _known(r[f"b_s{i}"]) else 0.0
            q = float(r[f"b_q{i}"]) if _known(r[f"b_q{i}"]) else 0.0
            rows.append({"covariate": c, "arm": str(r[variant_col]), "n": n,
                         "mean": s / n if n > 0 else np.nan,
                         "var": max(q - s * s / n, 0.0) / (n - 1) if n > 1 else np.nan,
                         "binary": binary})
    return pd.DataFrame(rows)


def _known(x: Any) -> bool:
    return x is not None and not pd.isna(x)


def balance_from_moments(moments: pd.DataFrame, *, control: str, treatments: Sequence[str],
                         alpha: float = 0.05, smd_threshold: float = 0.1) -> BalanceResult:
    """The balance table from per-arm moments (columns covariate, arm, n, mean, var
    (sample), binary), as :func:`covariate_moments` returns them."""
    from cjmlib.pilots.estimators import interval

    index = moments.set_index(["covariate", "arm"])
    rows = []
    for cov in dict.fromkeys(moments["covariate"]):
        for arm in treatments:
            c, t = index.loc[(cov, control)], index.loc[(cov, arm)]
            binary = bool(c["binary"])
            n_c, n_t = int(c["n"]), int(t["n"])
            m_c, m_t = float(c["mean"]), float(t["mean"])
            if binary:
                v_c, v_t = m_c * (1 - m_c), m_t * (1 - m_t)
            else:
                v_c, v_t = float(c["var"]), float(t["var"])
            pooled_sd = np.sqrt((v_c + v_t) / 2)
            diff = m_t - m_c
            smd = diff / pooled_sd if pooled_sd > 0 else (0.0 if diff == 0 else np.sign(diff)
                                                           * np.inf)
            statistic = p = np.nan
            if n_c >= 2 and n_t >= 2 and (v_c > 0 or v_t > 0):
                # the statistics of statsmodels proportions_ztest and scipy
                # ttest_ind_from_stats(equal_var=False), tested against both; computed here
                # because importing them takes most of a second on a pilot's first evaluation
                if binary:
                    x_t, x_c = np.round(m_t * n_t), np.round(m_c * n_c)
                    pooled = (x_t + x_c) / (n_t + n_c)
                    se = np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
                    res = interval(x_t / n_t - x_c / n_c, se, np.inf, alpha)
                else:
                    a, b = v_t / n_t, v_c / n_c
                    df = (a + b) ** 2 / (a * a / (n_t - 1) + b * b / (n_c - 1))
                    res = interval(diff, np.sqrt(a + b), df, alpha)
                statistic, p = float(res["statistic"]), float(res["p_value"])
                method = TWO_PROPORTION if binary else WELCH
            else:
                method = "no test: constant in both arms or fewer than 2 values in an arm"
            rows.append({"covariate": cov, "control": control, "treatment": arm,
                         "kind": "binary" if binary else "numeric", "n_control": n_c,
                         "n_treatment": n_t, "mean_control": m_c, "mean_treatment": m_t,
                         "smd": float(smd), "statistic": float(statistic),
                         "p_value": float(p), "method": method})
    table = pd.DataFrame(rows)
    tested = table["p_value"].notna()
    table["p_value_adjusted"] = np.nan
    if tested.any():
        table.loc[tested, "p_value_adjusted"] = adjust_p_values(
            table.loc[tested, "p_value"].to_numpy(), method="holm")
    table["large_smd"] = table["smd"].abs() > smd_threshold
    table["imbalanced"] = (table["p_value_adjusted"] < alpha).fillna(False).astype(bool)
    table["alpha"] = float(alpha)
    table["smd_threshold"] = float(smd_threshold)
    return BalanceResult(table[BALANCE_COLUMNS], float(alpha), float(smd_threshold), control)
