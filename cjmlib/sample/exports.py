"""The sample's operational exports: CRM customers and orders, web, app, contact centre, e-mail.

Each writer takes the :class:`~cjmlib.sample.generator.SampleGenerator`, the people and the
clean events, writes one raw file the way its source system would (own identifiers, time
formats, typing habits, duplicates and corrupted rows) and returns the file's description
for ``ground_truth.json``. The phone formatters show how the CRM and the contact centre type
a number.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cjmlib.sample.catalogue import (
    APP_EVENT,
    APP_SHIFT_WEEK,
    PLACEHOLDER_EMAIL,
    PLACEHOLDER_PHONE,
    WEB_EVENT,
    WEB_PATH,
)
from cjmlib.sample.order import apply_row_plan
from cjmlib.sample.text import STRING, format_times, json_fields, write_csv, write_lines

if TYPE_CHECKING:
    from cjmlib.sample.generator import SampleGenerator


def write_crm_customers(gen: SampleGenerator, people: pd.DataFrame, ev: pd.DataFrame,
                        name: str) -> str:
    rng = gen.rng
    c = people[people["kind"] == "registered"]
    # CRM agents type e-mails with capitals and stray spaces
    shout = rng.random(len(c)) < 0.3
    space = rng.random(len(c)) < 0.05
    order = rng.permutation(len(c))
    gen.save(name, _write_crm_rows, c, shout, space, order, gen.out / name)
    return "CRM customer master (e-mails and phones typed by agents, placeholders included)"


def _write_crm_rows(c: pd.DataFrame, shout: np.ndarray, space: np.ndarray, order: np.ndarray,
                    path: Path) -> None:
    """The CRM customers' text from the drawn parts (``c``: the registered people)."""
    email = c["email"].astype(object)
    email = np.where(shout & email.notna() & (email != PLACEHOLDER_EMAIL),
                     email.str.title(), email)
    email = np.where(space & pd.notna(email), pd.Series(email).astype(str) + " ", email)
    phone = _format_phones_crm(c["phone_e164"])
    df = pd.DataFrame({
        "customer_no": c["crm_id"], "first_name": c["first_name"],
        "last_name": c["last_name"], "email": email, "phone": phone,
        "date_joined": format_times(c["date_joined"], "%d/%m/%Y"),
        "tier": c["tier"], "region": c["region"], "country": c["country"],
        "status": np.where(c["churn_date"].notna(), "churned", "active"),
        "churn_date": format_times(c["churn_date"], "%Y-%m-%d"),
        "marketing_opt_in": np.where(c["opt_in"], "Y", "N"),
    })
    write_csv(df.iloc[order], path)


def write_orders(gen: SampleGenerator, people: pd.DataFrame, ev: pd.DataFrame, name: str) -> str:
    rng = gen.rng
    o = ev[ev["order_id"].notna()]
    # the order system stamps the order shortly after the confirmation page
    lag = rng.integers(5, 90, len(o))
    store = rng.integers(1, 41, len(o))
    items = 1 + rng.poisson(1.2, len(o))
    online = (o["channel"] != "store").sum()
    gen.duplicates["near"] = {
        "touchpoint": "order_confirmation", "count": int(online),
        "sources": ["crm_orders.csv", "web_clickstream.csv + app_events.csv"],
        "max_time_difference_s": 90,
        "note": "every online order appears as a 'purchase' event in web/app analytics "
                "and as an order in the CRM, seconds apart",
    }
    gen.save(name, _write_order_rows, people, o, lag, store, items, gen.out / name)
    return "CRM orders (local time Europe/London, amounts in GBP)"


def _write_order_rows(people: pd.DataFrame, o: pd.DataFrame, lag: np.ndarray,
                      store: np.ndarray, items: np.ndarray, path: Path) -> None:
    """The orders' text from the drawn parts (``o``: the events with an order)."""
    crm = o["person_id"].map(people.set_index("person_id")["crm_id"])
    df = pd.DataFrame({
        "order_id": o["order_id"], "customer_no": crm,
        "order_ts": format_times(o["event_time"] + pd.to_timedelta(lag, unit="s"),
                                 "%Y-%m-%d %H:%M:%S", tz="Europe/London"),
        "channel": o["channel"],
        "store_id": np.where(o["channel"] == "store", [f"S{k:02d}" for k in store], ""),
        "amount_gbp": o["value"].map(lambda v: f"{v:.2f}"),
        "items": items,
    })
    write_csv(df.sort_values("order_id"), path)


def write_web(gen: SampleGenerator, people: pd.DataFrame, ev: pd.DataFrame, name: str) -> str:
    rng = gen.rng
    w = ev[(ev["channel"] == "web")]
    pid = _person_numbers(w["person_id"])
    cookie_no = _cookie_numbers(people, w)
    cookie = pd.Series(pid * 4 + cookie_no, index=w.index)  # one number per cookie
    crm = w["person_id"].map(people.set_index("person_id")["crm_id"])
    # sessions: a new one after 30 minutes of inactivity (as the analytics tool does)
    gap = w.groupby("person_id")["event_time"].diff().dt.total_seconds()
    new = gap.isna() | (gap > 1800) | (cookie != cookie.shift())
    sess_no = new.cumsum()
    # logged in for a whole session with probability 0.55; checkout requires login;
    # the first session of every cookie of a registered customer is logged in, so every
    # cookie can be linked to its customer
    sess_login = pd.Series(rng.random(sess_no.max() + 1) < 0.55)
    logged = sess_no.map(sess_login).to_numpy()
    needs = w["touchpoint"].isin(["payment", "order_confirmation", "order_tracking",
                                  "returns", "loyalty_rewards"])
    sess_needs = needs.groupby(sess_no).transform("any").to_numpy()
    first_sess = sess_no == sess_no.groupby(cookie).transform("min")
    logged = (logged | sess_needs | first_sess.to_numpy()) & crm.notna().to_numpy()

    # corrupted values keep the columns' string type, so that the rows concatenate cheaply
    def bad_time(r):
        r["event_ts"] = pd.array(rng.choice(["N/A", "31/02/2026 25:00",
                                             "2026-13-45T10:00:00Z", "yesterday"],
                                            size=len(r)), dtype=STRING)
        return r

    def no_id(r):
        r["cookie_id"] = pd.array([""] * len(r), dtype=STRING)
        r["user_id"] = ""
        return r

    def negative(r):
        r["dwell_ms"] = -rng.integers(100, 5000, len(r))
        return r

    def unknown(r):
        r["event_name"] = "debug_ping"
        return r

    plan = gen.row_plan(len(w), name, duplicates=0.003,
                        corruptions={"unparseable_time": bad_time, "missing_id": no_id,
                                     "negative_duration": negative,
                                     "unknown_touchpoint": unknown})
    gen.save(name, _write_web_rows, ev, w, pid, cookie_no, crm, sess_no, logged, plan,
             gen.out / name)
    return "web analytics export (UTC ISO times, cookie ids, user_id when logged in)"


def _write_web_rows(ev: pd.DataFrame, w: pd.DataFrame, pid: np.ndarray, cookie_no: np.ndarray,
                    crm: pd.Series, sess_no: pd.Series, logged: np.ndarray, plan: pd.DataFrame,
                    path: Path) -> None:
    """The web export's text from its drawn parts (``w``: the web events)."""
    cookie_id = _cookie_ids(pid, cookie_no, w.index)
    prod = (pid * 31 + w["step"].to_numpy() * 17) % 5000
    ref = np.where(w["touchpoint"] == "search_landing", "https://www.google.com/", "")
    from_email = w["journey_id"].isin(ev.loc[ev["touchpoint"] == "email_click", "journey_id"])
    ref = np.where(from_email & (w["step"] == 1), "utm_source=newsletter", ref)
    df = pd.DataFrame({
        "event_ts": format_times(w["event_time"], "%Y-%m-%dT%H:%M:%SZ", unit="ms"),
        "cookie_id": cookie_id,
        "user_id": np.where(logged, crm, ""),
        "session_id": _joined(w.index, pc.utf8_slice_codeunits(pa.array(cookie_id), -8),
                              ".", _digits(sess_no.to_numpy())),
        "event_name": w["touchpoint"].map(WEB_EVENT),
        "page_path": _web_paths(w["touchpoint"], prod),
        "referrer": ref,
        "dwell_ms": (w["duration_s"] * 1000).round().astype("Int64"),
        "order_id": w["order_id"].fillna(""),
    })
    write_csv(apply_row_plan(df, plan), path)


def write_app(gen: SampleGenerator, people: pd.DataFrame, ev: pd.DataFrame, name: str) -> str:
    rng = gen.rng
    a = ev[ev["channel"] == "app"]
    ios = rng.random(len(a)) < 0.6

    def no_id(r):
        r["device_id"], r["user_id"] = "", ""
        return r

    def bad_time(r):
        r["event_timestamp"] = "-"
        return r

    plan = gen.row_plan(len(a), name, duplicates=0.002,
                        corruptions={"missing_id": no_id, "unparseable_time": bad_time})
    gen.save(name, _write_app_rows, gen, people, a, ios, plan, gen.out / name)
    return "app SDK export (epoch milliseconds, device ids, always logged in)"


def _write_app_rows(gen: SampleGenerator, people: pd.DataFrame, a: pd.DataFrame,
                    ios: np.ndarray, plan: pd.DataFrame, path: Path) -> None:
    """The app export's text from its drawn parts (``a``: the app events)."""
    info = people.set_index("person_id")
    shift = gen.start + pd.Timedelta(weeks=APP_SHIFT_WEEK)
    version = np.where(a["event_time"] >= shift, "5.2.0",
                       np.where(a["event_time"] >= gen.start + pd.Timedelta(weeks=8),
                                "5.1.3", "5.0.9"))
    df = pd.DataFrame({
        "device_id": a["person_id"].map(info["device_id"]),
        "user_id": a["person_id"].map(info["crm_id"]),
        "event_name": a["touchpoint"].map(APP_EVENT),
        "event_timestamp": (a["event_time"] - pd.Timestamp(0, tz="UTC"))
        // pd.Timedelta(milliseconds=1),
        "engagement_time_msec": (a["duration_s"] * 1000).round().astype("Int64"),
        "app_version": version,
        "platform": np.where(ios, "iOS", "Android"),
        "order_id": a["order_id"].fillna(""),
    })
    write_csv(apply_row_plan(df, plan), path)


def write_contacts(gen: SampleGenerator, people: pd.DataFrame, ev: pd.DataFrame, name: str) -> str:
    rng = gen.rng
    c = ev[ev["channel"].isin(["call_center", "chat"])].copy()
    info = people.set_index("person_id")
    phone = c["person_id"].map(info["phone_e164"])
    crm = c["person_id"].map(info["crm_id"])
    usable = phone.notna() & (phone != PLACEHOLDER_PHONE)
    is_call = c["channel"] == "call_center"
    # callers are identified by their number; the agent types the account number
    # only sometimes, and always when the number is unknown
    show_acct = (rng.random(len(c)) < 0.3) | ~usable | ~is_call
    queue = np.where(c["touchpoint"] == "support_call",
                     rng.choice(["payments", "delivery", "returns", "general"], len(c),
                                p=[0.45, 0.25, 0.15, 0.15]), "web_chat")
    df = pd.DataFrame({
        "contact_id": [f"K{k:08d}" for k in 10**7 + rng.choice(9 * 10**7, len(c),
                                                               replace=False)],
        "media": np.where(is_call, "voice", "chat"),
        "caller_number": np.where(is_call & usable,
                                  phone.map(lambda x: _format_phone_national(x, rng)
                                            if isinstance(x, str) else ""), ""),
        "account_no": np.where(show_acct, crm, ""),
        "contact_start": format_times(c["event_time"], "%d/%m/%Y %H:%M:%S",
                                      tz="Europe/London"),
        "duration_sec": c["duration_s"].round().astype(int),
        "queue": queue,
        "resolved": np.where(rng.random(len(c)) < 0.7, "Y", "N"),
    })

    def negative(r):
        r["duration_sec"] = -r["duration_sec"]
        return r

    def bad_time(r):
        r["contact_start"] = rng.choice(["32/01/2026 10:00:00", "00/00/0000 00:00:00"],
                                        size=len(r))
        return r

    df = gen.inject(df, name, {"negative_duration": negative,
                               "unparseable_time": bad_time})
    gen.save(name, write_csv, df, gen.out / name)
    return "contact-centre log: calls and chats (local time, day-first dates)"


def write_email(gen: SampleGenerator, people: pd.DataFrame, emails: pd.DataFrame, name: str) -> str:
    rng = gen.rng
    k = max(3, round(0.001 * len(emails)))
    # a cut-off copy of the first half of these lines, written just before each
    pos = np.sort(rng.choice(len(emails), size=k, replace=False))
    gen.mark_dirty(name, "unparseable_record", k)
    gen.save(name, _write_email_lines, people, emails, pos, gen.out / name)
    return "e-mail service provider events: send/open/click, one JSON object per line"


def _write_email_lines(people: pd.DataFrame, emails: pd.DataFrame, pos: np.ndarray,
                       path: Path) -> None:
    """The e-mail events as JSON lines, with a cut-off copy of line ``pos[i]`` before it."""
    info = people.set_index("person_id")
    addr = emails["person_id"].map(info["email"]).str.lower()
    # json.dumps of {"email": ..., "campaign_id": ..., "event": ..., "ts": ...}, field-wise
    ts = format_times(emails["time"], "%Y-%m-%dT%H:%M:%S+00:00")
    lines = pc.binary_join_element_wise(
        '{"email": ', json_fields(addr), ', "campaign_id": ', json_fields(emails["campaign"]),
        ', "event": ', json_fields(emails["event"]), ', "ts": ', json_fields(ts), "}", "")
    k = len(pos)
    cut = [line[: len(line) // 2] for line in lines.take(pa.array(pos)).to_pylist()]
    order = np.insert(np.arange(len(lines)), pos, len(lines) + np.arange(k))
    lines = pa.concat_arrays([lines, pa.array(cut, type=pa.string())]).take(pa.array(order))
    write_lines(lines, path)


def _person_numbers(person_id: pd.Series) -> np.ndarray:
    """The number in each person id (``P0001234`` -> 1234)."""
    text = pc.utf8_slice_codeunits(pa.array(person_id, type=pa.string()), 1)
    return pc.cast(text, pa.int64()).to_numpy()


def _cookie_numbers(people: pd.DataFrame, ev: pd.DataFrame) -> np.ndarray:
    """Which of its person's cookies (0, 1 or 2) each web event carries: a person's journeys
    spread over their cookies."""
    info = people.set_index("person_id")
    n_cookies = ev["person_id"].map(info["n_cookies"]).fillna(1).astype(int).to_numpy()
    return (ev["journey_id"].to_numpy() * 7919) % np.maximum(n_cookies, 1)


def _cookie_ids(pid: np.ndarray, cookie_no: np.ndarray, index: pd.Index) -> pd.Series:
    """Analytics cookie ids ``GA1.2.<9 digits>.<10 digits>`` of person numbers and cookies."""
    return _joined(index, "GA1.2.", _digits((pid * 104729 + cookie_no * 7) % 10**9, width=9),
                   ".", _digits(1600000000 + pid))


def _digits(numbers: np.ndarray, width: int = 0) -> pa.Array:
    """Non-negative integers as decimal text, zero-padded to ``width`` (``f"{x:0{width}d}"``)."""
    text = pc.cast(pa.array(numbers), pa.string())
    return pc.utf8_lpad(text, width=width, padding="0") if width else text


def _joined(index: pd.Index, *parts: str | pa.Array) -> pd.Series:
    """The parts (texts or arrays of texts) concatenated element-wise, as a string Series."""
    return pd.Series(pc.binary_join_element_wise(*parts, ""), index=index, dtype=STRING)


def _web_paths(touchpoint: pd.Series, product: np.ndarray) -> pd.Series:
    """Page paths of web events: ``WEB_PATH`` with ``SKU<5 digits>`` of the product filled in
    (``/help/article-<5 digits>`` for help pages), as ``template.format(...)`` would."""
    codes, names = pd.factorize(touchpoint)
    if (codes < 0).any():
        raise ValueError("a web event has no touchpoint")
    left, right, fill = [], [], []
    for name in names:
        template = WEB_PATH[name]
        if "{}" in template:
            # the product's digits never take part in the replacement, so it acts on each side
            a, b = template.format("SKU\x00").split("\x00")
            left.append(a.replace("/help/SKU", "/help/article-"))
            right.append(b.replace("/help/SKU", "/help/article-"))
            fill.append(True)
        else:
            left.append(template.replace("/help/SKU", "/help/article-"))
            right.append("")
            fill.append(False)
    take = pa.array(codes)
    sku = pc.if_else(pa.array(np.asarray(fill, dtype=bool)[codes]),
                     _digits(product, width=5), "")
    return _joined(touchpoint.index, pa.array(left).take(take), sku,
                   pa.array(right).take(take))


def _format_phone_crm(e164: object) -> object:
    """CRM style: '+44 7700 900123' / '+86 138 0013 8000'."""
    if not isinstance(e164, str) or e164 == PLACEHOLDER_PHONE:
        return e164
    if e164.startswith("+44"):
        d = e164[3:]
        return f"+44 {d[:4]} {d[4:]}"
    d = e164[3:]
    return f"+86 {d[:3]} {d[3:7]} {d[7:]}"


def _format_phones_crm(e164: pd.Series) -> np.ndarray:
    """``e164.map(_format_phone_crm)`` column-wise (objects: missing values stay ``None``)."""
    text = pa.array(e164, type=pa.string(), from_pandas=True)
    d = pc.utf8_slice_codeunits(text, 3)
    uk = pc.binary_join_element_wise("+44 ", pc.utf8_slice_codeunits(d, 0, 4), " ",
                                     pc.utf8_slice_codeunits(d, 4), "")
    cn = pc.binary_join_element_wise("+86 ", pc.utf8_slice_codeunits(d, 0, 3), " ",
                                     pc.utf8_slice_codeunits(d, 3, 7), " ",
                                     pc.utf8_slice_codeunits(d, 7), "")
    typed = pc.if_else(pc.starts_with(text, "+44"), uk, cn)
    out = pc.if_else(pc.equal(text, PLACEHOLDER_PHONE), text, typed)
    return out.to_numpy(zero_copy_only=False)


def _format_phone_national(e164: str, rng: np.random.Generator) -> str:
    """Contact-centre style: national UK formats, international for China."""
    if e164.startswith("+44"):
        d = "0" + e164[3:]
        style = rng.integers(0, 3)
        return (d, f"{d[:5]} {d[5:]}", f"({d[:5]}) {d[5:8]}-{d[8:]}")[style]
    d = e164[3:]
    return ("0086" + d) if rng.random() < 0.5 else f"+86-{d[:3]}-{d[3:7]}-{d[7:]}"
