"""Collection on the generated sample, checked against the generator's planted ground truth.

The reference is independent of cjmlib.collection: ``ground_truth.json`` (customer count, dirty
rows per file and reason, duplicates), ``ground_truth/events.parquet`` (the clean events with
person ids) and ``ground_truth/persons.csv`` (person -> CRM id, tier, churn), plus counts read
straight from the raw files with pandas.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from cjmlib.collection.assembly import collect
from cjmlib.core.schema import EVENT_COLUMNS, FEEDBACK_COLUMNS


@pytest.fixture(scope="module")
def events(processed_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(processed_dir / "events.parquet")


@pytest.fixture(scope="module")
def feedback(processed_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(processed_dir / "feedback.parquet")


@pytest.fixture(scope="module")
def customers(processed_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(processed_dir / "customers.parquet")


@pytest.fixture(scope="module")
def manifest(processed_dir: Path) -> dict:
    return json.loads((processed_dir / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def quarantine(processed_dir: Path) -> pd.DataFrame:
    parts = [pd.read_parquet(p) for p in sorted((processed_dir / "quarantine").glob("*.parquet"))]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def truth_events(sample_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(sample_dir / "ground_truth" / "events.parquet")


@pytest.fixture(scope="module")
def persons(sample_dir: Path) -> pd.DataFrame:
    return pd.read_csv(sample_dir / "ground_truth" / "persons.csv")


# ---- the contract ------------------------------------------------------------------------


def test_tables_start_with_the_contract_columns(events, feedback, customers):
    assert tuple(events.columns[: len(EVENT_COLUMNS)]) == EVENT_COLUMNS
    assert tuple(feedback.columns[: len(FEEDBACK_COLUMNS)]) == FEEDBACK_COLUMNS
    assert list(customers.columns[:7]) == ["customer_id", "first_seen", "last_seen", "n_events",
                                           "channels", "converted", "revenue"]
    assert str(events["event_time"].dtype) == "datetime64[us, UTC]"
    assert str(feedback["response_time"].dtype) == "datetime64[us, UTC]"
    assert events["seq"].dtype == "int64"


# ---- identity ----------------------------------------------------------------------------


def test_stitched_customer_count_matches_ground_truth(customers, ground_truth):
    assert len(customers) == ground_truth["n_customers"]
    assert customers["customer_id"].is_unique


def test_every_registered_person_is_exactly_one_customer(customers, persons):
    registered = persons.loc[persons["kind"] == "registered", "crm_id"]
    assert customers["crm_id"].dropna().is_unique
    assert set(customers["crm_id"].dropna()) == set(registered)


def test_events_per_customer_match_events_per_person(events, truth_events):
    """Stitching neither splits nor merges people: the multiset of per-customer event counts
    equals the multiset of per-person counts of the planted truth."""
    got = sorted(events.groupby("customer_id").size().tolist())
    want = sorted(truth_events.groupby("person_id").size().tolist())
    assert got == want


def test_crm_attributes_follow_the_person(customers, persons):
    reg = persons[persons["kind"] == "registered"].set_index("crm_id")
    c = customers.dropna(subset=["crm_id"]).set_index("crm_id").loc[reg.index]
    assert (c["segment"] == reg["tier"]).all()
    assert (c["region"] == reg["region"]).all()
    assert (c["churned"].astype(bool) == reg["churn_date"].notna()).all()


def test_no_raw_email_phone_or_name_reaches_processed_tables(sample_dir, processed_dir):
    crm = pd.read_csv(sample_dir / "crm_customers.csv", dtype=str)
    emails = {e.strip().lower() for e in crm["email"].dropna()} - {"noemail@example.com"}
    phones = {re.sub(r"\D", "", p)[-10:] for p in crm["phone"].dropna()} - {"0000000000"}
    names = {f"{first} {last}" for first, last in zip(crm["first_name"], crm["last_name"],
                                                      strict=True)}
    files = [*processed_dir.glob("*.parquet"), *processed_dir.glob("quarantine/*.parquet")]
    assert len(files) >= 5
    for path in files:
        text = pd.read_parquet(path).to_csv(index=False).lower()
        assert not [e for e in emails if e in text], path.name
        digits = re.sub(r"\D", "", text)
        assert not [p for p in phones if p in digits], path.name
        assert "first_name" not in text and "last_name" not in text, path.name
        assert not [n for n in list(names)[:200] if n.lower() in text], path.name


# ---- validation and quarantine -----------------------------------------------------------


def test_quarantine_reasons_match_the_planted_dirty_rows(quarantine, ground_truth):
    dup = quarantine["reason"].isin(["exact_duplicate", "near_duplicate"])
    got = quarantine[~dup].groupby(["file", "reason"]).size().to_dict()
    want = {(f, r): n for f, reasons in ground_truth["dirty_rows"].items()
            for r, n in reasons.items()}
    assert got == want


def test_duplicates_match_the_planted_duplicates(quarantine, ground_truth):
    exact = quarantine[quarantine["reason"] == "exact_duplicate"].groupby("file").size().to_dict()
    assert exact == ground_truth["duplicates"]["exact"]
    near = quarantine[quarantine["reason"] == "near_duplicate"]
    assert len(near) == ground_truth["duplicates"]["near"]["count"]
    # the analytics 'purchase' rows are dropped; the CRM order carrying the amount is kept
    assert set(near["file"]) == {"web_clickstream.csv", "app_events.csv"}
    gaps = near["detail"].str.extract(r"\(([\d.]+) s apart\)")[0].astype(float)
    # the order system stamps 5-89 s after the page view, to the second (the page to the ms)
    assert gaps.between(4, ground_truth["duplicates"]["near"]["max_time_difference_s"]).all()


def test_quarantined_rows_name_file_row_column_and_value(sample_dir, quarantine):
    raw = pd.read_csv(sample_dir / "web_clickstream.csv", dtype=str, keep_default_na=False)
    q = quarantine[quarantine["reason"] == "unparseable_time"]
    q = q[q["file"] == "web_clickstream.csv"]
    assert (q["column"] == "event_ts").all()
    # row is the 1-based data row: the raw value at that row is the reported value
    assert (raw["event_ts"].iloc[q["row"] - 1].to_numpy() == q["value"].to_numpy()).all()
    neg = quarantine[(quarantine["reason"] == "negative_duration")
                     & (quarantine["file"] == "web_clickstream.csv")]
    assert (raw["dwell_ms"].iloc[neg["row"] - 1].astype(int) < 0).all()


def test_rows_reconcile_per_source(manifest, sample_dir):
    for s in manifest["sources"]:
        assert s["rows_in"] == s["rows_out"] + s["rows_quarantined"], s["source"]
        assert s["balanced"]
    # rows_in counted independently from the raw files
    rows_in = {s["source"]: s["rows_in"] for s in manifest["sources"]}
    for source, file in [("web_clickstream", "web_clickstream.csv"),
                         ("app_events", "app_events.csv"),
                         ("contact_center", "contact_center.csv"),
                         ("crm_orders", "crm_orders.csv")]:
        assert rows_in[source] == len(pd.read_csv(sample_dir / file, dtype=str)), source
    lines = (sample_dir / "email_events.jsonl").read_text(encoding="utf-8").splitlines()
    assert rows_in["email_events"] == len(lines)
    assert rows_in["surveys_cn"] == len(pd.read_csv(sample_dir / "surveys_cn.csv",
                                                    encoding="gb18030"))


def test_every_file_is_read_or_deliberately_ignored(manifest):
    assert manifest["unconfigured_files"] == []
    assert {i["encoding"] for i in manifest["inputs"] if i["file"] == "surveys_cn.csv"} == {
        "gb18030"}
    assert {i["encoding"] for i in manifest["inputs"] if i["file"] == "surveys_global.csv"} == {
        "utf-8-sig"}


def test_manifest_hashes_every_input_file(manifest, sample_dir):
    """The SHA-256 of each raw file (read on a thread while collect runs) is that of its bytes."""
    import hashlib

    assert manifest["inputs"]
    for entry in manifest["inputs"]:
        path = sample_dir / entry["file"]
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), entry["file"]
        assert entry["bytes"] == path.stat().st_size


# ---- events ------------------------------------------------------------------------------


def test_event_counts_per_touchpoint_match_ground_truth(events, truth_events):
    got = events.groupby("touchpoint").size()
    want = truth_events.groupby("touchpoint").size()
    pd.testing.assert_series_equal(got, want, check_names=False)
    assert (events["stage"] == events["touchpoint"].map(
        truth_events.drop_duplicates("touchpoint").set_index("touchpoint")["stage"])).all()


def test_times_are_utc_whatever_the_source_zone(events, truth_events):
    """Contact-centre times are London local time with day-first dates in the raw file; after
    collection they equal the planted UTC times (to the second the export keeps)."""
    for tp in ("support_call", "chat"):
        got = sorted(events.loc[events["touchpoint"] == tp, "event_time"].dt.floor("s"))
        want = sorted(truth_events.loc[truth_events["touchpoint"] == tp, "event_time"]
                      .dt.floor("s"))
        assert got == want, tp
    web = events[events["source"] == "web_clickstream"]
    want = truth_events[truth_events["channel"] == "web"]
    want = want[want["touchpoint"] != "order_confirmation"]  # kept from the CRM instead
    assert sorted(web["event_time"]) == sorted(want["event_time"])


def test_orders_keep_the_amount_and_inherit_the_session(events, truth_events):
    orders = events[events["touchpoint"].isin(["order_confirmation", "store_purchase"])]
    assert (orders["source"] == "crm_orders").all()
    assert orders["value"].notna().all()
    truth_orders = truth_events[truth_events["touchpoint"].isin(["order_confirmation",
                                                                 "store_purchase"])]
    assert orders["value"].sum() == pytest.approx(truth_orders["value"].sum(), abs=0.01)
    online = orders[orders["touchpoint"] == "order_confirmation"]
    assert online["session_id"].notna().all()  # from the dropped web/app duplicate
    assert orders.loc[orders["touchpoint"] == "store_purchase", "session_id"].isna().all()


def test_sessions_given_or_derived_by_the_timeout(events):
    web = events[events["source"] == "web_clickstream"]
    assert web["session_id"].str.startswith("web_clickstream:").all()
    app = events[events["source"] == "app_events"].sort_values(["session_id", "event_time"])
    gap = app.groupby("session_id")["event_time"].diff().dt.total_seconds()
    assert (gap.dropna() <= 30 * 60).all()
    starts = app.groupby("session_id")["event_time"].agg(["min", "max"]).reset_index()
    starts["customer_id"] = starts["session_id"].str.split("/").str[0]
    starts = starts.sort_values(["customer_id", "min"])
    between = (starts["min"] - starts.groupby("customer_id")["max"].shift()).dt.total_seconds()
    assert (between.dropna() > 30 * 60).all()


def test_seq_orders_each_customer_timeline(events):
    g = events.groupby("customer_id")
    assert (g["seq"].transform("min") == 1).all()
    assert (g["seq"].transform("max") == g["seq"].transform("size")).all()
    s = events.sort_values(["customer_id", "seq"])
    assert (s.groupby("customer_id")["event_time"].diff().dropna() >= pd.Timedelta(0)).all()


# ---- feedback ----------------------------------------------------------------------------


def test_relationship_survey_is_one_row_per_item_plus_overall(feedback, sample_dir):
    raw = pd.read_csv(sample_dir / "relationship_survey.csv")
    rel = feedback[feedback["survey"] == "relationship"]
    assert len(rel) == 7 * len(raw)
    assert (rel.groupby("response_id").size() == 7).all()
    overall = rel[rel["touchpoint"].isna()]
    assert len(overall) == len(raw) and overall["nps"].notna().all()
    assert sorted(overall["csat"]) == sorted(raw["overall_satisfaction"])
    pay = rel[rel["touchpoint"] == "payment"]
    assert sorted(pay["csat"]) == sorted(raw["sat_payment"]) and pay["nps"].isna().all()


def test_market_benchmark_is_not_stitched(feedback, ground_truth):
    bench = feedback[feedback["survey"] == "market_benchmark"]
    assert len(bench) > 0 and bench["customer_id"].isna().all()
    assert set(bench["brand"]) == {"Northwind", *ground_truth["benchmark"]["competitors"]}
    assert feedback.loc[feedback["survey"] != "market_benchmark", "brand"].isna().all()
    assert feedback.loc[feedback["survey"] != "market_benchmark", "customer_id"].notna().all()


def test_survey_labels_in_english_and_chinese_map_to_touchpoints(feedback, sample_dir):
    post = feedback[feedback["survey"] == "post_interaction"]
    cn = post[post["source"] == "surveys_cn"]
    raw = pd.read_csv(sample_dir / "surveys_cn.csv", encoding="gb18030", dtype=str)
    assert (raw["触点"] == "结算-支付").sum() - 0 >= (cn["touchpoint"] == "payment").sum() > 0
    assert cn["language"].eq("zh").all()
    assert cn["text"].dropna().str.contains(r"[\u4e00-\u9fff]").all()
    assert post["touchpoint"].notna().all()


def test_social_posts_and_interviews_are_attributed(feedback, customers, sample_dir):
    social = feedback[feedback["survey"] == "social"]
    assert social["customer_id"].notna().all()
    interviews = feedback[feedback["survey"] == "interview"]
    header = (sample_dir / "interviews" / "INT-01.txt").read_text(encoding="utf-8")
    crm_id = re.search(r"^customer: (\S+)$", header, re.M).group(1)
    stage = re.search(r"^stage: (\S+)$", header, re.M).group(1)
    one = interviews[interviews["response_id"] == "INT-01"]
    assert len(one) == header.count("\nCustomer:")
    want = customers.loc[customers["crm_id"] == crm_id, "customer_id"].item()
    assert (one["customer_id"] == want).all() and (one["stage"] == stage).all()


# ---- customers ---------------------------------------------------------------------------


def test_customer_activity_columns_agree_with_events(customers, events, ground_truth):
    c = customers.set_index("customer_id")
    e = events.groupby("customer_id")
    assert (c.loc[e.size().index, "n_events"] == e.size()).all()
    conv = events["touchpoint"].isin(["order_confirmation", "store_purchase"])
    converted = conv.groupby(events["customer_id"]).any()
    assert (c.loc[converted.index, "converted"] == converted).all()
    assert c["revenue"].sum() == pytest.approx(events.loc[conv, "value"].sum())
    # revenue is the correctly rounded sum (math.fsum) of a customer's conversion values,
    # whatever order the engine meets them in: exactly, where they are in one channel
    paid = events[conv]
    one_channel = paid.groupby("customer_id")["channel"].nunique() == 1
    exact = paid[paid["customer_id"].isin(one_channel.index[one_channel])].groupby(
        "customer_id")["value"].agg(lambda v: math.fsum(v.dropna()))
    assert len(exact) > 100
    assert (c.loc[exact.index, "revenue"] == exact).all()
    channels = e["channel"].agg(lambda x: ",".join(sorted(set(x))))
    assert (c.loc[channels.index, "channels"] == channels).all()
    assert (c.loc[channels.index, "n_channels"] == e["channel"].nunique()).all()
    # people seen only on social media have feedback and no events
    assert (c["n_events"] == 0).sum() == ground_truth["n_social_only"]
    assert (c.loc[c["n_events"] == 0, "n_feedback"] > 0).all()
    assert c["first_seen"].notna().all() and (c["first_seen"] <= c["last_seen"]).all()


# ---- determinism -------------------------------------------------------------------------


def test_rerun_gives_identical_tables_and_manifest(sample_dir, processed_dir, tmp_path):
    again = tmp_path / "again"
    result = collect(sample_dir, processed_dir=again)
    for name in ("events", "feedback", "customers", "identity_audit"):
        a = pd.read_parquet(processed_dir / f"{name}.parquet")
        b = pd.read_parquet(again / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, b, obj=name)
    assert (processed_dir / "manifest.json").read_text() == (again / "manifest.json").read_text()
    assert not list(again.glob(".collect-*"))  # the working folder is removed
    assert result.sources["balanced"].all()
