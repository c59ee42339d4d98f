"""Journeys built once and read back (cjmlib.journeys.persist).

Reference: the same analyses on journeys built directly by ``build_journeys`` from the same
events (the lazy path every function supported before the cache); the cached journeys must
give identical tables. Also: a second call reads the cache instead of building, and a
changed option or events file builds afresh.
"""

from __future__ import annotations

import dataclasses
import os

import ibis
import pandas as pd
import pytest

from cjmlib.journeys import (
    attribution,
    changes,
    channels,
    cohorts,
    differences,
    funnel,
    persist,
    touchpoints,
    transitions,
)
from cjmlib.journeys.build import build_journeys
from cjmlib.journeys.model import load_journey_config

CONFIG = load_journey_config("configs/journey.yaml")


def options(**extra):
    base = dict(conversion_touchpoints=list(CONFIG.conversion_touchpoints),
                session_timeout_minutes=CONFIG.session_timeout_minutes,
                exclude_touchpoints=CONFIG.exclude_touchpoints,
                endings=CONFIG.ending_touchpoints(), open_horizon="auto")
    return {**base, **extra}


def analyses(j) -> dict[str, pd.DataFrame]:
    steps = [s for s in CONFIG.funnel_steps if s in set(j.touchpoint_counts["touchpoint"])]
    return {
        "summary": j.summary(),
        "metrics": touchpoints.touchpoint_metrics(j).drop(columns="priority_rank",
                                                          errors="ignore"),
        "transitions": transitions.transitions(j),
        "paths": transitions.path_variants(j, top=5),
        "funnel": funnel.funnel(j, steps, mode="closed", order="sequential",
                                window="7 days"),
        # the kept step numbers and rows per journey serve these (persist)
        **{f"funnel_{mode}_{order}": funnel.funnel(j, steps, mode=mode, order=order,
                                                   window="7 days")
           for mode, order in [("closed", "strict"), ("open", "strict"),
                               ("open", "sequential"), ("closed", "any")]},
        "acquisition": cohorts.acquisition(j),
        "cohorts": cohorts.cohort_retention(j),
        "new_vs_returning": cohorts.new_vs_returning(j),
        "periods": differences.period_comparison(j),
        "loops": transitions.loops(j),
        "removal": attribution.markov_attribution(j).removal_effects,
        "channels": channels.channel_transitions(j),
        "series": changes.kpi_series(j).table,
    }


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    keys = list(a.columns)
    a = a.sort_values(keys[:3]).reset_index(drop=True)
    b = b.sort_values(keys[:3]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("unit", ["session", "customer"])
def test_cached_journeys_give_the_direct_results(processed_dir, tmp_path, unit):
    events = processed_dir / "events.parquet"
    direct = build_journeys(events, unit=unit, sessions="inactivity", **options())
    cached = persist.cached_journeys(events, cache_dir=tmp_path, unit=unit,
                                     sessions="inactivity", **options())
    assert cached.open_horizon_us == direct.open_horizon_us
    assert cached.observed_from == direct.observed_from
    assert cached.observed_until == direct.observed_until
    pd.testing.assert_frame_equal(cached.touchpoint_counts, direct.touchpoint_counts)
    want, got = analyses(direct), analyses(cached)
    for name in want:
        same(got[name], want[name])
    # the window columns are read, not computed again ...
    assert "OVER" not in ibis.to_sql(cached.ordered("next_touchpoint", "gap_s")).upper()
    # ... unless the steps changed since: then they are computed on the changed steps
    first = sorted(cached.touchpoint_counts["touchpoint"])[0]
    for j in (direct, cached):
        j.__dict__["_cut"] = dataclasses.replace(
            j, steps=j.steps.filter(j.steps.touchpoint != first))
    assert "OVER" in ibis.to_sql(cached.__dict__["_cut"].ordered("next_touchpoint")).upper()
    same(transitions.transitions(cached.__dict__["_cut"]),
         transitions.transitions(direct.__dict__["_cut"]))


def test_second_call_reads_the_cache_and_changes_rebuild(processed_dir, tmp_path,
                                                         monkeypatch):
    events = tmp_path / "events.parquet"
    events.write_bytes((processed_dir / "events.parquet").read_bytes())
    cache = tmp_path / "cache"
    first = persist.cached_journeys(events, cache_dir=cache, unit="customer", **options())
    assert len(list(cache.iterdir())) == 1

    def no_build(*args, **kwargs):
        raise AssertionError("built again although the cache holds these journeys")

    with monkeypatch.context() as m:
        m.setattr(persist, "build_journeys", no_build)
        again = persist.cached_journeys(events, cache_dir=cache, unit="customer",
                                        **options())
        # the open horizon and endings describe journeys without changing their steps
        horizon = persist.cached_journeys(events, cache_dir=cache, unit="customer",
                                          **options(open_horizon="3 days", endings=[]))
        with pytest.raises(AssertionError, match="built again"):  # another session rule
            persist.cached_journeys(events, cache_dir=cache, unit="customer",
                                    **options(session_timeout_minutes=45.0))
        st = events.stat()
        os.utime(events, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        with pytest.raises(AssertionError, match="built again"):  # the events changed
            persist.cached_journeys(events, cache_dir=cache, unit="customer", **options())
    same(again.summary(), first.summary())
    direct = build_journeys(events, unit="customer",
                            **options(open_horizon="3 days", endings=[]))
    assert horizon.open_horizon_us == direct.open_horizon_us == 3 * 86_400_000_000
    assert horizon.endings == direct.endings
    same(touchpoints.touchpoint_metrics(horizon), touchpoints.touchpoint_metrics(direct))
    assert not list(cache.glob(".*.tmp"))  # no temporary folder left behind


def test_least_recently_used_entries_are_pruned(processed_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(persist, "KEEP", 2)
    events = processed_dir / "events.parquet"
    for minutes in [20.0, 30.0, 40.0]:
        persist.cached_journeys(events, cache_dir=tmp_path, unit="session",
                                **options(session_timeout_minutes=minutes))
    persist._prune(tmp_path, keep=persist.KEEP)
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_frames_are_not_cached_on_disk(tmp_path):
    log = pd.DataFrame({"customer_id": ["a", "a"], "channel": "web",
                        "touchpoint": ["home_page", "order_confirmation"], "stage": "s",
                        "session_id": None, "duration_s": 1.0, "value": None,
                        "source": "t", "seq": [0, 1],
                        "event_time": pd.to_datetime(["2026-01-05 10:00", "2026-01-05 10:05"],
                                                     utc=True)})
    j = persist.cached_journeys(log, cache_dir=tmp_path,
                                conversion_touchpoints=["order_confirmation"])
    assert int(j.summary()["converted_journeys"].iloc[0]) == 1
    assert not any(tmp_path.iterdir())
