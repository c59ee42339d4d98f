"""The sample's planted stories: changes over time, by platform and by segment.

Issue 12 asks the workbench to find what changed, when and for whom, without being told.
The generator therefore plants seven stories into the journeys, each with its exact truth
under ``stories`` in ``ground_truth.json`` (see :func:`stories_truth`):

1. :class:`Incident`: for a few weeks a share of payment attempts fail on every channel.
2. :class:`PlatformLoop`: on one platform a checkout bug sends a share of journeys
   cart -> delivery_options -> help_center -> cart (a loop through another step).
3. :class:`AcquisitionBurst`: one viral day brings many new customers, who convert less.
4. :class:`SegmentGap`: CRM tiers convert at very different rates (delivery is free for
   Gold members only, so Bronze and Silver members leave at the delivery step).
5. :class:`Slowdown`: from a date on, the time from delivery_options to payment grows.
6. :class:`ChannelFade`: live chat is wound down; its share of events falls to zero.
7. :class:`OpenJourneys`: some journeys pause for days before the basket, so the export
   ends with journeys still under way; their later events are in
   ``ground_truth/events_after_cutoff.parquet``, never in the raw files.

Times are shares of the window (0 = its start, 1 = its end), so any window length carries
every story; they are rounded to whole days (midnight UTC) and written as dates into the
truth. Story draws use their own random stream (seeded from the sample's seed), so the
sample stays reproducible; ``stories=None`` gives the sample without any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.sample.catalogue import APP_SHIFT_WEEK, CONVERSION_TOUCHPOINTS, END, STATES
from cjmlib.sample.clock import seconds
from cjmlib.sample.order import sort_rows

if TYPE_CHECKING:
    from cjmlib.sample.generator import SampleGenerator

_S = {name: i for i, name in enumerate(STATES)}


# --------------------------------------------------------------------------------------------
# What to plant
# --------------------------------------------------------------------------------------------


def _check_period(start: float, end: float, name: str) -> None:
    check_scalar(start, f"{name}.start", typ=float, ge=0, lt=1)
    check_scalar(end, f"{name}.end", typ=float, gt=start, le=1)


def _check_probability(value: float, name: str) -> None:
    check_scalar(value, name, typ=float, ge=0, le=1)


@dataclass(frozen=True)
class Incident:
    """A payment outage: between ``start`` and ``end`` (shares of the window) an extra
    ``failure_probability`` of payment attempts fail and end the journey, on every channel."""

    start: float = 0.36
    end: float = 0.48
    failure_probability: float = 0.45

    def __post_init__(self) -> None:
        _check_period(self.start, self.end, "incident")
        _check_probability(self.failure_probability, "incident.failure_probability")


@dataclass(frozen=True)
class PlatformLoop:
    """A checkout bug on one channel: between ``start`` and ``end``, ``error_probability`` of
    the moves from delivery_options to payment on ``channel`` show an error and land on the
    help centre; ``back_probability`` of those go back to the basket (the others leave)."""

    channel: str = "app"
    start: float = 0.54
    end: float = 0.69
    error_probability: float = 0.5
    back_probability: float = 0.8
    path: tuple[str, ...] = ("cart", "delivery_options", "help_center", "cart")

    def __post_init__(self) -> None:
        check_scalar(self.channel, "platform_loop.channel", in_=("app", "web"))
        _check_period(self.start, self.end, "platform_loop")
        _check_probability(self.error_probability, "platform_loop.error_probability")
        _check_probability(self.back_probability, "platform_loop.back_probability")


@dataclass(frozen=True)
class AcquisitionBurst:
    """A viral day at ``at`` (share of the window): ``new_customer_share`` of all people are
    first seen that day, landing on a product page; on that day's journey they leave at the
    product page or the basket with an extra ``exit_probability``. Registered ones joined the
    CRM that day (tier Bronze) and get e-mails from the next day on."""

    at: float = 0.22
    new_customer_share: float = 0.03
    exit_probability: float = 0.5

    def __post_init__(self) -> None:
        check_scalar(self.at, "acquisition_burst.at", typ=float, ge=0, lt=1)
        check_scalar(self.new_customer_share, "acquisition_burst.new_customer_share",
                     typ=float, gt=0, le=0.2)
        _check_probability(self.exit_probability, "acquisition_burst.exit_probability")


@dataclass(frozen=True)
class SegmentGap:
    """Conversion by CRM tier: at delivery_options a journey of a customer in a tier leaves
    with the extra probability ``exit_probability[tier]`` (delivery is free for Gold)."""

    exit_probability: dict[str, float] = field(
        default_factory=lambda: {"Bronze": 0.25, "Silver": 0.08, "Gold": 0.0})

    def __post_init__(self) -> None:
        for tier, p in self.exit_probability.items():
            check_scalar(tier, "segment_gap tier", in_=("Bronze", "Silver", "Gold"))
            _check_probability(p, f"segment_gap.exit_probability[{tier!r}]")


@dataclass(frozen=True)
class Slowdown:
    """From ``at`` (share of the window) on, the time on delivery_options before moving to
    payment is multiplied by ``factor`` (a slow delivery-slot service)."""

    at: float = 0.65
    factor: float = 2.5

    def __post_init__(self) -> None:
        check_scalar(self.at, "slowdown.at", typ=float, gt=0, lt=1)
        check_scalar(self.factor, "slowdown.factor", typ=float, gt=0)


@dataclass(frozen=True)
class ChannelFade:
    """Live chat wound down: from ``start`` to ``end`` (shares of the window) the share of
    would-be chats replaced by a support call rises linearly from 0 to 1."""

    start: float = 0.15
    end: float = 0.85

    def __post_init__(self) -> None:
        _check_period(self.start, self.end, "channel_fade")


@dataclass(frozen=True)
class OpenJourneys:
    """Journeys that pause: ``pause_probability`` of the moves from a product page (or its
    compare and reviews pages) to the basket come after a pause of days (lognormal, median
    ``pause_median_days``, sigma 0.8). The export ends at the window's end, so journeys
    under way then are cut off: open, not exits."""

    pause_probability: float = 0.2
    pause_median_days: float = 2.0

    def __post_init__(self) -> None:
        _check_probability(self.pause_probability, "open_journeys.pause_probability")
        check_scalar(self.pause_median_days, "open_journeys.pause_median_days", typ=float,
                     gt=0, le=14)


@dataclass(frozen=True)
class Stories:
    """The stories to plant; ``None`` leaves one out. The defaults plant all seven."""

    incident: Incident | None = field(default_factory=Incident)
    platform_loop: PlatformLoop | None = field(default_factory=PlatformLoop)
    acquisition_burst: AcquisitionBurst | None = field(default_factory=AcquisitionBurst)
    segment_gap: SegmentGap | None = field(default_factory=SegmentGap)
    slowdown: Slowdown | None = field(default_factory=Slowdown)
    channel_fade: ChannelFade | None = field(default_factory=ChannelFade)
    open_journeys: OpenJourneys | None = field(default_factory=OpenJourneys)


def _day(gen: SampleGenerator, share: float) -> pd.Timestamp:
    """The midnight (UTC) closest to ``share`` of the window."""
    return gen.start + pd.Timedelta(days=int(round(share * gen.weeks * 7)))


def _date(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%d")


# --------------------------------------------------------------------------------------------
# Planting: people, e-mails, journey schedule
# --------------------------------------------------------------------------------------------


def plant_new_customers(gen: SampleGenerator, people: pd.DataFrame) -> pd.DataFrame:
    """Mark the burst's new customers (column ``acquired_on``; NaT for everyone else).

    Registered new customers joined the CRM on the burst day, in tier Bronze.
    """
    people["acquired_on"] = pd.Series(pd.NaT, index=people.index, dtype="datetime64[ns, UTC]")
    burst = gen.stories.acquisition_burst if gen.stories else None
    if burst is None:
        return people
    day = _day(gen, burst.at)
    active = np.flatnonzero((people["kind"] != "social_only").to_numpy())
    k = min(len(active), max(1, round(burst.new_customer_share * gen.n)))
    chosen = np.sort(gen.story_rng.choice(active, size=k, replace=False))
    new = np.zeros(len(people), dtype=bool)
    new[chosen] = True
    people.loc[new, "acquired_on"] = day
    reg = new & (people["kind"] == "registered").to_numpy()
    people.loc[reg, "date_joined"] = day
    people.loc[reg, "tier"] = "Bronze"
    return people


def drop_emails_before_joining(gen: SampleGenerator, people: pd.DataFrame,
                               emails: pd.DataFrame) -> pd.DataFrame:
    """New customers get campaign e-mails only from the day after they joined."""
    new = people[people["acquired_on"].notna()].set_index("person_id")["acquired_on"]
    rows = np.flatnonzero(emails["person_id"].isin(new.index).to_numpy())
    acquired = emails["person_id"].iloc[rows].map(new)
    early = np.zeros(len(emails), dtype=bool)
    early[rows] = (emails["time"].iloc[rows] < acquired + pd.Timedelta(days=1)).to_numpy()
    return emails[~early].reset_index(drop=True)


def schedule_new_customers(gen: SampleGenerator, person: np.ndarray, is_new: np.ndarray,
                           day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days of the organic journeys (``person`` grouped as :func:`np.repeat` leaves it;
    ``is_new`` per journey: its person is a new customer of the burst).

    A new customer's first journey is on the burst day, the others between it and the
    window's end. Returns the days and whether each journey is a new customer's first.
    """
    first_day = np.zeros(person.size, dtype=bool)
    burst = gen.stories.acquisition_burst if gen.stories else None
    if burst is None:
        return day, first_day
    first_of_person = np.r_[True, person[1:] != person[:-1]]
    first_day = is_new & first_of_person
    burst_day = int(round(burst.at * gen.weeks * 7))
    day = day.copy()
    day[first_day] = burst_day
    later = is_new & ~first_day
    day[later] = gen.story_rng.integers(burst_day, gen.weeks * 7, later.sum())
    return day, first_day


# --------------------------------------------------------------------------------------------
# Planting: the walk through the chain, times, the cut-off
# --------------------------------------------------------------------------------------------


class StoryWalk:
    """What the stories change while :func:`~cjmlib.sample.simulation.walk` runs.

    Built once per walk from the journeys table ``j`` (columns start, device, tier,
    burst_first); every method is a no-op for a story left out. Each journey keeps a clock
    (its start plus the pauses so far), so that the incident, the bug and the fade act by
    the time the customer reaches a step, not by when the journey began.
    """

    _BROWSE = (_S["product_page"], _S["product_compare"], _S["reviews"])

    def __init__(self, gen: SampleGenerator, j: pd.DataFrame) -> None:
        self.gen = gen
        self.stories = gen.stories or Stories(**dict.fromkeys(
            ("incident", "platform_loop", "acquisition_burst", "segment_gap", "slowdown",
             "channel_fade", "open_journeys")))
        self.rng = gen.story_rng
        s, n = self.stories, len(j)
        self.clock = (j["start"] - gen.start).dt.total_seconds().to_numpy()
        # extra probability of ending the journey, per journey and state, fixed per journey
        self.exit = np.zeros((n, END), dtype=np.float32)
        if s.segment_gap is not None:
            p = j["tier"].map(s.segment_gap.exit_probability).fillna(0.0).to_numpy()
            self.exit[:, _S["delivery_options"]] = p
        if s.acquisition_burst is not None:
            first = j["burst_first"].to_numpy()
            for state in ("product_page", "cart"):
                self.exit[first, _S[state]] = s.acquisition_burst.exit_probability
        self.on_channel = np.zeros(n, dtype=bool)
        if s.platform_loop is not None:
            self.on_channel = (j["device"] == s.platform_loop.channel).to_numpy()
        self.bugged = np.zeros(n, dtype=bool)  # just saw the error page
        self.pause_key: list[np.ndarray] = []  # journey * 1000 + step of each paused step
        self.pause_s: list[np.ndarray] = []

    def _within(self, period: Incident | PlatformLoop, idx: np.ndarray) -> np.ndarray:
        a, b = (self._seconds(period.start), self._seconds(period.end))
        return (self.clock[idx] >= a) & (self.clock[idx] < b)

    def _seconds(self, share: float) -> float:
        return (_day(self.gen, share) - self.gen.start).total_seconds()

    def first_states(self, first: np.ndarray, j: pd.DataFrame) -> np.ndarray:
        """A new customer's first-day journey lands on the viral product's page."""
        if self.stories.acquisition_burst is None:
            return first
        return np.where(j["burst_first"].to_numpy(), _S["product_page"], first)

    def step(self, step: int, idx: np.ndarray, cur: np.ndarray, nxt: np.ndarray
             ) -> np.ndarray:
        """Next states of the journeys ``idx`` (now in ``cur[idx]``) at ``step``."""
        s, rng, nxt = self.stories, self.rng, nxt.copy()
        here = cur[idx]
        # back from the error page to the basket, or gone
        was = self.bugged[idx] & (here == _S["help_center"])
        if was.any():
            back = rng.random(was.sum()) < s.platform_loop.back_probability
            nxt[was] = np.where(back, _S["cart"], END)
            self.bugged[idx[was]] = False
        p = self.exit[idx, here]
        if s.incident is not None:
            failing = (here == _S["payment"]) & self._within(s.incident, idx)
            p = np.where(failing, 1 - (1 - p) * (1 - s.incident.failure_probability), p)
        cand = np.flatnonzero((p > 0) & (nxt != END))
        if cand.size:
            nxt[cand[rng.random(cand.size) < p[cand]]] = END
        if s.platform_loop is not None:
            bug = (self.on_channel[idx] & (here == _S["delivery_options"])
                   & (nxt == _S["payment"]) & self._within(s.platform_loop, idx))
            err = np.flatnonzero(bug)
            err = err[rng.random(err.size) < s.platform_loop.error_probability]
            nxt[err] = _S["help_center"]
            self.bugged[idx[err]] = True
        if s.channel_fade is not None:
            chat = np.flatnonzero(nxt == _S["chat"])
            a, b = self._seconds(s.channel_fade.start), self._seconds(s.channel_fade.end)
            fade = np.clip((self.clock[idx[chat]] - a) / (b - a), 0.0, 1.0)
            nxt[chat[rng.random(chat.size) < fade]] = _S["support_call"]
        if s.open_journeys is not None:
            o = s.open_journeys
            cand = np.flatnonzero((nxt == _S["cart"]) & np.isin(here, self._BROWSE))
            paused = cand[rng.random(cand.size) < o.pause_probability]
            secs = o.pause_median_days * 86400 * np.exp(rng.normal(0, 0.8, paused.size))
            self.clock[idx[paused]] += secs
            self.pause_key.append(idx[paused].astype(np.int64) * 1000 + step)
            self.pause_s.append(secs)
        return nxt

    def times(self, jid: np.ndarray, step: np.ndarray, start: np.ndarray, dwell: np.ndarray,
              gap: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pauses drawn in the walk; slower delivery steps from the slowdown on (events in
        journey and step order: their journeys ``jid``, ``step``, journey ``start`` in
        nanoseconds since the epoch and touchpoints as state numbers ``state``)."""
        s = self.stories
        if s.open_journeys is None and s.slowdown is None:
            return dwell, gap
        key = jid.astype(np.int64) * 1000 + step
        pause = np.zeros(len(jid))
        paused_key = np.concatenate(self.pause_key) if self.pause_key else np.zeros(0, np.int64)
        if paused_key.size:
            # each paused step's pause (a step pauses at most once: the keys are unique)
            by_key = np.argsort(paused_key)
            paused_key, paused_s = paused_key[by_key], np.concatenate(self.pause_s)[by_key]
            at = np.minimum(np.searchsorted(paused_key, key), paused_key.size - 1)
            pause = np.where(paused_key[at] == key, paused_s[at], 0.0)
            gap = gap + pause
        if s.slowdown is not None:
            when = start + seconds(pd.Series(pause).groupby(jid).cumsum().to_numpy()).asi8
            # the next event of the same journey is a payment
            to_payment = np.r_[(state[1:] == _S["payment"]) & (jid[1:] == jid[:-1]), False]
            slow = ((state == _S["delivery_options"]) & to_payment
                    & (when >= _day(self.gen, s.slowdown.at).value))
            dwell = dwell.copy()
            dwell[slow] = np.round(dwell[slow] * s.slowdown.factor, 1)
        return dwell, gap

    def cut(self, ev: pd.DataFrame, events: Callable[[pd.DataFrame], pd.DataFrame]
            ) -> pd.DataFrame:
        """The export ends at the window's end: later events are kept aside (open journeys)
        as ``events`` makes them of their rows of ``ev`` (their text columns)."""
        if self.stories.open_journeys is None:
            return ev
        late = (ev["event_time"] >= self.gen.end).to_numpy()
        self.gen.after_cutoff = events(ev[late].reset_index(drop=True))
        kept = ev[~late]
        kept.index = pd.RangeIndex(len(kept))  # reset_index(drop=True) without a copy
        return kept


# --------------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------------


def _journey_table(ev: pd.DataFrame, j: pd.DataFrame) -> pd.DataFrame:
    """One row per journey: converted or not, with the journey's own columns."""
    conv = ev["touchpoint"].isin(CONVERSION_TOUCHPOINTS).groupby(ev["journey_id"]).any()
    out = j.set_index("journey_id")
    return out.assign(converted=conv.reindex(out.index, fill_value=False))


def _rate(x: pd.Series) -> float | None:
    return round(float(x.mean()), 4) if len(x) else None


def _next_exit_share(ev: pd.DataFrame, nxt: pd.Series, touchpoint: str, mask: pd.Series
                     ) -> float | None:
    """Share of ``touchpoint`` events (within ``mask``) that end their journey."""
    at = (ev["touchpoint"] == touchpoint) & mask
    return _rate(nxt[at].isna())


def stories_truth(gen: SampleGenerator, j: pd.DataFrame, ev: pd.DataFrame,
                  people: pd.DataFrame) -> dict[str, Any]:
    """The ``stories`` block of ``ground_truth.json``: what was planted and what came out.

    ``ev`` are the final journey events (sorted by person and time), ``j`` the journeys
    left after churn (with the walk's columns). Rates are realised shares in the data,
    rounded to 4 places; planted probabilities are echoed beside them.
    """
    s = gen.stories
    if s is None:
        return {}
    out: dict[str, Any] = {}
    ev = sort_rows(ev[["journey_id", "step", "touchpoint", "person_id", "channel", "event_time"]],
                   ["journey_id", "step"])
    by_journey = ev.groupby("journey_id")
    nxt_tp = by_journey["touchpoint"].shift(-1)
    jt = _journey_table(ev, j)
    t = ev["event_time"]
    if s.incident is not None:
        a, b = _day(gen, s.incident.start), _day(gen, s.incident.end)
        shift = gen.start + pd.Timedelta(weeks=APP_SHIFT_WEEK)
        out["incident"] = {
            "touchpoint": "payment", "metric": "exit_rate", "channels": "all",
            "start": _date(a), "end": _date(b), "end_exclusive": True,
            "extra_failure_probability": s.incident.failure_probability,
            "exit_rate_before": _next_exit_share(ev, nxt_tp, "payment", t < a),
            "exit_rate_during": _next_exit_share(ev, nxt_tp, "payment",
                                                 t.between(a, b, inclusive="left")),
            "exit_rate_after": _next_exit_share(ev, nxt_tp, "payment",
                                                t.between(b, shift, inclusive="left")),
            "note": "exit_rate = share of payment events (by their time) that are the last "
                    "event of their journey; exit_rate_after stops at the app release shift "
                    "(kpi_shift), which raises exits on the app only",
        }
    if s.platform_loop is not None:
        loop = s.platform_loop
        a, b = _day(gen, loop.start), _day(gen, loop.end)
        at = _path_starts(ev, loop.path)
        hit_ids = ev.loc[at, "journey_id"]
        # the loop's time is when the error page shows (the path's third event)
        shown = t.iloc[at + 2].to_numpy()
        on = (ev.loc[at, "channel"] == loop.channel).to_numpy()
        inside = on & (shown >= a) & (shown < b)
        attempted = ev[(ev["touchpoint"] == "delivery_options") & (ev["channel"] == loop.channel)
                       & t.between(a, b, inclusive="left")]["journey_id"].unique()
        out["platform_loop"] = {
            "channel": loop.channel, "platform_column": "app_events.csv has only app events",
            "path": list(loop.path), "start": _date(a), "end": _date(b), "end_exclusive": True,
            "error_probability": loop.error_probability,
            "back_probability": loop.back_probability,
            "journeys_with_loop": int(hit_ids.nunique()),
            "loops": int(len(at)),
            "loops_on_channel_in_period": int(inside.sum()),
            "loops_elsewhere": int((~inside).sum()),
            "share_affected": _rate(pd.Series(np.isin(attempted, hit_ids))),
            "share_affected_denominator": f"{loop.channel} journeys with a delivery_options "
                                          "event in the period",
            "note": "a loop is one occurrence of the path as consecutive events of a journey, "
                    "timed by its help_center event; without the bug help_center never "
                    "follows delivery_options",
        }
    if s.acquisition_burst is not None:
        burst = s.acquisition_burst
        day = _day(gen, burst.at)
        new_ids = set(people.loc[people["acquired_on"].notna(), "person_id"])
        first_seen = jt.groupby("person_id")["start"].min().dt.floor("D")
        that_day = jt["start"].between(day, day + pd.Timedelta(days=1), inclusive="left")
        is_new = jt["person_id"].isin(new_ids)
        out["acquisition_burst"] = {
            "date": _date(day), "new_customers": len(new_ids),
            "new_customers_registered": int(people.loc[people["person_id"].isin(new_ids),
                                                       "kind"].eq("registered").sum()),
            "customers_first_seen_that_day": int((first_seen == day).sum()),
            "journeys_that_day": int(that_day.sum()),
            "journeys_that_day_by_new_customers": int((that_day & is_new).sum()),
            "conversion_new_customers_that_day": _rate(jt.loc[that_day & is_new,
                                                              "converted"]),
            "conversion_returning_customers_that_day": _rate(jt.loc[that_day & ~is_new,
                                                                    "converted"]),
            "extra_exit_probability": burst.exit_probability,
            "landing_touchpoint": "product_page",
            "persons_column": "ground_truth/persons.csv acquired_on (the burst date, else empty)",
            "note": "first seen = day of the person's first journey event in events.parquet "
                    "(e-mails the company sends are not the customer's activity); conversion "
                    "per journey started that day (order_confirmation or store_purchase)",
        }
    if s.segment_gap is not None:
        reg = people[people["kind"] == "registered"].set_index("person_id")
        jt_reg = jt[jt["person_id"].isin(reg.index)]
        tier_j = jt_reg["person_id"].map(reg["tier"])
        buyers = set(ev.loc[ev["touchpoint"].isin(CONVERSION_TOUCHPOINTS), "person_id"])
        cust = reg.index.to_series().isin(buyers)
        out["segment_conversion"] = {
            "column": "tier", "file": "crm_customers.csv", "mapped_as": "segment",
            "extra_exit_probability_at_delivery_options": dict(s.segment_gap.exit_probability),
            "journey_conversion": {t: _rate(jt_reg.loc[tier_j == t, "converted"])
                                   for t in ("Bronze", "Silver", "Gold")},
            "customer_conversion": {t: _rate(cust[reg["tier"] == t])
                                    for t in ("Bronze", "Silver", "Gold")},
            "customers": reg["tier"].value_counts().reindex(["Bronze", "Silver", "Gold"])
            .fillna(0).astype(int).to_dict(),
            "note": "journey_conversion: share of registered customers' journeys with an "
                    "order; customer_conversion: share of registered customers with at least "
                    "one order (crm_orders.csv) in the window",
        }
    if s.slowdown is not None:
        at = _day(gen, s.slowdown.at)
        nxt_t = by_journey["event_time"].shift(-1)
        pair = (ev["touchpoint"] == "delivery_options") & (nxt_tp == "payment")
        secs = (nxt_t - ev["event_time"]).dt.total_seconds()[pair]
        when = ev.loc[pair, "event_time"]
        out["slowdown"] = {
            "from": "delivery_options", "to": "payment", "date": _date(at),
            "factor": s.slowdown.factor,
            "median_s_before": round(float(secs[when < at].median()), 3),
            "median_s_after": round(float(secs[when >= at].median()), 3),
            "note": "seconds between a delivery_options event and the payment event right "
                    "after it in the same journey, split by the delivery_options event's time",
        }
    if s.channel_fade is not None:
        a, b = _day(gen, s.channel_fade.start), _day(gen, s.channel_fade.end)
        out["channel_fade"] = {
            "channel": "chat", "file": "contact_center.csv (media = chat)",
            "start": _date(a), "end": _date(b), "replaced_by": "support_call",
            "share_of_journey_events_before": _rate(
                (ev["channel"] == "chat")[ev["event_time"] < a]),
            "share_of_journey_events_after": _rate(
                (ev["channel"] == "chat")[ev["event_time"] >= b]),
            "chat_events_after_end": int(((ev["channel"] == "chat") & (t >= b)).sum()),
            "note": "shares of journey events (e-mail sends and opens left out); a would-be "
                    "chat is a support call with probability rising linearly from 0 at start "
                    "to 1 at end, by the time the journey reaches it",
        }
    if s.open_journeys is not None:
        late = gen.after_cutoff
        open_ids = set(late["journey_id"]) & set(j["journey_id"])
        late = late[late["journey_id"].isin(open_ids)]
        last = ev[ev["journey_id"].isin(open_ids)].groupby("journey_id").tail(1)
        out["open_journeys"] = {
            "cutoff": gen.end.isoformat(), "open_journeys": len(open_ids),
            "events_after_cutoff": int(len(late)),
            "pause_probability": s.open_journeys.pause_probability,
            "pause_median_days": s.open_journeys.pause_median_days,
            "last_touchpoint_counts": last["touchpoint"].value_counts().sort_index()
            .astype(int).to_dict(),
            "open_started_in_last_7_days": int(j.loc[j["journey_id"].isin(open_ids), "start"]
                                               .ge(gen.end - pd.Timedelta(days=7)).sum()),
            "file": "ground_truth/events_after_cutoff.parquet",
            "note": "journeys with events after the cut-off (never exported): censored, not "
                    "exits; the file holds their later events",
        }
    return out


def _path_starts(ev: pd.DataFrame, path: tuple[str, ...]) -> np.ndarray:
    """Row positions where ``path`` starts as consecutive events of one journey (``ev`` by
    journey and step, with a default index)."""
    tp, jid = ev["touchpoint"].to_numpy(), ev["journey_id"].to_numpy()
    k, n = len(path), len(ev)
    if n < k:
        return np.array([], dtype=np.int64)
    hit = np.ones(n - k + 1, dtype=bool)
    for i, name in enumerate(path):
        hit &= (tp[i:n - k + 1 + i] == name) & (jid[i:n - k + 1 + i] == jid[:n - k + 1])
    return np.flatnonzero(hit)
