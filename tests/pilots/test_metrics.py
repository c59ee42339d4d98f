"""Metric specifications inferred from a units table's column names and types."""

from __future__ import annotations

from cjmlib.pilots.metrics import infer_metrics
from tests.pilots.support import units_table


def test_infer_metrics_from_column_types():
    specs = {m.name: m for m in infer_metrics(units_table(n=300))}
    assert specs["converted"].kind == "proportion" and specs["converted"].role == "primary"
    assert specs["revenue"].covariate == "pre_revenue"
    assert specs["csat"].kind == "ordinal" and specs["nps"].kind == "nps"
    assert specs["checkout_time"].kind == "time_to_event"
    assert specs["checkout_time"].better == "lower"
