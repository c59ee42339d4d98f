"""Pilot inputs built from events (cjmlib.pilots.from_events) and the pre-period balance check
(cjmlib.pilots.balance), against independent pandas computations, hand values, scipy and a
simulation of the balance flag under random assignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from cjmlib.pilots.balance import balance_from_moments, check_balance
from cjmlib.pilots.evaluation import evaluate_pilot
from cjmlib.pilots.from_events import default_outcomes, panel_from_events, units_from_events
from cjmlib.pilots.quasi_experiments import load_panel

DAY = pd.Timedelta(days=1)
TOUCHPOINTS = ["home_page", "product_page", "cart", "order_confirmation"]
OUTCOMES = [
    {"name": "converted", "kind": "conversion", "touchpoints": ["order_confirmation"]},
    {"name": "revenue", "kind": "revenue", "touchpoints": ["order_confirmation"]},
    {"name": "web_events", "kind": "count", "channels": ["web"]},
]


def event_log(n_customers: int = 60, seed: int = 0) -> pd.DataFrame:
    """Random events of ``n_customers`` over 120 days from 2026-01-01, with null values."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2026-01-01", tz="UTC")
    for i in range(n_customers):
        for _ in range(rng.integers(0, 25)):
            tp = rng.choice(TOUCHPOINTS, p=[0.4, 0.3, 0.2, 0.1])
            value = round(float(rng.gamma(2, 30)), 2) if tp == "order_confirmation" else None
            if tp == "order_confirmation" and rng.random() < 0.2:
                value = None   # a purchase without a recorded value counts as 0 revenue
            rows.append({"customer_id": f"c{i:03d}",
                         "event_time": start + pd.Timedelta(seconds=int(rng.integers(0, 120 * 86400))),
                         "touchpoint": tp, "channel": rng.choice(["web", "app"]),
                         "value": value})
    frame = pd.DataFrame(rows)
    frame["event_time"] = frame["event_time"].astype("datetime64[us, UTC]")
    return frame


def expected_units(events: pd.DataFrame, assignment: pd.DataFrame, t0: pd.Series,
                   window_days: float, pre_days: float) -> pd.DataFrame:
    """The units table by a direct pandas computation, one unit at a time."""
    out = []
    for unit, variant, start in zip(assignment["unit_id"], assignment["variant"], t0,
                                    strict=True):
        mine = events[events["customer_id"] == unit]
        row = {"unit_id": unit, "variant": variant}
        for prefix, lo, hi in (("", start, start + window_days * DAY),
                               ("pre_", start - pre_days * DAY, start)):
            w = mine[(mine["event_time"] >= lo) & (mine["event_time"] < hi)]
            orders = w[w["touchpoint"] == "order_confirmation"]
            row[prefix + "converted"] = int(len(orders) > 0)
            row[prefix + "revenue"] = float(orders["value"].fillna(0).sum())
            row[prefix + "web_events"] = int((w["channel"] == "web").sum())
        out.append(row)
    return pd.DataFrame(out)[["unit_id", "variant", "converted", "revenue", "web_events",
                              "pre_converted", "pre_revenue", "pre_web_events"]]


def test_units_table_equals_an_independent_pandas_computation() -> None:
    events = event_log()
    # 40 of the 60 customers are assigned (the others are ignored) plus two without events
    ids = [f"c{i:03d}" for i in range(40)] + ["never_seen_1", "never_seen_2"]
    assignment = pd.DataFrame({"unit_id": ids,
                               "variant": ["control", "treatment"] * 21})
    built = units_from_events(events, assignment, outcomes=OUTCOMES, launch="2026-02-15",
                              window_days=28, pre_days=21)
    t0 = pd.Series([pd.Timestamp("2026-02-15", tz="UTC")] * len(ids))
    expected = expected_units(events, assignment, t0, 28, 21)
    pd.testing.assert_frame_equal(built.units, expected, check_dtype=False)
    assert built.units.loc[built.units["unit_id"].str.startswith("never"), "web_events"].eq(0).all()
    c = built.counts
    assigned = events["customer_id"].isin(ids)
    assert c["assigned_units"] == 42
    assert c["events_read"] == len(events)
    assert c["events_not_assigned"] == int((~assigned).sum())
    assert c["ids_not_assigned"] == events.loc[~assigned, "customer_id"].nunique()
    assert (c["events_in_window"] + c["events_in_pre_period"] + c["events_outside_windows"]
            + c["events_not_assigned"]) == len(events)
    mine = events[assigned]
    in_window = ((mine["event_time"] >= t0[0]) & (mine["event_time"] < t0[0] + 28 * DAY)).sum()
    assert c["events_in_window"] == in_window


def test_per_unit_assignment_times_and_a_campaign_table() -> None:
    """A campaign table (household -> campaign, start date) with staggered starts."""
    events = event_log(seed=3).rename(columns={"customer_id": "household_id"})
    rng = np.random.default_rng(5)
    households = [f"c{i:03d}" for i in range(30)]
    starts = pd.Timestamp("2026-02-01") + pd.to_timedelta(rng.integers(0, 40, 30), unit="D")
    campaigns = pd.DataFrame({"household": households,
                              "campaign": rng.choice(["none", "spring_mail"], 30),
                              "start": starts.strftime("%Y-%m-%d"),
                              "region": rng.choice(["north", "south"], 30)})
    campaigns.loc[0, "campaign"], campaigns.loc[1, "campaign"] = "none", "spring_mail"
    built = units_from_events(events, campaigns, outcomes=OUTCOMES, unit_col="household",
                              arm_col="campaign", assigned_at_col="start", window_days=14,
                              pre_days=30, keep_cols=["region"], events_unit_col="household_id",
                              arms=["none", "spring_mail"])
    t0 = pd.Series(pd.to_datetime(campaigns["start"]).dt.tz_localize("UTC"))
    expected = expected_units(events.rename(columns={"household_id": "customer_id"}),
                              campaigns.rename(columns={"household": "unit_id",
                                                        "campaign": "variant"}), t0, 14, 30)
    got = built.units.drop(columns=["region"])
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert built.units["region"].tolist() == campaigns["region"].tolist()


def test_hand_computed_windows_are_half_open() -> None:
    """Events exactly at the launch count in the outcome window, exactly at its end do not;
    the pre-period ends just before the launch."""
    t = pd.Timestamp("2026-03-01", tz="UTC")
    events = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "b", "z"],
        "event_time": [t - 8 * DAY, t - pd.Timedelta(seconds=1), t, t + 7 * DAY,
                       t - 7 * DAY, t + 6 * DAY, t],
        "touchpoint": ["order_confirmation", "cart", "order_confirmation", "order_confirmation",
                       "order_confirmation", "cart", "cart"],
        "channel": ["web"] * 7,
        "value": [5.0, None, 10.0, 99.0, 7.0, None, None]})
    assignment = pd.DataFrame({"unit_id": ["a", "b", "c"],
                               "variant": ["control", "treatment", "treatment"]})
    built = units_from_events(events, assignment, outcomes=OUTCOMES[:2] + [
        {"name": "events", "kind": "count"}], launch="2026-03-01", window_days=7, pre_days=7)
    u = built.units.set_index("unit_id")
    # a: in the window only the launch-time purchase (10); t+7d is outside; pre: the cart only
    assert u.loc["a", ["converted", "revenue", "events"]].tolist() == [1, 10.0, 1]
    assert u.loc["a", ["pre_converted", "pre_revenue", "pre_events"]].tolist() == [0, 0.0, 1]
    # b: the purchase at t-7d starts the pre-period (included)
    assert u.loc["b", ["converted", "revenue", "events"]].tolist() == [0, 0.0, 1]
    assert u.loc["b", ["pre_converted", "pre_revenue", "pre_events"]].tolist() == [1, 7.0, 1]
    assert u.loc["c"].drop("variant").eq(0).all()
    assert built.counts["units_without_events"] == 1
    assert built.counts["events_outside_windows"] == 2      # a at t-8d and at t+7d
    assert built.counts["events_not_assigned"] == 1 and built.counts["ids_not_assigned"] == 1


def test_units_from_events_feed_the_evaluation_with_cuped() -> None:
    events = event_log(n_customers=200, seed=9)
    ids = [f"c{i:03d}" for i in range(200)]
    assignment = pd.DataFrame({"unit_id": ids, "variant": ["control", "treatment"] * 100})
    built = units_from_events(events, assignment, outcomes=OUTCOMES, launch="2026-02-20",
                              window_days=28, pre_days=28)
    specs = built.metric_specs()
    assert specs[0] == {"name": "converted", "column": "converted", "kind": "proportion",
                        "role": "primary", "covariate": "pre_converted"}
    evaluation = evaluate_pilot(built.units, metrics=specs)
    assert set(evaluation.results["metric"]) == {"converted", "revenue", "web_events"}
    assert evaluation.balance is not None
    assert set(evaluation.balance.table["covariate"]) == set(built.covariates)


@pytest.mark.parametrize(("change", "message"), [
    ("duplicate", "unit 'c001' is listed 2 times"),
    ("missing_arm_col", "missing column(s) ['variant']"),
    ("empty_arm", "arm(s) ['treatment'] have no units"),
    ("launch_late", "launch 2026-12-01 00:00 UTC is outside the events"),
    ("unknown_touchpoint", "never holds ['checkout_typo']"),
    ("no_value", "missing column(s) ['value']"),
    ("both_times", "not both and not neither"),
    ("bad_time", "column 'start': 1 row(s) without a readable date"),
    ("time_outside", "1 unit(s) were assigned outside the events"),
])
def test_clear_errors(change: str, message: str) -> None:
    events = event_log(n_customers=10)
    assignment = pd.DataFrame({"unit_id": [f"c{i:03d}" for i in range(6)],
                               "variant": ["control", "treatment"] * 3,
                               "start": ["2026-02-01"] * 6})
    kwargs: dict = {"outcomes": OUTCOMES, "launch": "2026-02-15"}
    if change == "duplicate":
        assignment.loc[3, "unit_id"] = "c001"
    elif change == "missing_arm_col":
        assignment = assignment.drop(columns="variant")
    elif change == "empty_arm":
        assignment["variant"] = "control"
        kwargs["arms"] = ["control", "treatment"]
    elif change == "launch_late":
        kwargs["launch"] = "2026-12-01"
    elif change == "unknown_touchpoint":
        kwargs["outcomes"] = [{"name": "x", "kind": "conversion", "touchpoints": ["checkout_typo"]}]
    elif change == "no_value":
        events = events.drop(columns="value")
    elif change == "both_times":
        kwargs["assigned_at_col"] = "start"
    elif change in ("bad_time", "time_outside"):
        assignment.loc[2, "start"] = "not a date" if change == "bad_time" else "2025-06-01"
        kwargs.pop("launch")
        kwargs["assigned_at_col"] = "start"
    with pytest.raises(ValueError) as err:
        units_from_events(events, assignment, **kwargs)
    assert message in str(err.value)


def test_errors_name_the_files(tmp_path) -> None:
    events = event_log(n_customers=10)
    events.to_parquet(tmp_path / "events.parquet")
    pd.DataFrame({"unit": ["c001"], "variant": ["control"]}).to_csv(tmp_path / "arms.csv",
                                                                     index=False)
    with pytest.raises(ValueError, match=r"arms.csv: missing column\(s\) \['unit_id'\]"):
        units_from_events(tmp_path / "events.parquet", tmp_path / "arms.csv", outcomes=OUTCOMES,
                          launch="2026-02-01")
    with pytest.raises(ValueError, match=r"events.parquet: column 'touchpoint' never holds"):
        units_from_events(tmp_path / "events.parquet",
                          pd.DataFrame({"unit_id": ["c1", "c2"], "variant": ["a", "b"]}),
                          outcomes=[{"name": "x", "kind": "count", "touchpoints": ["nope"]}],
                          launch="2026-02-01")


def test_default_outcomes_use_the_conversion_touchpoints() -> None:
    names = [(o.name, o.kind, o.touchpoints) for o in default_outcomes(["order_confirmation"])]
    assert names == [("converted", "conversion", ("order_confirmation",)),
                     ("revenue", "revenue", ("order_confirmation",)), ("events", "count", ())]


# --------------------------------------------------------------------------------------
# The panel
# --------------------------------------------------------------------------------------
def test_panel_equals_an_independent_pandas_computation() -> None:
    events = event_log(n_customers=80, seed=4)
    events["store_id"] = "s" + (events["customer_id"].str[1:].astype(int) % 6).astype(str)
    events.loc[events.index[::50], "store_id"] = None        # events without a store
    outcomes = [{"name": "sales", "kind": "revenue", "touchpoints": ["order_confirmation"]},
                {"name": "visits", "kind": "count"},
                {"name": "buyers", "kind": "customers", "touchpoints": ["order_confirmation"]}]
    built = panel_from_events(events, pd.DataFrame({"store_id": ["s1", "s4", "s4"]}),
                              launch="2026-03-04", outcomes=outcomes, period="week")
    e = events.dropna(subset=["store_id"]).copy()
    day = e["event_time"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    e["period"] = (day - pd.to_timedelta(day.dt.weekday, unit="D")).dt.strftime("%Y-%m-%d")
    orders = e["touchpoint"] == "order_confirmation"
    e["sales"] = e["value"].fillna(0).where(orders, 0.0)
    e["buyer"] = e["customer_id"].where(orders)
    cells = e.groupby(["store_id", "period"]).agg(sales=("sales", "sum"),
                                                  visits=("touchpoint", "size"),
                                                  buyers=("buyer", "nunique")).reset_index()
    weeks = pd.date_range("2025-12-29", "2026-04-30", freq="W-MON").strftime("%Y-%m-%d")
    grid = pd.MultiIndex.from_product([sorted(e["store_id"].unique()), weeks],
                                      names=["store_id", "period"]).to_frame(index=False)
    full = grid.merge(cells, how="left").fillna(0)
    got = built.panel.rename(columns={"unit": "store_id"})
    pd.testing.assert_frame_equal(got[["store_id", "period", "sales", "visits", "buyers"]],
                                  full, check_dtype=False)
    assert got.loc[got["treated"] == 1, "store_id"].unique().tolist() == ["s1", "s4"]
    assert got.loc[got["post"] == 1, "period"].min() == "2026-03-02"
    assert built.counts["events_without_unit"] == int(events["store_id"].isna().sum())
    assert "first post-launch week" in built.message()
    panel = load_panel(built.panel)
    assert panel.n_treated == 2 and panel.n_control == 4


def test_panel_errors() -> None:
    events = event_log(n_customers=20)
    events["region"] = np.where(events["customer_id"] < "c010", "north", "south")
    events.loc[events["customer_id"] == "c015", "region"] = "east"
    with pytest.raises(ValueError, match=r"pilot unit\(s\) \['west'\] have no events"):
        panel_from_events(events, ["west"], launch="2026-03-01", unit_col="region",
                          outcomes=[{"name": "visits", "kind": "count"}])
    with pytest.raises(ValueError, match="outside the span"):
        panel_from_events(events, ["north"], launch="2027-01-01", unit_col="region",
                          outcomes=[{"name": "visits", "kind": "count"}])
    with pytest.raises(ValueError, match="kind 'conversion' is not available here"):
        panel_from_events(events, ["north"], launch="2026-03-01", unit_col="region",
                          outcomes=[{"name": "c", "kind": "conversion"}])
    with pytest.raises(ValueError, match=r"missing column\(s\) \['store_id'\]"):
        panel_from_events(events, ["north"], launch="2026-03-01",
                          outcomes=[{"name": "visits", "kind": "count"}])


# --------------------------------------------------------------------------------------
# Balance
# --------------------------------------------------------------------------------------
def _units_with_covariates(n: int, rng: np.random.Generator, shift: float = 0.0
                           ) -> pd.DataFrame:
    variant = np.where(rng.random(n) < 0.5, "control", "treatment")
    t = variant == "treatment"
    return pd.DataFrame({
        "unit_id": np.arange(n).astype(str), "variant": variant,
        "pre_revenue": rng.gamma(2.0, 20.0, n) + shift * 20 * t,
        "pre_sessions": rng.poisson(3 + shift * 2 * t, n).astype(float),
        "pre_converted": (rng.random(n) < 0.3 + 0.2 * shift * t).astype(int)})


def test_smd_and_p_values_equal_hand_formulas_and_scipy() -> None:
    units = _units_with_covariates(300, np.random.default_rng(11))
    result = check_balance(units)
    table = result.table.set_index("covariate")
    c, t = units[units["variant"] == "control"], units[units["variant"] == "treatment"]
    for cov in ("pre_revenue", "pre_sessions"):
        smd = (t[cov].mean() - c[cov].mean()) / np.sqrt((t[cov].var() + c[cov].var()) / 2)
        assert table.loc[cov, "smd"] == pytest.approx(smd, rel=1e-10)
        welch = stats.ttest_ind(t[cov], c[cov], equal_var=False)
        assert table.loc[cov, "p_value"] == pytest.approx(welch.pvalue, rel=1e-9)
        assert table.loc[cov, "statistic"] == pytest.approx(welch.statistic, rel=1e-9)
        assert table.loc[cov, "kind"] == "numeric"
    p_c, p_t = c["pre_converted"].mean(), t["pre_converted"].mean()
    smd = (p_t - p_c) / np.sqrt((p_t * (1 - p_t) + p_c * (1 - p_c)) / 2)
    assert table.loc["pre_converted", "smd"] == pytest.approx(smd, rel=1e-10)
    chi2 = stats.chi2_contingency(pd.crosstab(units["variant"], units["pre_converted"]),
                                  correction=False)
    assert table.loc["pre_converted", "p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)
    assert table.loc["pre_converted", "kind"] == "binary"
    holm = multipletests(table["p_value"], method="holm")[1]
    np.testing.assert_allclose(table["p_value_adjusted"], holm, rtol=1e-12)


def _moments(units: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    rows = []
    for cov in covariates:
        binary = bool(units[cov].isin([0, 1]).all())
        for arm, x in units.groupby("variant")[cov]:
            rows.append({"covariate": cov, "arm": arm, "n": len(x), "mean": x.mean(),
                         "var": x.var(), "binary": binary})
    return pd.DataFrame(rows)


def test_balance_from_moments_is_what_check_balance_computes() -> None:
    units = _units_with_covariates(200, np.random.default_rng(2))
    covs = ["pre_revenue", "pre_sessions", "pre_converted"]
    direct = balance_from_moments(_moments(units, covs), control="control",
                                  treatments=["treatment"]).table
    pd.testing.assert_frame_equal(check_balance(units, covariates=covs).table, direct,
                                  rtol=1e-9)


def test_balance_tells_binary_covariates_of_every_type_from_numeric_ones() -> None:
    """0/1 columns are binary whether integer, boolean or float (missing values left out);
    one other value makes a column numeric, and for integers that includes values whose
    sum over the arm equals the sum of 0s and 1s (2 and -1 beside 0s and 1s)."""
    rng = np.random.default_rng(5)
    n = 400
    zero_one = (rng.random(n) < 0.4).astype(int)
    units = pd.DataFrame({
        "unit_id": np.arange(n), "variant": np.where(np.arange(n) % 2, "treatment", "control"),
        "pre_int": zero_one, "pre_bool": zero_one.astype(bool),
        "pre_float": zero_one.astype(float),
        "pre_nullable": pd.array(np.where(np.arange(n) % 7 == 0, None, zero_one),
                                 dtype="Int64"),
        "pre_int_two": np.where(np.arange(n) == 3, 2, zero_one),
        "pre_int_cancels": zero_one.copy(),
        "pre_float_half": np.where(np.arange(n) == 5, 0.5, zero_one.astype(float)),
    })
    units.loc[[0, 2], "pre_int_cancels"] = [2, -1]  # both in control: they sum to 1
    table = check_balance(units).table.set_index("covariate")
    expected = {c: c in ("pre_int", "pre_bool", "pre_float", "pre_nullable")
                for c in units.columns if c.startswith("pre_")}
    for cov, binary in expected.items():
        assert table.loc[cov, "kind"] == ("binary" if binary else "numeric"), cov
        x = units[cov].dropna().astype(float)
        assert bool(x.isin([0.0, 1.0]).all()) == binary
    # the moments themselves, against pandas
    for cov in expected:
        c = units.loc[units["variant"] == "control", cov].dropna().astype(float)
        assert table.loc[cov, "mean_control"] == pytest.approx(c.mean(), rel=1e-12)


def test_false_positive_rate_of_the_balance_flag_under_random_assignment(monkeypatch) -> None:
    """400 randomised pilots of 120 units with 3 covariates: the share flagged imbalanced
    (any Holm-adjusted p < 0.05) is the family-wise false-positive rate, at most alpha."""
    # statsmodels' Holm calls gc.collect() on every call (~0.1 s in a large test process)
    monkeypatch.setattr("gc.collect", lambda *args, **kwargs: 0)
    rng = np.random.default_rng(2026)
    covs = ["pre_revenue", "pre_sessions", "pre_converted"]
    reps, alpha = 400, 0.05
    flags = np.array([balance_from_moments(
        _moments(_units_with_covariates(120, rng), covs), control="control",
        treatments=["treatment"], alpha=alpha).imbalanced for _ in range(reps)])
    rate = flags.mean()
    mc_se = np.sqrt(alpha * (1 - alpha) / reps)     # 0.011 at the nominal rate
    print(f"balance flag false-positive rate {rate:.4f} (Monte Carlo SE {mc_se:.4f})")
    assert rate <= alpha + 3 * mc_se
    assert rate >= 0.005    # the flag is not dead: Holm over 3 tests keeps it near alpha


def test_a_deliberately_imbalanced_assignment_is_flagged() -> None:
    units = _units_with_covariates(400, np.random.default_rng(4), shift=1.0)
    result = check_balance(units)
    assert result.imbalanced
    assert result.table["imbalanced"].all() and result.table["large_smd"].all()
    assert "Arms differed before launch" in result.message()
    # the same units under a fresh random assignment are balanced
    units["variant"] = np.random.default_rng(0).permutation(units["variant"].to_numpy())
    assert not check_balance(units.assign(pre_revenue=units["pre_revenue"] * 0 + 1.0,
                                          pre_sessions=3.0, pre_converted=0)).imbalanced


def test_constant_covariates_are_not_tested_and_clusters_skip_the_check() -> None:
    units = _units_with_covariates(100, np.random.default_rng(1)).assign(pre_zero=0)
    table = check_balance(units).table.set_index("covariate")
    assert np.isnan(table.loc["pre_zero", "p_value"]) and not table.loc["pre_zero", "imbalanced"]
    assert table.loc["pre_zero", "smd"] == 0.0
    units["converted"] = units["pre_converted"]
    units["store"] = units["unit_id"].astype(int) // 10
    units["variant"] = np.where(units["store"] % 2 == 0, "control", "treatment")
    evaluation = evaluate_pilot(units, metrics=[{"name": "converted", "kind": "proportion"}],
                                cluster_col="store")
    assert evaluation.balance is None
    assert "pre-period balance not checked: cluster randomisation" in evaluation.notes
    assert check_balance(units[["unit_id", "variant", "converted"]]) is None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_says_in_plain_words_when_arms_differed_before_launch(lang, tmp_path) -> None:
    from cjmlib.report.context import ReportContext
    from cjmlib.report.results_sections import balance_html
    from cjmlib.report.text import Language

    def context(table: pd.DataFrame) -> ReportContext:
        return ReportContext(tmp_path, {"pilot_balance": table}, Language(lang, {}, {}, {}),
                             stages=[], backlog=None, backlog_reason=None, monitoring=None,
                             monitoring_reason=None, comparison=None, previous_run=None,
                             min_group_size=10, rollouts=[], pilot_name=None, charts_shown=0)

    bad = check_balance(_units_with_covariates(400, np.random.default_rng(4), shift=1.0)).table
    good = check_balance(_units_with_covariates(400, np.random.default_rng(4))).table
    words = {"en": ("already differed", "were alike"), "zh": ("已有差异", "相近")}[lang]
    assert words[0] in balance_html(context(bad)) and "pre revenue" in balance_html(context(bad))
    assert words[1] in balance_html(context(good)) and words[0] not in balance_html(context(good))
    assert balance_html(context(bad.iloc[0:0])) == ""


@pytest.mark.slow
def test_notebook_05_builds_the_units_table_from_an_assignment_file(
        sample_dir, processed_dir, tmp_path) -> None:
    """A scheduled run points 05 at an assignment file: the units table comes from the
    events, and the evaluation, the balance check and the built table are written."""
    import papermill

    from cjmlib.core.config import CONFIGS_DIR, NOTEBOOKS_DIR
    from cjmlib.journeys.model import load_journey_config

    customers = pd.read_parquet(processed_dir / "customers.parquet")
    ab = pd.read_csv(sample_dir / "pilot" / "ab_units.csv")
    assignment = ab.merge(customers[["crm_id", "customer_id"]], left_on="unit_id",
                          right_on="crm_id")[["customer_id", "variant"]]
    assignment.to_csv(tmp_path / "assignment.csv", index=False)
    out = tmp_path / "run"
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "05_pilot_eval.ipynb"), str(tmp_path / "05.ipynb"),
        parameters={"assignment_path": str(tmp_path / "assignment.csv"),
                    "unit_col": "customer_id", "launch": "2026-03-01", "window_days": 28.0,
                    "events_path": str(processed_dir / "events.parquet"),
                    "panel_path": None, "pilot_config_path": None, "bayesian": False,
                    "sequential": False, "output_dir": str(out)},
        kernel_name="python3", progress_bar=False, log_output=False, cwd=str(tmp_path))
    tables = out / "tables"
    built = pd.read_parquet(tables / "pilot_units.parquet")
    direct = units_from_events(processed_dir / "events.parquet", tmp_path / "assignment.csv",
                               unit_col="customer_id", launch="2026-03-01",
                               outcomes=default_outcomes(load_journey_config(
                                   CONFIGS_DIR / "journey.yaml").conversion_touchpoints)).units
    assert len(built) == len(assignment)
    results = pd.read_parquet(tables / "pilot_results.parquet")
    assert set(results["metric"]) == {"converted", "revenue", "events"}
    assert set(results["covariate"]) == {"pre_converted", "pre_revenue", "pre_events"}
    balance = pd.read_parquet(tables / "pilot_balance.parquet")
    assert set(balance["covariate"]) == {"pre_converted", "pre_revenue", "pre_events"}
    pd.testing.assert_frame_equal(built, direct, check_dtype=False)


def test_outcomes_that_cannot_vary_are_left_out_with_a_note() -> None:
    """A revenue over touchpoints that carry no value (a retailer's coupon redemptions) is 0
    for every unit: it made 05 fail ('pre_revenue has no variation'); now it is not evaluated,
    and a pre-period column without variation is no covariate, each with a note."""
    events = event_log(40, seed=3)
    events.loc[events["touchpoint"] == "cart", "value"] = None
    assignment = pd.DataFrame({"unit_id": [f"c{i:03d}" for i in range(40)],
                               "variant": ["control", "treatment"] * 20})
    built = units_from_events(events, assignment, launch="2026-03-01", window_days=14,
                              pre_days=7, outcomes=[
                                  {"name": "cart_revenue", "kind": "revenue",
                                   "touchpoints": ["cart"]},
                                  {"name": "orders", "kind": "count",
                                   "touchpoints": ["order_confirmation"]}])
    assert (built.units["cart_revenue"] == 0).all()
    specs = built.metric_specs()
    assert [s["name"] for s in specs] == ["orders"] and specs[0]["role"] == "primary"
    assert "'cart_revenue' is the same for every unit (0.0): not evaluated." in built.message()
    varies = built.units["pre_orders"].nunique() >= 2
    assert ("covariate" in specs[0]) == varies
