"""Validation of a units table against the pilot plan and its metrics (:func:`check_units`).

Each failure is a ``ValueError`` naming the table, the column, the first offending rows and
what was expected: missing columns, CUPED covariates without pre-period data, variant labels
outside the plan, arms without units, duplicate units, non-numeric metric columns, values
that are not finite (inf, NaN) and values outside a metric's domain.
:func:`checked_aggregates` runs the same checks and computes further aggregates per arm
(the balance and metric moments of :func:`cjmlib.pilots.evaluation.evaluate_pilot`) in the
same scan of the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from cjmlib.pilots.metrics import MetricSpec
from cjmlib.pilots.units import UnitsData, fmt_rows, rows_of


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
    columns, values that are not finite (inf, -inf, NaN), values outside a metric's domain,
    missing values where a metric needs one.
    """
    return checked_aggregates(units, metrics=metrics, arms=arms, control=control,
                              unit_col=unit_col, variant_col=variant_col)[0]


def checked_aggregates(
    units: UnitsData,
    *,
    metrics: Sequence[MetricSpec],
    arms: Sequence[str],
    control: str,
    unit_col: str = "unit_id",
    variant_col: str = "variant",
    aggregates: Callable[[Any], Mapping[str, Any]] | None = None,
) -> tuple[dict[str, int], pd.DataFrame]:
    """:func:`check_units`, computing more aggregates per arm in the same scan of the table.

    ``aggregates(table)`` gives the aggregate expressions (by output name) to compute per
    arm beside the checks' own; it is called once the columns are known to exist and to be
    numeric. Returns the units per arm and the per-arm query result: one row per arm, the
    variant column and those aggregates (columns starting with ``_`` are the checks').

    Two queries read the table: one grouped by arm with the units per arm, the rows outside
    each metric's domain and ``aggregates``; one counting the distinct unit ids (on DuckDB,
    with integer ids, a bitmap of their range, whose ends a third query reads, from the
    Parquet statistics when the table is a Parquet file). The checks then raise in a fixed
    order, each on the first offending rows, found by a further query only when it fails.
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
                rows = rows_of(units, lambda x, c=col: x[c].notnull(), limit=1)
                raise ValueError(f"{name}: column {col!r} (metric {spec.name!r}) must be "
                                 f"numeric, found {dtype} (e.g. row {fmt_rows(rows)})")
    checks = _domain_checks(metrics, schema)
    extra = dict(aggregates(t)) if aggregates is not None else {}
    clash = [k for k in extra if k.startswith("_") or k == variant_col]
    if clash:
        raise ValueError(f"aggregate name(s) {clash} are reserved for the checks")
    # one scan: units per arm, the rows outside each metric's domain, the caller's aggregates
    per_group = units.execute(t.group_by(variant_col).aggregate(
        _units=t.count(), **{f"_bad{i}": pred(t).cast("int64").sum()
                             for i, (_, _, pred) in enumerate(checks)}, **extra))
    labels = per_group[variant_col].tolist()
    if any(pd.isna(v) for v in labels):
        rows = rows_of(units, lambda x: x[variant_col].isnull(), unit_col=unit_col)
        raise ValueError(f"{name}: column {variant_col!r} is empty in row(s) {fmt_rows(rows)}; "
                         f"expected one of {list(arms)}")
    unknown = [v for v in labels if str(v) not in arms]
    if unknown:
        rows = rows_of(units, lambda x: x[variant_col].isin(unknown), unit_col=unit_col)
        raise ValueError(
            f"{name}: column {variant_col!r} has label(s) {sorted(map(str, unknown))} that are "
            f"not arms of the plan {list(arms)} (row(s) {fmt_rows(rows)}); fix the labels "
            f"or the planned split")
    per_arm = {str(k): int(v)
               for k, v in zip(per_group[variant_col], per_group["_units"], strict=True)}
    for arm in arms:
        if per_arm.get(arm, 0) == 0:
            raise ValueError(f"{name}: column {variant_col!r}: arm {arm!r} of the plan has no "
                             f"units; found arms {sorted(per_arm)}")
    n_rows = sum(per_arm.values())
    n_unique = _distinct_units(units, unit_col, n_rows)
    if n_unique < n_rows:
        dup = units.execute(
            t.group_by(unit_col).aggregate(k=t.count(), arms=t[variant_col].nunique())
            .filter(lambda x: x.k > 1).order_by(unit_col).limit(3))
        first = dup.iloc[0]
        unit = first[unit_col]
        rows = rows_of(units, lambda x: x[unit_col] == unit, unit_col=None, limit=10)
        arm_rows = units.execute(t.filter(t[unit_col] == unit).select(variant_col))
        arms_seen = sorted(set(arm_rows[variant_col].astype(str)))
        what = (f"appears in {len(arms_seen)} arms {arms_seen}" if first["arms"] > 1
                else f"appears {int(first['k'])} times in arm {arms_seen[0]!r}")
        raise ValueError(
            f"{name}: column {unit_col!r}: unit {unit!r} {what} (rows "
            f"{', '.join(str(r) for r, _ in rows)}); each unit must be listed once, in exactly "
            f"one arm ({n_rows - n_unique} duplicate row(s) in total)")
    for i, (col, expectation, pred) in enumerate(checks):
        bad = int(per_group[f"_bad{i}"].fillna(0).sum())
        if bad:
            rows = rows_of(units, pred, unit_col=unit_col)
            raise ValueError(f"{name}: column {col!r}: {bad} row(s) without {expectation}; "
                             f"first row(s): {fmt_rows(rows)}")
    return per_arm, per_group


def _distinct_units(units: UnitsData, unit_col: str, n_rows: int) -> int:
    """The number of distinct unit ids. On DuckDB, integer ids whose range is at most 64
    bits per row wide are counted on a bitmap of the range (``bitstring_agg``): one pass
    over the ids without the hash table of ``COUNT(DISTINCT)``, which took 9x the CPU on 10
    million units; the range's ends come from a query DuckDB answers from a Parquet file's
    statistics without reading the rows. Elsewhere, ``COUNT(DISTINCT)``."""
    import ibis

    t = units.table
    col = t[unit_col]
    if t.schema()[unit_col].is_integer() and _on_duckdb(t):
        span = units.execute(t.aggregate(lo=col.min(), hi=col.max())).iloc[0]
        if pd.notna(span["lo"]):
            lo, hi = int(span["lo"]), int(span["hi"])
            if hi - lo < max(64 * n_rows, 1 << 20):
                @ibis.udf.agg.builtin(name="bitstring_agg")
                def bitstring_agg(x: int, lo: int, hi: int) -> str: ...

                @ibis.udf.scalar.builtin(name="bit_count")
                def bit_count(x: str) -> int: ...

                return int(units.execute(bit_count(bitstring_agg(col, lo, hi))))
    return int(units.execute(col.nunique()))


def _on_duckdb(t: Any) -> bool:
    try:
        return t.get_backend().name == "duckdb"
    except Exception:  # an unbound memtable runs on the default backend, DuckDB
        return True


def _domain_checks(metrics: Sequence[MetricSpec], schema: Any) -> list[tuple[str, str, Any]]:
    """(column, expectation, bad-row predicate) for every metric column's value domain."""
    checks: list[tuple[str, str, Any]] = []   # (column, expectation, bad-row predicate)
    for spec in metrics:
        for col in spec.columns:
            if not schema[col].is_floating():
                continue  # only floating-point columns hold inf or NaN
            # inf or NaN would pass as a number and turn every moment into inf or NaN
            checks.append((col, f"a finite value for metric {spec.name!r} (found inf, -inf "
                           "or NaN)", lambda x, c=col: x[c].cast("float64").isinf()
                           | x[c].cast("float64").isnan()))
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
    return checks
