"""Survey metrics, trend, benchmark and experience curve against independent references:
statsmodels (DescrStatsW, proportion_confint, multipletests), scipy (Welch t-test, normal and t
quantiles), hand computations of the NPS variance, and the generator's planted truth. The
score intervals of CSAT, CES and NPS are checked against their own references in
tests/stats/test_intervals.py; here, that the tables use them."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from cjmlib.stats.intervals import mean_interval, nps_interval
from cjmlib.voice import surveys as voice

DESIGN_COLUMNS = ["level", "group", "n", "csat_mean", "csat_ci_low", "csat_ci_high", "top2box",
                  "nps", "nps_ci_low", "nps_ci_high", "ces_mean"]


def _feedback(n: int = 200, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tps = rng.choice(["payment", "cart", "support_call"], size=n, p=[0.4, 0.4, 0.2])
    return pd.DataFrame({
        "customer_id": [f"cu_{i % 50:03d}" for i in range(n)],
        "response_time": pd.date_range("2026-01-01", periods=n, freq="13h", tz="UTC"),
        "touchpoint": tps,
        "channel": rng.choice(["web", "app"], size=n),
        "csat": rng.integers(1, 6, n).astype(float),
        "nps": rng.integers(0, 11, n).astype(float),
        "ces": rng.integers(1, 8, n).astype(float),
        "text": None, "language": None, "source": "test",
        "survey": "post_interaction", "response_id": [f"R{i}" for i in range(n)],
        "stage": None, "brand": None,
    })


# --------------------------------------------------------------------------------------------
# survey_metrics
# --------------------------------------------------------------------------------------------


def test_columns_follow_the_design_contract():
    m = voice.survey_metrics(_feedback(), by=["touchpoint"])
    assert list(m.columns[:len(DESIGN_COLUMNS)]) == DESIGN_COLUMNS
    assert set(m["level"]) == {"touchpoint"}


def test_csat_mean_and_score_interval_on_the_1_to_5_scale():
    # the interval itself is checked against independent references in
    # tests/stats/test_intervals.py; here: the table uses it on CSAT's scale
    fb = _feedback()
    m = voice.survey_metrics(fb, by=["touchpoint"]).set_index("group")
    for tp, part in fb.groupby("touchpoint"):
        ref = mean_interval(part["csat"], scale=(1, 5))
        assert ref.method == "score"
        assert m.loc[tp, "csat_mean"] == pytest.approx(part["csat"].mean())
        assert (m.loc[tp, "csat_ci_low"], m.loc[tp, "csat_ci_high"]) == pytest.approx(
            (ref.ci_low, ref.ci_high))
        assert m.loc[tp, "n_csat"] == len(part)


def test_unanimous_csat_has_an_interval_of_positive_width_within_the_scale():
    fb = _feedback(12).assign(touchpoint="x", csat=5.0)
    m = voice.survey_metrics(fb, by=["touchpoint"]).iloc[0]
    assert m["csat_mean"] == 5.0
    assert 1 < m["csat_ci_low"] < 5 and m["csat_ci_high"] == 5.0


def test_top2box_share_and_wilson_interval_match_proportion_confint():
    fb = _feedback()
    m = voice.survey_metrics(fb, by=["channel"]).set_index("group")
    for ch, part in fb.groupby("channel"):
        k, n = int((part["csat"] >= 4).sum()), len(part)
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert m.loc[ch, "top2box"] == pytest.approx(k / n)
        assert m.loc[ch, "top2box_ci_low"] == pytest.approx(low)
        assert m.loc[ch, "top2box_ci_high"] == pytest.approx(high)


def test_nps_se_uses_the_variance_of_the_coded_mean():
    # by hand: promoters 9-10 -> +1, passives 0, detractors 0-6 -> -1
    scores = np.array([10, 10, 9, 9, 9, 8, 7, 7, 6, 5, 3, 0, 10, 9, 8, 2, 9, 10, 6, 9])
    n = len(scores)
    p_pro, p_det = np.mean(scores >= 9), np.mean(scores <= 6)
    nps = p_pro - p_det
    var = (p_pro + p_det - nps**2) / n
    codes = np.where(scores >= 9, 1, np.where(scores <= 6, -1, 0))
    assert var == pytest.approx(np.var(codes) / n)  # the same thing: variance of the mean
    r = nps_interval(scores)
    assert r["nps"] == pytest.approx(100 * nps)
    assert r["nps_se"] == pytest.approx(100 * np.sqrt(var))
    # the naive sum of two independent proportion variances misses their negative covariance
    # (-2 p_pro p_det / n) and understates the variance: not what we report
    naive = (p_pro * (1 - p_pro) + p_det * (1 - p_det)) / n
    assert var == pytest.approx(naive + 2 * p_pro * p_det / n)
    assert naive < var
    fb = _feedback(n).assign(touchpoint="x", nps=scores.astype(float))
    m = voice.survey_metrics(fb, by=["touchpoint"]).iloc[0]
    assert m["nps"] == pytest.approx(100 * nps)
    assert m["nps_se"] == pytest.approx(100 * np.sqrt(var))
    # the table's interval is nps_interval's score interval (checked against Tango's closed
    # form in tests/stats/test_intervals.py)
    assert (m["nps_ci_low"], m["nps_ci_high"]) == pytest.approx((r["nps_ci_low"],
                                                                 r["nps_ci_high"]))
    assert (m["promoters"], m["detractors"]) == pytest.approx((p_pro, p_det))


def test_nps_interval_stays_within_the_scale_without_clipping():
    r = nps_interval([10, 10, 10, 9, 6])
    assert -100 < r["nps_ci_low"] < r["nps"] < r["nps_ci_high"] < 100
    r = nps_interval([10, 10, 10, 9, 9])
    assert r["nps_ci_low"] < r["nps_ci_high"] == 100.0


def test_ces_mean_and_score_interval_on_the_1_to_7_scale():
    fb = _feedback()
    m = voice.survey_metrics(fb, by=["channel"]).set_index("group")
    for ch, part in fb.groupby("channel"):
        ref = mean_interval(part["ces"], scale=(1, 7))
        assert m.loc[ch, "ces_mean"] == pytest.approx(part["ces"].mean())
        assert (m.loc[ch, "ces_ci_low"], m.loc[ch, "ces_ci_high"]) == pytest.approx(
            (ref.ci_low, ref.ci_high))


def test_stage_from_the_map_and_segment_from_a_segments_table():
    fb = _feedback()
    stage_map = {"payment": "purchase", "cart": "purchase", "support_call": "service"}
    segs = pd.DataFrame({"customer_id": [f"cu_{i:03d}" for i in range(50)],
                         "persona_name": ["1: a" if i < 25 else "2: b" for i in range(50)]})
    m = voice.survey_metrics(fb, by=["stage", "segment"], stage_map=stage_map, segments=segs)
    stage = m[m["level"] == "stage"].set_index("group")
    assert stage.loc["purchase", "n"] == fb["touchpoint"].isin(["payment", "cart"]).sum()
    seg = m[m["level"] == "segment"].set_index("group")
    first = fb["customer_id"].str[3:].astype(int) < 25
    assert seg.loc["1: a", "csat_mean"] == pytest.approx(fb.loc[first, "csat"].mean())


def test_only_post_interaction_rows_by_default_and_min_n():
    fb = _feedback()
    other = fb.head(30).assign(survey="relationship", csat=1.0)
    m = voice.survey_metrics(pd.concat([fb, other]), by=["touchpoint"])
    assert m["n"].sum() == len(fb)
    big = voice.survey_metrics(fb, by=["touchpoint"], min_n=60)
    assert (big["n"] >= 60).all() and len(big) < 3


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"missing column 'csat'.*found"):
        voice.survey_metrics(_feedback().drop(columns="csat"))


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("csat", 6.0, r"column 'csat' must be between 1 and 5; found 6 in row 7"),
    ("nps", 11.0, r"column 'nps' must be between 0 and 10; found 11 in row 7"),
    ("ces", 0.0, r"column 'ces' must be between 1 and 7; found 0 in row 7"),
])
def test_scores_out_of_range_name_column_row_and_range(column, value, expected):
    fb = _feedback()
    fb.loc[7, column] = value
    with pytest.raises(ValueError, match=expected):
        voice.survey_metrics(fb)


def test_non_numeric_score_is_named():
    fb = _feedback().astype({"csat": object})
    fb.loc[3, "csat"] = "very good"
    with pytest.raises(ValueError, match=r"column 'csat' must hold numbers 1-5; found "
                                         r"'very good' in row 3"):
        voice.survey_metrics(fb)


def test_empty_inputs_fail_clearly():
    fb = _feedback()
    with pytest.raises(ValueError, match=r"no row has a csat, nps or ces score"):
        voice.survey_metrics(fb.assign(csat=np.nan, nps=np.nan, ces=np.nan))
    with pytest.raises(ValueError, match=r"no rows of survey \['post_interaction'\]; found "
                                         r"surveys \['social'\]"):
        voice.survey_metrics(fb.assign(survey="social"))
    with pytest.raises(ValueError, match=r"column 'stage' has no values to group by"):
        voice.survey_metrics(fb, by=["stage"])
    with pytest.raises(ValueError, match=r"cannot group by 'segment'.*pass segments="):
        voice.survey_metrics(fb, by=["segment"])
    with pytest.raises(ValueError, match=r"no group of \['touchpoint'\] has at least "
                                         r"min_n=1000"):
        voice.survey_metrics(fb, by=["touchpoint"], min_n=1000)


# --------------------------------------------------------------------------------------------
# trend
# --------------------------------------------------------------------------------------------


def test_monthly_trend_counts_and_intervals():
    fb = _feedback(300)
    trend = voice.survey_trend(fb, freq="M")
    months = fb["response_time"].dt.tz_localize(None).dt.to_period("M")
    assert trend["n"].tolist() == months.value_counts().sort_index().tolist()
    first = fb[months == months.min()]
    ref = mean_interval(first["csat"], scale=(1, 5))
    assert trend.iloc[0]["csat_ci_low"] == pytest.approx(ref.ci_low)
    assert trend.iloc[0]["csat_ci_high"] == pytest.approx(ref.ci_high)
    assert str(trend.iloc[0]["period"]) == "2026-01-01 00:00:00+00:00"
    with pytest.raises(ValueError, match=r"freq must be a pandas period alias"):
        voice.survey_trend(fb, freq="fortnightly")


# --------------------------------------------------------------------------------------------
# benchmark
# --------------------------------------------------------------------------------------------


def _benchmark_frame(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for brand, shift in (("Ours", 0.0), ("Rival", 0.8), ("Other", 0.0)):
        for r in range(120):
            nps = int(rng.integers(0, 11))
            for tp in ("payment", "delivery"):
                mean = 3.0 + (shift if tp == "payment" else 0.0)
                rows.append({"customer_id": None, "response_time": "2026-03-01T00:00:00Z",
                             "touchpoint": tp, "channel": "panel",
                             "csat": float(np.clip(round(rng.normal(mean, 1)), 1, 5)),
                             "nps": float(nps), "ces": np.nan, "text": None,
                             "language": None, "source": "bench",
                             "survey": "market_benchmark", "response_id": f"{brand}{r}",
                             "stage": None, "brand": brand})
    return pd.DataFrame(rows)


def test_benchmark_gaps_match_welch_and_holm():
    fb = _benchmark_frame()
    b = voice.benchmark(fb, ours="Ours")
    row = b[(b["group"] == "payment") & (b["brand"] == "Rival")].iloc[0]
    ours = fb[(fb["brand"] == "Ours") & (fb["touchpoint"] == "payment")]["csat"].to_numpy()
    rival = fb[(fb["brand"] == "Rival") & (fb["touchpoint"] == "payment")]["csat"].to_numpy()
    t = stats.ttest_ind(ours, rival, equal_var=False)
    assert row["csat_gap"] == pytest.approx(ours.mean() - rival.mean())
    assert row["csat_gap_p_value"] == pytest.approx(t.pvalue)
    # Welch-Satterthwaite interval by hand
    v1, v2 = ours.var(ddof=1) / len(ours), rival.var(ddof=1) / len(rival)
    df = (v1 + v2) ** 2 / (v1**2 / (len(ours) - 1) + v2**2 / (len(rival) - 1))
    half = stats.t.ppf(0.975, df) * np.sqrt(v1 + v2)
    assert row["csat_gap_ci_low"] == pytest.approx(ours.mean() - rival.mean() - half)
    assert row["csat_gap_ci_high"] == pytest.approx(ours.mean() - rival.mean() + half)
    assert row["csat_gap"] < 0 and row["csat_gap_p_adjusted"] < 0.05  # planted: we are behind
    p = b["csat_gap_p_value"].dropna()
    assert b["csat_gap_p_adjusted"].dropna().to_numpy() == pytest.approx(
        multipletests(p, method="holm")[1])


def test_benchmark_nps_once_per_respondent_with_z_test():
    fb = _benchmark_frame()
    b = voice.benchmark(fb, ours="Ours")
    overall = b[(b["group"] == "overall")].set_index("brand")
    assert overall.loc["Ours", "n_nps"] == 120  # one answer per respondent
    assert overall.loc["Ours", "n_csat"] == 240
    once = fb.drop_duplicates("response_id")
    a = nps_interval(once.loc[once["brand"] == "Ours", "nps"])
    c = nps_interval(once.loc[once["brand"] == "Rival", "nps"])
    gap = a["nps"] - c["nps"]
    se = np.hypot(a["nps_se"], c["nps_se"])
    assert overall.loc["Rival", "nps_gap"] == pytest.approx(gap)
    assert overall.loc["Rival", "nps_gap_p_value"] == pytest.approx(
        2 * stats.norm.sf(abs(gap) / se))


def test_benchmark_errors_name_brands():
    fb = _benchmark_frame()
    with pytest.raises(ValueError, match=r"our brand 'Northwind' not found.*\['Other', "
                                         r"'Ours', 'Rival'\]"):
        voice.benchmark(fb, ours="Northwind")
    with pytest.raises(ValueError, match=r"at least one competitor"):
        voice.benchmark(fb[fb["brand"] == "Ours"], ours="Ours")


# --------------------------------------------------------------------------------------------
# experience curve
# --------------------------------------------------------------------------------------------


def test_experience_curve_by_hand():
    fb = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "response_time": pd.Timestamp("2026-01-01", tz="UTC"),
        "touchpoint": ["cart", "payment", None, "help"], "channel": "web",
        "csat": [5.0, 1.0, np.nan, 3.0], "nps": np.nan, "ces": np.nan,
        "text": ["", "", "bad", ""], "language": None, "source": "t",
        "survey": ["post_interaction", "post_interaction", "interview", "post_interaction"],
        "stage": [None, None, "purchase", None], "sentiment": [np.nan, -0.5, -0.8, np.nan],
    })
    curve = voice.experience_curve(fb, stages=["purchase", "service"],
                                   stage_map={"cart": "purchase", "payment": "purchase",
                                              "help": "service"}).set_index("stage")
    # purchase: cart (5-3)/2 = 1; payment mean(-1, -0.5) = -0.75; interview -0.8
    assert curve.loc["purchase", "emotion"] == pytest.approx(np.mean([1.0, -0.75, -0.8]))
    low, high = DescrStatsW(np.array([1.0, -0.75, -0.8])).tconfint_mean()
    assert curve.loc["purchase", "emotion_ci_low"] == pytest.approx(low)
    assert curve.loc["purchase", "emotion_ci_high"] == pytest.approx(high)
    assert curve.loc["purchase", "n_sentiment"] == 2
    assert curve.loc["service", "emotion"] == 0.0
    # service: one CSAT answer of 3; by hand the score interval on 1-5 with n = 1 moves the
    # mass to an end of the scale: (3 + c * 1) / (1 + c) and (3 + c * 5) / (1 + c), c = z^2
    c = stats.norm.ppf(0.975) ** 2
    assert (curve.loc["service", "csat_ci_low"], curve.loc["service", "csat_ci_high"]) == \
        pytest.approx(((3 + c) / (1 + c), (3 + 5 * c) / (1 + c)))
    assert curve["order"].tolist() == [1, 2]
    with pytest.raises(ValueError, match=r"stages \['service'\] are not among"):
        voice.experience_curve(fb, stages=["purchase"], stage_map={"help": "service"})
    with pytest.raises(ValueError, match=r"no 'stage' values; pass stage_map"):
        voice.experience_curve(fb.drop(columns="stage"))


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


def test_figures_draw_without_warnings():
    import matplotlib.pyplot as plt

    from cjmlib.voice import plots as voice_plots

    matplotlib.use("Agg")
    fb = _feedback(300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figs = [voice_plots.survey_metrics_plot(voice.survey_metrics(fb, by=["touchpoint"]),
                                                highlight=["payment"]),
                voice_plots.trend_plot(voice.survey_trend(fb)),
                voice_plots.benchmark_plot(voice.benchmark(_benchmark_frame(), ours="Ours"))]
        for fig in figs:
            assert fig.get_size_inches()[0] == pytest.approx(10.0)
            fig.canvas.draw()
            plt.close(fig)


# --------------------------------------------------------------------------------------------
# the sample's planted pain point
# --------------------------------------------------------------------------------------------


def test_sample_pain_point_has_the_lowest_csat(processed_dir, ground_truth):
    fb = voice.read_feedback(processed_dir / "feedback.parquet")
    m = voice.survey_metrics(fb, by=["touchpoint"], min_n=10).sort_values("csat_mean")
    pain = ground_truth["pain_point"]["touchpoint"]
    assert m.iloc[0]["group"] == pain
    # the runner-up may have ten responses (returns, chat), too few for two intervals to part;
    # the pain point's interval lies below every other touchpoint's planted survey mean
    others = [v["mean"] for k, v in ground_truth["survey_csat_by_touchpoint"].items()
              if k != pain and v["n"] >= 10]
    assert m.iloc[0]["csat_ci_high"] < min(others)
    truth = ground_truth["survey_csat_by_touchpoint"][pain]
    assert m.iloc[0]["n_csat"] == truth["n"]
    assert m.iloc[0]["csat_mean"] == pytest.approx(truth["mean"], abs=5e-4)


def test_sample_benchmark_finds_the_planted_gap(processed_dir, ground_truth):
    fb = voice.read_feedback(processed_dir / "feedback.parquet")
    bench_truth = ground_truth["benchmark"]
    b = voice.benchmark(fb, ours=bench_truth["ours"])
    vs = b[(b["brand"] == "Contoso") & (b["level"] == "touchpoint")].set_index("group")
    largest = vs["csat_gap"].idxmin()
    assert largest == bench_truth["largest_gap_touchpoint"]
    planted = bench_truth["planted_gap_vs_Contoso"][largest]
    assert vs.loc[largest, "csat_gap_ci_low"] < planted + 0.3  # latent gap shrinks by rounding
    assert vs.loc[largest, "csat_gap_p_adjusted"] < 0.001
