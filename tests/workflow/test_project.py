"""`cjm init`: profiling a researcher's exports, proposing configs, and the chain running on
them with no flag. The exports are hand-written here in the shapes analytics, CRM, survey
and process-mining tools export; nothing comes from the sample generator."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cjmlib.collection.profiling import profile_export
from cjmlib.workflow.project import guess_stage, init_project
from tests.workflow.support import directly_follows, sessionise
from tests.workflow.test_end_to_end import _cjm

PAGES = ["home", "search", "product", "reviews", "cart", "checkout", "payment", "purchase",
         "help"]


def write_clicks(folder: Path, *, users: int = 300, seed: int = 3) -> pd.DataFrame:
    """A web analytics export: user_id, event, timestamp (naive, microseconds), platform;
    gzip-compressed."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        t = pd.Timestamp("2025-03-01 08:00") + pd.Timedelta(minutes=int(rng.integers(0, 72000)))
        for _visit in range(int(rng.integers(1, 4))):
            step = 0
            while True:
                page = PAGES[min(step, 7)] if rng.random() < 0.8 else str(rng.choice(PAGES[:5]))
                rows.append((f"U{u:04d}", page, t.strftime("%Y-%m-%d %H:%M:%S.%f"),
                             str(rng.choice(["desktop", "mobile"]))))
                t += pd.Timedelta(seconds=int(rng.integers(5, 300)))
                step += 1
                if page == "purchase" or rng.random() < 0.15:
                    break
            t += pd.Timedelta(hours=int(rng.integers(2, 100)))  # the next visit
    frame = pd.DataFrame(rows, columns=["user_id", "event", "timestamp", "platform"])
    with gzip.open(folder / "clicks.csv.gz", "wt", encoding="utf-8") as fh:
        frame.to_csv(fh, index=False)
    return frame


def write_users(folder: Path, users: int = 300) -> None:
    pd.DataFrame({"user_id": [f"U{u:04d}" for u in range(users)],
                  "segment": ["new", "loyal", "lapsed"] * (users // 3),
                  "signup_date": "2024-01-01"}).to_csv(folder / "users.csv", index=False)


def test_profiles_tell_events_customers_and_feedback(tmp_path: Path) -> None:
    write_clicks(tmp_path, users=40)
    write_users(tmp_path, users=30)
    (tmp_path / "survey.jsonl").write_text("\n".join(json.dumps(
        {"respondent_id": f"U{i:04d}", "submitted_at": f"2025-03-0{1 + i % 9}T10:00:00Z",
         "rating": 1 + i % 5, "comment": "ok" if i % 2 else "slow payment page"})
        for i in range(30)), encoding="utf-8")
    clicks = profile_export(tmp_path / "clicks.csv.gz", tmp_path)
    assert clicks.kind == "events" and clicks.roles == {
        "customer_id": "user_id", "event_time": "timestamp", "touchpoint": "event",
        "channel": "platform"}
    assert any("no time zone" in c for c in clicks.to_confirm)
    users = profile_export(tmp_path / "users.csv", tmp_path)
    assert users.kind == "customers" and users.roles == {"customer_id": "user_id"}
    survey = profile_export(tmp_path / "survey.jsonl", tmp_path)
    assert survey.kind == "feedback"
    assert survey.roles["csat"] == "rating" and survey.roles["text"] == "comment"
    assert survey.roles["event_time"] == "submitted_at" and survey.time["zone"] is True


def test_time_formats_epochs_and_cases(tmp_path: Path) -> None:
    pd.DataFrame({"case_id": ["A1", "A1", "A2", "A2"],
                  "activity": ["submit", "approve", "submit", "decline"],
                  "time": [1735725600000, 1735812000000, 1735725660000, 1735900000000]}
                 ).to_csv(tmp_path / "log.csv", index=False)
    pd.DataFrame({"customer_id": ["a", "a", "b"], "event_type": ["x", "y", "x"],
                  "when": ["05/03/2025 10:00", "06/03/2025 11:00", "13/03/2025 09:30"]}
                 ).to_csv(tmp_path / "local.csv", index=False)
    log = profile_export(tmp_path / "log.csv", tmp_path)
    assert log.kind == "events" and log.time == {"unit": "ms"}
    local = profile_export(tmp_path / "local.csv", tmp_path)
    assert local.time["formats"] == ["%d/%m/%Y %H:%M"]  # 13/03 rules out month first
    result = init_project(tmp_path / "proj", tmp_path)
    sources = yaml.safe_load((tmp_path / "proj" / "configs" / "sources.yaml").read_text())
    assert sources["sources"]["log"]["sessions"] == "none"  # a case is one journey
    assert sources["sources"]["log"]["fields"]["event_time"] == {"column": "time", "unit": "ms"}
    assert result.touchpoints["approve"] == "purchase" and "approve" in result.conversions


def test_stage_words() -> None:
    assert [guess_stage(t) for t in ("landing_page", "view_item", "add_to_cart",
                                     "order_tracking", "loyalty_points")] == [
        "awareness", "consideration", "purchase", "service", "loyalty"]


def test_init_writes_no_sample_config_and_refuses_to_overwrite(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    write_clicks(raw, users=30)
    result = init_project(tmp_path / "proj", raw)
    written = sorted(p.name for p in (tmp_path / "proj" / "configs").iterdir())
    assert written == ["journey.yaml", "report.yaml", "run.yaml", "sources.yaml"]
    report = yaml.safe_load((tmp_path / "proj" / "configs" / "report.yaml").read_text())
    assert report["rollouts"] == []
    assert "purchase" in result.conversions and "cd " in result.summary()
    with pytest.raises(FileExistsError, match="pass --force"):
        init_project(tmp_path / "proj", raw)
    (raw / "clicks.csv.gz").unlink()
    (raw / "notes.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no file looks like events"):
        init_project(tmp_path / "other", raw)


def test_a_retailers_dated_exports_become_customer_journeys_with_named_outcomes(
        tmp_path: Path) -> None:
    """Line items (a value, no event column, a store id), dated coupon redemptions: each
    file's events are named after it, nothing is cut into 30-minute visits, a purchase every
    household makes is not the conversion, and both are counted as outcomes."""
    raw = tmp_path / "raw"
    raw.mkdir()
    rng = np.random.default_rng(5)
    times = pd.Timestamp("2017-01-01 09:00") + pd.to_timedelta(rng.integers(0, 10**7, 400),
                                                               unit="s")
    pd.DataFrame({"household_id": rng.integers(1, 41, 400), "store_id": rng.integers(1, 4, 400),
                  "basket_id": rng.integers(1, 120, 400), "sales_value": rng.uniform(1, 9, 400),
                  "transaction_timestamp": times}).to_parquet(raw / "transactions.parquet")
    pd.DataFrame({"household_id": [3, 3, 7], "coupon_upc": [11, 12, 11],
                  "redemption_date": pd.to_datetime(["2017-02-01", "2017-03-05", "2017-02-11"])}
                 ).to_parquet(raw / "coupon_redemptions.parquet")
    pd.DataFrame({"household_id": [3, 7, 7], "campaign_id": [1, 1, 2]}).to_parquet(
        raw / "campaigns.parquet")  # undated: dated by the descriptions' start date
    pd.DataFrame({"campaign_id": [1, 2], "campaign_type": ["Type A", "Type B"],
                  "end_date": pd.to_datetime(["2017-03-01", "2017-04-01"]),
                  "start_date": pd.to_datetime(["2017-02-01", "2017-03-01"])}).to_parquet(
        raw / "campaign_descriptions.parquet")
    result = init_project(tmp_path / "proj", raw)
    sources = yaml.safe_load((tmp_path / "proj" / "configs" / "sources.yaml").read_text())
    tx, red = sources["sources"]["transactions"], sources["sources"]["coupon_redemptions"]
    assert tx["rollup"] == {"by": ["basket_id"], "sum": ["sales_value"],
                            "min": ["transaction_timestamp"],
                            "first": ["household_id", "store_id"], "count": "lines"}
    assert (tx["fields"]["store_id"], tx["fields"]["lines"]) == (
        {"column": "store_id"}, {"column": "lines", "type": "int"})
    camp = sources["sources"]["campaigns"]
    assert camp["join"] == {"source": "campaign_descriptions", "on": "campaign_id"}
    assert camp["fields"]["event_time"] == {"column": "start_date"}
    assert camp["fields"]["campaign_type"] == {"column": "campaign_type"}
    assert sources["sources"]["campaign_descriptions"] == {
        "kind": "lookup", "files": "campaign_descriptions.parquet"}
    assert (tx["fields"]["touchpoint"], tx["fields"]["channel"], tx["sessions"]) == (
        "purchase", "store", "none")
    assert (red["fields"]["touchpoint"], red["sessions"]) == ("coupon_redemption", "none")
    journey = yaml.safe_load((tmp_path / "proj" / "configs" / "journey.yaml").read_text())
    assert result.conversions == ["coupon_redemption"] == journey["conversion_touchpoints"]
    assert journey["outcomes"] == {"coupon_redemption": ["coupon_redemption"],
                                   "purchase": ["purchase"]}
    assert any("['purchase'] reach 100% of the customers read" in c for c in result.to_confirm)


@pytest.mark.slow
def test_cjm_init_then_cjm_run_with_no_flag(tmp_path: Path) -> None:
    raw = tmp_path / "exports"
    raw.mkdir()
    clicks = write_clicks(raw)
    write_users(raw)
    rng = np.random.default_rng(5)
    survey = pd.DataFrame({"user_id": [f"U{int(u):04d}" for u in rng.integers(0, 300, 400)],
                           "submitted_at": [f"2025-03-{1 + i % 28:02d}T10:00:00Z"
                                            for i in range(400)],
                           "rating": rng.integers(1, 6, 400),
                           "page": rng.choice(PAGES, 400),
                           "comment": rng.choice(["slow payment page", "great products",
                                                  "could not find help", "fine"], 400)})
    (raw / "survey.jsonl").write_text(survey.to_json(orient="records", lines=True))
    project = tmp_path / "project"
    init = _cjm("init", str(project), "--raw", str(raw), cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "clicks.csv.gz: events" in init.stdout and "users.csv: customers" in init.stdout
    assert "survey.jsonl: feedback" in init.stdout
    done = _cjm("run", cwd=project)
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    status = {n["notebook"]: n["status"] for n in manifest["notebooks"]}
    assert status == {"01_collect": "succeeded", "02_journeys": "succeeded",
                      "03_voice": "succeeded", "04_pilot_design": "skipped",
                      "05_pilot_eval": "skipped", "06_report": "succeeded"}
    # CSAT per touchpoint equals pandas on the raw survey (the ratings of each page)
    voice = pd.read_parquet(run_dir / "tables" / "voice_survey_metrics.parquet")
    by_page = voice[voice["level"] == "touchpoint"].set_index("group")["csat_mean"]
    expected_csat = survey.groupby("page")["rating"].mean()
    assert by_page.sort_index().to_numpy() == pytest.approx(
        expected_csat[by_page.index].sort_index().to_numpy())
    # the directly-follows counts equal pandas on the raw export: visits split after 30
    # minutes without an event, as the proposed config derives them
    expected = directly_follows(sessionise(clicks))
    got = pd.read_parquet(run_dir / "tables" / "journeys_transitions.parquet").set_index(
        ["source", "target"])["count"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False,
                                   check_dtype=False)
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Funnel: to conversion" in report and "Checkout" not in report


def test_clickstream_with_semicolons_date_parts_and_only_sessions(tmp_path: Path) -> None:
    """A clickstream export as the UCI e-shop data: ';'-separated, the date in year/month/day
    columns, a click counter, only a session id, numeric page and category codes."""
    rows = ["year;month;day;order;country;session ID;page 1 (main category);price;page"]
    rows += [f"2008;4;{1 + s % 3};{k + 1};29;{s};{1 + (s + k) % 4};{28 + k};{1 + k % 5}"
             for s in range(1, 30) for k in range(1 + s % 4)]
    with gzip.open(tmp_path / "e-shop clothing.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(rows) + "\n")
    prof = profile_export(tmp_path / "e-shop clothing.csv.gz", tmp_path)
    assert prof.kind == "events" and prof.delimiter == ";"
    assert prof.time["date_parts"] == {"year": "year", "month": "month", "day": "day"}
    assert prof.roles["customer_id"] == prof.roles["session_id"] == "session ID"
    # 'page' holds page numbers: the category names the step; 'price' is no transaction value
    assert prof.roles["touchpoint"] == "page 1 (main category)" and "value" not in prof.roles
    assert any("each session" in c for c in prof.to_confirm)
    result = init_project(tmp_path / "project", tmp_path)
    spec = yaml.safe_load((tmp_path / "project" / "configs" / "sources.yaml").read_text())
    source = spec["sources"]["e_shop_clothing"]
    assert source["delimiter"] == ";" and source["identifiers"] == {"customer": "session ID"}
    assert source["fields"]["event_time"] == {"date_parts": {"year": "year", "month": "month",
                                                             "day": "day"}}
    journey = yaml.safe_load((tmp_path / "project" / "configs" / "journey.yaml").read_text())
    assert journey["touchpoints"]["1"]["label"] == "page 1 (main category) 1"
    assert any("codes of 'page 1 (main category)'" in c for c in result.to_confirm)
