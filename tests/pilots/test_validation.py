"""Bad units tables and metric specs: each message names the table, column, rows and what
was expected."""

from __future__ import annotations

import pandas as pd
import pytest

from cjmlib.pilots.evaluation import evaluate_pilot
from tests.pilots.support import REV, units_table


@pytest.fixture()
def good() -> pd.DataFrame:
    return units_table(n=200)


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d[d.variant == "control"], r"arm 'treatment' of the plan has no units"),
    (lambda d: pd.concat([d, d.iloc[[3]].assign(variant="treatment" if d.variant.iloc[3] ==
                                                 "control" else "control")]),
     r"unit 'U00003' appears in 2 arms \['control', 'treatment'\] \(rows 4, 201\)"),
    (lambda d: d.assign(variant=d.variant.where(d.index != 7, "treatmnt")),
     r"column 'variant' has label\(s\) \['treatmnt'\] that are not arms of the plan "
     r"\['control', 'treatment'\] \(row\(s\) 8 \(unit 'U00007'\)\)"),
    (lambda d: d.assign(revenue=5.0), r"column 'revenue' \(metric 'revenue'\) has no variation"),
    (lambda d: d[(d.variant == "control") | (d.index == d[d.variant == "treatment"].index[0])],
     r"units.csv: arm 'treatment' has 1 unit\(s\) with a value of 'revenue' \(metric "
     r"'revenue'\); at least 2 per arm are needed"),
    (lambda d: d.assign(revenue=d.revenue.where(d.index != 5)),
     r"column 'revenue': 1 row\(s\) without a number for mean metric 'revenue' .*first "
     r"row\(s\): 6 \(unit 'U00005'\)"),
])
def test_bad_input_messages(good, mutate, match):
    with pytest.raises(ValueError, match=match):
        evaluate_pilot(mutate(good), metrics=REV, name="units.csv",
                       planned_split={"control": 0.5, "treatment": 0.5})


def test_cuped_without_pre_period_data(good):
    spec = [{"name": "revenue", "kind": "mean", "covariate": "pre_revenue_x"}]
    with pytest.raises(ValueError, match=r"units.csv: no pre-period data for CUPED: column "
                                         r"'pre_revenue_x' \(covariate of metric 'revenue'\)"):
        evaluate_pilot(good, metrics=spec, name="units.csv")
    spec = [{"name": "revenue", "kind": "mean", "covariate": "pre_revenue"}]
    with pytest.raises(ValueError, match=r"column 'pre_revenue': 1 row\(s\) without pre-period "
                                         r"data for CUPED .*first row\(s\): 3"):
        evaluate_pilot(good.assign(pre_revenue=good.pre_revenue.where(good.index != 2)),
                       metrics=spec, name="units.csv")
    with pytest.raises(ValueError, match=r"'pre_revenue' \(CUPED covariate of 'revenue'\) has "
                                         r"no variation"):
        evaluate_pilot(good.assign(pre_revenue=1.0), metrics=spec, name="units.csv")


def test_bad_specs_and_domains(good):
    with pytest.raises(ValueError, match=r"metrics\[0\]: unknown key\(s\) \['colum'\]"):
        evaluate_pilot(good, metrics=[{"name": "x", "kind": "mean", "colum": "revenue"}])
    with pytest.raises(ValueError, match=r"metrics\[0\]: metric 'x': kind must be one of"):
        evaluate_pilot(good, metrics=[{"name": "x", "kind": "average"}])
    with pytest.raises(ValueError, match=r"column 'nps': 1 row\(s\) without an integer 0..10"):
        evaluate_pilot(good.assign(nps=good.nps.where(good.index != 0, 11.0)),
                       metrics=[{"name": "nps", "kind": "nps"}])
    with pytest.raises(ValueError, match=r"column 'converted': 1 row\(s\) without 0 or 1 .*"
                                         r"first row\(s\): 10"):
        evaluate_pilot(good.assign(converted=good.converted.where(good.index != 9, 2)),
                       metrics=[{"name": "converted", "kind": "proportion"}])
    with pytest.raises(ValueError, match=r"missing column\(s\) \['spend'\]"):
        evaluate_pilot(good, metrics=[{"name": "spend", "kind": "mean"}])
