"""The sample's fast helpers (cjmlib.sample.text, sort_rows, seconds, the CRM phone typing)
give what pandas, numpy, json and the one-at-a-time code give.

Each check compares with the call the helper replaces (``Series.dt.strftime``,
``DataFrame.to_csv``, ``json.dumps``, ``DataFrame.sort_values``, ``np.lexsort``,
``pd.to_timedelta``, ``Series.map`` of the per-phone formatter) on awkward values: quotes,
commas, newlines, missing values, mixed objects, non-ASCII text, daylight-saving changes,
keys too wide to pack, NaN seconds, placeholders.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cjmlib.sample.clock import seconds
from cjmlib.sample.order import sort_rows, stable_order
from cjmlib.sample.text import format_times, json_fields, write_csv, write_lines


@pytest.fixture(scope="module")
def times() -> pd.Series:
    rng = np.random.default_rng(1)
    ms = rng.integers(0, 400 * 86400 * 1000, 5000)  # spans both clock changes
    t = pd.Series(pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(ms, unit="ms"))
    t[7] = pd.NaT
    return t


def _as_list(s: pd.Series) -> list:
    return s.astype(object).where(s.notna(), None).tolist()


@pytest.mark.parametrize(("fmt", "tz"), [
    ("%Y-%m-%d", None), ("%d/%m/%Y %H:%M:%S", "Europe/London"),
    ("%Y/%m/%d %H:%M", "Asia/Shanghai"), ("%Y-%m-%dT%H:%M:%S+00:00", None),
    ("%d %b %Y %H:%M:%S %z", "Europe/London"), ("%a %b %d %H:%M:%S +0000 %Y", None)])
def test_format_times_is_strftime(times: pd.Series, fmt: str, tz: str | None) -> None:
    local = times.dt.tz_convert(tz) if tz else times
    assert _as_list(format_times(times, fmt, tz=tz)) == _as_list(local.dt.strftime(fmt))


def test_format_times_milliseconds_cut_like_strftime(times: pd.Series) -> None:
    expected = times.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    got = format_times(times, "%Y-%m-%dT%H:%M:%SZ", unit="ms")
    assert _as_list(got) == _as_list(expected)


def test_format_times_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_times(pd.Series(pd.to_datetime(["2026-01-01"])), "%Y")


def test_write_csv_is_to_csv(tmp_path: Path) -> None:
    df = pd.DataFrame({
        "text": ["plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", None, "中文", ""],
        "mixed": [1, "-", 2.5, np.nan, None, True, 10**15, "x"],
        "count": pd.array([1, None, 3, -4, 5, 6, 7, 8], dtype="Int64"),
        "flag": [True, False] * 4,
        "n": np.arange(8),
        "arrow": pd.array(["x", None, "y,z", "w", "", "a", "b", "c"],
                          dtype=pd.ArrowDtype(pa.string())),
    })
    df.to_csv(tmp_path / "pandas.csv", index=False)
    write_csv(df, tmp_path / "fast.csv")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_write_csv_refuses_floats(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not supported"):
        write_csv(pd.DataFrame({"a": [0.1], "b": ["x"]}), tmp_path / "x.csv")


def test_json_fields_and_lines_are_json_dumps(tmp_path: Path) -> None:
    values = pd.Series(["a@b.com", 'q"uote', "back\\slash", "tab\there", "中文", "del\x7f",
                        None, float("nan"), "a@b.com"], dtype=object)
    assert json_fields(values).to_pylist() == [json.dumps(v) for v in values]
    plain = pd.Series(["x@y.org", "CMP-20260106", "open"])
    assert json_fields(plain).to_pylist() == [json.dumps(v) for v in plain]
    write_lines(json_fields(values), tmp_path / "lines.jsonl")
    expected = "\n".join(json.dumps(v) for v in values) + "\n"
    assert (tmp_path / "lines.jsonl").read_text(encoding="utf-8") == expected


def test_sort_rows_is_stable_sort_values() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    df = pd.DataFrame({
        "person_id": [f"P{i:07d}" for i in rng.integers(0, 500, n)],
        "time": pd.Timestamp("2026-01-01", tz="UTC")
        + pd.to_timedelta(rng.integers(0, 40, n), unit="s"),
        "touchpoint": rng.choice(["cart", "payment", "home_page", "Zed"], n).astype(object),
        "step": rng.integers(0, 3, n), "row": np.arange(n)})
    for keys in (["person_id", "time", "touchpoint"], ["touchpoint", "step"], ["time"]):
        expected = df.sort_values(keys, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(sort_rows(df, keys), expected)
    # ids of unequal length sort as strings, not as numbers
    odd = pd.DataFrame({"id": ["P10", "P9", "P100"], "row": [0, 1, 2]})
    assert sort_rows(odd, ["id"])["id"].tolist() == ["P10", "P100", "P9"]


@pytest.mark.parametrize("keys", [
    # packed into one int64: small ranges, a shared step (times in whole milliseconds as ns)
    [(0, 500), (0, 2**34, 10**6), (0, 20)],
    [(-50, 50), (3, 4)],
    [(7, 8)],  # a constant key
    # too wide to pack: lexsort
    [(0, 2**40), (0, 2**30)],
    [(-2**62, 2**62)],
])
def test_stable_order_is_lexsort(keys: list[tuple[int, ...]]) -> None:
    rng = np.random.default_rng(3)
    n = 5_000
    # many ties, and half the rows already in order (as the generator's are)
    columns = [rng.integers(k[0], k[1], n) * (k[2] if len(k) > 2 else 1) for k in keys]
    presorted = np.lexsort(columns[::-1])[: n // 2]
    columns = [np.concatenate([c[presorted], c[n // 2:]]) for c in columns]
    assert np.array_equal(stable_order(columns), np.lexsort(columns[::-1]))


def test_seconds_is_to_timedelta() -> None:
    rng = np.random.default_rng(4)
    values = np.concatenate([
        rng.exponential(6 * 3600, 2000), rng.normal(0, 1e5, 2000),
        np.round(rng.random(2000) * 1e7, 3),
        [np.nan, -0.5, 0.1234567895, 1e-10, -1e-10, 0.0, -0.0, 2.9999999999, 86399.9999995]])
    expected = pd.to_timedelta(values, unit="s")
    got = seconds(values)
    assert np.array_equal(got.asi8, expected.asi8)
    assert got.dtype == expected.dtype and got.isna().sum() == 1


def test_crm_phones_are_typed_as_one_at_a_time() -> None:
    from cjmlib.sample.catalogue import PLACEHOLDER_PHONE
    from cjmlib.sample.exports import _format_phone_crm, _format_phones_crm

    phones = pd.Series(["+447700900123", None, PLACEHOLDER_PHONE, "+8613800138000",
                        "+447000000001", "+86138", "+4"], dtype=object)
    assert _format_phones_crm(phones).tolist() == phones.map(_format_phone_crm).tolist()
