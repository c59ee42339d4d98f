"""The sample's planted stories are found without being told (issue 12).

A 20,000-customer sample (seed 3) with the generator's stories is collected; journeys
(visits), the KPI series and the change search, the segment comparison and rework then run
with no date, channel or segment given, and each finding is checked against the generator's
ground truth (`ground_truth.json`, `stories`): start and end within one period, the right
direction, the right flow or segment. The false-finding rate without planted changes is the
simulation in test_changes.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cjmlib import collect
from cjmlib.journeys.build import build_journeys
from cjmlib.journeys.changes import detect_changes, kpi_series
from cjmlib.journeys.differences import segment_differences
from cjmlib.journeys.model import load_journey_config
from cjmlib.sample.generator import make_sample

WEEK = pd.Timedelta(days=7)


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("stories")
    make_sample(home / "raw", n_customers=20_000, seed=3)
    collect(home / "raw", processed_dir=home / "out")
    cfg = load_journey_config(Path(__file__).resolve().parents[2] / "configs" / "journey.yaml")
    journeys = build_journeys(home / "out" / "events.parquet",
                              conversion_touchpoints=list(cfg.conversion_touchpoints),
                              unit="session", sessions="inactivity",
                              exclude_touchpoints=cfg.exclude_touchpoints,
                              endings=cfg.ending_touchpoints())
    changes = detect_changes(kpi_series(journeys))
    truth = json.loads((home / "raw" / "ground_truth.json").read_text())["stories"]
    customers = pd.read_parquet(home / "out" / "customers.parquet")
    return {"changes": changes, "findings": changes.findings, "truth": truth,
            "journeys": journeys, "customers": customers}


def _near(found_at: pd.Timestamp, true_at: str) -> bool:
    """Within one period (a week) of the truth."""
    return abs(pd.Timestamp(found_at) - pd.Timestamp(true_at, tz="UTC")) <= WEEK


@pytest.mark.slow
def test_the_payment_incident_is_found_with_its_start_and_end(found: dict) -> None:
    truth = found["truth"]["incident"]
    f = found["findings"]
    hits = f[f["kind"].isin(["episode_up", "episode_down"])
             & f["start"].map(lambda t: _near(t, truth["start"]))
             & f["end"].map(lambda t: pd.notna(t) and _near(t, truth["end"]))]
    # payment failures end journeys: conversion falls (or the payment exit rate rises)
    assert ((hits["kpi"] == "conversion_rate") & (hits["kind"] == "episode_down")).any() or (
        (hits["kpi"] == "exit_rate") & (hits["group"] == "payment")).any(), f


@pytest.mark.slow
def test_the_platform_loop_is_found_in_its_period_on_its_platform(found: dict) -> None:
    truth = found["truth"]["platform_loop"]
    f = found["findings"]
    flow = "delivery_options → payment"
    hits = f[(f["kpi"] == "transition_probability") & (f["kind"] == "episode_down")
             & (f["group"] == f"{flow} ({truth['channel']})")]
    assert len(hits) == 1, f
    assert _near(hits.iloc[0]["start"], truth["start"]) and _near(hits.iloc[0]["end"],
                                                                  truth["end"])
    # the bug is the app's: the flow on any other channel shows no such episode
    elsewhere = f[(f["kpi"] == "transition_probability") & (f["level"] == "flow_channel")
                  & f["group"].str.startswith(flow)
                  & ~f["group"].str.endswith(f"({truth['channel']})")]
    assert elsewhere.empty, elsewhere


@pytest.mark.slow
def test_the_acquisition_burst_is_found_on_its_day(found: dict) -> None:
    truth = found["truth"]["acquisition_burst"]
    f = found["findings"]
    hits = f[(f["kpi"] == "new_customers") & (f["kind"] == "burst")]
    assert len(hits) == 1, f
    hit = hits.iloc[0]
    assert hit["start"] == pd.Timestamp(truth["date"], tz="UTC") and hit["periods"] == 1
    # the day's count is everyone first seen that day (planted: the burst and the usual few)
    assert hit["value_changed"] == pytest.approx(truth["customers_first_seen_that_day"])
    assert hit["ci_low"] > 0 and hit["excess"] > 0.8 * truth["new_customers"]


@pytest.mark.slow
def test_the_fading_channel_is_found(found: dict) -> None:
    truth = found["truth"]["channel_fade"]
    f = found["findings"]
    hits = f[(f["kpi"] == "channel_share") & (f["group"] == truth["channel"])]
    assert len(hits) == 1 and hits.iloc[0]["kind"] == "fade_out", f
    start = hits.iloc[0]["start"]
    assert pd.Timestamp(truth["start"], tz="UTC") <= start <= pd.Timestamp(truth["end"],
                                                                           tz="UTC")
    assert hits.iloc[0]["changed"] <= 0.2 * truth["share_of_journey_events_before"]


@pytest.mark.slow
def test_the_slowdown_is_a_shift_from_its_date(found: dict) -> None:
    truth = found["truth"]["slowdown"]
    f = found["findings"]
    hits = f[(f["kpi"] == "time_median") & (f["kind"] == "shift_up")
             & (f["group"] == f"{truth['from']} → payment")]
    assert len(hits) == 1 and _near(hits.iloc[0]["start"], truth["date"]), f


@pytest.mark.slow
def test_open_journeys_at_the_end_do_not_read_as_a_shift(found: dict) -> None:
    cutoff = pd.Timestamp(found["truth"]["open_journeys"]["cutoff"])
    f = found["findings"]
    late = f[(f["kpi"] == "exit_rate") & (f["start"] >= cutoff - 3 * WEEK)]
    assert late.empty, late


@pytest.mark.slow
def test_the_tier_is_the_segment_that_differs_most(found: dict) -> None:
    truth = found["truth"]["segment_conversion"]
    ranking, levels = segment_differences(found["journeys"], found["customers"])
    top = ranking.iloc[0]
    assert top["column"] == truth["mapped_as"] and bool(top["differs"])
    rates = levels[levels["column"] == truth["mapped_as"]].set_index("level")[
        "conversion_rate"]
    planted = pd.Series(truth["journey_conversion"])
    assert list(rates.sort_values().index) == list(planted.sort_values().index)
