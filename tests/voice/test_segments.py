"""Segmentation and personas: features against hand counts, scaling against numpy, k choice on
data with a known number of clusters, agreement against sklearn's adjusted Rand index, and the
sample's planted personas (ground_truth/persons.csv, joined through the CRM id)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from cjmlib.voice import segments

CONVERSIONS = ["order_confirmation", "store_purchase"]


def _events() -> pd.DataFrame:
    t0 = pd.Timestamp("2026-01-05 10:00", tz="UTC")
    rows = [
        # customer a: two web sessions, one purchase of 40, two e-mails, one opened
        ("a", 0, "web", "home_page", "consideration", "s1", None),
        ("a", 5, "web", "cart", "purchase", "s1", None),
        ("a", 6, "web", "order_confirmation", "purchase", "s1", 40.0),
        ("a", 60 * 24, "app", "help_center", "service", "s2", None),
        ("a", -60, "email", "email_sent", "awareness", None, None),
        ("a", -50, "email", "email_open", "awareness", None, None),
        ("a", 60 * 48, "email", "email_sent", "awareness", None, None),
        # customer b: one store visit worth 100, no e-mail
        ("b", 30, "store", "store_purchase", "purchase", None, 100.0),
    ]
    return pd.DataFrame({
        "customer_id": [r[0] for r in rows],
        "event_time": [t0 + pd.Timedelta(minutes=r[1]) for r in rows],
        "channel": [r[2] for r in rows], "touchpoint": [r[3] for r in rows],
        "stage": [r[4] for r in rows], "session_id": [r[5] for r in rows],
        "duration_s": np.nan, "value": [r[6] for r in rows], "source": "t",
        "seq": range(len(rows)),
    })


def test_customer_features_by_hand():
    customers = pd.DataFrame({"customer_id": ["a", "b"], "tier": ["Gold", "Bronze"]})
    feedback = pd.DataFrame({"customer_id": ["a", "a", "b"], "csat": [2.0, 4.0, 5.0],
                             "nps": [3.0, np.nan, 9.0],
                             "survey": ["post_interaction"] * 3, "touchpoint": ["cart"] * 3})
    f = segments.customer_features(_events(), conversion_touchpoints=CONVERSIONS,
                                   customers=customers, feedback=feedback,
                                   touchpoint_groups={"service": ["help_center", "chat"]},
                                   ordinal={"tier": ["Bronze", "Silver", "Gold"]})
    a, b = f.loc["a"], f.loc["b"]
    assert (a["sessions"], a["events"], a["conversions"]) == (2, 4, 1)
    assert a["conversion_rate"] == 0.5 and a["revenue"] == 40.0 and a["order_value"] == 40.0
    assert a["channel_share_app"] == 0.25 and a["channel_share_web"] == 0.75
    assert a["stage_share_purchase"] == 0.5 and a["share_service"] == 0.25
    assert a["emails_sent"] == 2 and a["email_open_rate"] == 0.5
    assert np.isnan(b["email_open_rate"]) and b["emails_sent"] == 0
    assert a["csat_mean"] == 3.0 and a["nps_mean"] == 3.0 and a["n_feedback"] == 2
    assert (a["crm_tier"], b["crm_tier"]) == (2.0, 0.0)
    assert a["tenure_days"] == pytest.approx(1 + 1 / (24 * 60) * 0)  # 0 min to 1 day later
    assert b["recency_days"] == pytest.approx((24 * 60 - 30) / (24 * 60))


def test_unknown_ordinal_level_is_named():
    customers = pd.DataFrame({"customer_id": ["a", "b"], "tier": ["Gold", "Platinum"]})
    with pytest.raises(ValueError, match=r"column 'tier' has values \['Platinum'\] not among "
                                         r"the ordered levels"):
        segments.customer_features(_events(), conversion_touchpoints=CONVERSIONS,
                                   customers=customers, ordinal={"tier": ["Bronze", "Gold"]})


def test_prepare_features_logs_winsorises_imputes_and_standardises():
    f = pd.DataFrame({"sessions": [1.0, 3.0, 7.0, 1000.0], "csat_mean": [1.0, np.nan, 3.0, 5.0]})
    x = segments.prepare_features(f, ["sessions", "csat_mean"], winsorize=0.0)
    logged = np.log1p(f["sessions"])
    assert x["sessions"].to_numpy() == pytest.approx(
        ((logged - logged.mean()) / logged.std(ddof=0)).to_numpy())
    imputed = f["csat_mean"].fillna(3.0)
    assert x["csat_mean"].to_numpy() == pytest.approx(
        ((imputed - imputed.mean()) / imputed.std(ddof=0)).to_numpy())
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['nope'\]"):
        segments.prepare_features(f, ["nope"])
    with pytest.raises(ValueError, match=r"column\(s\) \['flat'\] do not vary"):
        segments.prepare_features(f.assign(flat=1.0), ["sessions", "flat"])


def _blobs() -> pd.DataFrame:
    x, y = make_blobs(n_samples=600, centers=[(0, 0), (6, 0), (3, 5)], cluster_std=1.0,
                      random_state=4)
    frame = pd.DataFrame(x, columns=["f1", "f2"], index=[f"c{i:04d}" for i in range(600)])
    frame["truth"] = y
    return frame


def test_choose_k_finds_well_separated_clusters_and_is_stable():
    frame = _blobs()
    x = segments.prepare_features(frame, ["f1", "f2"])
    table = segments.choose_k(x, k_range=range(2, 6), seeds=[0, 1, 2])
    assert table.loc[table["chosen"], "k"].tolist() == [3]
    assert table.set_index("k").loc[3, "stability"] > 0.95
    with pytest.raises(ValueError, match=r"k_range must hold integers >= 2"):
        segments.choose_k(x, k_range=[1, 2])
    with pytest.raises(ValueError, match=r"at least two seeds"):
        segments.choose_k(x, seeds=[0])


def test_max_fit_changes_nothing_up_to_the_sample_and_keeps_the_clusters_beyond_it():
    frame = _blobs()
    x = segments.prepare_features(frame, ["f1", "f2"])
    options = dict(k_range=range(2, 6), seeds=[0, 1, 2])
    table = segments.choose_k(x, **options)
    pd.testing.assert_frame_equal(segments.choose_k(x, max_fit=600, **options), table)
    seg = segments.segment_customers(frame, columns=["f1", "f2"], k=3, seed=0)
    capped = segments.segment_customers(frame, columns=["f1", "f2"], k=3, seed=0, max_fit=600)
    pd.testing.assert_frame_equal(capped.segments, seg.segments)
    # fitted on 150 of the 600 customers, every customer assigned: the same three clusters
    small = segments.choose_k(x, max_fit=150, **options)
    assert small.loc[small["chosen"], "k"].tolist() == [3]
    assert small.set_index("k").loc[3, "stability"] > 0.95
    assert small.set_index("k").loc[3, "inertia"] == pytest.approx(
        table.set_index("k").loc[3, "inertia"], rel=0.05)
    few = segments.segment_customers(frame, columns=["f1", "f2"], k=3, seed=0, max_fit=150)
    assert len(few.segments) == 600
    assert adjusted_rand_score(few.segments["persona"], seg.segments["persona"]) > 0.95
    with pytest.raises(ValueError, match=r"max_fit=20 is too few"):
        segments.choose_k(x, max_fit=20, **options)


def test_segments_are_numbered_by_size_named_and_reproducible():
    frame = _blobs().iloc[:500]  # unequal sizes
    seg = segments.segment_customers(frame, columns=["f1", "f2"], k=3, seed=0)
    sizes = seg.segments["persona"].value_counts().sort_index()
    assert sizes.is_monotonic_decreasing
    assert list(seg.segments.columns) == ["customer_id", "persona", "persona_name"]
    assert seg.segments["persona_name"].str.match(r"^\d: (high|low) ").all()
    assert adjusted_rand_score(frame["truth"], seg.segments["persona"]) > 0.95
    again = segments.segment_customers(frame, columns=["f1", "f2"], k=3, seed=0)
    pd.testing.assert_frame_equal(seg.segments, again.segments)
    z = seg.profile.set_index("persona")[["z_f1", "z_f2"]]
    weights = seg.profile.set_index("persona")["customers"]
    assert (z.mul(weights, axis=0).sum() / weights.sum()).to_numpy() == pytest.approx(0, abs=1e-9)


def test_label_agreement_matches_sklearn():
    segs = pd.DataFrame({"customer_id": list("abcdefg"), "persona": [1, 1, 2, 2, 3, 3, 3]})
    labels = pd.DataFrame({"customer_id": list("abcdefz"), "label": list("xxyyzzq")})
    agreement = segments.label_agreement(segs, labels)
    assert agreement.n == 6
    assert agreement.ari == pytest.approx(adjusted_rand_score(list("xxyyzz"), [1, 1, 2, 2, 3, 3]))
    assert agreement.best_match["label"].tolist() == ["x", "y", "z"]
    with pytest.raises(ValueError, match=r"0 customers are in both"):
        segments.label_agreement(segs, labels.assign(customer_id=list("pqrstuv")))


def test_customer_labels_join_on_the_crm_id():
    customers = pd.DataFrame({"customer_id": ["cu1", "cu2", "cu3"],
                              "crm_id": ["C1", None, "C3"]})
    persons = pd.DataFrame({"crm_id": ["C1", "C3", None], "persona": ["a", "b", "anon"]})
    out = segments.customer_labels(customers, persons)
    assert out.to_dict("list") == {"customer_id": ["cu1", "cu3"], "label": ["a", "b"]}
    with pytest.raises(ValueError, match=r"no 'crm_id' value matches"):
        segments.customer_labels(customers, persons.assign(crm_id=["X", "Y", "Z"]))


FEATURES = ["sessions", "channel_share_app", "stage_share_service", "stage_share_awareness",
            "conversion_rate", "email_open_rate", "order_value", "crm_segment", "share_research",
            "csat_mean"]


def test_sample_segments_recover_the_planted_personas(processed_dir, sample_dir, ground_truth):
    from cjmlib.voice.surveys import read_feedback

    customers = pd.read_parquet(processed_dir / "customers.parquet")
    feedback = read_feedback(processed_dir / "feedback.parquet")
    events = processed_dir / "events.parquet"
    f = segments.customer_features(events, conversion_touchpoints=CONVERSIONS,
                                   customers=customers, feedback=feedback,
                                   touchpoint_groups={"research": ["product_compare", "reviews"]},
                                   ordinal={"segment": ["Bronze", "Silver", "Gold"]})
    f = f[f.index.isin(customers.loc[customers["crm_id"].notna(), "customer_id"])]
    x = segments.prepare_features(f, FEATURES)
    table = segments.choose_k(x, k_range=range(2, 7), seeds=[0, 1, 2])
    k = int(table.loc[table["chosen"], "k"].iloc[0])
    assert k == len(ground_truth["personas"]["names"])
    seg = segments.segment_customers(f, columns=FEATURES, k=k, seed=0)
    labels = segments.customer_labels(customers,
                                      pd.read_csv(sample_dir / "ground_truth" / "persons.csv"))
    agreement = segments.label_agreement(seg.segments, labels)
    assert agreement.ari > 0.55
    assert agreement.n == ground_truth["n_registered"]
    # each planted persona is the majority of exactly one segment
    assert sorted(agreement.best_match["label"]) == sorted(ground_truth["personas"]["names"])

    cards = segments.persona_cards(seg, features=f, events=events,
                                   conversion_touchpoints=CONVERSIONS,
                                   exclude_touchpoints=["email_sent", "email_open"],
                                   feedback=feedback, customers=customers, churn_col="churned")
    assert cards["customers"].sum() == len(f)
    assert cards["share"].sum() == pytest.approx(1.0)
    assert cards["typical_journey"].notna().all()
    # the typical journeys, counted for all segments in one query, are path_variants' top
    # variant of each segment's own sessions
    import dataclasses

    from cjmlib.journeys.build import build_journeys
    from cjmlib.journeys.transitions import path_variants

    sessions = build_journeys(events, conversion_touchpoints=CONVERSIONS, unit="session",
                              exclude_touchpoints=["email_sent", "email_open"],
                              customers=seg.segments.astype({"persona": str}),
                              segment_col="persona")
    for card in cards.itertuples():
        mine = sessions.steps.filter(sessions.steps.persona == str(card.persona))
        top = path_variants(dataclasses.replace(sessions, steps=mine), top=1, max_steps=6)
        assert card.typical_journey == top["path"].iloc[0]
        assert card.n_sessions == top["journeys"].sum()
        assert card.typical_journey_share == pytest.approx(top["share"].iloc[0], rel=1e-12)
        assert card.typical_journey_share_ci_low == pytest.approx(top["share_ci_low"].iloc[0],
                                                                  rel=1e-12)
    assert cards["pain_points"].str.contains(ground_truth["pain_point"]["touchpoint"]).any()
    assert (cards["churn_rate_ci_low"] <= cards["churn_rate"]).all()


def test_stability_index_is_sklearns_adjusted_rand_index():
    rng = np.random.default_rng(3)
    for k, n in ((2, 7), (4, 1000), (8, 20000)):
        a = rng.integers(0, k, n)
        b = np.where(rng.random(n) < 0.3, rng.integers(0, k, n), a)
        assert segments._adjusted_rand(a, b, k) == adjusted_rand_score(a, b)
        assert segments._adjusted_rand(a, a, k) == adjusted_rand_score(a, a) == 1.0
    same = np.zeros(50, dtype=int)
    assert segments._adjusted_rand(same, same, 3) == adjusted_rand_score(same, same)
