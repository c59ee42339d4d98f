"""How the sample's people behave: who they are, their journeys, e-mail campaigns, churn.

:func:`make_people` draws the persons (registered, anonymous, social-only) with names,
contact details, app devices, cookies and tiers; :func:`journeys` schedules the organic and
e-mail-click journeys, :func:`walk` runs them all through their persona's Markov chain (with
the planted app release shift and the stories of :mod:`cjmlib.sample.stories`, which draw
from their own stream), :func:`campaigns` sends the fortnightly e-mail campaigns and
:func:`churn` lets customers churn and drops their later journeys. Each step takes the
:class:`~cjmlib.sample.generator.SampleGenerator` and draws from its random stream, in the
order :meth:`~cjmlib.sample.generator.SampleGenerator.run` calls them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cjmlib.sample.catalogue import (
    ANONYMOUS,
    APP_SHIFT_PAYMENT,
    APP_SHIFT_WEEK,
    BASE,
    CHURN_HAZARD_OTHER,
    CHURN_HAZARD_SWITCH,
    CONVERSION_TOUCHPOINTS,
    DOMAINS,
    DOMAINS_CN,
    DWELL_MEDIAN_S,
    END,
    FIRST_EN,
    FIRST_ZH,
    LAST_EN,
    LAST_ZH,
    PERSONAS,
    PLACEHOLDER_EMAIL,
    PLACEHOLDER_PHONE,
    REGIONS_CN,
    REGIONS_GB,
    STATES,
    Persona,
)
from cjmlib.sample.clock import seconds
from cjmlib.sample.order import sort_rows
from cjmlib.sample.stories import StoryWalk, schedule_new_customers

if TYPE_CHECKING:
    from cjmlib.sample.generator import SampleGenerator


# state name -> row and column of the transition matrices
_S = {name: i for i, name in enumerate(STATES)}


def _attribute(personas: dict[str, Persona], name: str) -> dict[str, object]:
    """Persona name -> its attribute ``name`` (for ``Series.map``)."""
    return {key: getattr(p, name) for key, p in personas.items()}


# --------------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------------


def make_people(gen: SampleGenerator) -> pd.DataFrame:
    """One row per person: kind, persona, ids, names, contact details, app, cookies, tier."""
    rng, n = gen.rng, gen.n
    n_social_only = max(1, round(0.04 * n))
    n_anon = max(1, round(0.18 * n))
    n_reg = n - n_social_only - n_anon
    kind = np.array(["registered"] * n_reg + ["anonymous"] * n_anon
                    + ["social_only"] * n_social_only)
    p = pd.DataFrame({"person_id": [f"P{i:07d}" for i in range(n)], "kind": kind})
    shares = np.array([x.share for x in PERSONAS])
    persona = np.where(kind == "registered",
                       np.asarray([x.name for x in PERSONAS])[
                           rng.choice(len(PERSONAS), size=n, p=shares / shares.sum())],
                       np.where(kind == "anonymous", "anonymous", "social_only"))
    p["persona"] = persona
    reg = kind == "registered"
    # CRM ids are not in person order: exports never are.
    crm_numbers = 100_000 + rng.choice(40 * n, size=n, replace=False)
    p["crm_id"] = np.where(reg, [f"C{x:07d}" for x in crm_numbers], None)
    country = np.where(rng.random(n) < 0.2, "CN", "GB")
    p["country"] = country
    p["region"] = np.where(
        country == "CN",
        np.asarray(REGIONS_CN)[rng.integers(0, len(REGIONS_CN), n)],
        np.asarray(REGIONS_GB)[rng.integers(0, len(REGIONS_GB), n)])
    # names and contact details: English names, or Chinese ones with their pinyin e-mail
    fe, le_ = rng.integers(0, len(FIRST_EN), n), rng.integers(0, len(LAST_EN), n)
    fz, lz = rng.integers(0, len(FIRST_ZH), n), rng.integers(0, len(LAST_ZH), n)
    cn = country == "CN"
    first = np.where(cn, _names(FIRST_ZH, 0)[fz], np.asarray(FIRST_EN, dtype=object)[fe])
    last = np.where(cn, _names(LAST_ZH, 0)[lz], np.asarray(LAST_EN, dtype=object)[le_])
    number = pc.cast(pa.array(np.arange(n)), pa.string())
    local_en = pc.binary_join_element_wise(
        pa.array(np.asarray([x.lower() for x in FIRST_EN], dtype=object)[fe]), ".",
        pa.array(np.asarray([x.lower() for x in LAST_EN], dtype=object)[le_]), number, "")
    local_zh = pc.binary_join_element_wise(pa.array(_names(LAST_ZH, 1)[lz]),
                                           pa.array(_names(FIRST_ZH, 1)[fz]), number, "")
    email_local = pc.if_else(pa.array(cn), local_zh, local_en)
    p["first_name"], p["last_name"] = first, last
    dom = np.where(country == "CN",
                   np.asarray(DOMAINS_CN)[rng.integers(0, len(DOMAINS_CN), n)],
                   np.asarray(DOMAINS)[rng.integers(0, len(DOMAINS), n)])
    u = rng.random(n)
    email = pc.binary_join_element_wise(email_local, "@", pa.array(dom), "").to_numpy(
        zero_copy_only=False)
    email[~reg | (u < 0.04)] = None  # 4% of registered customers gave no e-mail
    junk = reg & (u >= 0.04) & (u < 0.05)  # 1% typed the CRM placeholder
    email[junk] = PLACEHOLDER_EMAIL
    p["email"] = email
    p["email_placeholder"] = junk
    # phones: unique mobile numbers in E.164
    numbers = 10**8 + rng.choice(9 * 10**8, size=n, replace=False)
    phone = np.empty(n, dtype=object)
    phone[cn] = [f"+86138{x % 10**8:08d}" for x in numbers[cn]]
    phone[~cn] = [f"+447{x:09d}" for x in numbers[~cn]]
    v = rng.random(n)
    phone[~reg | (v < 0.12)] = None
    pjunk = reg & (v >= 0.12) & (v < 0.13)
    phone[pjunk] = PLACEHOLDER_PHONE
    p["phone_e164"] = phone
    p["phone_placeholder"] = pjunk
    personas = {x.name: x for x in (*PERSONAS, ANONYMOUS)}
    # one uniform per person with a known persona, in person order (social-only: no draw)
    known = pd.Series(persona).isin(list(personas)).to_numpy()
    known_persona = pd.Series(persona[known])
    has_app = np.zeros(n, dtype=bool)
    has_app[known] = (rng.random(known.sum())
                      < known_persona.map(_attribute(personas, "has_app")).to_numpy())
    p["device_id"] = np.where(has_app & reg,
                              [f"dev-{x:012x}" for x in rng.integers(0, 2**48, n)], None)
    p["n_cookies"] = np.where(reg, 1 + rng.binomial(2, 0.3, n), np.where(kind == "anonymous",
                                                                        1, 0))
    tiers = np.array(["Bronze", "Silver", "Gold"])
    # rng.choice(3, p=tier_probs) per known person, as its draw: a uniform against the
    # cumulative probabilities
    u = rng.random(known.sum())
    tier_no = np.zeros(known.sum(), dtype=np.int64)
    for name, persona_ in personas.items():
        cdf = np.asarray(persona_.tier_probs, dtype=float).cumsum()
        cdf /= cdf[-1]
        mine = (known_persona == name).to_numpy()
        tier_no[mine] = cdf.searchsorted(u[mine], side="right")
    tier = np.full(n, None, dtype=object)
    tier[known] = tiers[tier_no]
    p["tier"] = tier
    p.loc[~reg, "tier"] = None
    handle = rng.random(n) < 0.10
    has_handle = np.flatnonzero(handle & reg | (kind == "social_only"))
    social_handle = np.full(n, None, dtype=object)
    social_handle[has_handle] = [f"@{a.split('.')[0][:10]}_{i}" for i, a in zip(
        has_handle, email_local.take(pa.array(has_handle)).to_pylist(), strict=True)]
    p["social_handle"] = social_handle
    p["opt_in"] = reg & (rng.random(n) < 0.75) & (p["email"].notna()) & ~junk
    joined_days = rng.integers(30, 6 * 365, n)
    p["date_joined"] = (gen.start - pd.to_timedelta(joined_days, unit="D")).normalize()
    return p


def _renumbered(df: pd.DataFrame) -> pd.DataFrame:
    """``df.reset_index(drop=True)`` without copying the columns (``df`` is a fresh copy)."""
    df.index = pd.RangeIndex(len(df))
    return df


def _names(pairs: list[tuple[str, str]], k: int) -> np.ndarray:
    """Item ``k`` of each (name, pinyin) pair, as an array to index."""
    return np.asarray([pair[k] for pair in pairs], dtype=object)


# --------------------------------------------------------------------------------------------
# Journeys
# --------------------------------------------------------------------------------------------


def _chain(persona: Persona, shifted: bool) -> tuple[np.ndarray, np.ndarray]:
    size = END + 1
    mat = np.zeros((size, size))
    rows = {**BASE, **persona.overrides}
    if shifted:
        rows = {**rows, "payment": APP_SHIFT_PAYMENT}
    for state, nxt in rows.items():
        for target, prob in nxt.items():
            mat[_S[state], END if target == "END" else _S[target]] = prob
    mat[END, END] = 1.0
    mat /= mat.sum(axis=1, keepdims=True)
    start = np.zeros(size)
    for state, prob in persona.start.items():
        start[_S[state]] = prob
    return mat, start / start.sum()


def journeys(gen: SampleGenerator, people: pd.DataFrame, email_clicks: pd.DataFrame
             ) -> pd.DataFrame:
    """One row per journey: person, start time, device, chain, first state."""
    rng = gen.rng
    personas = {x.name: x for x in (*PERSONAS, ANONYMOUS)}
    active = people[people["kind"] != "social_only"]
    means = active["persona"].map(_attribute(personas, "journeys_mean")).to_numpy()
    counts = rng.poisson(means)
    counts = np.maximum(counts, 1)  # everyone in the data has at least one journey
    person = np.repeat(active["person_id"].to_numpy(), counts)
    span = (gen.end - gen.start).total_seconds()
    # evening-heavy time of day
    day = rng.integers(0, gen.weeks * 7, person.size)
    hour = np.clip(rng.normal(17, 4, person.size), 0, 23.99)
    day, burst_first = schedule_new_customers(
        gen, person, np.repeat(active["acquired_on"].notna().to_numpy(), counts), day)
    start = gen.start + seconds(day * 86400 + hour * 3600)
    # organic journeys, then e-mail-click journeys (built column by column: pd.concat checks
    # an all-None column value by value)
    m = len(email_clicks)
    entry = np.full(person.size + m, None, dtype=object)
    entry[person.size:] = "email_click"
    j = pd.DataFrame({
        "person_id": np.concatenate([person, email_clicks["person_id"].to_numpy(dtype=object)]),
        "start": start.append(pd.DatetimeIndex(email_clicks["time"])),
        "entry": entry,
        "burst_first": np.concatenate([burst_first, np.zeros(m, dtype=bool)])})
    j = j[j["start"] < gen.start + pd.Timedelta(seconds=span)]
    info = people.set_index("person_id")
    at = info.index.get_indexer(j["person_id"])
    if (at < 0).any():
        raise ValueError("a journey's person is not among the people")
    j["persona"] = info["persona"].to_numpy()[at]
    j["tier"] = info["tier"].to_numpy()[at]
    has_app = info["device_id"].notna().to_numpy()[at]
    app_share = j["persona"].map(_attribute(personas, "app_share")).to_numpy()
    j["device"] = np.where(has_app & (rng.random(len(j)) < app_share), "app", "web")
    j = sort_rows(j, ["start", "person_id"])
    j["journey_id"] = np.arange(len(j))
    return j


def walk(gen: SampleGenerator, j: pd.DataFrame) -> pd.DataFrame:
    """Simulate every journey at once through its persona's Markov chain.

    Returns the events in journey and step order with the touchpoints as state numbers
    (columns journey_id, step, state, event_time, duration_s, value);
    :func:`journey_events` adds the text columns.
    """
    rng = gen.rng
    names = [x.name for x in (*PERSONAS, ANONYMOUS)]
    chains, starts = [], []
    for persona in (*PERSONAS, ANONYMOUS):
        for shifted in (False, True):
            m, s = _chain(persona, shifted)
            chains.append(m)
            starts.append(s)
    P = np.stack(chains)
    cumulative = P.cumsum(axis=2)  # each row summed once, as its own cumsum would
    S0 = np.stack(starts)
    shift_time = gen.start + pd.Timedelta(weeks=APP_SHIFT_WEEK)
    shifted = ((j["device"] == "app") & (j["start"] >= shift_time)).to_numpy()
    chain = j["persona"].map({x: k for k, x in enumerate(names)}).to_numpy() * 2 + shifted
    n = len(j)
    # each chain's start distribution summed once (the rows' own cumsums, as before)
    first = (S0.cumsum(axis=1)[chain] < rng.random(n)[:, None]).sum(axis=1)
    first = np.where(j["entry"].to_numpy() == "email_click", _S["email_click"], first)
    stories = StoryWalk(gen, j)
    first = stories.first_states(first, j)
    max_steps = 40
    states = np.full((n, max_steps), -1, dtype=np.int16)
    states[:, 0] = first
    cur = first.copy()
    alive = np.ones(n, dtype=bool)
    # the next state is the number of cumulative probabilities of the row below the draw;
    # counted one target state at a time: [target, chain * size + state]
    size = cumulative.shape[2]
    by_target = np.ascontiguousarray(cumulative.reshape(-1, size).T)
    for step in range(1, max_steps):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        row = chain[idx] * size + cur[idx]
        u = rng.random(idx.size)
        below = np.zeros(idx.size, dtype=np.intp)
        for column in by_target:
            below += u > column[row]
        nxt = np.minimum(below, END)
        nxt = stories.step(step, idx, cur, nxt)
        cont = nxt != END
        states[idx[cont], step] = nxt[cont]
        cur[idx] = nxt
        alive[idx[~cont]] = False
    jj, step = np.nonzero(states >= 0)
    # the touchpoints as state numbers (in journey and step order) until they are written
    code = states[jj, step].astype(np.intp)
    # the journeys' columns by position (journey_id is the row number of j)
    if not np.array_equal(j["journey_id"].to_numpy(), np.arange(n)):
        raise ValueError("journeys must be numbered 0, 1, ... in their order")
    app = (j["device"].to_numpy() == "app")[jj]
    # search landings come from a browser; in the app the same visit opens the home screen
    code[app & (code == _S["search_landing"])] = _S["home_page"]
    start = _nanoseconds(j["start"])[jj]
    # an event's predecessor in its journey (events are in journey and step order)
    same_journey = np.r_[False, jj[1:] == jj[:-1]]
    # times: dwell, think time, and long gaps around contact-centre contacts
    med = np.asarray([DWELL_MEDIAN_S[x] for x in STATES], dtype=float)[code]
    dwell = np.round(med * np.exp(rng.normal(0, 0.6, len(jj))), 1)
    payment_app_shift = (code == _S["payment"]) & app & (start >= shift_time.value)
    dwell[payment_app_shift] *= 1.4
    contact = (code == _S["support_call"]) | (code == _S["chat"])
    back = np.r_[False, contact[:-1]] & same_journey & ~contact
    gap = rng.exponential(8.0, len(jj))
    gap = np.where(contact, rng.exponential(20 * 60, len(jj)), gap)
    gap = np.where(back, rng.exponential(30 * 60, len(jj)), gap)
    gap[step == 0] = 0.0
    dwell, gap = stories.times(jj, step, start, dwell, gap, code)
    prev_dwell = np.where(same_journey, np.r_[0.0, dwell[:-1]], 0.0)
    offset = pd.Series(prev_dwell + gap).groupby(jj).cumsum().to_numpy()
    # the start plus the offset (rounded to the microsecond), floored to the millisecond
    at = start + seconds(np.round(offset, 3)).asi8
    at -= at % 1_000_000
    personas = {x.name: x for x in (*PERSONAS, ANONYMOUS)}
    basket = j["persona"].map(_attribute(personas, "basket_mean")).to_numpy(dtype=float)[jj]
    conv = np.isin(code, [_S[x] for x in CONVERSION_TOUCHPOINTS])
    value = np.round(rng.gamma(3.0, basket / 3.0), 2)
    ev = pd.DataFrame({
        "journey_id": jj, "step": step, "state": code.astype(np.int16),
        "event_time": pd.DatetimeIndex(at.view("M8[ns]")).tz_localize("UTC"),
        "duration_s": np.where(code == _S["email_click"], np.nan, dwell),
        "value": np.where(conv, value, np.nan)}, copy=False)
    return stories.cut(ev, lambda rows: journey_events(rows, j))


def journey_events(ev: pd.DataFrame, j: pd.DataFrame, **more: np.ndarray) -> pd.DataFrame:
    """The events of :func:`walk` (``ev``: touchpoints as state numbers) with the journeys'
    columns and the touchpoints and channels as text: journey_id, step, touchpoint,
    person_id, start, device, persona, channel, event_time, duration_s, value, then the
    columns ``more`` (one value per event).

    ``j`` is the walk's journeys table (``journey_id`` its row number). The walk, the churn
    and the sort move only the numbers; the text columns are made once, here.
    """
    jid = ev["journey_id"].to_numpy()
    code = ev["state"].to_numpy()
    device = j["device"].to_numpy(dtype=object)[jid]
    channel = device.copy()
    for state, name in (("support_call", "call_center"), ("chat", "chat"),
                        ("email_click", "email"), ("store_purchase", "store")):
        channel[code == _S[state]] = name
    return pd.DataFrame({
        "journey_id": jid, "step": ev["step"].to_numpy(),
        # one string object per touchpoint, shared by its events
        "touchpoint": np.asarray(STATES, dtype=object)[code],
        "person_id": j["person_id"].to_numpy(dtype=object)[jid],
        "start": j["start"].array.take(jid), "device": device,
        "persona": j["persona"].to_numpy(dtype=object)[jid], "channel": channel,
        "event_time": ev["event_time"].array, "duration_s": ev["duration_s"].to_numpy(),
        "value": ev["value"].to_numpy(), **more})


def _nanoseconds(times: pd.Series) -> np.ndarray:
    """Timezone-aware times as nanoseconds since the epoch."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8


# --------------------------------------------------------------------------------------------
# E-mail campaigns
# --------------------------------------------------------------------------------------------


def campaigns(gen: SampleGenerator, people: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fortnightly campaigns to opted-in customers: all send/open/click events, and the clicks."""
    rng = gen.rng
    personas = {x.name: x for x in PERSONAS}
    subs = people[people["opt_in"]]
    p_open = subs["persona"].map(_attribute(personas, "email_open")).to_numpy()
    p_click = subs["persona"].map(_attribute(personas, "email_click")).to_numpy()
    rows = []
    for c in range(gen.weeks // 2):
        send = gen.start + pd.Timedelta(days=14 * c + 1, hours=9)
        k = len(subs)
        sent = send + pd.to_timedelta(rng.integers(0, 3600, k), unit="s")
        opened = rng.random(k) < p_open
        clicked = opened & (rng.random(k) < p_click)
        open_t = sent + seconds(rng.exponential(6 * 3600, k))
        click_t = open_t + seconds(rng.exponential(60, k) + 2)
        camp = f"CMP-{send:%Y%m%d}"
        base = {"person_id": subs["person_id"].to_numpy(), "campaign": camp}
        rows.append(pd.DataFrame({**base, "event": "send", "time": sent}))
        rows.append(pd.DataFrame({**base, "event": "open", "time": open_t})[opened])
        rows.append(pd.DataFrame({**base, "event": "click", "time": click_t})[clicked])
    em = pd.concat(rows, ignore_index=True)
    em["time"] = em["time"].dt.floor("s")
    em = em[em["time"] < gen.end].reset_index(drop=True)
    clicks = em[em["event"] == "click"][["person_id", "time", "campaign"]]
    return em, clicks


# --------------------------------------------------------------------------------------------
# Churn
# --------------------------------------------------------------------------------------------


def churn(gen: SampleGenerator, j: pd.DataFrame, ev: pd.DataFrame, people: pd.DataFrame
          ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Customers may churn after a journey; web->call-centre journeys raise the hazard.

    ``ev`` are the walk's events (touchpoints as state numbers); returns the journeys and
    events left and each churned person's churn date."""
    rng = gen.rng
    called = ev.loc[ev["state"] == _S["support_call"], "journey_id"].unique()
    if not j["start"].is_monotonic_increasing:
        raise ValueError("journeys must be numbered in the order they start")
    j = j.copy(deep=False)  # new columns, shared data
    j["switch"] = (j["device"] == "web") & j["journey_id"].isin(called)
    reg = set(people.loc[people["kind"] == "registered", "person_id"])
    j["registered"] = j["person_id"].isin(reg)
    hazard = np.where(j["switch"], CHURN_HAZARD_SWITCH, CHURN_HAZARD_OTHER)
    j["churn_here"] = j["registered"] & (rng.random(len(j)) < hazard)
    # by person, start and journey (unique keys: one order); journeys are numbered in the
    # order they start, so by person and journey is the same order
    j = sort_rows(j, ["person_id", "journey_id"])
    # first churning journey per person; journeys after it never happen
    first_churn = j[j["churn_here"]].groupby("person_id")["start"].min()
    cutoff = j["person_id"].map(first_churn)
    keep = cutoff.isna() | (j["start"] <= cutoff)
    churn_journey = j[(keep & j["churn_here"] & cutoff.eq(j["start"])).to_numpy()]
    j = _renumbered(j[keep])
    # the events of the journeys kept (journey_id is the walk's row number)
    kept = np.zeros(len(keep), dtype=bool)
    kept[j["journey_id"].to_numpy()] = True
    ev = _renumbered(ev[kept[ev["journey_id"].to_numpy()]])
    # each journey's last event time: the latest of its events, which are contiguous
    jid = ev["journey_id"].to_numpy()
    first_row = np.flatnonzero(np.r_[True, jid[1:] != jid[:-1]])
    last_time = pd.Series(
        pd.DatetimeIndex(np.maximum.reduceat(_nanoseconds(ev["event_time"]), first_row)
                         .view("M8[ns]")).tz_localize("UTC"), index=jid[first_row])
    churn_journey = churn_journey.drop_duplicates("person_id")
    churn_date = (churn_journey.set_index("person_id")["journey_id"].map(last_time)
                  + pd.Timedelta(days=1)).dt.normalize()
    return j, ev, churn_date
