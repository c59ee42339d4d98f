"""Pilot evaluation for randomised A/B pilots: metrics, tests, CUPED, SRM, verdicts.

One row of ``pilot_results`` per metric and treatment arm, each naming its method. Moments
(counts, sums, sums of squares and cross-products) are computed inside the engine (Ibis,
DuckDB by default) and only those aggregates come back; methods that need more pull only
what they need: value counts for rank tests (Mann-Whitney, Brunner-Munzel), counts per
(time, event) for Kaplan-Meier / log-rank / RMST, raw values only for the bootstrap.

Methods (each result's ``method`` column says which one was used):

* proportion -- difference of proportions with the unpooled Wald z interval and test
  (statsmodels ``confint_proportions_2indep(method="wald")``); small counts (an expected
  cell below 5) switch to Fisher's exact test with the Newcombe hybrid-score interval;
  Barnard's exact test on request.
* mean -- Welch t with Welch-Satterthwaite degrees of freedom; Mann-Whitney U,
  Brunner-Munzel (Brunner & Munzel 2000) or a percentile bootstrap on request.
* ratio -- ratio of sums (e.g. support contacts per session) by the delta method
  (Deng, Knoblich & Lu 2018), Welch-type t interval.
* ordinal (CSAT 1-5) -- top-2-box proportion (default), Brunner-Munzel or Mann-Whitney on
  the ranks (effect = P(T > C) + 0.5 P(T = C) - 0.5), or the mean (Welch).
* nps -- respondents coded promoter +1 / passive 0 / detractor -1; NPS = mean code, its
  variance (p_pro + p_det - NPS^2) / n; Welch-type t interval on the difference; reported
  on the -100..100 scale.
* time_to_event -- Kaplan-Meier, restricted mean survival time (RMST) difference to
  ``tau`` with the Greenwood-type variance (Klein & Moeschberger 2003, sec. 4.5; as in
  survRM2, Uno et al. 2014), z test; log-rank test and Cox hazard ratio in
  :func:`survival_analysis`.
* CUPED (Deng, Xu, Kohavi & Walker 2013) for proportion, mean, ordinal and ratio metrics:
  ``theta`` from the pooled sample, ratio covariates by the delta method as in tea-tasting.

Checks and multiplicity: the sample ratio mismatch (SRM) chi-square test against the
*planned* split comes first; when it fails (p < ``srm_alpha``, default 0.001) every row is
marked ``trustworthy = False`` and no verdict other than "inconclusive" is given.
``p_value_adjusted`` is Holm's step-down adjustment within each role family (primary,
guardrail, secondary) over metrics and treatment arms; ``p_value_bh`` is the
Benjamini-Hochberg adjustment of the same family.

Verdict rule (column ``decision``), for a primary metric and one treatment arm, with
"better" the metric's good direction, ``min_effect`` the smallest worthwhile effect from the
plan (optional) and significance meaning ``p_value_adjusted < alpha``:

1. a failed check (SRM) -> ``inconclusive`` (results untrustworthy);
2. significant and worse -> ``stop``;
3. significant and better -> ``ship`` when no guardrail of that arm is breached and the
   estimate reaches ``min_effect`` (when given); otherwise ``iterate``;
4. not significant -> ``stop`` when a guardrail is breached or when the interval's better
   end lies below ``min_effect`` (a worthwhile effect is ruled out); otherwise
   ``inconclusive`` (the interval still holds both no effect and a worthwhile effect).

A guardrail is *breached* when its whole interval lies on the harmful side of its tolerated
``margin`` (default 0: significant harm). Guardrail rows read ``guardrail ok`` or
``guardrail breached``; secondary rows read ``better``, ``worse`` or ``no clear difference``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import connection
from cjmlib.stats.multiplicity import adjust_p_values

KINDS = ("proportion", "mean", "ratio", "ordinal", "nps", "time_to_event")
ROLES = ("primary", "guardrail", "secondary")
#: Methods per metric kind; the first is the default.
METHODS: dict[str, tuple[str, ...]] = {
    "proportion": ("z", "fisher", "barnard"),
    "mean": ("welch", "mann_whitney", "brunner_munzel", "bootstrap"),
    "ratio": ("delta",),
    "ordinal": ("top2box", "brunner_munzel", "mann_whitney", "mean"),
    "nps": ("welch",),
    "time_to_event": ("rmst",),
}
#: Methods that accept a CUPED covariate.
CUPED_METHODS = {("proportion", "z"), ("mean", "welch"), ("ratio", "delta"),
                 ("ordinal", "top2box"), ("ordinal", "mean")}
#: Column contract of ``pilot_results`` (DESIGN.md); extra columns follow these.
PILOT_RESULTS_COLUMNS = [
    "metric", "kind", "control", "treatment", "n_control", "n_treatment", "control_value",
    "treatment_value", "effect", "rel_effect", "ci_low", "ci_high", "p_value",
    "p_value_adjusted", "method", "srm_p_value", "decision",
]
EXTRA_COLUMNS = [
    "role", "better", "se", "statistic", "df", "alpha", "rel_ci_low", "rel_ci_high",
    "p_value_bh", "significant", "covariate", "variance_reduction", "min_effect", "margin",
    "trustworthy", "reason",
]


# --------------------------------------------------------------------------------------
# Metric specifications
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricSpec:
    """One metric of a pilot: what to compute from which columns and how to judge it.

    ``column`` defaults to ``name`` for proportion, mean, ordinal and nps metrics. Ratio
    metrics take ``numerator`` and ``denominator`` (ratio of sums); time-to-event metrics
    take ``duration`` and ``event`` (1 = completed, 0 = censored). ``covariate`` (and, for
    ratio metrics, ``covariate_denominator``) names pre-period columns for CUPED.
    ``better`` is the good direction; ``min_effect`` the smallest worthwhile effect (in the
    metric's units, positive) and ``margin`` the tolerated harm of a guardrail.

    >>> MetricSpec("conversion", "proportion", column="converted", role="primary").method
    'z'
    """

    name: str
    kind: str
    column: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    duration: str | None = None
    event: str | None = None
    covariate: str | None = None
    covariate_denominator: str | None = None
    role: str = "secondary"
    better: str = "higher"
    method: str | None = None
    top_box: float | None = None
    tau: float | None = None
    min_effect: float | None = None
    margin: float | None = None
    mde: float | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        where = f"metric {self.name!r}"
        check_scalar(self.name, "metric name", typ=str)
        check_scalar(self.kind, f"{where}: kind", in_=KINDS)
        check_scalar(self.role, f"{where}: role", in_=ROLES)
        check_scalar(self.better, f"{where}: better", in_=("higher", "lower"))
        method = self.method or METHODS[self.kind][0]
        check_scalar(method, f"{where}: method", in_=METHODS[self.kind])
        object.__setattr__(self, "method", method)
        if self.kind in ("proportion", "mean", "ordinal", "nps") and self.column is None:
            object.__setattr__(self, "column", self.name)
        if self.kind == "ratio" and (self.numerator is None or self.denominator is None):
            raise ValueError(f"{where}: a ratio metric needs 'numerator' and 'denominator'")
        if self.kind == "time_to_event" and (self.duration is None or self.event is None):
            raise ValueError(f"{where}: a time_to_event metric needs 'duration' and 'event'")
        if self.covariate is not None and (self.kind, method) not in CUPED_METHODS:
            raise ValueError(
                f"{where}: CUPED covariate {self.covariate!r} is not available with "
                f"kind={self.kind!r}, method={method!r}; CUPED works with "
                + ", ".join(f"{k}/{m}" for k, m in sorted(CUPED_METHODS)))
        if self.kind == "ratio" and (self.covariate is None) != (
                self.covariate_denominator is None):
            raise ValueError(f"{where}: CUPED for a ratio metric needs both 'covariate' "
                             "(pre-period numerator) and 'covariate_denominator'")
        for name in ("min_effect", "margin", "mde"):
            value = getattr(self, name)
            if value is not None:
                check_scalar(value, f"{where}: {name}", typ=float, ge=0)
        if self.tau is not None:
            check_scalar(self.tau, f"{where}: tau", typ=float, gt=0)

    @property
    def columns(self) -> list[str]:
        """Data columns this metric reads (metric columns first, then covariates)."""
        cols = [self.column, self.numerator, self.denominator, self.duration, self.event,
                self.covariate, self.covariate_denominator]
        return [c for c in cols if c is not None]

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], *, where: str = "metric spec") -> MetricSpec:
        """Build a spec from a plain dict (YAML config or notebook parameter)."""
        if isinstance(spec, MetricSpec):
            return spec
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where}: expected a dict with 'name' and 'kind', got "
                             f"{type(spec).__name__} {spec!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(known)}")
        for key in ("name", "kind"):
            if key not in spec:
                raise ValueError(f"{where}: missing key {key!r} (got {dict(spec)})")
        try:
            return cls(**dict(spec))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """Plain dict without the unset options (round-trips through :meth:`from_dict`)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def parse_metrics(specs: Iterable[Mapping[str, Any] | MetricSpec]) -> list[MetricSpec]:
    """Turn a list of dicts into :class:`MetricSpec` objects, naming a bad entry by index."""
    out = [MetricSpec.from_dict(s, where=f"metrics[{i}]") for i, s in enumerate(specs)]
    names = [m.name for m in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"metrics: duplicate metric name(s) {dupes}; names must be unique")
    return out


_EVENT_SUFFIXES = ("_completed", "_event", "_observed")
_LOWER_IS_BETTER_WORDS = ("time", "duration", "contact", "complaint", "error", "wait", "cost")


def infer_metrics(
    frame: Any,
    *,
    unit_col: str = "unit_id",
    variant_col: str = "variant",
    exclude: Iterable[str] = (),
) -> list[MetricSpec]:
    """Infer metric specs from column names and types (used when no specs are given).

    Rules, in order: ``pre_<x>`` columns are CUPED covariates of ``x``; a 0/1 column named
    ``<stem>_completed`` / ``_event`` / ``_observed`` with one numeric ``<stem>_...`` column
    is a time-to-event pair (lower is better); a column whose name contains ``nps`` with
    integer values in 0..10 is NPS; other 0/1 columns are proportions; integer-valued
    columns with missing values and 3-10 levels inside 1..10 are ordinal (top-2-box);
    remaining numeric columns are means; text columns are segments, not metrics. The first
    metric is primary, the rest secondary. ``frame`` is a pandas DataFrame or an Ibis table
    (a sample of 10,000 rows is inspected).
    """
    df = _peek(frame, 10_000)
    skip = {unit_col, variant_col, *exclude}
    numeric = [c for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c])
               and not pd.api.types.is_bool_dtype(df[c])]
    numeric += [c for c in df.columns if c not in skip and pd.api.types.is_bool_dtype(df[c])]
    pre = {c for c in numeric if c.startswith("pre_")}
    candidates = [c for c in numeric if c not in pre]
    used: set[str] = set()
    specs: list[dict[str, Any]] = []

    def binary(col: str) -> bool:
        values = set(pd.unique(df[col].dropna().astype(float)))
        return bool(values) and values <= {0.0, 1.0}

    def integer_valued(col: str) -> bool:
        v = df[col].dropna().astype(float)
        return len(v) > 0 and bool(np.all(np.isclose(v, np.round(v))))

    for col in candidates:
        for suffix in _EVENT_SUFFIXES:
            if col.endswith(suffix) and binary(col):
                stem = col[: -len(suffix)]
                partners = [c for c in candidates if c != col and c.startswith(stem + "_")
                            and not binary(c)]
                if len(partners) == 1:
                    specs.append({"name": stem + "_time", "kind": "time_to_event",
                                  "duration": partners[0], "event": col, "better": "lower"})
                    used |= {col, partners[0]}
    for col in candidates:
        if col in used:
            continue
        v = df[col].dropna().astype(float)
        spec: dict[str, Any] = {"name": col, "column": col}
        if "nps" in col.lower() and integer_valued(col) and v.between(0, 10).all():
            spec["kind"] = "nps"
        elif binary(col):
            spec["kind"] = "proportion"
        elif (df[col].isna().any() and integer_valued(col) and v.between(1, 10).all()
              and 3 <= v.nunique() <= 10):
            spec["kind"] = "ordinal"
            spec["top_box"] = float(v.max() - 1)
        else:
            spec["kind"] = "mean"
        if spec["kind"] in ("proportion", "mean") and f"pre_{col}" in pre:
            spec["covariate"] = f"pre_{col}"
        if spec["kind"] in ("proportion", "mean") and f"pre_{col}" in pre and \
                df[f"pre_{col}"].isna().any():
            spec.pop("covariate")
        if any(w in col.lower() for w in _LOWER_IS_BETTER_WORDS):
            spec["better"] = "lower"
        specs.append(spec)
    if not specs:
        raise ValueError(
            f"no metric columns found: expected numeric columns besides {unit_col!r} and "
            f"{variant_col!r}; found {list(df.columns)}")
    order = {c: i for i, c in enumerate(df.columns)}
    specs.sort(key=lambda s: order.get(s.get("column") or s.get("duration"), 0))
    specs[0]["role"] = "primary"
    return parse_metrics(specs)


# --------------------------------------------------------------------------------------
# Aggregates (moments) and the engine
# --------------------------------------------------------------------------------------
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


@dataclass
class UnitsData:
    """A units table in the engine plus the name used in error messages."""

    table: Any
    name: str

    def execute(self, expr: Any) -> pd.DataFrame:
        return expr.execute()


def load_units(source: Any, *, name: str | None = None) -> UnitsData:
    """Wrap a pandas DataFrame, a CSV/Parquet path or an Ibis table as an engine table.

    Parquet is scanned by DuckDB without loading it into Python; CSV is read by pandas
    (blank cells become missing values) and handed to DuckDB as a memtable.
    """
    import ibis

    if isinstance(source, UnitsData):
        return source
    if isinstance(source, pd.DataFrame):
        return UnitsData(ibis.memtable(source), name or "units table")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: units table not found")
        label = name or path.name
        if path.suffix.lower() in (".parquet", ".pq"):
            return UnitsData(connection().read_parquet(str(path)), label)
        from cjmlib.core.io import read_table

        return UnitsData(ibis.memtable(read_table(path)), label)
    if hasattr(source, "schema") and hasattr(source, "execute"):
        return UnitsData(source, name or "units table")
    raise TypeError(f"units must be a DataFrame, a path or an Ibis table, got "
                    f"{type(source).__name__}")


def _peek(frame: Any, n: int) -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame.head(n)
    if isinstance(frame, UnitsData):
        frame = frame.table
    return frame.limit(n).execute()


def _metric_variables(t: Any, spec: MetricSpec) -> tuple[Any, dict[str, Any], str, str | None]:
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
            y = (col >= _top_box(spec)).ifelse(1.0, 0.0)
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


def _top_box(spec: MetricSpec) -> float:
    return 4.0 if spec.top_box is None else float(spec.top_box)


def _moment_aggregates(units: UnitsData, specs: Sequence[MetricSpec], by: Sequence[str]
                       ) -> dict[str, dict[tuple, Aggregates]]:
    """One engine query: per group of ``by`` and per metric, n, sums and cross-products."""
    t = units.table
    exprs: dict[str, Any] = {}
    layout: dict[str, list[str]] = {}
    for i, spec in enumerate(specs):
        valid, variables, _, _ = _metric_variables(t, spec)
        p = f"m{i}_"
        exprs[p + "n"] = valid.cast("int64").sum()
        names = sorted(variables)
        layout[spec.name] = names
        for a in names:
            exprs[f"{p}s_{a}"] = valid.ifelse(variables[a], 0.0).sum()
        for j, a in enumerate(names):
            for b in names[j:]:
                exprs[f"{p}c_{a}_{b}"] = valid.ifelse(variables[a] * variables[b], 0.0).sum()
    if not exprs:
        return {}
    frame = units.execute(t.group_by(list(by)).aggregate(**exprs))
    out: dict[str, dict[tuple, Aggregates]] = {}
    for i, spec in enumerate(specs):
        p = f"m{i}_"
        names = layout[spec.name]
        per: dict[tuple, Aggregates] = {}
        for _, row in frame.iterrows():
            key = tuple(row[c] for c in by)
            per[key] = Aggregates(
                n=np.asarray(float(row[p + "n"] or 0)),
                sums={a: np.asarray(float(row[f"{p}s_{a}"] or 0)) for a in names},
                cross={(a, b): np.asarray(float(row[f"{p}c_{a}_{b}"] or 0))
                       for j, a in enumerate(names) for b in names[j:]},
            )
        out[spec.name] = per
    return out


def _value_counts(units: UnitsData, columns: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    """Counts per group and per distinct value combination of ``columns`` (nulls dropped)."""
    t = units.table
    cond = None
    for c in columns:
        cond = t[c].notnull() if cond is None else cond & t[c].notnull()
    keys = [*by, *columns]
    kept = t.filter(cond)
    return units.execute(kept.group_by(keys).aggregate(count=kept.count()))


# --------------------------------------------------------------------------------------
# Estimators on aggregates (vectorised over leading batch dimensions)
# --------------------------------------------------------------------------------------
def _interval(effect: Any, se: Any, df: Any, alpha: float) -> dict[str, Any]:
    """Two-sided test of 0 and the (1 - alpha) interval; t with ``df`` or normal (df=inf)."""
    from scipy import stats

    effect, se, df = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in
                                           (effect, se, df)))
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = effect / se
    finite = np.isfinite(df)
    q = np.where(finite, stats.t.ppf(1 - alpha / 2, np.where(finite, df, 1.0)),
                 stats.norm.ppf(1 - alpha / 2))
    p = np.where(finite, 2 * stats.t.sf(np.abs(statistic), np.where(finite, df, 1.0)),
                 2 * stats.norm.sf(np.abs(statistic)))
    return {"effect": effect, "se": se, "df": df, "statistic": statistic, "p_value": p,
            "ci_low": effect - q * se, "ci_high": effect + q * se}


def _welch_df(v_c: Any, n_c: Any, v_t: Any, n_t: Any) -> np.ndarray:
    a, b = v_c / n_c, v_t / n_t
    with np.errstate(divide="ignore", invalid="ignore"):
        return (a + b) ** 2 / (a * a / (n_c - 1) + b * b / (n_t - 1))


def proportion_test(x_c: Any, n_c: Any, x_t: Any, n_t: Any, *, alpha: float = 0.05
                    ) -> dict[str, np.ndarray]:
    """Difference of proportions (treatment - control), unpooled Wald z test and interval.

    Same as statsmodels ``test_proportions_2indep`` / ``confint_proportions_2indep`` with
    ``method="wald"``. Returns a dict of arrays: control_value, treatment_value, effect, se,
    df (inf: normal), statistic, p_value, ci_low, ci_high.
    """
    x_c, n_c, x_t, n_t = (np.asarray(v, dtype=float) for v in (x_c, n_c, x_t, n_t))
    p_c, p_t = x_c / n_c, x_t / n_t
    se = np.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    out = _interval(p_t - p_c, se, np.inf, alpha)
    out.update(control_value=p_c, treatment_value=p_t, var_c=p_c * (1 - p_c) / n_c,
               var_t=p_t * (1 - p_t) / n_t)
    return out


def ratio_of_means_test(
    control: Aggregates,
    treatment: Aggregates,
    *,
    numerator: str = "y",
    denominator: str | None = None,
    covariate: str | None = None,
    covariate_denominator: str | None = None,
    alpha: float = 0.05,
) -> dict[str, np.ndarray]:
    """Welch-type t test of a mean or a ratio of means, with optional CUPED.

    With ``denominator=None`` this is Welch's t test of the means (scipy
    ``ttest_ind(equal_var=False)``). With a denominator the per-arm value is the ratio of
    sums and its variance comes from the delta method (Deng, Knoblich & Lu 2018). With a
    covariate (CUPED, Deng et al. 2013) the value is adjusted by
    ``theta * (covariate - pooled covariate mean)``, ``theta`` = pooled covariance /
    pooled covariate variance (both by the delta method for ratios), the formulas of
    tea-tasting's ``RatioOfMeans``. Degrees of freedom: Welch-Satterthwaite.
    """
    total = control + treatment
    if covariate is not None:
        cvar = total.ratio_var(covariate, covariate_denominator)
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = np.where(cvar > 0, total.ratio_cov(
                numerator, denominator, covariate, covariate_denominator) / cvar, 0.0)
        cmean = total.mean(covariate) / total.mean(covariate_denominator)
    else:
        theta = np.zeros(np.shape(control.n))

    def arm(a: Aggregates) -> tuple[Any, Any, Any]:
        value = a.mean(numerator) / a.mean(denominator)
        var = a.ratio_var(numerator, denominator)
        raw_var = var
        if covariate is not None:
            cval = a.mean(covariate) / a.mean(covariate_denominator)
            value = value - theta * (cval - cmean)
            var = (var + theta * theta * a.ratio_var(covariate, covariate_denominator)
                   - 2 * theta * a.ratio_cov(numerator, denominator, covariate,
                                             covariate_denominator))
        return value, var, raw_var

    m_c, v_c, raw_c = arm(control)
    m_t, v_t, raw_t = arm(treatment)
    se = np.sqrt(v_c / control.n + v_t / treatment.n)
    out = _interval(m_t - m_c, se, _welch_df(v_c, control.n, v_t, treatment.n), alpha)
    raw_se2 = raw_c / control.n + raw_t / treatment.n
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = 1 - se * se / raw_se2
    out.update(control_value=np.asarray(m_c, dtype=float),
               treatment_value=np.asarray(m_t, dtype=float), theta=theta,
               variance_reduction=reduction if covariate is not None else np.zeros_like(se),
               var_c=v_c / control.n, var_t=v_t / treatment.n)
    return out


def nps_test(counts_c: Any, counts_t: Any, *, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """NPS difference from (detractors, passives, promoters) counts per arm (last axis).

    NPS = p_pro - p_det (mean of +1/0/-1 codes), variance (p_pro + p_det - NPS^2) / n,
    Welch-type t interval on the difference with Welch-Satterthwaite degrees of freedom.
    Values on the -100..100 scale.
    """
    def arm(c: Any) -> tuple[Any, Any, Any]:
        c = np.asarray(c, dtype=float)
        n = c.sum(-1)
        p_det, p_pro = c[..., 0] / n, c[..., 2] / n
        nps = p_pro - p_det
        return nps, p_pro + p_det - nps * nps, n

    m_c, v_c, n_c = arm(counts_c)
    m_t, v_t, n_t = arm(counts_t)
    se = np.sqrt(v_c / n_c + v_t / n_t)
    out = _interval(100 * (m_t - m_c), 100 * se, _welch_df(v_c, n_c, v_t, n_t), alpha)
    out.update(control_value=100 * m_c, treatment_value=100 * m_t, n_control=n_c,
               n_treatment=n_t)
    return out


def rank_test_from_counts(counts_c: Any, counts_t: Any, *, method: str = "brunner_munzel",
                          alpha: float = 0.05) -> dict[str, np.ndarray]:
    """Rank tests from counts per ordered level (last axis; levels ascending).

    Effect: the relative effect ``theta = P(T > C) + 0.5 P(T = C)`` minus 0.5 (0 = no
    difference), with the Brunner-Munzel (2000) standard error and t interval. The p-value
    is Brunner-Munzel's (scipy ``brunnermunzel``) or, for ``method="mann_whitney"``, the
    tie-corrected asymptotic Mann-Whitney U test with continuity correction (scipy
    ``mannwhitneyu(method="asymptotic")``).
    """
    from scipy import stats

    c = np.asarray(counts_c, dtype=float)
    t = np.asarray(counts_t, dtype=float)
    nx, ny = c.sum(-1), t.sum(-1)
    m = c + t
    mid = np.cumsum(m, -1) - m + (m + 1) / 2            # pooled midrank of each level
    midx = np.cumsum(c, -1) - c + (c + 1) / 2           # midrank within control
    midy = np.cumsum(t, -1) - t + (t + 1) / 2
    rx = (c * mid).sum(-1) / nx
    ry = (t * mid).sum(-1) / ny
    e = (..., None)   # broadcast per-experiment numbers over the levels
    sx = (c * (mid - midx - rx[e] + (nx[e] + 1) / 2) ** 2).sum(-1) / (nx - 1)
    sy = (t * (mid - midy - ry[e] + (ny[e] + 1) / 2) ** 2).sum(-1) / (ny - 1)
    theta = (ry - (ny + 1) / 2) / nx
    se = np.sqrt(nx * sx + ny * sy) / (nx * ny)
    df = (nx * sx + ny * sy) ** 2 / ((nx * sx) ** 2 / (nx - 1) + (ny * sy) ** 2 / (ny - 1))
    out = _interval(theta - 0.5, se, df, alpha)
    if method == "mann_whitney":
        n = nx + ny
        u_t = theta * nx * ny
        u = np.maximum(u_t, nx * ny - u_t)
        tie = (m ** 3 - m).sum(-1)
        s = np.sqrt(nx * ny / 12 * ((n + 1) - tie / (n * (n - 1))))
        z = (u - nx * ny / 2 - 0.5) / s
        out["p_value"] = np.clip(2 * stats.norm.sf(z), 0, 1)
        out["statistic"] = u_t
    out.update(control_value=np.full_like(theta, 0.5), treatment_value=theta,
               n_control=nx, n_treatment=ny)
    return out


def kaplan_meier_from_counts(events: Any, censored: Any) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival just after each distinct time, and the numbers at risk.

    ``events`` and ``censored`` hold counts per distinct time (last axis, ascending).
    """
    d = np.asarray(events, dtype=float)
    c = np.asarray(censored, dtype=float)
    removed = d + c
    at_risk = removed.sum(-1, keepdims=True) - np.cumsum(removed, -1) + removed
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, d / at_risk, 0.0)
    return np.cumprod(1 - hazard, -1), at_risk


def rmst_from_counts(times: Any, events: Any, censored: Any, *, tau: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Restricted mean survival time to ``tau`` and its variance from counts per time.

    RMST = integral of the Kaplan-Meier curve from 0 to ``tau`` (as lifelines
    ``restricted_mean_survival_time``); variance by the Greenwood-type formula
    sum_j A_j^2 d_j / (n_j (n_j - d_j)), A_j the area under the curve from t_j to ``tau``
    (Klein & Moeschberger 2003, eq. 4.5.2; survRM2).
    """
    times = np.asarray(times, dtype=float)
    surv, at_risk = kaplan_meier_from_counts(events, censored)
    d = np.asarray(events, dtype=float)
    inside = times <= tau
    # step function: S = 1 on [0, t_1), S_j on [t_j, t_{j+1}); integrate up to tau
    right = np.append(times[1:], np.inf)
    width = np.clip(np.minimum(right, tau) - times, 0, None) * inside
    first = min(times[0], tau) if times.size else tau
    pieces = surv * width
    rmst = first + pieces.sum(-1)
    # area from t_j to tau: tail sums of the pieces
    area = np.cumsum(pieces[..., ::-1], -1)[..., ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(inside & (at_risk > d), area ** 2 * d / (at_risk * (at_risk - d)), 0.0)
    return rmst, term.sum(-1)


def logrank_from_counts(d_c: Any, r_c: Any, d_t: Any, r_t: Any) -> tuple[np.ndarray, np.ndarray]:
    """Log-rank chi-square statistic (1 df) and p-value from events and numbers at risk
    per distinct time (last axis), as lifelines ``logrank_test``."""
    from scipy import stats

    d_c, r_c, d_t, r_t = (np.asarray(v, dtype=float) for v in (d_c, r_c, d_t, r_t))
    d, r = d_c + d_t, r_c + r_t
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(r > 0, d * r_t / r, 0.0)
        var = np.where(r > 1, d * (r_t / r) * (1 - r_t / r) * (r - d) / (r - 1), 0.0)
    stat = (d_t - expected).sum(-1) ** 2 / var.sum(-1)
    return stat, stats.chi2.sf(stat, 1)


# --------------------------------------------------------------------------------------
# Sample ratio mismatch, multiplicity, Bayesian view, confidence sequences
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SRMResult:
    """Sample ratio mismatch check: chi-square goodness of fit against the planned split."""

    observed: dict[str, int]
    expected: dict[str, float]
    planned_split: dict[str, float]
    statistic: float
    pvalue: float
    alpha: float
    method: str = "Pearson chi-square goodness of fit against the planned split"

    @property
    def passed(self) -> bool:
        return self.pvalue >= self.alpha

    def to_pandas(self) -> pd.DataFrame:
        total = sum(self.observed.values())
        return pd.DataFrame({
            "arm": list(self.observed),
            "units": list(self.observed.values()),
            "observed_share": [v / total for v in self.observed.values()],
            "planned_share": [self.planned_split[a] for a in self.observed],
            "expected_units": [self.expected[a] for a in self.observed],
        })

    def message(self) -> str:
        verdict = "passed" if self.passed else "FAILED: results are untrustworthy"
        return (f"SRM check {verdict} (chi-square = {self.statistic:.3f}, "
                f"p = {self.pvalue:.4g}, threshold {self.alpha})")

    def _repr_html_(self) -> str:
        return f"<p><b>{self.message()}</b></p>" + self.to_pandas().to_html(index=False)


def sample_ratio_mismatch(counts: Mapping[str, int], planned_split: Mapping[str, float], *,
                          alpha: float = 0.001) -> SRMResult:
    """Chi-square test of the arm sizes against the planned split (scipy ``chisquare``).

    A small p-value means units were lost or duplicated unevenly between arms (Fabijan et
    al. 2019), so no metric of the pilot can be trusted.

    >>> sample_ratio_mismatch({"control": 5000, "treatment": 5200},
    ...                       {"control": 0.5, "treatment": 0.5}).pvalue < 0.05
    True
    """
    from scipy import stats

    arms = list(planned_split)
    obs = np.array([counts.get(a, 0) for a in arms], dtype=float)
    share = np.array([planned_split[a] for a in arms], dtype=float)
    exp = obs.sum() * share / share.sum()
    res = stats.chisquare(obs, exp)
    return SRMResult({a: int(o) for a, o in zip(arms, obs, strict=True)},
                     {a: float(e) for a, e in zip(arms, exp, strict=True)},
                     dict(planned_split), float(res.statistic), float(res.pvalue), alpha)


def beta_binomial_view(x_c: int, n_c: int, x_t: int, n_t: int, *, better: str = "higher",
                       prior: tuple[float, float] = (1.0, 1.0)) -> dict[str, float]:
    """Posterior probability that treatment is better and the expected loss of shipping it.

    Independent Beta(prior) priors (default Beta(1, 1), uniform) updated with the binomial
    counts; ``prob_better`` = P(p_t > p_c) (or < for ``better="lower"``) and
    ``expected_loss`` = E[max(harm, 0)] where harm is the shortfall of treatment in the
    good direction, both by one-dimensional numerical integration (scipy ``quad``).
    """
    from scipy import integrate, stats

    a_c, b_c = prior[0] + x_c, prior[1] + n_c - x_c
    a_t, b_t = prior[0] + x_t, prior[1] + n_t - x_t
    pc, pt = stats.beta(a_c, b_c), stats.beta(a_t, b_t)
    pt_up = stats.beta(a_t + 1, b_t)
    pc_up = stats.beta(a_c + 1, b_c)
    mean_t, mean_c = a_t / (a_t + b_t), a_c / (a_c + b_c)
    lo = max(0.0, min(pc.ppf(1e-12), pt.ppf(1e-12)))
    hi = min(1.0, max(pc.isf(1e-12), pt.isf(1e-12)))
    points = [pc.mean(), pt.mean()]
    opts = {"limit": 200, "epsabs": 1e-13, "epsrel": 1e-11, "points": points}
    # P(p_t > x) integrated over the control posterior
    p_t_greater = integrate.quad(lambda x: pc.pdf(x) * pt.sf(x), lo, hi, **opts)[0]
    # E[(p_c - p_t)+] = E_c[ x F_t(x) - mean_t F_{t+1}(x) ]
    loss_higher = integrate.quad(
        lambda x: pc.pdf(x) * (x * pt.cdf(x) - mean_t * pt_up.cdf(x)), lo, hi, **opts)[0]
    # E[(p_t - p_c)+] = E_t[ x F_c(x) - mean_c F_{c+1}(x) ]
    loss_lower = integrate.quad(
        lambda x: pt.pdf(x) * (x * pc.cdf(x) - mean_c * pc_up.cdf(x)), lo, hi, **opts)[0]
    if better == "higher":
        return {"prob_better": p_t_greater, "expected_loss": loss_higher}
    return {"prob_better": 1 - p_t_greater, "expected_loss": loss_lower}


def normal_view(effect: Any, se: Any, *, better: str = "higher") -> dict[str, np.ndarray]:
    """Bayesian view under a flat prior on the effect: the posterior is N(effect, se^2).

    ``prob_better`` = P(effect in the good direction); ``expected_loss`` =
    E[max(-good effect, 0)] = se * phi(m / se) - m * Phi(-m / se), m the good-direction mean.
    """
    from scipy import stats

    m = np.asarray(effect, dtype=float) * (1 if better == "higher" else -1)
    se = np.asarray(se, dtype=float)
    return {"prob_better": stats.norm.cdf(m / se),
            "expected_loss": se * stats.norm.pdf(m / se) - m * stats.norm.cdf(-m / se)}


def confidence_sequence_radius(se: Any, n: Any, *, alpha: float = 0.05,
                               n_planned: Any = None) -> np.ndarray:
    """Half-width of the always-valid (1 - alpha) asymptotic confidence sequence.

    Normal-mixture boundary (Robbins 1970; Howard et al. 2021; asymptotic form of
    Waudby-Smith et al. 2023, Thm 2.2): ``se * sqrt(2 (n rho^2 + 1) / (n rho^2) *
    log(sqrt(n rho^2 + 1) / alpha))``, ``se`` the fixed-horizon standard error at ``n``
    units and ``rho`` tuned so the sequence is tightest at ``n_planned`` (default ``n``).
    Checking the interval after every batch of units keeps the error rate below alpha.
    """
    se = np.asarray(se, dtype=float)
    n = np.asarray(n, dtype=float)
    n_opt = n if n_planned is None else np.asarray(n_planned, dtype=float)
    la = -2 * math.log(alpha)
    rho2 = (la + math.log(la + 1)) / n_opt
    u = n * rho2
    return se * np.sqrt(2 * (u + 1) / u * np.log(np.sqrt(u + 1) / alpha))


# --------------------------------------------------------------------------------------
# Validation of a units table
# --------------------------------------------------------------------------------------
def _rows_of(units: UnitsData, predicate: Any, *, limit: int = 5,
             unit_col: str | None = None) -> list[tuple[int, Any]]:
    """1-based data rows (and unit ids) where ``predicate`` holds, first ``limit`` of them."""
    import ibis

    t = units.table.mutate(_row_number=ibis.row_number() + 1)
    pred = predicate(t)
    cols = ["_row_number"] + ([unit_col] if unit_col else [])
    frame = units.execute(t.filter(pred).select(cols).order_by("_row_number").limit(limit))
    return [(int(r["_row_number"]), r[unit_col] if unit_col else None)
            for _, r in frame.iterrows()]


def _fmt_rows(rows: list[tuple[int, Any]]) -> str:
    def plain(u: Any) -> Any:
        return u.item() if isinstance(u, np.generic) else u

    return ", ".join(f"{r}" + (f" (unit {plain(u)!r})" if u is not None else "")
                     for r, u in rows)


def check_units(
    units: UnitsData,
    *,
    metrics: Sequence[MetricSpec],
    arms: Sequence[str],
    control: str,
    unit_col: str = "unit_id",
    variant_col: str = "variant",
) -> dict[str, int]:
    """Validate a units table against the plan; return units per arm.

    Raises ``ValueError`` naming the table, column, rows and expectation for: missing
    columns (CUPED covariates get their own message), variant labels outside the plan, an
    arm of the plan without units, a unit listed twice or in two arms, non-numeric metric
    columns, values outside a metric's domain, missing values where a metric needs one.
    """
    t = units.table
    name = units.name
    found = list(t.columns)
    for spec in metrics:
        for cov in (spec.covariate, spec.covariate_denominator):
            if cov is not None and cov not in found:
                raise ValueError(
                    f"{name}: no pre-period data for CUPED: column {cov!r} (covariate of "
                    f"metric {spec.name!r}) not found; found {found}. Add the pre-period "
                    f"column or drop 'covariate' from the metric spec")
    required = [unit_col, variant_col] + [c for s in metrics for c in s.columns]
    missing = [c for c in dict.fromkeys(required) if c not in found]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; expected {list(dict.fromkeys(required))}, "
                         f"found {found}")
    if control not in arms:
        raise ValueError(f"control arm {control!r} is not an arm of the plan {list(arms)}")
    schema = t.schema()
    for spec in metrics:
        for col in spec.columns:
            dtype = schema[col]
            if not (dtype.is_numeric() or dtype.is_boolean()):
                rows = _rows_of(units, lambda x, c=col: x[c].notnull(), limit=1)
                raise ValueError(f"{name}: column {col!r} (metric {spec.name!r}) must be "
                                 f"numeric, found {dtype} (e.g. row {_fmt_rows(rows)})")
    counts = units.execute(t.group_by(variant_col).aggregate(units=t.count()))
    labels = [v for v in counts[variant_col].tolist()]
    if any(pd.isna(v) for v in labels):
        rows = _rows_of(units, lambda x: x[variant_col].isnull(), unit_col=unit_col)
        raise ValueError(f"{name}: column {variant_col!r} is empty in row(s) {_fmt_rows(rows)}; "
                         f"expected one of {list(arms)}")
    unknown = [v for v in labels if v not in arms]
    if unknown:
        rows = _rows_of(units, lambda x: x[variant_col].isin(unknown), unit_col=unit_col)
        raise ValueError(
            f"{name}: column {variant_col!r} has label(s) {sorted(map(str, unknown))} that are "
            f"not arms of the plan {list(arms)} (row(s) {_fmt_rows(rows)}); fix the labels "
            f"or the planned split")
    per_arm = {str(k): int(v) for k, v in zip(counts[variant_col], counts["units"], strict=True)}
    for arm in arms:
        if per_arm.get(arm, 0) == 0:
            raise ValueError(f"{name}: column {variant_col!r}: arm {arm!r} of the plan has no "
                             f"units; found arms {sorted(per_arm)}")
    n_rows = sum(per_arm.values())
    n_unique = int(units.execute(t[unit_col].nunique()))
    if n_unique < n_rows:
        dup = units.execute(
            t.group_by(unit_col).aggregate(k=t.count(), arms=t[variant_col].nunique())
            .filter(lambda x: x.k > 1).order_by(unit_col).limit(3))
        first = dup.iloc[0]
        unit = first[unit_col]
        rows = _rows_of(units, lambda x: x[unit_col] == unit, unit_col=None, limit=10)
        arm_rows = units.execute(t.filter(t[unit_col] == unit).select(variant_col))
        arms_seen = sorted(set(arm_rows[variant_col].astype(str)))
        what = (f"appears in {len(arms_seen)} arms {arms_seen}" if first["arms"] > 1
                else f"appears {int(first['k'])} times in arm {arms_seen[0]!r}")
        raise ValueError(
            f"{name}: column {unit_col!r}: unit {unit!r} {what} (rows "
            f"{', '.join(str(r) for r, _ in rows)}); each unit must be listed once, in exactly "
            f"one arm ({n_rows - n_unique} duplicate row(s) in total)")
    _check_domains(units, metrics, unit_col)
    return per_arm


def _check_domains(units: UnitsData, metrics: Sequence[MetricSpec], unit_col: str) -> None:
    t = units.table
    name = units.name
    checks: list[tuple[str, str, Any]] = []   # (column, expectation, bad-row predicate)
    for spec in metrics:
        if spec.kind == "proportion":
            checks.append((spec.column, f"0 or 1 for proportion metric {spec.name!r} "
                           "(no missing values)",
                           lambda x, c=spec.column: x[c].isnull() | ~x[c].cast("float64").isin([0.0, 1.0])))
        elif spec.kind == "mean":
            checks.append((spec.column, f"a number for mean metric {spec.name!r} "
                           "(no missing values)", lambda x, c=spec.column: x[c].isnull()))
        elif spec.kind == "ratio":
            for c in (spec.numerator, spec.denominator):
                checks.append((c, f"a number for ratio metric {spec.name!r} (no missing "
                               "values)", lambda x, c=c: x[c].isnull()))
            checks.append((spec.denominator, f"a denominator >= 0 for ratio metric "
                           f"{spec.name!r}", lambda x, c=spec.denominator: x[c] < 0))
        elif spec.kind == "nps":
            checks.append((spec.column, f"an integer 0..10 or blank for NPS metric "
                           f"{spec.name!r}", lambda x, c=spec.column: x[c].notnull() & (
                               (x[c] < 0) | (x[c] > 10)
                               | (x[c].cast("float64") != x[c].cast("float64").round()))))
        elif spec.kind == "time_to_event":
            checks.append((spec.duration, f"a duration >= 0 for time-to-event metric "
                           f"{spec.name!r} (no missing values)",
                           lambda x, c=spec.duration: x[c].isnull() | (x[c] < 0)))
            checks.append((spec.event, f"1 (completed) or 0 (censored) for time-to-event "
                           f"metric {spec.name!r}",
                           lambda x, c=spec.event: x[c].isnull() | ~x[c].cast("float64").isin([0.0, 1.0])))
        for cov in (spec.covariate, spec.covariate_denominator):
            if cov is None:
                continue
            main = spec.column or spec.numerator
            checks.append((cov, f"pre-period data for CUPED of metric {spec.name!r} "
                           "(no missing values where the metric has a value; no pre-period "
                           "data: fill with 0 and add an indicator, or drop 'covariate')",
                           lambda x, c=cov, m=main: x[m].notnull() & x[c].isnull()))
    if not checks:
        return
    exprs = {f"bad{i}": pred(t).cast("int64").sum() for i, (_, _, pred) in enumerate(checks)}
    counts = units.execute(t.aggregate(**exprs)).iloc[0]
    for i, (col, expectation, pred) in enumerate(checks):
        bad = int(counts[f"bad{i}"] or 0)
        if bad:
            rows = _rows_of(units, pred, unit_col=unit_col)
            raise ValueError(f"{name}: column {col!r}: {bad} row(s) without {expectation}; "
                             f"first row(s): {_fmt_rows(rows)}")


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------
@dataclass
class PilotEvaluation:
    """Everything :func:`evaluate_pilot` found: the SRM check first, then the results.

    ``results`` follows the ``pilot_results`` contract (extra columns after the contract
    ones); ``bayesian`` and ``sequential`` are filled when asked for.
    """

    srm: SRMResult
    results: pd.DataFrame
    metrics: list[MetricSpec]
    alpha: float
    control: str
    arms: list[str]
    name: str
    notes: list[str] = field(default_factory=list)

    @property
    def trustworthy(self) -> bool:
        return self.srm.passed

    def to_pandas(self) -> pd.DataFrame:
        return self.results

    def _repr_html_(self) -> str:
        return self.srm._repr_html_() + self.results.to_html(index=False)


def resolve_split(planned_split: Mapping[str, float] | None, observed_arms: Sequence[str],
                  control: str) -> dict[str, float]:
    """The planned split: given (validated, normalised) or equal over the observed arms."""
    if planned_split:
        split = {str(k): float(v) for k, v in planned_split.items()}
        if any(v <= 0 for v in split.values()) or not math.isclose(sum(split.values()), 1.0,
                                                                      abs_tol=1e-6):
            raise ValueError(f"planned_split: shares must be positive and sum to 1, got {split}")
        return split
    arms = sorted(str(a) for a in observed_arms if not pd.isna(a))
    if control in arms:
        arms = [control] + [a for a in arms if a != control]
    return {a: 1 / len(arms) for a in arms}


def evaluate_pilot(
    units: Any,
    *,
    metrics: Sequence[Mapping[str, Any] | MetricSpec] | None = None,
    control: str = "control",
    planned_split: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    srm_alpha: float = 0.001,
    unit_col: str = "unit_id",
    variant_col: str = "variant",
    bayesian: bool = False,
    sequential: bool = False,
    n_planned: int | None = None,
    n_resamples: int = 9999,
    seed: int = 0,
    name: str | None = None,
    cluster_col: str | None = None,
) -> PilotEvaluation:
    """Evaluate a randomised pilot: SRM check, one result row per metric and treatment arm.

    ``units`` is a DataFrame, a CSV/Parquet path or an Ibis table with one row per unit
    (DESIGN.md ``units``). ``metrics`` are :class:`MetricSpec` or dicts; ``None`` or empty:
    inferred by :func:`infer_metrics`. ``planned_split`` maps arm to planned share (default
    equal over the arms found). Returns a :class:`PilotEvaluation` whose ``results`` holds
    the ``pilot_results`` columns, then: role, better, se, statistic, df, alpha,
    rel_ci_low/high (relative effect interval, log-ratio delta method; NaN for rank
    effects), p_value_bh, significant, covariate, variance_reduction (CUPED share of
    variance removed), min_effect, margin, trustworthy, reason; with ``bayesian=True``
    prob_better and expected_loss; with ``sequential=True`` cs_low and cs_high
    (always-valid interval, see :func:`confidence_sequence_radius`).

    With ``cluster_col`` (whole stores or regions were assigned) every moment metric is
    analysed at cluster level as a ratio of cluster sums (cluster totals over cluster counts,
    delta method: the cluster-robust variance, Deng et al. 2018, sec. 3.3), the SRM check
    counts clusters, and ``n_control`` / ``n_treatment`` are numbers of clusters.
    """
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=0.5)
    check_scalar(srm_alpha, "srm_alpha", typ=float, gt=0, lt=0.5)
    data = load_units(units, name=name)
    specs = (parse_metrics(metrics) if metrics else
             infer_metrics(data, unit_col=unit_col, variant_col=variant_col))
    notes = [] if metrics else [
        "metrics inferred from column types: " + ", ".join(f"{m.name} ({m.kind})"
                                                           for m in specs)]
    if not planned_split and variant_col in data.table.columns:
        observed = units_per_arm_labels(data, variant_col)
    else:
        observed = []
    split = resolve_split(planned_split, observed, control)
    arms = list(split)
    per_arm = check_units(data, metrics=specs, arms=arms, control=control, unit_col=unit_col,
                          variant_col=variant_col)
    if cluster_col is not None:
        data, eval_specs, per_arm = _cluster_level(data, specs, cluster_col, variant_col)
        notes.append(f"cluster randomisation: metrics analysed at the level of "
                     f"{sum(per_arm.values())} clusters ({cluster_col!r})")
    else:
        eval_specs = list(specs)
    srm = sample_ratio_mismatch(per_arm, split, alpha=srm_alpha)
    rows = _evaluate_metrics(data, eval_specs, arms=arms, control=control, alpha=alpha,
                             variant_col=variant_col, n_resamples=n_resamples, seed=seed)
    if cluster_col is not None:
        kinds = {m.name: m.kind for m in specs}
        for r in rows:
            r["kind"] = kinds[r["metric"]]
            r["method"] = f"cluster-level ({cluster_col}; n = clusters) " + r["method"]
    results = pd.DataFrame(rows)
    results["srm_p_value"] = srm.pvalue
    results = _finish(results, alpha=alpha, srm=srm)
    if bayesian:
        results = _add_bayesian(results, data, specs, variant_col=variant_col)
    if sequential:
        n_total = sum(per_arm.values())
        radius = confidence_sequence_radius(results["se"], n_total, alpha=alpha,
                                            n_planned=n_planned or n_total)
        results["cs_low"] = results["effect"] - radius
        results["cs_high"] = results["effect"] + radius
    return PilotEvaluation(srm, results, list(specs), alpha, control, arms, data.name, notes)


def _cluster_level(data: UnitsData, specs: Sequence[MetricSpec], cluster_col: str,
                   variant_col: str) -> tuple[UnitsData, list[MetricSpec], dict[str, int]]:
    """Cluster totals and counts per metric, and ratio specs that analyse them."""
    t = data.table
    if cluster_col not in t.columns:
        raise ValueError(f"{data.name}: cluster column {cluster_col!r} not found; found "
                         f"{list(t.columns)}")
    mixed = data.execute(t.group_by(cluster_col).aggregate(k=t[variant_col].nunique())
                         .filter(lambda x: x.k > 1).limit(3))
    if len(mixed):
        c = mixed[cluster_col].iloc[0]
        c = c.item() if isinstance(c, np.generic) else c
        rows = _rows_of(data, lambda x: x[cluster_col] == c, limit=5)
        raise ValueError(f"{data.name}: column {cluster_col!r}: cluster {c!r} has units in "
                         f"more than one arm (rows {_fmt_rows(rows)}); with cluster "
                         "randomisation every unit of a cluster is in the same arm")
    exprs: dict[str, Any] = {}
    out: list[MetricSpec] = []
    for i, spec in enumerate(specs):
        if not _uses_moments(spec):
            raise ValueError(f"metric {spec.name!r}: kind {spec.kind!r} with method "
                             f"{spec.method!r} is not available with cluster randomisation; "
                             "use a proportion, mean, ratio, ordinal (top2box/mean) or nps "
                             "metric")
        valid, variables, num, den = _metric_variables(t, spec)
        one = valid.ifelse(1.0, 0.0)
        exprs[f"n{i}"] = valid.ifelse(variables[num], 0.0).sum()
        exprs[f"d{i}"] = (valid.ifelse(variables[den], 0.0) if den else one).sum()
        cov = {}
        if "cy" in variables:
            exprs[f"cn{i}"] = valid.ifelse(variables["cy"], 0.0).sum()
            exprs[f"cd{i}"] = (valid.ifelse(variables["cx"], 0.0) if "cx" in variables
                               else one).sum()
            cov = {"covariate": f"cn{i}", "covariate_denominator": f"cd{i}"}
        out.append(MetricSpec(spec.name, "ratio", numerator=f"n{i}", denominator=f"d{i}",
                              role=spec.role, better=spec.better, min_effect=spec.min_effect,
                              margin=spec.margin, **cov))
    agg = t.group_by([cluster_col, variant_col]).aggregate(**exprs)
    counts = data.execute(agg.group_by(variant_col).aggregate(k=agg.count()))
    per_arm = {str(a): int(k) for a, k in zip(counts[variant_col], counts["k"], strict=True)}
    return UnitsData(agg, f"{data.name} (cluster totals by {cluster_col})"), out, per_arm


def units_per_arm_labels(data: UnitsData, variant_col: str) -> list[Any]:
    t = data.table
    return data.execute(t.select(variant_col).distinct())[variant_col].tolist()


def _evaluate_metrics(data: UnitsData, specs: Sequence[MetricSpec], *, arms: Sequence[str],
                      control: str, alpha: float, variant_col: str, n_resamples: int = 9999,
                      seed: int = 0) -> list[dict[str, Any]]:
    treatments = [a for a in arms if a != control]
    moment_specs = [s for s in specs if _uses_moments(s)]
    moments = _moment_aggregates(data, moment_specs, [variant_col]) if moment_specs else {}
    rows: list[dict[str, Any]] = []
    for spec in specs:
        if _uses_moments(spec):
            per = moments[spec.name]
            results = [_moment_result(spec, per, control, arm, alpha, data.name)
                       for arm in treatments]
        elif spec.kind == "time_to_event":
            results = _survival_rows(data, spec, control, treatments, alpha, variant_col)
        elif spec.method in ("brunner_munzel", "mann_whitney"):
            results = _rank_rows(data, spec, control, treatments, alpha, variant_col)
        elif spec.method == "bootstrap":
            results = _bootstrap_rows(data, spec, control, treatments, alpha, variant_col,
                                      n_resamples, seed)
        else:  # pragma: no cover - METHODS is exhaustive
            raise AssertionError(spec)
        for arm, res in zip(treatments, results, strict=True):
            rows.append(_row(spec, control, arm, res, alpha))
    return rows


def _uses_moments(spec: MetricSpec) -> bool:
    return (spec.kind in ("proportion", "ratio", "nps")
            or (spec.kind == "mean" and spec.method == "welch")
            or (spec.kind == "ordinal" and spec.method in ("top2box", "mean")))


def _need_two(spec: MetricSpec, arm: str, n: float, name: str, col: str) -> None:
    if n < 2:
        raise ValueError(f"{name}: arm {arm!r} has {int(n)} unit(s) with a value of {col!r} "
                         f"(metric {spec.name!r}); at least 2 per arm are needed")


def _zero_variance(spec: MetricSpec, name: str, col: str, detail: str) -> ValueError:
    return ValueError(f"{name}: column {col!r} (metric {spec.name!r}) has no variation "
                      f"{detail}; a test needs values that vary within at least one arm")


def _moment_result(spec: MetricSpec, per: Mapping[tuple, Aggregates], control: str, arm: str,
                   alpha: float, name: str) -> dict[str, Any]:
    col = spec.column or spec.numerator
    empty = Aggregates(np.asarray(0.0), {}, {})
    a_c, a_t = per.get((control,), empty), per.get((arm,), empty)
    for a, label in ((a_c, control), (a_t, arm)):
        _need_two(spec, label, float(a.n), name, col)
    if spec.kind == "nps":
        # counts of detractors/passives/promoters from n, sum(code), sum(code^2)
        def counts(a: Aggregates) -> np.ndarray:
            n, s, ss = float(a.n), float(a.sums["y"]), float(a.cross[("y", "y")])
            pro, det = (ss + s) / 2, (ss - s) / 2
            return np.array([det, n - pro - det, pro])
        res = nps_test(counts(a_c), counts(a_t), alpha=alpha)
        if not res["se"] > 0:
            raise _zero_variance(spec, name, col, "(every respondent gave the same group)")
        res["method"] = ("NPS (promoter +1 / passive 0 / detractor -1), variance "
                         "(p_pro + p_det - NPS^2)/n, Welch-type t interval; -100..100 scale")
        res["n_control"], res["n_treatment"] = float(a_c.n), float(a_t.n)
        return res
    if spec.kind == "proportion" and spec.covariate is None:
        x_c, x_t = float(a_c.sums["y"]), float(a_t.sums["y"])
        n_c, n_t = float(a_c.n), float(a_t.n)
        return _proportion_result(spec, x_c, n_c, x_t, n_t, alpha, name, col)
    if spec.kind == "ordinal" and spec.method == "top2box" and spec.covariate is None:
        x_c, x_t = float(a_c.sums["y"]), float(a_t.sums["y"])
        res = _proportion_result(spec, x_c, float(a_c.n), x_t, float(a_t.n), alpha, name, col)
        res["method"] = f"top-2-box share (>= {_top_box(spec):g}), " + res["method"]
        return res
    den = "x" if spec.kind == "ratio" else None
    cov = "cy" if spec.covariate else None
    cov_den = "cx" if spec.covariate_denominator else None
    if spec.kind == "ratio":
        for a, label in ((a_c, control), (a_t, arm)):
            if not float(a.sums["x"]) > 0:
                raise ValueError(f"{name}: column {spec.denominator!r} (denominator of "
                                 f"{spec.name!r}) sums to 0 in arm {label!r}; a ratio needs "
                                 "a positive denominator")
    if cov is not None:
        total = a_c + a_t
        if not float(total.ratio_var("cy", cov_den)) > 0:
            raise ValueError(f"{name}: column {spec.covariate!r} (CUPED covariate of "
                             f"{spec.name!r}) has no variation; no usable pre-period data "
                             "for CUPED: drop 'covariate'")
    res = ratio_of_means_test(a_c, a_t, numerator="y", denominator=den, covariate=cov,
                              covariate_denominator=cov_den, alpha=alpha)
    if not float(res["se"]) > 0:
        raise _zero_variance(spec, name, col, "(every unit has the same value in both arms)")
    if spec.kind == "ratio":
        method = (f"ratio of sums {spec.numerator}/{spec.denominator}, delta method "
                  "(Deng et al. 2018), Welch-type t")
    elif spec.kind == "ordinal" and spec.method == "top2box":
        method = f"top-2-box share (>= {_top_box(spec):g}), Welch t"
    else:
        method = "Welch t (Welch-Satterthwaite df)"
    if cov is not None:
        label = spec.covariate + (f"/{spec.covariate_denominator}" if cov_den else "")
        method = (f"CUPED (Deng et al. 2013; covariate {label}, theta = "
                  f"{float(res['theta']):.4g}) + " + method)
        if spec.kind == "ordinal" and spec.method == "top2box":
            method = method.replace("Welch t", "Welch t on the top-box indicator")
    res["method"] = method
    res["n_control"], res["n_treatment"] = float(a_c.n), float(a_t.n)
    return res


def _proportion_result(spec: MetricSpec, x_c: float, n_c: float, x_t: float, n_t: float,
                       alpha: float, name: str, col: str) -> dict[str, Any]:
    from scipy import stats
    from statsmodels.stats.proportion import confint_proportions_2indep

    if (x_c + x_t) in (0, n_c + n_t):
        raise _zero_variance(spec, name, col, f"(every value is {int(x_c > 0)} in both arms)")
    pooled = (x_c + x_t) / (n_c + n_t)
    expected_min = min(n_c, n_t) * min(pooled, 1 - pooled)
    method = "z" if spec.method in ("z", "top2box") else spec.method
    small = method == "z" and expected_min < 5
    if method == "z" and not small:
        res = proportion_test(x_c, n_c, x_t, n_t, alpha=alpha)
        res["method"] = "difference of proportions, unpooled Wald z test and interval"
    else:
        table = [[int(x_t), int(n_t - x_t)], [int(x_c), int(n_c - x_c)]]
        if method == "barnard":
            p = stats.barnard_exact(table).pvalue
            label = "Barnard exact test"
        else:
            p = stats.fisher_exact(table).pvalue
            label = "Fisher exact test" + (" (small counts: expected cell < 5)" if small
                                           else "")
        lo, hi = confint_proportions_2indep(x_t, n_t, x_c, n_c, method="newcomb",
                                            alpha=alpha)
        res = proportion_test(x_c, n_c, x_t, n_t, alpha=alpha)
        res.update(p_value=np.asarray(p), ci_low=np.asarray(lo), ci_high=np.asarray(hi),
                   df=np.asarray(np.inf))
        res["method"] = f"difference of proportions, {label}, Newcombe hybrid score interval"
    res["n_control"], res["n_treatment"] = n_c, n_t
    return res


def _arm_keys(frame: pd.DataFrame, variant_col: str) -> pd.Series:
    return frame[variant_col].astype(str)


def _rank_rows(data: UnitsData, spec: MetricSpec, control: str, treatments: Sequence[str],
               alpha: float, variant_col: str) -> list[dict[str, Any]]:
    col = spec.column
    counts = _value_counts(data, [col], [variant_col])
    levels = np.sort(counts[col].astype(float).unique())
    table = (counts.assign(_arm=_arm_keys(counts, variant_col), _lvl=counts[col].astype(float))
             .pivot_table(index="_arm", columns="_lvl", values="count", aggfunc="sum",
                          fill_value=0).reindex(columns=levels, fill_value=0))
    out = []
    for arm in treatments:
        c = table.loc[control].to_numpy(float) if control in table.index else np.zeros(0)
        t = table.loc[arm].to_numpy(float) if arm in table.index else np.zeros(0)
        _need_two(spec, control, c.sum(), data.name, col)
        _need_two(spec, arm, t.sum(), data.name, col)
        if len(levels) < 2 or ((c > 0).sum() <= 1 and (t > 0).sum() <= 1):
            raise _zero_variance(spec, data.name, col, "(a single value within each arm)")
        res = rank_test_from_counts(c, t, method=spec.method, alpha=alpha)
        what = ("Brunner-Munzel test" if spec.method == "brunner_munzel" else
                "Mann-Whitney U test (asymptotic, tie-corrected, continuity correction)")
        res["method"] = (f"{what}; effect P(T>C)+0.5P(T=C)-0.5 with Brunner-Munzel interval")
        out.append(res)
    return out


def _survival_counts(data: UnitsData, spec: MetricSpec, variant_col: str
                     ) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    counts = _value_counts(data, [spec.duration, spec.event], [variant_col])
    counts["_arm"] = _arm_keys(counts, variant_col)
    counts["_t"] = counts[spec.duration].astype(float)
    counts["_e"] = counts[spec.event].astype(float)
    times = np.sort(counts["_t"].unique())
    per: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for arm, g in counts.groupby("_arm"):
        ev = g[g["_e"] == 1].groupby("_t")["count"].sum().reindex(times, fill_value=0)
        ce = g[g["_e"] == 0].groupby("_t")["count"].sum().reindex(times, fill_value=0)
        per[str(arm)] = (ev.to_numpy(float), ce.to_numpy(float))
    return times, per


def _default_tau(times: np.ndarray, per: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 arms: Sequence[str]) -> float:
    """Default RMST horizon: the smallest of the arms' largest observed times (survRM2)."""
    last = []
    for a in arms:
        d, c = per[a]
        last.append(times[(d + c) > 0].max())
    return float(min(last))


def _survival_rows(data: UnitsData, spec: MetricSpec, control: str, treatments: Sequence[str],
                   alpha: float, variant_col: str) -> list[dict[str, Any]]:
    times, per = _survival_counts(data, spec, variant_col)
    for arm in (control, *treatments):
        n = per[arm][0].sum() + per[arm][1].sum() if arm in per else 0
        _need_two(spec, arm, n, data.name, spec.duration)
        if arm in per and per[arm][0].sum() == 0:
            raise ValueError(f"{data.name}: column {spec.event!r} (metric {spec.name!r}) has "
                             f"no completed events in arm {arm!r}; Kaplan-Meier needs events")
    tau = spec.tau or _default_tau(times, per, [control, *treatments])
    out = []
    for arm in treatments:
        r_c, v_c = rmst_from_counts(times, *per[control], tau=tau)
        r_t, v_t = rmst_from_counts(times, *per[arm], tau=tau)
        if not v_c + v_t > 0:
            raise _zero_variance(spec, data.name, spec.duration, "(no spread in the times)")
        res = _interval(r_t - r_c, np.sqrt(v_c + v_t), np.inf, alpha)
        res.update(control_value=r_c, treatment_value=r_t,
                   n_control=per[control][0].sum() + per[control][1].sum(),
                   n_treatment=per[arm][0].sum() + per[arm][1].sum(), tau=tau,
                   var_c=v_c, var_t=v_t)
        res["method"] = (f"RMST to tau = {tau:g} (Kaplan-Meier), difference with Greenwood-type "
                         "variance, z test")
        out.append(res)
    return out


def _bootstrap_rows(data: UnitsData, spec: MetricSpec, control: str, treatments: Sequence[str],
                    alpha: float, variant_col: str, n_resamples: int, seed: int
                    ) -> list[dict[str, Any]]:
    from scipy import stats

    t = data.table
    col = spec.column
    values = data.execute(t.filter(t[col].notnull()).select(variant_col, col))
    arm_of = _arm_keys(values, variant_col)
    x_c = values.loc[arm_of == control, col].to_numpy(float)
    out = []
    for k, arm in enumerate(treatments):
        x_t = values.loc[arm_of == arm, col].to_numpy(float)
        _need_two(spec, control, len(x_c), data.name, col)
        _need_two(spec, arm, len(x_t), data.name, col)
        if np.ptp(x_c) == 0 and np.ptp(x_t) == 0:
            raise _zero_variance(spec, data.name, col, "(a single value within each arm)")

        def diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
            return a.mean(axis) - b.mean(axis)

        boot = stats.bootstrap((x_t, x_c), diff, n_resamples=n_resamples, vectorized=True,
                               method="percentile", confidence_level=1 - alpha,
                               rng=np.random.default_rng(seed + k), batch=200)
        dist = boot.bootstrap_distribution
        effect = x_t.mean() - x_c.mean()
        p = min(1.0, 2 * min(np.mean(dist <= 0), np.mean(dist >= 0)))
        res = {"control_value": x_c.mean(), "treatment_value": x_t.mean(), "effect": effect,
               "se": boot.standard_error, "df": np.inf, "statistic": effect / boot.standard_error,
               "p_value": p, "ci_low": boot.confidence_interval.low,
               "ci_high": boot.confidence_interval.high, "n_control": len(x_c),
               "n_treatment": len(x_t),
               "method": (f"difference of means, percentile bootstrap ({n_resamples} "
                          f"resamples, seed {seed + k}); p-value by interval inversion")}
        out.append(res)
    return out


def _row(spec: MetricSpec, control: str, arm: str, res: Mapping[str, Any],
         alpha: float) -> dict[str, Any]:
    def f(key: str) -> float:
        return float(np.asarray(res[key]))

    effect, cv, tv, se = f("effect"), f("control_value"), f("treatment_value"), f("se")
    rank = spec.method in ("brunner_munzel", "mann_whitney")
    # relative change of an NPS (a difference of shares) or of a rank effect means nothing
    rel = effect / cv if cv != 0 and not rank and spec.kind != "nps" else math.nan
    rel_lo = rel_hi = math.nan
    var_c = float(np.asarray(res.get("var_c", np.nan)))
    var_t = float(np.asarray(res.get("var_t", np.nan)))
    if np.isfinite(rel) and cv * tv > 0 and np.isfinite(var_c) and np.isfinite(var_t):
        # interval of treatment/control on the log scale (delta method), as tea-tasting
        from scipy import stats

        a, b = var_c / cv ** 2, var_t / tv ** 2
        log_se = math.sqrt(a + b)
        if np.isfinite(f("df")):
            df = (a + b) ** 2 / (a * a / (f("n_control") - 1) + b * b / (f("n_treatment") - 1))
            q = float(stats.t.ppf(1 - alpha / 2, df))
        else:
            q = float(stats.norm.ppf(1 - alpha / 2))
        ratio = tv / cv
        rel_lo, rel_hi = ratio * math.exp(-q * log_se) - 1, ratio * math.exp(q * log_se) - 1
    covariate = (spec.covariate + (f"/{spec.covariate_denominator}"
                                   if spec.covariate_denominator else "")
                 if spec.covariate else None)
    return {
        "metric": spec.name, "kind": spec.kind, "control": control, "treatment": arm,
        "n_control": int(f("n_control")), "n_treatment": int(f("n_treatment")),
        "control_value": cv, "treatment_value": tv, "effect": effect, "rel_effect": rel,
        "ci_low": f("ci_low"), "ci_high": f("ci_high"), "p_value": f("p_value"),
        "p_value_adjusted": math.nan, "method": res["method"], "srm_p_value": math.nan,
        "decision": "", "role": spec.role, "better": spec.better, "se": se,
        "statistic": f("statistic"), "df": f("df"), "alpha": alpha,
        "rel_ci_low": rel_lo, "rel_ci_high": rel_hi, "p_value_bh": math.nan,
        "significant": False, "covariate": covariate,
        "variance_reduction": float(np.asarray(res.get("variance_reduction", 0.0))),
        "min_effect": spec.min_effect, "margin": spec.margin, "trustworthy": True,
        "reason": "",
    }


def _finish(results: pd.DataFrame, *, alpha: float, srm: SRMResult) -> pd.DataFrame:
    results = results.copy()
    for role in ROLES:
        mask = results["role"] == role
        if mask.any():
            results.loc[mask, "p_value_adjusted"] = adjust_p_values(
                results.loc[mask, "p_value"].to_numpy(), method="holm")
            results.loc[mask, "p_value_bh"] = adjust_p_values(
                results.loc[mask, "p_value"].to_numpy(), method="bh")
    results["significant"] = results["p_value_adjusted"] < alpha
    results = decide(results, alpha=alpha, checks_passed=srm.passed,
                     failed_check=srm.message())
    ordered = PILOT_RESULTS_COLUMNS + [c for c in results.columns
                                       if c not in PILOT_RESULTS_COLUMNS]
    return results[ordered]


def decide(results: pd.DataFrame, *, alpha: float = 0.05, checks_passed: bool = True,
           failed_check: str = "") -> pd.DataFrame:
    """Add ``decision``, ``reason`` and ``trustworthy`` by the documented verdict rule.

    See the module docstring for the rule. Needs the columns metric, treatment, role,
    better, effect, ci_low, ci_high, p_value_adjusted, min_effect, margin.
    """
    out = results.copy()
    sign = np.where(out["better"] == "lower", -1.0, 1.0)
    good_effect = out["effect"] * sign
    # interval end in the good direction / in the harmful direction, in good units
    good_end = np.where(sign > 0, out["ci_high"], -out["ci_low"])
    margin = (pd.to_numeric(out["margin"], errors="coerce").fillna(0.0) if "margin" in out
              else pd.Series(0.0, index=out.index))
    min_eff = (pd.to_numeric(out["min_effect"], errors="coerce") if "min_effect" in out
               else pd.Series(np.nan, index=out.index))
    significant = out["p_value_adjusted"] < alpha
    breached = (out["role"] == "guardrail") & (good_end < -margin)
    decisions, reasons = [], []
    for i, row in enumerate(out.itertuples(index=False)):
        me = float(min_eff.iloc[i])
        if not checks_passed:
            decisions.append("inconclusive")
            reasons.append(f"untrustworthy: {failed_check}")
            continue
        if row.role == "guardrail":
            if breached.iloc[i]:
                decisions.append("guardrail breached")
                reasons.append(f"harm beyond the tolerated margin ({margin.iloc[i]:g}): the "
                               f"whole interval is on the harmful side")
            else:
                decisions.append("guardrail ok")
                reasons.append("no harm beyond the tolerated margin")
            continue
        if row.role == "secondary":
            if significant.iloc[i]:
                decisions.append("better" if good_effect.iloc[i] > 0 else "worse")
                reasons.append("adjusted p < alpha")
            else:
                decisions.append("no clear difference")
                reasons.append("adjusted p >= alpha")
            continue
        arm_guards = out[(out["role"] == "guardrail") & (out["treatment"] == row.treatment)]
        hurt = [out.loc[j, "metric"] for j in arm_guards.index if breached.loc[j]]
        if significant.iloc[i] and good_effect.iloc[i] < 0:
            decisions.append("stop")
            reasons.append("significant change in the wrong direction")
        elif significant.iloc[i]:
            if hurt:
                decisions.append("iterate")
                reasons.append(f"improves {row.metric} but guardrail(s) {hurt} breached")
            elif np.isfinite(me) and good_effect.iloc[i] < me:
                decisions.append("iterate")
                reasons.append(f"significant but smaller than the minimum worthwhile effect "
                               f"{me:g}")
            else:
                decisions.append("ship")
                reasons.append("significant improvement, guardrails ok")
        elif hurt:
            decisions.append("stop")
            reasons.append(f"no significant improvement and guardrail(s) {hurt} breached")
        elif np.isfinite(me) and good_end[i] < me:
            decisions.append("stop")
            reasons.append(f"interval rules out the minimum worthwhile effect {me:g}")
        else:
            decisions.append("inconclusive")
            reasons.append("interval holds both no effect and a worthwhile effect: "
                           "extend the pilot or redesign")
    out["decision"] = decisions
    out["reason"] = reasons
    out["trustworthy"] = bool(checks_passed)
    return out


def _add_bayesian(results: pd.DataFrame, data: UnitsData, specs: Sequence[MetricSpec], *,
                  variant_col: str) -> pd.DataFrame:
    out = results.copy()
    by_name = {s.name: s for s in specs}
    probs, losses, priors = [], [], []
    for row in out.itertuples(index=False):
        spec = by_name[row.metric]
        if spec.kind == "proportion" and spec.covariate is None:
            x_c = round(row.control_value * row.n_control)
            x_t = round(row.treatment_value * row.n_treatment)
            v = beta_binomial_view(x_c, row.n_control, x_t, row.n_treatment,
                                   better=row.better)
            priors.append("Beta(1, 1) per arm (Beta-Binomial)")
        else:
            v = normal_view(row.effect, row.se, better=row.better)
            priors.append("flat prior on the effect (normal approximation)")
        probs.append(float(v["prob_better"]))
        losses.append(float(v["expected_loss"]))
    out["prob_better"] = probs
    out["expected_loss"] = losses
    out["prior"] = priors
    return out


# --------------------------------------------------------------------------------------
# Segments and survival detail
# --------------------------------------------------------------------------------------
def segment_breakdown(
    units: Any,
    *,
    metrics: Sequence[Mapping[str, Any] | MetricSpec],
    segment_col: str,
    control: str = "control",
    planned_split: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    unit_col: str = "unit_id",
    variant_col: str = "variant",
    min_units: int = 20,
) -> pd.DataFrame:
    """Effects per segment with a heterogeneity test per metric and arm.

    Segments with fewer than ``min_units`` units in any arm are left out (listed in the
    ``note`` column of the other rows). Heterogeneity: Cochran's Q over the segments'
    effects with inverse-variance weights, chi-square with k - 1 df (statsmodels
    ``combine_effects(...).test_homogeneity()``). ``p_value_adjusted`` is
    Benjamini-Hochberg over the segments of one metric and arm.
    """
    from scipy import stats

    data = load_units(units)
    specs = parse_metrics(metrics)
    split = resolve_split(planned_split, units_per_arm_labels(data, variant_col), control)
    arms = list(split)
    check_units(data, metrics=specs, arms=arms, control=control, unit_col=unit_col,
                variant_col=variant_col)
    t = data.table
    counts = data.execute(t.group_by([segment_col, variant_col]).aggregate(n=t.count()))
    pivot = counts.pivot_table(index=segment_col, columns=variant_col, values="n",
                               fill_value=0)
    pivot = pivot.reindex(columns=arms, fill_value=0)
    keep = [s for s in pivot.index if (pivot.loc[s] >= min_units).all()]
    dropped = [str(s) for s in pivot.index if s not in keep]
    rows = []
    for seg in keep:
        sub = UnitsData(t.filter(t[segment_col] == seg), f"{data.name} [{segment_col}={seg}]")
        for r in _evaluate_metrics(sub, specs, arms=arms, control=control, alpha=alpha,
                                   variant_col=variant_col):
            r["segment_col"], r["segment"] = segment_col, seg
            rows.append(r)
    if not rows:
        raise ValueError(f"{data.name}: column {segment_col!r}: no segment has at least "
                         f"{min_units} units in every arm {arms}")
    frame = pd.DataFrame(rows)
    frame["q_statistic"] = math.nan
    frame["q_df"] = math.nan
    frame["heterogeneity_p_value"] = math.nan
    for (_, _), g in frame.groupby(["metric", "treatment"], sort=False):
        frame.loc[g.index, "p_value_adjusted"] = adjust_p_values(g["p_value"], method="bh")
        w = 1 / g["se"].to_numpy() ** 2
        eff = g["effect"].to_numpy()
        if len(g) >= 2:
            q = float(np.sum(w * (eff - np.sum(w * eff) / np.sum(w)) ** 2))
            frame.loc[g.index, "q_statistic"] = q
            frame.loc[g.index, "q_df"] = len(g) - 1
            frame.loc[g.index, "heterogeneity_p_value"] = stats.chi2.sf(q, len(g) - 1)
    frame["note"] = (f"segments left out (fewer than {min_units} units in an arm): "
                     + ", ".join(dropped)) if dropped else ""
    front = ["segment_col", "segment"] + [c for c in PILOT_RESULTS_COLUMNS
                                          if c not in ("srm_p_value", "decision")]
    cols = front + ["role", "better", "se", "q_statistic", "q_df", "heterogeneity_p_value",
                    "note"]
    return frame[cols]


@dataclass
class SurvivalAnalysis:
    """Kaplan-Meier curves, log-rank tests, RMST and Cox hazard ratios of one metric."""

    metric: str
    curves: pd.DataFrame
    tests: pd.DataFrame
    tau: float

    def to_pandas(self) -> pd.DataFrame:
        return self.tests


def survival_analysis(
    units: Any,
    *,
    metric: Mapping[str, Any] | MetricSpec,
    control: str = "control",
    arms: Sequence[str] | None = None,
    alpha: float = 0.05,
    variant_col: str = "variant",
    cox_unit_limit: int = 1_000_000,
) -> SurvivalAnalysis:
    """Kaplan-Meier curves per arm and, per treatment arm: log-rank test, RMST difference
    and the Cox proportional-hazards ratio (treatment vs control).

    Curves, log-rank and RMST come from counts per (arm, time, event) pulled from the
    engine. The Cox model is lifelines ``CoxPHFitter`` (Efron ties) on unit-level rows up to
    ``cox_unit_limit`` units, above that on the counts as frequency weights (lifelines'
    weighted tie handling then differs from the unit-level fit in the 5th digit). A hazard
    ratio above 1 means the treatment completes faster.
    """
    from lifelines import CoxPHFitter

    data = load_units(units)
    spec = MetricSpec.from_dict(metric) if not isinstance(metric, MetricSpec) else metric
    if spec.kind != "time_to_event":
        raise ValueError(f"metric {spec.name!r}: survival analysis needs kind "
                         f"'time_to_event', got {spec.kind!r}")
    times, per = _survival_counts(data, spec, variant_col)
    arm_list = list(arms) if arms else sorted(per, key=lambda a: (a != control, a))
    for a in arm_list:
        if a not in per:
            raise ValueError(f"{data.name}: column {variant_col!r}: arm {a!r} has no units")
    tau = spec.tau or _default_tau(times, per, arm_list)
    curves = []
    for a in arm_list:
        d, c = per[a]
        surv, at_risk = kaplan_meier_from_counts(d, c)
        keep = (d + c) > 0
        curves.append(pd.DataFrame({"variant": a, "time": times[keep],
                                    "survival": surv[keep], "at_risk": at_risk[keep],
                                    "events": d[keep], "censored": c[keep]}))
    curves_df = pd.concat(curves, ignore_index=True)
    rows = []
    for a in arm_list:
        if a == control:
            continue
        d_c, c_c = per[control]
        d_t, c_t = per[a]
        _, r_c = kaplan_meier_from_counts(d_c, c_c)
        _, r_t = kaplan_meier_from_counts(d_t, c_t)
        stat, p = logrank_from_counts(d_c, r_c, d_t, r_t)
        rm_c, v_c = rmst_from_counts(times, d_c, c_c, tau=tau)
        rm_t, v_t = rmst_from_counts(times, d_t, c_t, tau=tau)
        rmst = _interval(rm_t - rm_c, math.sqrt(v_c + v_t), np.inf, alpha)
        n_units = d_c.sum() + c_c.sum() + d_t.sum() + c_t.sum()
        if n_units <= cox_unit_limit:
            # unit-level fit: with ties, lifelines' weighted Efron is an approximation
            t_ = data.table
            sub = t_.filter(t_[variant_col].isin([control, a]) & t_[spec.duration].notnull())
            raw = data.execute(sub.select(variant_col, spec.duration, spec.event))
            cox_df = pd.DataFrame({"T": raw[spec.duration].astype(float),
                                   "E": raw[spec.event].astype(int),
                                   "treatment": (raw[variant_col].astype(str) == a).astype(int)})
            cph = CoxPHFitter(alpha=alpha).fit(cox_df, "T", "E")
            cox_method = "Cox PH (Efron ties), unit-level"
        else:
            frame = []
            for arm_value, (d, c) in ((0, (d_c, c_c)), (1, (d_t, c_t))):
                for ev, w in ((1, d), (0, c)):
                    m = w > 0
                    frame.append(pd.DataFrame({"T": times[m], "E": ev, "treatment": arm_value,
                                               "w": w[m]}))
            cox_df = pd.concat(frame, ignore_index=True)
            cph = CoxPHFitter(alpha=alpha).fit(cox_df, "T", "E", weights_col="w")
            cox_method = "Cox PH on counts per (time, event) as frequency weights"
        summ = cph.summary.loc["treatment"]
        rows.append({
            "metric": spec.name, "control": control, "treatment": a,
            "events_control": d_c.sum(), "events_treatment": d_t.sum(),
            "logrank_statistic": float(stat), "logrank_p_value": float(p),
            "rmst_tau": tau, "rmst_control": float(rm_c), "rmst_treatment": float(rm_t),
            "rmst_difference": float(rmst["effect"]), "rmst_ci_low": float(rmst["ci_low"]),
            "rmst_ci_high": float(rmst["ci_high"]), "rmst_p_value": float(rmst["p_value"]),
            "hazard_ratio": float(summ["exp(coef)"]),
            "hazard_ratio_ci_low": float(summ.filter(like="exp(coef) lower").iloc[0]),
            "hazard_ratio_ci_high": float(summ.filter(like="exp(coef) upper").iloc[0]),
            "cox_p_value": float(summ["p"]), "cox_method": cox_method,
        })
    return SurvivalAnalysis(spec.name, curves_df, pd.DataFrame(rows), tau)


# --------------------------------------------------------------------------------------
# Plain-language summary
# --------------------------------------------------------------------------------------
def _fmt_value(kind: str, value: float, method: str) -> str:
    if not np.isfinite(value):
        return "n/a"
    if "relative effect" in method or "P(T>C)" in method:
        return f"{value:.3f}"
    if kind in ("proportion",) or "top-2-box" in method:
        return f"{100 * value:.1f}%"
    if kind == "nps":
        return f"{value:+.1f}"
    return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"


def _fmt_effect(kind: str, value: float, method: str) -> str:
    if "P(T>C)" in method:
        return f"{value:+.3f}"
    if kind == "proportion" or "top-2-box" in method:
        return f"{100 * value:+.1f} pp"
    if kind == "nps":
        return f"{value:+.1f} points"
    return f"{value:+,.3g}" if abs(value) < 1 else f"{value:+,.2f}"


def summary_table(evaluation: PilotEvaluation | pd.DataFrame) -> pd.DataFrame:
    """One line per result a manager can read: what changed, how sure, what to do."""
    res = evaluation.results if isinstance(evaluation, PilotEvaluation) else evaluation
    level = 1 - float(res["alpha"].iloc[0]) if "alpha" in res else 0.95
    rows = []
    for r in res.itertuples(index=False):
        ci = (f"{_fmt_effect(r.kind, r.ci_low, r.method)} to "
              f"{_fmt_effect(r.kind, r.ci_high, r.method)}")
        rows.append({
            "metric": r.metric, "role": r.role, "arm": r.treatment,
            "control": _fmt_value(r.kind, r.control_value, r.method),
            "treatment": _fmt_value(r.kind, r.treatment_value, r.method),
            "change": _fmt_effect(r.kind, r.effect, r.method)
            + (f" ({100 * r.rel_effect:+.1f}%)" if np.isfinite(r.rel_effect)
               and "P(T>C)" not in r.method else ""),
            f"{level:.0%} interval": ci,
            "adjusted p": f"{r.p_value_adjusted:.3g}",
            "decision": r.decision,
            "why": r.reason,
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# Choosing what to evaluate (used by 05_pilot_eval)
# --------------------------------------------------------------------------------------
def choose_metrics(
    units: Any,
    *,
    metrics: Sequence[Mapping[str, Any] | MetricSpec] | None = None,
    plan_metrics: Sequence[MetricSpec] | None = None,
    unit_col: str = "unit_id",
    variant_col: str = "variant",
) -> tuple[list[MetricSpec], str]:
    """Metric specs to evaluate and a sentence saying where they came from.

    Given ``metrics`` win; else the plan's metrics when the table has all their columns;
    else metrics inferred from column types (:func:`infer_metrics`).
    """
    data = load_units(units)
    if metrics:
        return parse_metrics(metrics), "metrics: as given by the `metrics` parameter"
    cols = set(data.table.columns)
    if plan_metrics:
        missing = sorted({c for m in plan_metrics for c in m.columns} - cols)
        if not missing:
            return list(plan_metrics), "metrics: from the pilot plan"
        inferred = infer_metrics(data, unit_col=unit_col, variant_col=variant_col)
        return inferred, (f"metrics: inferred from column types, because the units table "
                          f"lacks the plan's column(s) {missing}: "
                          + ", ".join(f"{m.name} ({m.kind}, {m.role})" for m in inferred))
    inferred = infer_metrics(data, unit_col=unit_col, variant_col=variant_col)
    return inferred, ("metrics: inferred from column types: "
                      + ", ".join(f"{m.name} ({m.kind}, {m.role})" for m in inferred))


def segment_columns(units: Any, *, requested: Sequence[str] = (),
                    plan_segments: Sequence[str] = (), unit_col: str = "unit_id",
                    variant_col: str = "variant", max_levels: int = 20) -> list[str]:
    """Segment columns: requested ones (must exist), else the plan's that exist, else text
    columns with 2..``max_levels`` levels."""
    data = load_units(units)
    cols = list(data.table.columns)
    if requested:
        missing = [c for c in requested if c not in cols]
        if missing:
            raise ValueError(f"{data.name}: segment column(s) {missing} not found; found {cols}")
        return list(requested)
    chosen = [c for c in plan_segments if c in cols]
    if chosen:
        return chosen
    schema = data.table.schema()
    out = []
    for c in cols:
        if c in (unit_col, variant_col) or not schema[c].is_string():
            continue
        k = int(data.execute(data.table[c].nunique()))
        if 2 <= k <= max_levels:
            out.append(c)
    return out
