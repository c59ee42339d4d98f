"""``cjm init DIR --raw EXPORTS``: a new project for a researcher's own exports.

:func:`init_project` profiles every raw file (:mod:`cjmlib.collection.profiling`), proposes
``configs/sources.yaml`` (which column is the customer id, the time and its format, the event,
the channel, the session; which file holds events, feedback or customer profiles) and
``configs/journey.yaml`` (touchpoints from the distinct event names with a stage guessed from
their words, conversion candidates, a funnel), writes a ``run.yaml`` pointing at the exports
and a ``report.yaml`` with no rollouts, and returns what it guessed and what the researcher must
confirm. It writes no sample config: no pilot plan, no improvements, no rollouts. ``cjm run``
in DIR then works with no flag.
"""

from __future__ import annotations

import os
import re
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cjmlib.collection.profiling import ExportProfile, list_exports, profile_export
from cjmlib.core.schema import SCORE_RANGES

STAGES = ("awareness", "consideration", "purchase", "service", "loyalty")
#: Words of a touchpoint name that suggest its stage (first match in this order wins).
STAGE_WORDS: tuple[tuple[str, str], ...] = (
    ("service", r"help|support|faq|contact|call|chat|complain|return|refund|track|cancel|"
                r"claim|ticket|issue|problem"),
    ("loyalty", r"loyal|reward|point|member|renew|referr|review_written|subscri"),
    ("purchase", r"cart|basket|checkout|payment|pay|order|purchase|buy|confirm|transaction|"
                 r"submit|apply|application|sign|approv|accept|offer|deliver|shipping"),
    ("consideration", r"product|item|detail|compar|review|catalog|category|price|plan|quote|"
                      r"search_result|list|view"),
    ("awareness", r"home|^main$|main_page|landing|search|ad|campaign|email|promo|banner|visit|"
                  r"open|start|session_start|launch"),
)
#: Touchpoint names that look like a conversion.
CONVERSION = re.compile(r"(purchase|order[_ ]?(complete|confirm|placed|success|done)|"
                        r"confirmation|checkout[_ ]?(complete|success|done)|paid|"
                        r"payment[_ ]?(success|done|complete)|^buy$|"
                        r"convert|subscri|sign[_ ]?up|approv|accept|success|complete)", re.I)
_SESSION_LESS = re.compile(r"case|application|ticket|claim|order", re.I)
#: Touchpoint names that look like an outcome worth counting besides the conversion.
OUTCOME = re.compile(r"(redeem|redemption|respon|sign[_ ]?up|regist|enrol|activat|renew|"
                     r"cancel|churn|complain|return|refund|declin|reject)", re.I)
_BASKET = re.compile(r"^(basket|order|receipt|transaction|invoice|ticket|cart)[_ ]?"
                     r"(id|no|nr|number|key|code)$", re.I)
_STORE_COLUMN = re.compile(r"^(store|shop|branch|outlet|location)[_ ]?(id|no|nr|code)?$", re.I)


@dataclass
class InitResult:
    """What :func:`init_project` wrote and guessed."""

    folder: Path
    written: list[Path]
    profiles: list[ExportProfile]
    touchpoints: dict[str, str]
    conversions: list[str]
    to_confirm: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The guesses and the points to confirm, as the lines ``cjm init`` prints."""
        lines = [f"project {self.folder}: {len(self.written)} config files written"]
        for prof in self.profiles:
            roles = ", ".join(f"{role} = {col}" for role, col in prof.roles.items())
            lines.append(f"  {prof.name}: {prof.kind or 'not read'} ({roles or 'no roles'})")
        lines.append(f"  touchpoints: {len(self.touchpoints)}; conversions: "
                     f"{', '.join(self.conversions) or 'none found'}")
        if self.to_confirm:
            lines.append("confirm before trusting the numbers:")
            lines += [f"  - {item}" for item in self.to_confirm]
        lines.append(f"then: cd {self.folder} && cjm run")
        return "\n".join(lines)


def init_project(folder: str | os.PathLike[str], raw: str | os.PathLike[str], *,
                 force: bool = False) -> InitResult:
    """Profile the exports in ``raw`` and write ``folder/configs`` (see the module).

    Raises ``FileExistsError`` when ``folder/configs`` exists (``force`` overwrites it) and
    ``ValueError`` when no file of ``raw`` can be read as events.
    """
    root = Path(folder).expanduser().resolve()
    raw_dir = Path(raw).expanduser().resolve()
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"{raw_dir}: no such folder of raw exports")
    configs = root / "configs"
    if configs.exists() and not force:
        raise FileExistsError(f"{configs} exists; pass --force to overwrite its configs")
    profiles = [profile_export(p, raw_dir) for p in list_exports(raw_dir)]
    if not any(p.kind == "events" for p in profiles):
        found = "; ".join(f"{p.name}: {', '.join(p.roles) or 'no roles'}" for p in profiles)
        raise ValueError(f"{raw_dir}: no file looks like events (a customer id, a time and an "
                         f"event name or a value); found {found or 'no readable file'}")
    joined = dated_by_lookup(profiles)
    counts = _touchpoint_counts(profiles)
    for prof in profiles:  # survey pages that are mostly journey touchpoints join the journey
        pages = set(prof.values("touchpoint")) if prof.kind == "feedback" else set()
        if pages and len(pages & set(counts)) >= len(pages) / 2:
            counts.update({page: 0 for page in pages - set(counts)})
    stage_of = {tp: guess_stage(tp) for tp in counts}
    conversions = [tp for tp in counts if CONVERSION.search(tp)]
    others = [tp for tp in counts if OUTCOME.search(tp) and tp not in conversions]
    sources = sources_config(profiles, set(counts), joined)
    to_confirm = [item for p in profiles for item in p.to_confirm]
    reach = _customer_reach(profiles)
    everyone = [tp for tp in conversions if reach.get(tp, 0.0) >= 0.95]
    if conversions and everyone == conversions and others:
        to_confirm.append(f"{everyone} reach {min(reach[t] for t in everyone):.0%} of the "
                          f"customers read: as a conversion that says little; converting on "
                          f"{others[0]!r} instead")
        conversions, others = [others[0]], [*everyone, *others[1:]]
    journey = journey_config(counts, stage_of, conversions, others)
    for prof in profiles:  # coded event names: the label says which column the code is of
        codes = [v for v in prof.values("touchpoint") if v.isdigit()]
        if prof.kind == "events" and codes:
            for code in codes:
                journey["touchpoints"][code]["label"] = f"{prof.roles['touchpoint']} {code}"
            to_confirm.append(f"touchpoints are codes of {prof.roles['touchpoint']!r} "
                              f"({', '.join(sorted(codes, key=int))}): name them in the labels "
                              "of configs/journey.yaml")
    if not conversions:
        to_confirm.append("no touchpoint looks like a conversion: set conversion_touchpoints "
                          "in configs/journey.yaml")
    else:
        to_confirm.append(f"conversion touchpoints guessed: {conversions}")
    if journey.get("outcomes"):
        to_confirm.append(f"outcomes counted: {list(journey['outcomes'])} (02's "
                          "`outcome` parameter chooses the one to convert on)")
    to_confirm.append("stages were guessed from touchpoint names: check configs/journey.yaml")
    if len(counts) > 200:
        to_confirm.append(f"{len(counts)} distinct event names: journeys read better with "
                          "fewer; map them to touchpoints under `map:` in sources.yaml")
    configs.mkdir(parents=True, exist_ok=True)
    header = ("# Proposed by `cjm init` from the exports in " + str(raw_dir) + ".\n"
              "# Confirm before trusting the numbers:\n"
              + "".join(f"#   - {item}\n" for item in to_confirm) + "\n")
    written = [
        _write(configs / "sources.yaml", sources, header),
        _write(configs / "journey.yaml", journey, "# Proposed by `cjm init`: stages, labels "
               "and conversions are guesses.\n\n"),
        _write(configs / "run.yaml", {"raw_dir": str(raw_dir), "processed_dir":
                                      "data/processed", "reports_dir": "reports",
                                      "parameters": {}}, "# Defaults for `cjm run` here.\n\n"),
        _write(configs / "report.yaml", {"language": "en", "min_group_size": 10,
                                         "monitoring": {"rate_freq": "W", "score_freq": "M",
                                                        "min_baseline": 8, "charts_shown": 4},
                                         "rollouts": []},
               "# The report (06_report). Add rollouts (name, date) to compare before/after."
               "\n\n"),
    ]
    return InitResult(root, written, profiles, stage_of, conversions, to_confirm)


def guess_stage(touchpoint: str) -> str:
    """The journey stage a touchpoint's name suggests (consideration when none does).

    >>> guess_stage("checkout_payment"), guess_stage("help_article"), guess_stage("home")
    ('purchase', 'service', 'awareness')
    """
    name = touchpoint.lower()
    for stage, words in STAGE_WORDS:
        if re.search(words, name):
            return stage
    return "consideration"


def sources_config(profiles: list[ExportProfile], touchpoints: set[str],
                   joined: Sequence[tuple[ExportProfile, ExportProfile, str]] = ()
                   ) -> dict[str, Any]:
    """``sources.yaml`` for the profiled exports (``joined``: :func:`dated_by_lookup`)."""
    sources: dict[str, Any] = {}
    for prof in profiles:
        if (prof.kind is None or "customer_id" not in prof.roles
                or any(prof is pair[0] for pair in joined)):
            continue
        name = _source_name(prof.name, sources)
        spec: dict[str, Any] = {"kind": prof.kind, "files": prof.name,
                                "identifiers": {"customer": prof.roles["customer_id"]}}
        if prof.delimiter != ",":
            spec["delimiter"] = prof.delimiter
        fields: dict[str, Any] = {}
        r = prof.roles
        if prof.kind == "events":
            rollup = line_items(prof)
            if rollup is not None:
                spec["rollup"] = rollup
            fields["event_time"] = _time_field(prof)
            fields["channel"] = ({"column": r["channel"]} if "channel" in r
                                 else _channel_constant(prof.name, prof.columns))
            fields["touchpoint"] = ({"column": r["touchpoint"], "strict": True}
                                    if "touchpoint" in r else constant_touchpoint(prof))
            if "session_id" in r:
                fields["session_id"] = {"column": r["session_id"]}
                spec["sessions"] = "given"
            else:  # cases (applications, tickets), baskets and dated rows are not visits
                spec["sessions"] = ("none" if _SESSION_LESS.search(r["customer_id"])
                                    or "touchpoint" not in r or prof.time.get("date_only")
                                    else "derive")
            if "value" in r:
                fields["value"] = {"column": r["value"]}
            for c in prof.columns:  # the store of a row: a segment, or a pilot's unit
                if _STORE_COLUMN.match(str(c)) and c not in r.values():
                    fields[_field_name(c)] = {"column": c}
            if rollup is not None:
                fields["lines"] = {"column": "lines", "type": "int"}
        elif prof.kind == "feedback":
            if "event_time" in r:
                fields["response_time"] = _time_field(prof)
            fields["channel"] = {"column": r["channel"]} if "channel" in r else "survey"
            in_journey = "touchpoint" in r and set(prof.values("touchpoint")) <= touchpoints
            if in_journey:
                fields["touchpoint"] = {"column": r["touchpoint"]}
            for score in SCORE_RANGES:
                if score in r:
                    fields[score] = {"column": r[score]}
            if "text" in r:
                fields["text"] = {"column": r["text"]}
            fields["survey"] = "post_interaction" if in_journey else "relationship"
        else:  # customers: every other column becomes a profile attribute
            for column in prof.columns:
                if column == r["customer_id"]:
                    continue
                fields[_field_name(column)] = {"column": column}
        spec["fields"] = fields
        sources[name] = spec
    for prof, lookup, key in joined:
        name = _source_name(lookup.name, sources)
        sources[name] = {"kind": "lookup", "files": lookup.name}
        sources[_source_name(prof.name, sources)] = {
            "kind": "events", "files": prof.name,
            "identifiers": {"customer": prof.roles["customer_id"]},
            "join": {"source": name, "on": key}, "sessions": "none",
            "fields": {"event_time": _time_field(lookup),
                       "channel": _channel_constant(prof.name, prof.columns),
                       "touchpoint": constant_touchpoint(prof),
                       **{_field_name(c): {"column": c} for c in _segment_columns(lookup)}}}
    used = {p.name for pair in joined for p in pair[:2]}
    ignore = [p.name for p in profiles if (p.kind is None or "customer_id" not in p.roles)
              and p.name not in used]
    return {"defaults": {"encoding": "auto", "encodings": ["utf-8", "gb18030", "cp1251"],
                         "timezone": "UTC"},
            "ignore": ["README.md", *ignore],
            "identity": {"salt_env": "CJM_SALT", "salt": secrets.token_hex(16),
                         "types": {"customer": {"normalise": "strip"}}},
            "sources": sources}


def journey_config(counts: Counter, stage_of: dict[str, str], conversions: list[str],
                   outcomes: Sequence[str] = ()) -> dict[str, Any]:
    """``journey.yaml`` from the touchpoints, their stages, the conversion candidates and
    other outcomes to count (each a named outcome of its own)."""
    touchpoints = {tp: {"stage": stage_of[tp], "label": _label(tp)}
                   for tp, _ in counts.most_common()}
    config: dict[str, Any] = {"stages": list(STAGES), "touchpoints": touchpoints,
                              "conversion_touchpoints": conversions,
                              "session_timeout_minutes": 30}
    named = {tp: [tp] for tp in [*conversions, *outcomes]}
    if len(named) > 1:
        config["outcomes"] = named
    steps = []
    for stage in ("awareness", "consideration", "purchase"):
        ranked = [tp for tp, _ in counts.most_common() if stage_of[tp] == stage
                  and tp not in named]
        if ranked:
            steps.append(ranked[0])
    if conversions and steps:
        config["funnel"] = {"name": "to conversion", "steps": [*steps, conversions[0]],
                            "window_days": 30}
    return config


def line_items(prof: ExportProfile) -> dict[str, Any] | None:
    """A ``rollup`` for an events file of line items: no event column, and a basket, order,
    receipt or transaction id that repeats (several rows per basket). One event per basket:
    its value the sum, its time the earliest, the customer (and store) of its first line."""
    if "touchpoint" in prof.roles or prof.frame is None:
        return None
    frame = prof.frame
    keys = [c for c in prof.columns if _BASKET.match(str(c))
            and c not in prof.roles.values() and frame[c].notna().all()
            and frame[c].nunique() < len(frame)]
    if not keys:
        return None
    rollup: dict[str, Any] = {"by": [keys[0]]}
    if "value" in prof.roles:
        rollup["sum"] = [prof.roles["value"]]
    if not prof.time.get("date_parts"):
        rollup["min"] = [prof.roles["event_time"]]
    rollup["first"] = [prof.roles["customer_id"], *(c for c in prof.columns
                                                    if _STORE_COLUMN.match(str(c)))]
    rollup["count"] = "lines"
    prof.to_confirm.append(f"{prof.name}: {frame[keys[0]].nunique()} {keys[0]!r} values on "
                           f"{len(frame)} rows read: line items rolled up to one event per "
                           f"{keys[0]!r} (value summed, earliest time)")
    return rollup


def dated_by_lookup(profiles: list[ExportProfile]
                    ) -> list[tuple[ExportProfile, ExportProfile, str]]:
    """Files of customers without a time (``campaigns``: household, campaign) whose rows a
    file without customers dates (``campaign_descriptions``: campaign, start date) through a
    shared key that is unique there: (file, lookup file, key) for each."""
    pairs = []
    lookups = [p for p in profiles if "customer_id" not in p.roles and "event_time" in p.roles
               and p.frame is not None]
    for prof in profiles:
        if prof.kind is not None or "customer_id" not in prof.roles or "event_time" in prof.roles:
            continue
        for lookup in lookups:
            keys = [c for c in prof.columns if c in lookup.columns
                    and c != prof.roles["customer_id"] and lookup.frame[c].is_unique]
            if keys:
                _prefer_start(lookup)
                lookup.kind = "lookup"
                pairs.append((prof, lookup, keys[0]))
                prof.kind = "events"  # for the reach and the summary
                prof.to_confirm = [c for c in prof.to_confirm if "not read" not in c]
                lookup.to_confirm = [c for c in lookup.to_confirm if "not read" not in c]
                prof.to_confirm.append(
                    f"{prof.name}: rows dated by {lookup.name} (joined on {keys[0]!r}, time "
                    f"{lookup.roles['event_time']!r}); each row is one "
                    f"{constant_touchpoint(prof)!r} event")
                break
    return pairs


def _segment_columns(prof: ExportProfile) -> list[str]:
    """Text columns of a few values (a campaign's type, a plan): kept as extra event columns,
    usable as a segment; none whose name a canonical field is (or resembles)."""
    from cjmlib.collection.sources import EVENT_FIELDS, _check_extra_name

    found = []
    for c in prof.columns:
        values = prof.frame[c]
        if c in prof.roles.values() or not (values.dtype == object
                                            or pd.api.types.is_string_dtype(values)):
            continue
        if 2 <= values.nunique() <= 20:
            try:
                _check_extra_name(_field_name(c), "events", EVENT_FIELDS, "")
            except ValueError:
                continue
            found.append(c)
    return found


def _prefer_start(prof: ExportProfile) -> None:
    """Of a lookup's time columns, the start (start_date, sent_at, ...) dates the event."""
    starts = [c for c in prof.columns if re.search(r"start|begin|sent|launch|from", str(c), re.I)
              and pd.api.types.is_datetime64_any_dtype(prof.frame[c])]
    if starts and prof.roles.get("event_time") != starts[0]:
        prof.roles["event_time"] = starts[0]


def _customer_reach(profiles: list[ExportProfile]) -> dict[str, float]:
    """Share of the customers in the rows read that have each touchpoint."""
    seen: dict[str, set[str]] = {}
    for prof in profiles:
        if prof.kind != "events" or prof.frame is None:
            continue
        ids = prof.frame[prof.roles["customer_id"]].astype(str)
        if "touchpoint" in prof.roles:
            for tp, group in ids.groupby(prof.frame[prof.roles["touchpoint"]].astype(str)):
                seen.setdefault(str(tp), set()).update(group)
        else:
            seen.setdefault(constant_touchpoint(prof), set()).update(ids)
    customers = set().union(*seen.values()) if seen else set()
    return {tp: len(ids) / len(customers) for tp, ids in seen.items()} if customers else {}


def _touchpoint_counts(profiles: list[ExportProfile]) -> Counter:
    counts: Counter = Counter()
    for prof in profiles:
        if prof.kind != "events":
            continue
        if "touchpoint" in prof.roles and prof.frame is not None:
            column = prof.frame[prof.roles["touchpoint"]].dropna().astype(str)
            counts.update(column.tolist())
        else:
            counts[constant_touchpoint(prof)] += prof.rows_read
    return counts


def constant_touchpoint(prof: ExportProfile) -> str:
    """The one touchpoint of an events file without an event column: ``purchase`` for
    transactions (a value column), else the file's name in the singular
    (``coupon_redemptions.csv`` -> ``coupon_redemption``)."""
    if "value" in prof.roles:
        return "purchase"
    name = _source_name(prof.name, {})
    if name.endswith("ies"):
        return name[:-3] + "y"
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


def _time_field(prof: ExportProfile) -> dict[str, Any]:
    if prof.time.get("date_parts"):
        return {"date_parts": dict(prof.time["date_parts"])}
    field_: dict[str, Any] = {"column": prof.roles["event_time"]}
    if prof.time.get("unit"):
        field_["unit"] = prof.time["unit"]
    elif prof.time.get("formats"):
        field_["formats"] = list(prof.time["formats"])
    return field_


def _channel_constant(file_name: str, columns: list[str] = ()) -> str:
    if any(_STORE_COLUMN.match(str(c)) for c in columns):
        return "store"  # rows that name a store happened in one
    name = file_name.lower()
    for channel, words in (("app", r"\bapp|mobile"), ("store", r"store|pos|shop_floor"),
                           ("call_center", r"call|contact"), ("email", r"mail"),
                           ("web", r"web|click|site|online|shop|event|log")):
        if re.search(words, name):
            return channel
    return "digital"


def _source_name(file_name: str, taken: dict[str, Any]) -> str:
    stem = Path(file_name).name.split(".")[0]
    name = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_") or "source"
    base, k = name, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def _field_name(column: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", str(column).lower()).strip("_") or "field"
    reserved = {"customer_id", "first_seen", "last_seen", "n_events", "channels", "converted",
                "revenue", "n_channels", "n_feedback", "n_identifiers", "identifier_types",
                "as_of"}  # as_of: a customers source's observation time, a date or time field
    return f"crm_{name}" if name in reserved else name


def _label(touchpoint: str) -> str:
    words = re.sub(r"[_\-]+", " ", touchpoint).strip()
    return words[:1].upper() + words[1:] if words else touchpoint


def _write(path: Path, data: dict[str, Any], header: str) -> Path:
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(text, encoding="utf-8")
    return path
