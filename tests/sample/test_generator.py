"""The generator really plants what ground_truth.json says.

Every check recomputes from the raw files (or the truth tables) with plain pandas, a
union-find written here, statsmodels or scipy, never with the generator's own helpers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import phonenumbers
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from cjmlib.pilots.design import assign_variants
from cjmlib.sample.generator import make_sample

REQUIRED_KEYS = ("n_customers", "pain_point_touchpoint", "loop", "churn_switch", "ab_lift",
                 "store_effect")


@pytest.fixture(scope="module")
def big_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A larger sample for the statistical checks (6,000 people)."""
    out = tmp_path_factory.mktemp("big") / "raw"
    make_sample(out, n_customers=6000, seed=11)
    return out


def _truth(folder: Path) -> dict:
    return json.loads((folder / "ground_truth.json").read_text(encoding="utf-8"))


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- determinism and shape -----------------------------------------------------------------

def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path: Path) -> None:
    make_sample(tmp_path / "a", n_customers=300, seed=3)
    make_sample(tmp_path / "b", n_customers=300, seed=3)
    make_sample(tmp_path / "c", n_customers=300, seed=4)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")["web_clickstream.csv"] != _digest(tmp_path / "c")[
        "web_clickstream.csv"]


def test_ground_truth_has_the_contract_keys(ground_truth: dict) -> None:
    for key in REQUIRED_KEYS:
        assert key in ground_truth
    assert len(ground_truth["loop"]) == 2
    assert ground_truth["churn_switch"]["from"] == "web"
    assert ground_truth["churn_switch"]["to"] == "call_center"
    for metric in ("conversion", "csat_mean"):
        lift = ground_truth["ab_lift"][metric]
        assert lift["difference"] == pytest.approx(lift["treatment"] - lift["control"])
    assert ground_truth["store_effect"]["effect"] > 0


def test_listed_files_exist_and_encodings_are_as_exported(sample_dir: Path,
                                                           ground_truth: dict) -> None:
    for name in ground_truth["files"]:
        assert (sample_dir / name.rstrip("/")).exists(), name
    assert (sample_dir / "surveys_global.csv").read_bytes()[:3] == b"\xef\xbb\xbf"  # BOM
    raw_cn = (sample_dir / "surveys_cn.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw_cn.decode("utf-8")
    header = raw_cn.decode("gb18030").splitlines()[0]
    assert "满意度" in header and "触点" in header


def test_truth_event_count_matches(sample_dir: Path, ground_truth: dict) -> None:
    events = pd.read_parquet(sample_dir / "ground_truth" / "events.parquet")
    assert len(events) == ground_truth["n_events"]
    assert events["event_time"].between(pd.Timestamp(ground_truth["window"]["start"]),
                                        pd.Timestamp(ground_truth["window"]["end"])).all()
    assert set(events["touchpoint"]) <= set(ground_truth["touchpoints"])


# ---- identity: a reference stitching over the raw files ----------------------------------------

class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, ids: list[str]) -> None:
        ids = [i for i in ids if i]
        for i in ids:
            self.find(i)
        for a, b in zip(ids, ids[1:], strict=False):
            self.parent[self.find(a)] = self.find(b)

    def components(self) -> int:
        return len({self.find(x) for x in self.parent})


PLACEHOLDERS = {"noemail@example.com", "00000000000"}


def _email(value: object, *, normalise: bool) -> str:
    if not isinstance(value, str) or not value.strip():
        return ""
    if value.strip().lower() in PLACEHOLDERS:
        return "placeholder:" + value.strip().lower()
    return "e:" + (value.strip().lower() if normalise else value)


def _phone(value: object, *, normalise: bool) -> str:
    if not isinstance(value, str) or not value.strip():
        return ""
    if value.strip() in PLACEHOLDERS:
        return "placeholder:" + value.strip()
    if not normalise:
        return "p:" + value
    number = phonenumbers.parse(value, "GB")
    return "p:" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _reference_stitch(raw: Path, *, normalise: bool = True, drop_placeholders: bool = True
                      ) -> tuple[int, int]:
    """Number of customers and size of the largest component."""
    uf = _UnionFind()

    def add(*ids: str) -> None:
        ids = tuple(i for i in ids
                    if i and not (drop_placeholders and i.startswith("placeholder:")))
        if ids:
            uf.union(list(ids))

    def s(v: object, prefix: str) -> str:
        return f"{prefix}:{v}" if isinstance(v, str) and v.strip() else ""

    read = {"dtype": str, "keep_default_na": False}
    crm = pd.read_csv(raw / "crm_customers.csv", **read)
    for r in crm.itertuples():
        add(s(r.customer_no, "c"), _email(r.email, normalise=normalise),
            _phone(r.phone, normalise=normalise))
    web = pd.read_csv(raw / "web_clickstream.csv", **read)
    for cookie, user in web[["cookie_id", "user_id"]].drop_duplicates().itertuples(index=False):
        add(s(cookie, "k"), s(user, "c"))
    app = pd.read_csv(raw / "app_events.csv", **read)
    for device, user in app[["device_id", "user_id"]].drop_duplicates().itertuples(index=False):
        add(s(device, "d"), s(user, "c"))
    cc = pd.read_csv(raw / "contact_center.csv", **read)
    for r in cc.itertuples():
        add(_phone(r.caller_number, normalise=normalise), s(r.account_no, "c"))
    for line in (raw / "email_events.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            add(_email(json.loads(line)["email"], normalise=normalise))
        except json.JSONDecodeError:
            continue  # a cut-off line carries no usable identifier
    sg = pd.read_csv(raw / "surveys_global.csv", encoding="utf-8-sig", **read)
    for r in sg.itertuples():
        add(_email(r.respondent_email, normalise=normalise), s(r.account_number, "c"))
    scn = pd.read_csv(raw / "surveys_cn.csv", encoding="gb18030", **read)
    for email, acct in scn[["客户邮箱", "会员号"]].itertuples(index=False):
        add(_email(email, normalise=normalise), s(acct, "c"))
    rel = pd.read_csv(raw / "relationship_survey.csv", **read)
    for acct in rel["account_number"]:
        add(s(acct, "c"))
    for line in (raw / "social_posts.jsonl").read_text(encoding="utf-8").splitlines():
        post = json.loads(line)
        add(s(post["handle"], "h"), _email(post["matched_email"], normalise=normalise),
            s(post["matched_account"], "c"))
    orders = pd.read_csv(raw / "crm_orders.csv", **read)
    for acct in orders["customer_no"].unique():
        add(s(acct, "c"))
    sizes: dict[str, int] = {}
    for node in uf.parent:
        root = uf.find(node)
        sizes[root] = sizes.get(root, 0) + 1
    return len(sizes), max(sizes.values())


def test_correct_stitching_finds_exactly_n_customers(sample_dir: Path, ground_truth: dict
                                                      ) -> None:
    n, largest = _reference_stitch(sample_dir)
    assert n == ground_truth["n_customers"]
    assert largest < 20  # no giant component once placeholders are ignored


def test_identity_traps_are_real(sample_dir: Path, ground_truth: dict) -> None:
    """Without normalisation customers split; without placeholder filtering they merge."""
    n_raw, _ = _reference_stitch(sample_dir, normalise=False)
    assert n_raw > ground_truth["n_customers"]
    _, largest = _reference_stitch(sample_dir, drop_placeholders=False)
    placeholder_customers = ground_truth["identity"]["customers_with_placeholder_email"]
    assert largest > placeholder_customers  # they all collapse into one component


# ---- planted dirty rows and duplicates ---------------------------------------------------------

def _dirty_web(web: pd.DataFrame) -> dict[str, pd.Series]:
    known = {"landing", "page_view_home", "view_item", "compare_items", "view_reviews",
             "view_cart", "checkout_delivery", "checkout_payment", "purchase", "help_article",
             "track_order", "start_return", "rewards_page"}
    time = pd.to_datetime(web["event_ts"], format="ISO8601", errors="coerce", utc=True)
    dwell = pd.to_numeric(web["dwell_ms"], errors="coerce")
    return {
        "unparseable_time": time.isna(),
        "missing_id": (web["cookie_id"] == "") & (web["user_id"] == ""),
        "negative_duration": dwell < 0,
        "unknown_touchpoint": ~web["event_name"].isin(known),
    }


def test_planted_dirty_rows_are_there(sample_dir: Path, ground_truth: dict) -> None:
    dirty = ground_truth["dirty_rows"]
    read = {"dtype": str, "keep_default_na": False}
    web = pd.read_csv(sample_dir / "web_clickstream.csv", **read)
    found = {k: int(v.sum()) for k, v in _dirty_web(web).items()}
    assert found == dirty["web_clickstream.csv"]

    app = pd.read_csv(sample_dir / "app_events.csv", **read)
    assert int(((app["device_id"] == "") & (app["user_id"] == "")).sum()) == dirty[
        "app_events.csv"]["missing_id"]
    assert int(pd.to_numeric(app["event_timestamp"], errors="coerce").isna().sum()) == dirty[
        "app_events.csv"]["unparseable_time"]

    cc = pd.read_csv(sample_dir / "contact_center.csv", **read)
    start = pd.to_datetime(cc["contact_start"], format="%d/%m/%Y %H:%M:%S", errors="coerce")
    assert int(start.isna().sum()) == dirty["contact_center.csv"]["unparseable_time"]
    assert int((cc["duration_sec"].astype(int) < 0).sum()) == dirty["contact_center.csv"][
        "negative_duration"]

    bad_lines = 0
    for line in (sample_dir / "email_events.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            json.loads(line)
        except json.JSONDecodeError:
            bad_lines += 1
    assert bad_lines == dirty["email_events.jsonl"]["unparseable_record"]

    sg = pd.read_csv(sample_dir / "surveys_global.csv", encoding="utf-8-sig", **read)
    assert int((~sg["csat"].astype(int).between(1, 5)).sum()) == dirty["surveys_global.csv"][
        "csat_out_of_range"]
    assert int((~sg["nps"].astype(int).between(0, 10)).sum()) == dirty["surveys_global.csv"][
        "nps_out_of_range"]
    scn = pd.read_csv(sample_dir / "surveys_cn.csv", encoding="gb18030", **read)
    assert int((~scn["满意度"].astype(int).between(1, 5)).sum()) == dirty["surveys_cn.csv"][
        "csat_out_of_range"]


def test_planted_duplicates_are_there(sample_dir: Path, ground_truth: dict) -> None:
    read = {"dtype": str, "keep_default_na": False}
    web = pd.read_csv(sample_dir / "web_clickstream.csv", **read)
    clean = web[~pd.concat(_dirty_web(web), axis=1).any(axis=1)]
    assert int(clean.duplicated().sum()) == ground_truth["duplicates"]["exact"][
        "web_clickstream.csv"]
    orders = pd.read_csv(sample_dir / "crm_orders.csv", **read)
    online = orders[orders["channel"] != "store"]
    assert len(online) == ground_truth["duplicates"]["near"]["count"]
    # each online order is also a 'purchase' event in web or app analytics, seconds earlier
    app = pd.read_csv(sample_dir / "app_events.csv", **read)
    purchases = pd.concat([
        web.loc[web["event_name"] == "purchase", ["order_id", "event_ts"]].assign(
            t=lambda d: pd.to_datetime(d["event_ts"], format="ISO8601", errors="coerce",
                                       utc=True)),
        app.loc[app["event_name"] == "purchase", ["order_id", "event_timestamp"]].assign(
            t=lambda d: pd.to_datetime(pd.to_numeric(d["event_timestamp"], errors="coerce"),
                                       unit="ms", utc=True)),
    ]).dropna(subset=["t"]).drop_duplicates("order_id")
    merged = online.merge(purchases, on="order_id", how="left")
    assert merged["t"].notna().all()
    order_t = pd.to_datetime(merged["order_ts"]).dt.tz_localize("Europe/London").dt.tz_convert(
        "UTC")
    lag = (order_t - merged["t"]).dt.total_seconds()
    assert lag.between(-1, 91).all()


# ---- journeys: pain point, loop, churn switch ----------------------------------------------------

def test_pain_point_has_the_highest_exit_share_among_purchase_steps_and_lowest_csat(
        big_sample: Path) -> None:
    truth = _truth(big_sample)
    ev = pd.read_parquet(big_sample / "ground_truth" / "events.parquet")
    ev = ev[ev["journey_id"] >= 0].sort_values(["journey_id", "event_time"], kind="stable")
    last = ev.groupby("journey_id").tail(1)
    exits = last[~last["touchpoint"].isin(truth["conversion_touchpoints"])]
    journeys_at = ev.groupby("touchpoint")["journey_id"].nunique()
    exit_share = exits["touchpoint"].value_counts() / journeys_at
    funnel_steps = ["product_page", "cart", "delivery_options", "payment"]
    assert exit_share[funnel_steps].idxmax() == truth["pain_point_touchpoint"]

    sg = pd.read_csv(big_sample / "surveys_global.csv", encoding="utf-8-sig")
    sg = sg[sg["csat"].between(1, 5)]
    by_label = sg.groupby("touchpoint")["csat"].mean()
    assert by_label.idxmin() == "Checkout - Payment"
    assert by_label.drop("Checkout - Payment").min() - by_label["Checkout - Payment"] > 0.8
    payment_comments = sg.loc[sg["touchpoint"] == "Checkout - Payment", "comment"].dropna()
    assert payment_comments.str.contains("Payment|payment|card|declined").mean() > 0.3


def test_loop_is_the_most_frequent_back_and_forth(big_sample: Path) -> None:
    truth = _truth(big_sample)
    ev = pd.read_parquet(big_sample / "ground_truth" / "events.parquet")
    ev = ev[ev["journey_id"] >= 0].sort_values(["journey_id", "event_time"], kind="stable")
    g = ev.groupby("journey_id")["touchpoint"]
    a, b = g.shift(2), g.shift(1)
    bounce = ev[(a == ev["touchpoint"]) & (b != ev["touchpoint"]) & b.notna()]
    pairs = pd.Series([frozenset(p) for p in zip(bounce["touchpoint"], b[bounce.index],
                                                 strict=True)])
    top = pairs.map(lambda s: tuple(sorted(s))).value_counts()
    assert set(top.index[0]) == set(truth["loop"])
    assert top.iloc[0] > 2 * top.iloc[1]


def test_web_to_call_centre_switch_predicts_churn(big_sample: Path) -> None:
    persons = pd.read_csv(big_sample / "ground_truth" / "persons.csv")
    reg = persons[persons["kind"] == "registered"]
    churned = reg["churn_date"].notna()
    switched = reg["switched"].astype(bool)
    counts = np.array([churned[switched].sum(), churned[~switched].sum()])
    nobs = np.array([switched.sum(), (~switched).sum()])
    _, p = proportions_ztest(counts, nobs, alternative="larger")
    assert counts[0] / nobs[0] > 2 * counts[1] / nobs[1]
    assert p < 1e-6
    crm = pd.read_csv(big_sample / "crm_customers.csv")
    status = crm.set_index("customer_no")["status"]
    assert (status.loc[reg["crm_id"]].eq("churned").to_numpy() == churned.to_numpy()).all()


def test_app_release_shift_raises_payment_exits(big_sample: Path) -> None:
    truth = _truth(big_sample)
    shift = pd.Timestamp(truth["kpi_shift"]["start"])
    ev = pd.read_parquet(big_sample / "ground_truth" / "events.parquet")
    ev = ev[ev["journey_id"] >= 0].sort_values(["journey_id", "event_time"], kind="stable")
    nxt = ev.groupby("journey_id")["touchpoint"].shift(-1)
    pay = ev[(ev["touchpoint"] == "payment") & (ev["channel"] == "app")]
    left = nxt[pay.index].isna()
    before, after = left[pay["event_time"] < shift], left[pay["event_time"] >= shift]
    assert after.mean() > before.mean() + 0.05


# ---- pilots -------------------------------------------------------------------------------------

def test_ab_pilot_recovers_the_planted_lifts(big_sample: Path) -> None:
    truth = _truth(big_sample)["ab_lift"]
    units = pd.read_csv(big_sample / "pilot" / "ab_units.csv")
    # assignment is the salted hash of the unit id
    expected = assign_variants(units["unit_id"], salt=truth["salt"],
                               split=truth["planned_split"])
    assert (expected.to_numpy() == units["variant"].to_numpy()).all()
    # no sample ratio mismatch against the planned 50/50 split
    n = units["variant"].value_counts()
    assert stats.chisquare(n[["control", "treatment"]]).pvalue > 0.001
    t, c = units[units["variant"] == "treatment"], units[units["variant"] == "control"]
    low, high = confint_proportions_2indep(t["converted"].sum(), len(t), c["converted"].sum(),
                                           len(c), method="wald")
    assert low <= truth["conversion"]["difference"] <= high
    welch = stats.ttest_ind(t["csat"].dropna(), c["csat"].dropna(), equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert ci.low <= truth["csat_mean"]["difference"] <= ci.high
    assert welch.pvalue < 0.05


def test_store_pilot_has_the_planted_effect(big_sample: Path) -> None:
    truth = _truth(big_sample)["store_effect"]
    panel = pd.read_csv(big_sample / "pilot" / "store_panel.csv")
    assert sorted(panel.loc[panel["treated"] == 1, "unit"].unique()) == truth["treated_units"]
    fit = smf.ols("sales ~ treated:post + C(unit) + C(period)", data=panel).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(panel["unit"])[0]})
    low, high = fit.conf_int(alpha=0.01).loc["treated:post"]
    assert low <= truth["effect"] <= high
    foot = smf.ols("footfall ~ treated:post + C(unit) + C(period)", data=panel).fit()
    low, high = foot.conf_int(alpha=0.01).loc["treated:post"]
    assert low <= truth["effects"]["footfall"] <= high


# ---- voice: key driver, benchmark, personas, languages -------------------------------------------

def test_key_driver_has_the_largest_weight(big_sample: Path) -> None:
    truth = _truth(big_sample)["key_driver"]
    rel = pd.read_csv(big_sample / truth["file"])
    items = list(truth["items"])
    z = (rel[items] - rel[items].mean()) / rel[items].std()
    fit = smf.ols("y ~ " + " + ".join(items), data=z.assign(y=rel[truth["outcome"]])).fit()
    assert truth["items"][fit.params[items].idxmax()] == truth["driver"]


def test_benchmark_gap_is_on_payment(big_sample: Path) -> None:
    truth = _truth(big_sample)["benchmark"]
    bench = pd.read_csv(big_sample / truth["file"])
    means = bench.pivot_table(index="touchpoint", columns="brand", values="csat")
    gap = means["Contoso"] - means[truth["ours"]]
    assert gap.idxmax() == "Checkout - Payment"
    assert gap.max() > 1.0
    assert bench.groupby("respondent_id")["nps"].nunique().eq(1).all()


def test_persona_shares_match_the_plan(big_sample: Path) -> None:
    truth = _truth(big_sample)["personas"]
    persons = pd.read_csv(big_sample / "ground_truth" / "persons.csv")
    shares = persons.loc[persons["kind"] == "registered", "persona"].value_counts(normalize=True)
    for name, share in truth["shares"].items():
        assert abs(shares[name] - share) < 0.03


def test_comments_come_in_english_chinese_and_an_unsupported_language(sample_dir: Path) -> None:
    sg = pd.read_csv(sample_dir / "surveys_global.csv", encoding="utf-8-sig")
    assert {"en", "es"} <= set(sg["language"].dropna())
    scn = pd.read_csv(sample_dir / "surveys_cn.csv", encoding="gb18030")
    assert scn["评论"].dropna().str.contains("[\u4e00-\u9fff]").all()
