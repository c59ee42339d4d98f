"""Edge data in 02's summary and charts: empty breakdowns, rates of exactly 0 or 1."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from cjmlib.journeys.findings import findings_markdown, journey_findings
from cjmlib.journeys.plots import channel_switch_chart


def _switching(switcher_rate: float, n: int = 40) -> pd.DataFrame:
    k = round(switcher_rate * n)
    s_low, s_high = proportion_confint(k, n, method="wilson")
    t_low, t_high = proportion_confint(5, 100, method="wilson")
    return pd.DataFrame([{
        "from_channel": "web", "to_channel": "call_center", "outcome": "churned",
        "switchers": n, "switcher_outcomes": k, "switcher_rate": k / n,
        "switcher_rate_ci_low": s_low, "switcher_rate_ci_high": s_high, "stayers": 100,
        "stayer_outcomes": 5, "stayer_rate": 0.05, "stayer_rate_ci_low": t_low,
        "stayer_rate_ci_high": t_high, "difference": k / n - 0.05, "difference_ci_low": -0.1,
        "difference_ci_high": 0.9, "risk_ratio": (k / n) / 0.05, "p_value": 0.01,
        "small_cell": False, "alpha": 0.05}])


def test_the_switching_chart_draws_rates_of_exactly_zero_and_one() -> None:
    """'xerr' must not contain negative values: a rate of 1 sat a hair above its Wilson
    upper bound (Wilson gives 0.9999999999999999 for 7 of 7, and 2.8e-17 for 0 of 7).
    Both extremes draw now."""
    for rate in (0.0, 1.0):
        table = _switching(rate, n=7)
        assert (table["switcher_rate_ci_high"] < table["switcher_rate"]).any() or (
            table["switcher_rate_ci_low"] > table["switcher_rate"]).any()
        fig = channel_switch_chart(table)
        assert "95% Wilson interval" in fig.axes[0].get_xlabel()
        plt.close(fig)


def test_findings_of_empty_breakdowns_say_so_instead_of_failing() -> None:
    """IndexError: single positional indexer is out-of-bounds, in 02's findings cell, when
    no touchpoint was rated, no loop ran and no channel switch had enough customers."""
    empty = pd.DataFrame(columns=["touchpoint", "priority_score", "exit_rate", "csat_mean"])
    found = journey_findings(pain_points=empty, loops=pd.DataFrame(columns=["touchpoint"]),
                             switching=_switching(0.5).assign(small_cell=True), funnel=None,
                             journey_unit="customer")
    assert found["top_pain_point"] is None and found["top_loop"] is None
    assert found["top_channel_switch"] is None and found["funnel_conversion"] is None
    text = findings_markdown(found)
    assert "No touchpoint has enough customers" in text and "No loops" in text


def test_findings_state_the_level_of_the_switch_interval() -> None:
    pain = pd.DataFrame([{"touchpoint": "payment", "priority_score": 63.0, "exit_rate": 0.4,
                          "csat_mean": 2.0}])
    loops = pd.DataFrame([{"touchpoint": "cart", "via": "delivery", "journeys": 12,
                           "loop_rate": 0.3}])
    switching = _switching(0.5).assign(alpha=0.1)
    text = findings_markdown(journey_findings(pain_points=pain, loops=loops,
                                              switching=switching, funnel=None,
                                              journey_unit="session"))
    assert "90% CI" in text and "**payment**" in text and "cart → delivery → cart" in text


def test_charts_of_a_single_touchpoint_log_say_there_is_nothing_to_rank() -> None:
    """'Axis limits cannot be NaN or Inf' in 02's priority chart, and a ValueError from the
    importance-performance grid, on a retailer's log whose one touchpoint is the conversion:
    no touchpoint had a priority score or a removal effect. The charts now say so."""
    from cjmlib.journeys.plots import importance_performance_chart, priority_chart

    metrics = pd.DataFrame([{"touchpoint": "purchase", "stage": "purchase", "channel": None,
                             "priority_score": float("nan"), "impact": float("nan"),
                             "signal_exit": float("nan")}])
    grid = pd.DataFrame([{"touchpoint": "purchase", "importance": float("nan"),
                          "performance": 0.9, "quadrant": "not rated",
                          "importance_split": float("nan"), "performance_split": 0.9}])
    for fig in (priority_chart(metrics), importance_performance_chart(grid)):
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert any(t.startswith("Nothing to show:") for t in texts), texts
        plt.close(fig)
