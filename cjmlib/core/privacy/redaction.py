"""Redaction of free text and small-group suppression.

* :func:`redact` masks e-mails, phones and (given the raw data's personal data) names in
  free text before it is written or shown, with the detectors of
  :mod:`cjmlib.core.privacy.detect`.

* :func:`suppress_small_groups` blanks the values of breakdown rows with fewer than
  ``min_size`` units (statistical disclosure control by threshold suppression, as in the
  ONS / Eurostat practice for tabular outputs), keeping the row and saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.privacy.detect import (
    DEFAULT_REGIONS,
    PersonalData,
    _any_phone,
    _email_spans,
    _normalise_with_offsets,
    _personal_spans,
    _phone_spans,
    _Span,
)

# --------------------------------------------------------------------------------------------
# Redaction and small-group suppression
# --------------------------------------------------------------------------------------------
_LABELS = {"email": "[e-mail]", "phone": "[phone]", "name": "[name]"}


def redact(text: Any, *, personal: PersonalData | None = None,
           regions: Sequence[str] = DEFAULT_REGIONS) -> Any:
    """Free text with personal data replaced by ``[e-mail]``, ``[phone]`` and ``[name]``,
    for customers' words kept in a table or quoted in a report; other values come back
    unchanged.

    Uses the detectors of the privacy scan on the NFKC-normalised text: every e-mail address
    (internationalised domains too); every whole token ``phonenumbers`` reads as a valid
    number of ``regions`` (or of the country its ``+``/``00`` prefix names); and, with
    ``personal`` (:func:`personal_data` of the raw data), everything the scan would find:
    the raw phones in any written form and the raw names (middle initials, CJK with
    spaces). Without ``personal`` names cannot be told from other words and stay.

    >>> redact("Call me on 07644.808.806 or mail a.b@c.com; order 2026 was late")
    'Call me on [phone] or mail [e-mail]; order 2026 was late'
    """
    if not isinstance(text, str):
        return text
    norm, origin = _normalise_with_offsets(text)
    spans = [_Span("email", s, e, "") for s, e, _ in _email_spans(norm, None)]
    spans += [_Span("phone", s, e, "") for s, e, _ in
              _phone_spans(norm, _any_phone(personal, regions))]
    if personal is not None:
        spans += [s for s in _personal_spans(norm, personal) if s.kind == "name"]
    if not spans:
        return text
    out, at = [], 0
    for kind, start, end in _merged(spans):
        if origin is not None:
            start, end = origin[start][0], origin[end - 1][1]
        out += [text[at:start], _LABELS[kind]]
        at = end
    return "".join(out) + text[at:]


def _merged(spans: Sequence[_Span]) -> list[tuple[str, int, int]]:
    """Overlapping spans joined into one, named by the kind of the first (an e-mail
    address that spells a name is one ``[e-mail]``)."""
    merged: list[tuple[str, int, int]] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1][2]:
            kind, start, end = merged[-1]
            merged[-1] = (kind, start, max(end, span.end))
        else:
            merged.append((span.kind, span.start, span.end))
    return merged


def redact_column(table: pd.DataFrame, column: str, *,
                  personal: PersonalData | None = None) -> pd.DataFrame:
    """A copy of ``table`` with the free text of ``column`` passed through :func:`redact`
    (with ``personal``, names too), for showing or writing customers' words (absent columns
    are left alone).

    >>> redact_column(pd.DataFrame({"quote": ["mail me at a.b@c.com"]}), "quote")["quote"][0]
    'mail me at [e-mail]'
    """
    if column not in table.columns:
        return table
    done: dict[tuple[type, Any], Any] = {}  # each distinct text redacted once

    def once(text: Any) -> Any:
        key = (type(text), text)
        try:
            return done[key]
        except KeyError:
            done[key] = value = redact(text, personal=personal)
            return value
        except TypeError:  # not hashable
            return redact(text, personal=personal)

    return table.assign(**{column: table[column].map(once)})


def suppress_small_groups(
    table: pd.DataFrame,
    *,
    count_col: str = "n",
    min_size: int = 10,
    value_cols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Blank the values of rows counting fewer than ``min_size`` units.

    Returns a copy with ``value_cols`` (default: every numeric column except ``count_col``)
    set to missing and ``count_col`` set to missing where ``count_col < min_size``, plus a
    boolean column ``suppressed``. Rows are kept, so a reader sees that the group exists
    and why its numbers are not shown. Raises ``ValueError`` when ``count_col`` is missing.

    >>> t = pd.DataFrame({"group": ["a", "b"], "n": [50, 4], "rate": [0.2, 0.5]})
    >>> suppress_small_groups(t, min_size=10)
      group     n  rate  suppressed
    0     a    50   0.2       False
    1     b  <NA>   NaN        True
    """
    check_scalar(min_size, "min_size", typ=int, ge=1)
    if count_col not in table.columns:
        raise ValueError(f"suppress_small_groups: count column {count_col!r} not found; "
                         f"columns: {list(table.columns)}")
    out = table.copy()
    small = out[count_col].fillna(0).to_numpy() < min_size
    if value_cols is None:
        # alpha is the level of the table's intervals, not a value of the group
        value_cols = [c for c in out.select_dtypes("number").columns
                      if c not in (count_col, "alpha")]
    for c in value_cols:
        if c in out.columns:
            if pd.api.types.is_integer_dtype(out[c]) and not pd.api.types.is_extension_array_dtype(
                    out[c]):
                out[c] = out[c].astype("Int64")
            out.loc[small, c] = pd.NA if pd.api.types.is_extension_array_dtype(out[c]) else (
                float("nan"))
    out[count_col] = out[count_col].astype("Int64")
    out.loc[small, count_col] = pd.NA
    out["suppressed"] = small
    return out
