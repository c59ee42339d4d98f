"""Seeded generator of realistic raw multi-channel customer data, with planted ground truth.

The files look like what real systems export, not like clean tables: web analytics and app
events with different id schemes and time formats, a CRM with e-mails and phones typed
inconsistently, a contact-centre log in local time with day-first dates, e-mail campaign
events as JSON lines, post-interaction surveys in English (UTF-8 with BOM) and Chinese
(GB18030, Chinese headers), a relationship survey, a market benchmark survey, social posts,
interview transcripts, an A/B pilot on customers and a store pilot panel.

What the generator plants is written to ``ground_truth.json`` beside the data (see
:func:`make_sample` and docs/sample_ground_truth.md); ``ground_truth/`` holds the clean,
stitched truth tables (persons and their events) so that collection, journeys and personas
can be checked against them. The stories of :mod:`cjmlib.sample.stories` (a payment
incident, a platform loop, an acquisition burst, a tier gap, a slowdown, a fading channel and
journeys open at the export's end) are on by default.

Identity design: every person's records are linkable by construction (each web cookie is
logged in at least once, contact-centre rows carry a phone or an account number, survey rows
an e-mail or an account number, matched social handles carry an e-mail), *provided* e-mails
and phones are normalised and the CRM's placeholder values (``noemail@example.com``,
``00000000000``) are not treated as identifiers. A correct stitching therefore yields exactly
``n_customers`` customers.

The code is split by what it produces: :mod:`cjmlib.sample.catalogue` holds the constants,
personas and texts of the sample world, :mod:`cjmlib.sample.simulation` the people, journeys,
campaigns and churn, and the writers live in :mod:`cjmlib.sample.exports` (CRM, orders, web,
app, contact centre, e-mail), :mod:`cjmlib.sample.feedback` (surveys, social posts,
interviews) and :mod:`cjmlib.sample.pilots` (A/B units, store panel); the stories change the
walk through :class:`~cjmlib.sample.stories.StoryWalk`. This module holds
:func:`make_sample` and :class:`SampleGenerator`, which runs the steps in a fixed order: they
all draw from one random stream, so the order is what makes a seed reproducible. The walk,
the churn and the sort of the journey events move numbers only (touchpoints as state numbers);
the events' text columns are made once, after the sort
(:func:`~cjmlib.sample.simulation.journey_events`). What needs
no more draws (turning a drawn table into its file, the ground truth computed from the
events) runs in forked child processes beside the next draws (:mod:`cjmlib.sample.background`;
the big exports draw a row plan, :meth:`SampleGenerator.row_plan`, and build their text in
the child), so a run uses two cores and its files do not depend on which process wrote them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.sample.background import Background
from cjmlib.sample.catalogue import (
    APP_SHIFT_PAYMENT,
    APP_SHIFT_WEEK,
    BASE,
    CHURN_HAZARD_OTHER,
    CHURN_HAZARD_SWITCH,
    CHURN_SWITCH,
    CONVERSION_TOUCHPOINTS,
    CSAT_LATENT,
    LOOP,
    PAIN_POINT,
    PERSONAS,
    PLACEHOLDER_EMAIL,
    PLACEHOLDER_PHONE,
    STATES,
    TOUCHPOINT_STAGE,
)
from cjmlib.sample.exports import (
    write_app,
    write_contacts,
    write_crm_customers,
    write_email,
    write_orders,
    write_web,
)
from cjmlib.sample.feedback import (
    write_benchmark,
    write_interviews,
    write_relationship_survey,
    write_social,
    write_surveys,
)
from cjmlib.sample.order import sort_key, sort_rows, stable_order
from cjmlib.sample.pilots import write_ab_pilot, write_store_panel
from cjmlib.sample.simulation import (
    campaigns,
    churn,
    journey_events,
    journeys,
    make_people,
    walk,
)
from cjmlib.sample.stories import (
    Stories,
    drop_emails_before_joining,
    plant_new_customers,
    stories_truth,
)


def _progress_noop(message: str) -> None:
    """Default progress callback: say nothing."""


def _timed(progress: Callable[[str], None]) -> Callable[[str], None]:
    """``progress`` with the seconds since the start before each message (``  12 s  ...``)."""
    started = time.monotonic()

    def say(message: str) -> None:
        progress(f"{time.monotonic() - started:5.0f} s  {message}")

    return say


def _renumbered(df: pd.DataFrame) -> pd.DataFrame:
    """``df.reset_index(drop=True)`` without copying the columns."""
    df.index = pd.RangeIndex(len(df))
    return df


def _instants(times: pd.Series) -> np.ndarray:
    """Timezone-aware times as nanoseconds since the epoch (equal instants, equal numbers)."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def make_sample(
    out_dir: str | Path,
    *,
    n_customers: int = 20_000,
    seed: int = 42,
    start: str = "2026-01-05",
    weeks: int = 26,
    truth_tables: bool = True,
    stories: Stories | None = Stories(),  # noqa: B008 (frozen, never mutated)
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write a raw multi-channel sample into ``out_dir`` and return its ground truth.

    ``n_customers`` is the number of real people (registered customers, anonymous web
    visitors and people seen only on social media); a correct identity stitching finds
    exactly this many customers. The same ``seed`` gives byte-identical files.

    The returned dict (also written to ``ground_truth.json``) holds, among others:
    ``n_customers``, ``pain_point_touchpoint``, ``loop`` (two touchpoints), ``churn_switch``
    (``from``/``to`` channel and the planted churn probabilities), ``ab_lift`` (per metric:
    control, treatment and difference of the population values), ``store_effect``,
    ``key_driver``, ``personas``, ``dirty_rows`` (per file and reason),
    ``duplicates`` and ``files``.

    ``stories`` (:class:`~cjmlib.sample.stories.Stories`; all seven by default, ``None`` for
    none) plants changes over time, by platform and by segment: a payment incident, a
    platform-specific loop, an acquisition burst, a tier conversion gap, a slowdown between
    two steps, a fading channel and journeys left open by the export's end. Their truth is
    ``stories`` in the returned dict (keys documented in docs/sample_ground_truth.md), with
    ``ground_truth/events_after_cutoff.parquet`` and ``acquired_on`` in
    ``ground_truth/persons.csv``.

    ``progress`` (optional) receives one line per step, the seconds since the start first
    (``"   12 s  wrote web_clickstream.csv"``).
    """
    check_scalar(n_customers, "n_customers", typ=int, ge=50)
    check_scalar(seed, "seed", typ=int, ge=0)
    check_scalar(weeks, "weeks", typ=int, ge=8)
    if stories is not None and not isinstance(stories, Stories):
        raise TypeError(f"stories must be a Stories or None, got {type(stories).__name__}")
    say = _timed(progress) if progress else _progress_noop
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = SampleGenerator(n_customers=n_customers, seed=seed,
                          start=pd.Timestamp(start, tz="UTC"), weeks=weeks, out=out, say=say,
                          stories=stories)
    truth = gen.run(truth_tables=truth_tables)
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    say(f"wrote ground_truth.json ({truth['n_customers']} customers, "
        f"{truth['n_events']} clean events)")
    return truth


# --------------------------------------------------------------------------------------------
# Implementation
# --------------------------------------------------------------------------------------------


class SampleGenerator:
    """One sample run: its settings, its random stream and the dirty rows and duplicates planted.

    :meth:`run` makes the people, journeys, campaigns and churn
    (:mod:`cjmlib.sample.simulation`), calls every writer with this generator as the first
    argument and assembles the ground truth. The writers plant problems through
    :meth:`inject`, :meth:`exact_duplicates` and :meth:`mark_dirty`, which keep the tallies
    reported in ``ground_truth.json``.
    """

    def __init__(self, *, n_customers: int, seed: int, start: pd.Timestamp, weeks: int,
                 out: Path, say: Callable[[str], None], stories: Stories | None = None
                 ) -> None:
        self.n = n_customers
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        # the stories draw from their own stream: without them the sample is as before
        self.stories = stories
        self.story_rng = np.random.default_rng([12, seed])
        self.after_cutoff = pd.DataFrame()
        self.start = start
        self.weeks = weeks
        self.end = start + pd.Timedelta(weeks=weeks)
        self.out = out
        self.say = say
        self.dirty: dict[str, dict[str, int]] = {}
        self.duplicates: dict[str, Any] = {}
        self.background: Background | None = None  # set while the writers run

    # ---- main ---------------------------------------------------------------------------

    def run(self, *, truth_tables: bool) -> dict[str, Any]:
        say, rng = self.say, self.rng
        people = plant_new_customers(self, make_people(self))
        say(f"people: {len(people)}")
        emails, clicks = campaigns(self, people)
        say(f"e-mail campaigns: {len(emails)} events")
        if self.stories is not None:
            emails = drop_emails_before_joining(self, people, emails)
            clicks = emails[emails["event"] == "click"][["person_id", "time", "campaign"]]
        walked = journeys(self, people, clicks)
        ev = walk(self, walked)
        say(f"journeys: {len(walked)}, journey events: {len(ev)}")
        j, ev, churn_date = churn(self, walked, ev, people)
        people["churn_date"] = people["person_id"].map(churn_date)
        # an e-mail click whose journey was cut by churn never happened
        kept_clicks = ev[ev["state"] == STATES.index("email_click")]
        click_key = pd.MultiIndex.from_arrays([
            walked["person_id"].to_numpy()[kept_clicks["journey_id"].to_numpy()],
            _instants(kept_clicks["event_time"].dt.floor("s"))])
        is_click = (emails["event"] == "click").to_numpy()
        clicks = emails[is_click]
        kept = ~is_click
        kept[is_click] = pd.MultiIndex.from_arrays([clicks["person_id"], _instants(clicks["time"])]
                                                   ).isin(click_key)
        emails = emails[kept]
        # the events by person, time, journey and step, sorted as numbers (they are in
        # journey and step order, so a stable sort by person and time is that order); their
        # text made once, after
        jid, step = ev["journey_id"].to_numpy(), ev["step"].to_numpy()
        if not ((np.diff(jid) > 0) | ((np.diff(jid) == 0) & (np.diff(step) > 0))).all():
            raise ValueError("the walk's events must be in journey and step order")
        order = stable_order([sort_key(walked["person_id"])[jid], _instants(ev["event_time"])])
        ev = _renumbered(ev.iloc[order])
        order_id = np.full(len(ev), None, dtype=object)
        conv = np.isin(ev["state"].to_numpy(), [STATES.index(x) for x in CONVERSION_TOUCHPOINTS])
        order_id[conv] = [f"O{k:08d}" for k in
                          10**7 + rng.choice(9 * 10**7, conv.sum(), replace=False)]
        ev = journey_events(ev, walked, order_id=order_id)
        del walked
        switchers = set(j.loc[j["switch"], "person_id"])
        with Background(workers=2) as background:
            self.background = background
            # the truth computed from the events (and its tables written) beside the writers
            if truth_tables:
                (self.out / "ground_truth").mkdir(exist_ok=True)
                self.save("ground_truth/events.parquet", self.write_truth_events, ev, emails)
            from_events = background.run("the ground truth", self.truth_from_events, people, j,
                                         ev, switchers, truth_tables=truth_tables)
            files: dict[str, str] = {}
            writers = [
                ("crm_customers.csv", write_crm_customers),
                ("crm_orders.csv", write_orders),
                ("web_clickstream.csv", write_web),
                ("app_events.csv", write_app),
                ("contact_center.csv", write_contacts),
            ]
            for name, fn in writers:
                files[name] = fn(self, people, ev, name)
                say(f"wrote {name}")
            files["email_events.jsonl"] = write_email(self, people, emails, "email_events.jsonl")
            say("wrote email_events.jsonl")
            survey_truth = write_surveys(self, people, ev)
            files.update(survey_truth.pop("files"))
            driver_truth = write_relationship_survey(self, people, "relationship_survey.csv")
            files["relationship_survey.csv"] = "relationship survey (wide, one row per respondent)"
            bench_truth = write_benchmark(self, "market_benchmark.csv")
            files["market_benchmark.csv"] = ("market survey with a brand column "
                                             "(ours vs competitors)")
            files["social_posts.jsonl"] = write_social(self, people, "social_posts.jsonl")
            files["interviews/"] = write_interviews(self, people)
            say("wrote surveys, social posts and interviews")
            ab_truth = write_ab_pilot(self, people, "pilot/ab_units.csv")
            files["pilot/ab_units.csv"] = ("A/B pilot of the payment redesign, "
                                           "one row per customer")
            store_truth = write_store_panel(self, "pilot/store_panel.csv")
            files["pilot/store_panel.csv"] = "store pilot panel, one row per store and week"
            say("wrote pilot data")
            if truth_tables:
                say("writing the ground truth")
            figures = background.result(from_events)
        self.background = None

        reg = people["kind"] == "registered"
        churned = people["churn_date"].notna()
        is_switch = people["person_id"].isin(switchers)
        truth: dict[str, Any] = {
            "generator": "cjmlib.sample.generator.make_sample",
            "seed": self.seed,
            "window": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "n_customers": int(self.n),
            "n_registered": int(reg.sum()),
            "n_anonymous": int((people["kind"] == "anonymous").sum()),
            "n_social_only": int((people["kind"] == "social_only").sum()),
            # the truth events: the journeys' and the e-mail sends and opens
            "n_events": int(len(ev) + (emails["event"] != "click").sum()),
            "n_journeys": int(len(j)),
            "touchpoints": TOUCHPOINT_STAGE,
            "conversion_touchpoints": list(CONVERSION_TOUCHPOINTS),
            "pain_point_touchpoint": PAIN_POINT,
            "pain_point": {
                "touchpoint": PAIN_POINT,
                "exit_probability": BASE["payment"]["END"],
                "realised_exit_share": figures["pay_exit"],
                "csat_latent_mean": CSAT_LATENT[PAIN_POINT],
                "next_lowest_csat_latent": sorted(CSAT_LATENT.values())[1],
                "themes": ["payment failed", "card declined", "timing out", "支付失败"],
            },
            "loop": list(LOOP),
            "loop_detail": {"back_probability": BASE["delivery_options"]["cart"],
                            "journeys_with_loop": figures["loops"]},
            "churn_switch": {
                "from": CHURN_SWITCH[0], "to": CHURN_SWITCH[1],
                "hazard_per_journey_switch": CHURN_HAZARD_SWITCH,
                "hazard_per_journey_other": CHURN_HAZARD_OTHER,
                "customers_switching": int((is_switch & reg).sum()),
                "churn_rate_switching": round(float(churned[is_switch & reg].mean()), 4),
                "churn_rate_not_switching": round(float(churned[~is_switch & reg].mean()), 4),
                "churn_column": "status (crm_customers.csv): 'churned'",
            },
            "key_driver": driver_truth,
            "personas": {
                "names": [x.name for x in PERSONAS],
                "shares": {x.name: x.share for x in PERSONAS},
                "counts": people.loc[reg, "persona"].value_counts().sort_index().to_dict(),
                "labels_file": "ground_truth/persons.csv (crm_id, persona)",
            },
            "ab_lift": ab_truth,
            "store_effect": store_truth,
            "benchmark": bench_truth,
            "kpi_shift": {
                "touchpoint": PAIN_POINT, "channel": "app", "metric": "exit_rate",
                "start": (self.start + pd.Timedelta(weeks=APP_SHIFT_WEEK)).isoformat(),
                "app_version": "5.2.0",
                "exit_probability_before": BASE["payment"]["END"],
                "exit_probability_after": APP_SHIFT_PAYMENT["END"],
            },
            "identity": {
                "placeholder_identifiers": [PLACEHOLDER_EMAIL, PLACEHOLDER_PHONE],
                "customers_with_placeholder_email": int(people["email_placeholder"].sum()),
                "customers_with_placeholder_phone": int(people["phone_placeholder"].sum()),
                "note": "e-mails differ in case and spaces between sources, phones in format; "
                        "normalise both and ignore the placeholders to stitch exactly "
                        "n_customers customers",
            },
            **survey_truth,
            "stories": figures["stories"],
            "dirty_rows": self.dirty,
            "duplicates": self.duplicates,
            "files": files,
        }
        return truth

    # ---- helpers for the ground truth ---------------------------------------------------

    def truth_from_events(self, people: pd.DataFrame, j: pd.DataFrame, ev: pd.DataFrame,
                          switchers: set[str], *, truth_tables: bool) -> dict[str, Any]:
        """The figures of the ground truth that need the journey events (``pay_exit``,
        ``loops``, ``stories``), and the truth tables under ``ground_truth/`` but the events
        (:meth:`write_truth_events`) when ``truth_tables``. Draws nothing, so it can run
        beside the writers."""
        pay = ev[ev["touchpoint"] == "payment"]
        nxt = ev.groupby("journey_id")["touchpoint"].shift(-1)
        figures = {"pay_exit": round(float(nxt.loc[pay.index].isna().mean()), 4),
                   "loops": int(self.count_loops(ev)),
                   "stories": stories_truth(self, j, ev, people)}
        if truth_tables:
            gt = self.out / "ground_truth"
            cols = ["person_id", "kind", "persona", "crm_id", "country", "region", "tier",
                    "churn_date"]
            persons = people[cols].assign(switched=people["person_id"].isin(switchers))
            if self.stories is not None:
                persons["acquired_on"] = people["acquired_on"].dt.strftime("%Y-%m-%d")
            persons.to_csv(gt / "persons.csv", index=False)
            if self.stories is not None and self.stories.open_journeys is not None:
                self.truth_after_cutoff(j).to_parquet(gt / "events_after_cutoff.parquet",
                                                      index=False)
        return figures

    def count_loops(self, ev: pd.DataFrame) -> int:
        tp = ev["touchpoint"]
        g = ev.groupby("journey_id")["touchpoint"]
        a, b = g.shift(1), g.shift(2)
        hit = (b == LOOP[0]) & (a == LOOP[1]) & (tp == LOOP[0])
        return int(ev.loc[hit, "journey_id"].nunique())

    def truth_after_cutoff(self, j: pd.DataFrame) -> pd.DataFrame:
        """Events of open journeys after the export's end, in the truth events' columns."""
        late = self.after_cutoff
        late = late[late["journey_id"].isin(j["journey_id"])]
        cols = ["person_id", "event_time", "channel", "touchpoint", "duration_s", "value",
                "journey_id"]
        out = late[cols].assign(stage=late["touchpoint"].map(TOUCHPOINT_STAGE))
        out["event_time"] = out["event_time"].astype("datetime64[us, UTC]")
        return out.sort_values(["person_id", "event_time"], kind="stable").reset_index(drop=True)

    def write_truth_events(self, ev: pd.DataFrame, emails: pd.DataFrame) -> None:
        """``ground_truth/events.parquet``: :meth:`truth_events`."""
        self.truth_events(ev, emails).to_parquet(self.out / "ground_truth" / "events.parquet",
                                                 index=False)

    def truth_events(self, ev: pd.DataFrame, emails: pd.DataFrame) -> pd.DataFrame:
        em = emails[emails["event"] != "click"].copy()
        em = pd.DataFrame({
            "person_id": em["person_id"], "event_time": em["time"], "channel": "email",
            "touchpoint": em["event"].map({"send": "email_sent", "open": "email_open"}),
            "duration_s": np.nan, "value": np.nan, "journey_id": -1})
        cols = ["person_id", "event_time", "channel", "touchpoint", "duration_s", "value",
                "journey_id"]
        out = pd.concat([ev[cols], em[cols]], ignore_index=True)
        out["stage"] = out["touchpoint"].map(TOUCHPOINT_STAGE)
        out["event_time"] = out["event_time"].astype("datetime64[us, UTC]")
        return sort_rows(out, ["person_id", "event_time", "touchpoint"])

    # ---- helpers for writers ------------------------------------------------------------

    def save(self, what: str, write: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """``write(*args, **kwargs)``: a file's writing, which draws nothing; in a child
        process beside the next draws while :meth:`run` has its :class:`Background` open."""
        if self.background is None:
            write(*args, **kwargs)
        else:
            self.background.run(f"writing {what}", write, *args, **kwargs)

    def mark_dirty(self, file: str, reason: str, count: int) -> None:
        """Record ``count`` dirty rows of ``file`` for ``reason`` (``dirty_rows`` in the truth)."""
        if count:
            self.dirty.setdefault(file, {})[reason] = int(count)

    def inject(self, df: pd.DataFrame, file: str, corruptions: dict[str, Callable]
               ) -> pd.DataFrame:
        """Append corrupted copies of random clean rows, one problem per row."""
        rng = self.rng
        extra = []
        for reason, fn in corruptions.items():
            k = max(3, round(0.002 * len(df)))
            rows = df.iloc[rng.choice(len(df), size=k, replace=False)].copy()
            extra.append(fn(rows))
            self.mark_dirty(file, reason, k)
        out = pd.concat([df, *extra], ignore_index=True)
        # dirty rows sit where they were exported, not at the end
        return _renumbered(out.iloc[rng.permutation(len(out))])

    def row_plan(self, n: int, file: str, *, duplicates: float | None = None,
                 corruptions: dict[str, Callable] | None = None) -> pd.DataFrame:
        """Where the rows of a file of ``n`` clean rows go, drawn as :meth:`exact_duplicates`
        (``duplicates`` is the share) and :meth:`inject` would draw them on the file itself.

        One row per output row: ``row``, the clean row's position, and a column per value a
        corruption sets (missing where it sets none). The corruptions must set values, never
        read them. :func:`~cjmlib.sample.order.apply_row_plan` turns the clean table into the file's rows, so the
        text can be built away from the draws (in a :class:`Background` child).
        """
        plan = pd.DataFrame({"row": np.arange(n)})
        if duplicates is not None:
            plan = self.exact_duplicates(plan, file, duplicates)
        return self.inject(plan, file, corruptions or {})

    def exact_duplicates(self, df: pd.DataFrame, file: str, share: float) -> pd.DataFrame:
        """Append exact copies of random rows (``share`` of them) and shuffle all rows."""
        k = max(3, round(share * len(df)))
        dup = df.iloc[self.rng.choice(len(df), size=k, replace=False)]
        self.duplicates.setdefault("exact", {})[file] = int(k)
        out = pd.concat([df, dup], ignore_index=True)
        return _renumbered(out.iloc[self.rng.permutation(len(out))])
