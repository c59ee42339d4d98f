"""One small validation helper used everywhere, so every bad argument reads the same way."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import pandas as pd


def check_scalar(
    value: Any,
    name: str,
    *,
    typ: type | tuple[type, ...] | None = None,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    in_: Collection[Any] | None = None,
) -> Any:
    """Check one argument and return it unchanged, or raise with a message naming it.

    >>> check_scalar(0.05, "alpha", typ=float, gt=0, lt=1)
    0.05
    >>> check_scalar(2, "alpha", typ=float, gt=0, lt=1)
    Traceback (most recent call last):
    ...
    ValueError: alpha must be < 1, got 2
    >>> check_scalar("week", "unit", in_=("customer", "session"))
    Traceback (most recent call last):
    ...
    ValueError: unit must be one of 'customer', 'session', got 'week'
    """
    if typ is not None:
        types = typ if isinstance(typ, tuple) else (typ,)
        # An int is a fine float; a bool is not a number here.
        accepted = types + ((int,) if float in types else ())
        if isinstance(value, bool) and bool not in types:
            raise TypeError(f"{name} must be {_type_names(types)}, got bool {value!r}")
        if not isinstance(value, accepted):
            raise TypeError(
                f"{name} must be {_type_names(types)}, got {type(value).__name__} {value!r}"
            )
    if in_ is not None and value not in in_:
        choices = ", ".join(repr(c) for c in in_)
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    for bound, ok, word in (
        (ge, lambda v, b: v >= b, ">="),
        (le, lambda v, b: v <= b, "<="),
        (gt, lambda v, b: v > b, ">"),
        (lt, lambda v, b: v < b, "<"),
    ):
        if bound is not None and not ok(value, bound):
            raise ValueError(f"{name} must be {word} {bound}, got {value!r}")
    return value


def check_columns(
    frame: pd.DataFrame | Any,
    required: Iterable[str],
    *,
    what: str,
) -> None:
    """Raise ``ValueError`` listing the missing columns and the columns that were found.

    ``frame`` may be a pandas DataFrame or anything with ``.columns`` (an Ibis table).

    >>> check_columns(pd.DataFrame({"a": [1]}), ["a", "b"], what="events table")
    Traceback (most recent call last):
    ...
    ValueError: events table: missing column 'b'; expected ['a', 'b'], found ['a']
    """
    found = list(frame.columns)
    required = list(required)
    missing = [c for c in required if c not in found]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        names = ", ".join(repr(c) for c in missing)
        raise ValueError(
            f"{what}: missing column{plural} {names}; expected {required}, found {found}"
        )


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)
