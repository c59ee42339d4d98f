"""Seconds as timedeltas for the sample's large tables, the values pandas gives, faster.

``pd.to_timedelta(seconds, unit="s")`` on a float array converts it one element at a time
(an untyped loop in pandas 2.x): at half a million customers, millions of event offsets took
seconds on the generator's critical path. :func:`seconds` does the same arithmetic with
numpy, so the sample's files do not change; tests/sample compare it with pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_NS = 1_000_000_000


def seconds(values: np.ndarray) -> pd.TimedeltaIndex:
    """``pd.to_timedelta(values, unit="s")`` for float seconds (NaN gives NaT).

    The same steps as pandas' ``cast_from_unit_vectorized``: the whole seconds truncated
    towards zero, the fraction rounded to 9 places and its nanoseconds truncated, so every
    value is the nanosecond count pandas computes.
    """
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    finite = np.where(missing, 0.0, values) if missing.any() else values
    whole = finite.astype(np.int64)
    fraction = np.round(finite - whole, 9)
    ns = whole * _NS + (fraction * _NS).astype(np.int64)
    ns[missing] = np.iinfo(np.int64).min  # NaT
    return pd.TimedeltaIndex(ns.view("m8[ns]"))
