"""Metric specifications of a pilot: what to compute from which columns, how to test it and
how to judge it.

:class:`MetricSpec` (kinds :data:`METRIC_KINDS`, roles :data:`ROLES`, methods per kind
:data:`METHODS`, methods that take a CUPED covariate :data:`CUPED_METHODS`),
:func:`parse_metrics` for lists of dicts from YAML or notebook parameters,
:func:`infer_metrics` from a units table's column names and types, and
:func:`choose_metrics`: which metrics 05_pilot_eval evaluates and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.pilots.units import UnitsData, load_units

METRIC_KINDS = ("proportion", "mean", "ratio", "ordinal", "nps", "time_to_event")
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
        check_scalar(self.kind, f"{where}: kind", in_=METRIC_KINDS)
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


# --------------------------------------------------------------------------------------
# Metrics inferred from a units table, and the choice made by 05_pilot_eval
# --------------------------------------------------------------------------------------
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


def _peek(frame: Any, n: int) -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame.head(n)
    if isinstance(frame, UnitsData):
        frame = frame.table
    return frame.limit(n).execute()


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
