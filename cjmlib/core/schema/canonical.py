"""The canonical tables 01_collect writes into data/processed, and the pilot inputs."""

from __future__ import annotations

from cjmlib.core.schema._spec import TableSpec, columns

#: Score scales of feedback (inclusive).
SCORE_RANGES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}

_EVENTS = columns("""
customer_id | string | stitched customer key (pseudonymous `cu_...`, never a raw e-mail or phone)
event_time | timestamp | when the interaction happened, UTC
channel | string | web, app, store, call_center, email, chat, social, ...
touchpoint | string | what the customer touched: product_page, checkout, support_call, ...
stage | string | journey stage of the touchpoint (configs/journey.yaml)
session_id | string | session: given by the source (prefixed with it) or derived by inactivity; null when neither
duration_s | float | dwell time at the touchpoint in seconds; null when unknown
value | float | revenue or other value of the interaction; null when none
source | string | the raw source (configs/sources.yaml) the row came from
seq | int | order of a customer's events from 1; ties of equal time broken by source, file and row
attributes | json | the source's unmapped columns as a JSON object, so nothing the export carried is dropped
raw_file | string | raw file the row came from, relative to data/raw
raw_row | int | 1-based record number in that file (header not counted)
""")

_FEEDBACK = columns("""
customer_id | string | stitched customer key; null for anonymous answers (benchmark panels, social posts without a handle)
response_time | timestamp | when the answer was given, UTC
touchpoint | string | touchpoint the answer is about; null for relationship surveys
channel | string | channel of the answer (web, app, email, social, ...)
csat | int | satisfaction 1-5; null when not asked
nps | int | likelihood to recommend 0-10; null when not asked
ces | int | customer effort 1-7; null when not asked
text | string | free-text comment or quote (raw customer words: redact before showing)
language | string | ISO 639-1 language of the text when the source gives it
source | string | the raw source the row came from
survey | string | post_interaction, relationship, social, interview or market_benchmark
response_id | string | id of the answer within its source
stage | string | journey stage of the touchpoint
brand | string | brand rated (market benchmark surveys rate competitors too); null for ours
attributes | json | the source's unmapped columns as a JSON object
raw_file | string | raw file the row came from
raw_row | int | 1-based record number in that file
""")

_CUSTOMERS = columns("""
customer_id | string | stitched customer key
first_seen | timestamp | first event or answer of the customer, UTC
last_seen | timestamp | last event or answer of the customer, UTC
n_events | int | events of the customer
channels | string | comma-separated sorted list of the channels used
converted | bool | reached a conversion touchpoint (configs/journey.yaml) at least once
revenue | float | sum of `value` over conversion touchpoints (compensated, `fsum`: the same whatever order the engine adds them in)
n_channels | int | number of channels used
n_feedback | int | survey answers and comments of the customer
n_identifiers | int | identifiers (CRM id, e-mail, phone, device, cookie, handle) stitched into the customer
identifier_types | string | comma-separated types of those identifiers
""")

_EXTRA = ("extra columns after the columns above: each field of a source of "
          "configs/sources.yaml that is not a canonical field (e.g. `{example}: {{column: ...}}`) "
          "becomes a column of its name, typed by the field's `type` (string by default; int, "
          "float, bool, date, time); null for rows of sources that do not fill it; listed in "
          "manifest.json under extra_columns")

TABLES: tuple[TableSpec, ...] = (
    TableSpec("events", "canonical", "events",
              "One row per customer interaction, ordered by customer_id, event_time, seq.",
              _EVENTS, patterns=(("<extra field>", _EXTRA.format(example="lifecycle")),)),
    TableSpec("feedback", "canonical", "feedback",
              "One row per survey answer, comment, social post or interview quote.",
              _FEEDBACK, free_text=("text",),
              patterns=(("<extra field>", _EXTRA.format(example="wave")),)),
    TableSpec("customers", "canonical", "customers",
              "One row per stitched customer; CRM profile fields follow the columns below.",
              _CUSTOMERS,
              patterns=(("<profile field>", "CRM profile fields declared in "
                         "configs/sources.yaml (the sample: crm_id, segment = CRM tier, region, "
                         "country, status, churned, churn_date, date_joined, marketing_opt_in), "
                         "each merged over all customers rows of the customer by its rule "
                         "(profiles.merge; default first: the first non-null value), and "
                         "tenure_days, days from date_joined to the last event in the "
                         "data"),)),
    TableSpec("identity_audit", "canonical", "identity_audit",
              "Which (hashed) identifiers formed each customer.", columns("""
customer_id | string | stitched customer key; null for a blocked identifier
identifier_type | string | crm_id, email, phone, device, cookie, social handle, ...
identifier_hash | string | salted SHA-256 of the normalised identifier
n_records | int | raw records that carried the identifier
sources | string | comma-separated sources that carried it
status | string | linked, or why the identifier was not used (blocked as shared, giant component)
""")),
    TableSpec("customer_attribute_history", "canonical", "customer_attribute_history",
              "Each customer's values of each profile field in observation order (as_of, then "
              "source, file, row): the first value and every change; written only when a "
              "customers source declares as_of (cjmlib.collection.profiles).", columns("""
customer_id | string | stitched customer key
attribute | string | the profile field (a column of customers.parquet)
value | string | the value as text (dates as YYYY-MM-DD, booleans as true/false)
as_of | timestamp | when the value was observed (the source's as_of, a date at midnight UTC); null for rows without one, which come first
source | string | the customers source of the row
raw_file | string | raw file the row came from, relative to data/raw
raw_row | int | 1-based record number in that file
""")),
    TableSpec("quarantine", "canonical", "quarantine/<source>",
              "Every rejected raw row of one source with its reason (one file per source; "
              "quarantine/summary.csv counts them by file, reason and column).", columns("""
source | string | the raw source
file | string | raw file, relative to data/raw
row | int | 1-based record number in the file
column | string | raw column at fault; null for whole-row reasons (exact_duplicate, ...)
reason | string | why the row was rejected: missing_id, unparseable_time, `<field>_out_of_range` (a time outside the plausible window, a value outside its declared min/max), malformed_row, exact_duplicate, near_duplicate, ...
value | string | the offending value as text
detail | string | what was expected
record | json | the raw row without personal identifiers
raw_text | string | the raw text of a record that could not be read into columns (malformed_row, unparseable_record): e-mail addresses and phone numbers masked, cut at 2,000 characters; null for other reasons
""")),
    TableSpec(
        "units", "input", "pilot/ab_units",
        "A/B pilot: one row per experimental unit (read by 04 and 05).", columns("""
unit_id | string | the unit randomised (customer, session, ...)
variant | string | arm the unit was assigned to (control, treatment, ...)
"""),
        patterns=(("<metric>", "one column per metric (0/1, number, 1-5 or 0-10 score, "
                   "duration with its event flag, numerator and denominator of ratios)"),
                  ("pre_<metric>", "pre-period value of the metric, the CUPED covariate"),
                  ("<segment>", "segment columns for breakdowns (region, tier, ...)"),
                  ("<cluster>", "store or region when assignment was by cluster"))),
    TableSpec("panel", "input", "pilot/store_panel",
              "Non-randomised pilot: one row per unit and period (read by 05).", columns("""
unit | string | store or region
period | string | period label, ordered (week or month)
treated | int | 1 for pilot units, 0 for comparison units
post | int | 1 in periods after launch
"""),
              patterns=(("<outcome>", "one numeric column per outcome (sales, footfall, ...)"),)),
)

#: Contract columns of events, feedback and customers, in file order.
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in _EVENTS[:10])
FEEDBACK_COLUMNS: tuple[str, ...] = tuple(c.name for c in _FEEDBACK[:14])
CUSTOMER_COLUMNS: tuple[str, ...] = tuple(c.name for c in _CUSTOMERS)
#: (``seq`` is derived when an events table has none: see cjmlib.journeys.events.read_events)
REQUIRED_EVENT_COLUMNS: tuple[str, ...] = ("customer_id", "event_time", "channel", "touchpoint",
                                           "stage")
REQUIRED_FEEDBACK_COLUMNS: tuple[str, ...] = FEEDBACK_COLUMNS[:10]
