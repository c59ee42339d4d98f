"""Pilot design: assignment of units to arms (sample size and power arrive with issue 6)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd


def hash_bucket(unit_ids: Iterable[object], *, salt: str) -> np.ndarray:
    """Map each unit id to a uniform number in [0, 1) by SHA-256 of ``"<salt>:<id>"``.

    Deterministic across machines and Python versions (no ``hash()`` randomisation), and
    independent between experiments when the salts differ.

    >>> hash_bucket(["C000001", "C000002"], salt="demo").round(4).tolist()
    [0.983, 0.7935]
    """
    out = []
    for unit in unit_ids:
        digest = hashlib.sha256(f"{salt}:{unit}".encode()).digest()
        out.append(int.from_bytes(digest[:8], "big") / 2**64)
    return np.asarray(out, dtype=float)


def assign_variants(
    unit_ids: Iterable[object],
    *,
    salt: str,
    split: Mapping[str, float],
) -> pd.Series:
    """Assign units to arms by salted hash; ``split`` maps arm name to its share.

    Arms take consecutive slices of [0, 1) in the order given, so adding units never moves an
    already assigned unit. Returns a Series of arm names indexed by unit id.

    >>> arms = assign_variants(["u1", "u2", "u3", "u4"], salt="s",
    ...                        split={"control": 0.5, "treatment": 0.5})
    >>> arms.tolist()
    ['treatment', 'treatment', 'control', 'control']
    """
    ids = list(unit_ids)
    shares = np.asarray(list(split.values()), dtype=float)
    if (shares <= 0).any() or not np.isclose(shares.sum(), 1.0):
        raise ValueError(f"split shares must be positive and sum to 1, got {dict(split)}")
    edges = np.cumsum(shares)[:-1]
    arm = np.searchsorted(edges, hash_bucket(ids, salt=salt), side="right")
    return pd.Series(np.asarray(list(split))[arm], index=pd.Index(ids, name="unit_id"),
                     name="variant")
