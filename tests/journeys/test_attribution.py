"""Markov removal effects (cjmlib.journeys.attribution), solved analytically.

References: a small absorbing chain solved by hand (fractions below), a second-order chain
solved by hand, and an independent dynamic-programming evaluation of the absorption
probabilities with numpy's matrix power on the sample's chain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cjmlib.journeys.attribution import (
    CONVERSION,
    NULL,
    conversion_probability,
    markov_attribution,
    removal_effects_from_counts,
)
from cjmlib.journeys.build import START, build_journeys

T0 = pd.Timestamp("2026-03-02 10:00:00", tz="UTC")


def journeys_of(paths: list[list[str]], conversion: str = "buy"):
    rows, seq = [], 0
    for k, path in enumerate(paths):
        for i, tp in enumerate(path):
            rows.append({"customer_id": f"c{k}", "event_time": T0 + pd.Timedelta(seconds=i),
                         "channel": "web", "touchpoint": tp, "stage": "purchase",
                         "session_id": None, "duration_s": None, "value": None,
                         "source": "test", "seq": seq})
            seq += 1
    return build_journeys(pd.DataFrame(rows), conversion_touchpoints=[conversion])


def test_first_order_removal_effects_match_the_hand_solved_chain():
    # start->A 2, start->B 2; A->B 1, A->null 2; B->conv 2, B->A 1
    # p(B) = 2/3 + 1/3 p(A), p(A) = 1/3 p(B)  =>  p(B) = 3/4, p(A) = 1/4, p(start) = 1/2
    # without A: p(B) = 2/3, p(start) = 1/3  => removal effect 1 - (1/3)/(1/2) = 1/3
    # without B: p(start) = 0                => removal effect 1
    j = journeys_of([["A", "B", "buy"], ["A"], ["B", "buy"], ["B", "A"]])
    result = markov_attribution(j)
    effects = result.removal_effects.set_index("touchpoint")
    assert result.conversion_probability["all"] == pytest.approx(0.5)
    assert effects.loc["A", "removal_effect"] == pytest.approx(1 / 3)
    assert effects.loc["B", "removal_effect"] == pytest.approx(1.0)
    assert effects.loc["A", "conversion_probability_without"] == pytest.approx(1 / 3)
    # 2 conversions split in proportion 1/3 : 1
    assert effects.loc["A", "attributed_conversions"] == pytest.approx(0.5)
    assert effects.loc["B", "attributed_conversions"] == pytest.approx(1.5)
    assert effects["journeys"].to_dict() == {"A": 3, "B": 3}
    assert result.conversions["all"] == 2 and result.journeys["all"] == 4
    assert "buy" not in effects.index  # the conversion is the absorbing state


def test_steps_after_the_first_conversion_start_no_chain_and_first_step_conversions():
    # c0 converts, then browses: ignored. c1 converts on its first step: start -> conv.
    j = journeys_of([["A", "buy", "A", "A"], ["buy"], ["A"]])
    counts = markov_attribution(j).transition_counts.set_index(["source", "target"])["count"]
    assert counts.to_dict() == {(START, "A"): 2, (START, CONVERSION): 1, ("A", CONVERSION): 1,
                                ("A", NULL): 1}


def test_second_order_chain_by_hand():
    # states are the last two touchpoints; removing B kills every state containing B
    j = journeys_of([["A", "B", "buy"], ["A", "C", "buy"], ["A", "C"], ["A", "B"]])
    result = markov_attribution(j, order=2)
    effects = result.removal_effects.set_index("touchpoint")
    # p = 1/2 * 1/2 (via A>B) + 1/2 * 1/2 (via A>C) = 1/2
    assert result.conversion_probability["all"] == pytest.approx(0.5)
    assert effects.loc["B", "removal_effect"] == pytest.approx(0.5)
    assert effects.loc["C", "removal_effect"] == pytest.approx(0.5)
    assert effects.loc["A", "removal_effect"] == pytest.approx(1.0)
    assert {"A > B", "A > C"} <= set(result.transition_counts["source"])


def test_counts_api_and_matrix_power_reference():
    counts = pd.DataFrame({"source": [START, START, "A", "A", "B", "B"],
                           "target": ["A", "B", "B", NULL, CONVERSION, "A"],
                           "count": [2, 2, 1, 2, 2, 1]})
    assert conversion_probability(counts) == pytest.approx(0.5)
    table = removal_effects_from_counts(counts).set_index("touchpoint")
    assert table.loc["A", "removal_effect"] == pytest.approx(1 / 3)
    # reference: iterate the full chain (absorbing states keep their mass) to convergence
    states = [START, "A", "B", CONVERSION, NULL]
    idx = {s: i for i, s in enumerate(states)}
    P = np.zeros((5, 5))
    for s, t, c in counts.itertuples(index=False):
        P[idx[s], idx[t]] += c
    P[idx[CONVERSION], idx[CONVERSION]] = P[idx[NULL], idx[NULL]] = 1
    P /= P.sum(axis=1, keepdims=True)
    reach = np.linalg.matrix_power(P, 200)[idx[START], idx[CONVERSION]]
    assert conversion_probability(counts) == pytest.approx(reach)


def test_sample_chain_agrees_with_matrix_power_and_ranks_checkout_steps(sample_dir):
    truth = pd.read_parquet(sample_dir / "ground_truth" / "events.parquet")
    ev = truth.rename(columns={"person_id": "customer_id"}).assign(source="t", session_id=None)
    ev["seq"] = ev.groupby("customer_id").cumcount()
    j = build_journeys(ev, conversion_touchpoints=["order_confirmation", "store_purchase"],
                       unit="session", sessions="inactivity",
                       exclude_touchpoints=["email_sent", "email_open"])
    result = markov_attribution(j)
    counts = result.transition_counts
    states = sorted(set(counts["source"]) | set(counts["target"]))
    idx = {s: i for i, s in enumerate(states)}
    P = np.zeros((len(states), len(states)))
    for s, t, c in counts[["source", "target", "count"]].itertuples(index=False):
        P[idx[s], idx[t]] += c
    for absorbing in (CONVERSION, NULL):
        P[idx[absorbing], idx[absorbing]] = 1
    P /= P.sum(axis=1, keepdims=True)
    reach = np.linalg.matrix_power(P, 2000)[idx[START], idx[CONVERSION]]
    assert result.conversion_probability["all"] == pytest.approx(reach, rel=1e-9)
    top = result.removal_effects["touchpoint"].head(4).tolist()
    # every online order passes payment: it carries the largest removal effect
    assert top[0] == "payment"
    assert set(top) == {"payment", "cart", "delivery_options", "product_page"}


@pytest.mark.parametrize("by_segment", [False, True])
def test_one_pass_removal_effects_and_loops_equal_the_stored_neighbours(
        processed_dir, tmp_path, by_segment):
    """On a log not kept on disk, the chain and the loops come from one ordered pass over
    touchpoint codes (markov_attribution_and_loops); on kept journeys each is a scan of
    the stored neighbours (names, computed by another pass). Both give the same tables."""
    from cjmlib.journeys.attribution import markov_attribution_and_loops
    from cjmlib.journeys.persist import cached_journeys
    from cjmlib.journeys.transitions import loop_rates

    events = processed_dir / "events.parquet"
    customers = pd.read_parquet(processed_dir / "customers.parquet")
    segment = [c for c in ("segment", "tier", "country") if c in customers.columns][0]
    options = dict(conversion_touchpoints=["order_confirmation", "store_purchase"],
                   unit="session", sessions="inactivity",
                   **({"customers": customers, "segment_col": segment} if by_segment else {}))
    fresh = build_journeys(events, **options)
    kept = cached_journeys(events, cache_dir=tmp_path, **options)
    assert fresh.precomputed is None and kept.precomputed is not None
    chain, loops = markov_attribution_and_loops(fresh, by_channel=True, by_segment=by_segment)
    reference = markov_attribution(kept, by_segment=by_segment)
    pd.testing.assert_frame_equal(chain.removal_effects, reference.removal_effects,
                                  check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(chain.transition_counts, reference.transition_counts)
    assert chain.conversions == reference.conversions and chain.journeys == reference.journeys
    pd.testing.assert_frame_equal(
        loops, loop_rates(kept, by_channel=True, by_segment=by_segment))
    assert (loops["loops"] > 0).any()
    # and the chain alone (no loops asked) is the same one
    alone = markov_attribution(fresh, by_segment=by_segment)
    pd.testing.assert_frame_equal(alone.removal_effects, chain.removal_effects)
