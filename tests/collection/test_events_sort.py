"""The cheap sort codes of events.parquet: packed origin order and ENUM types."""

from __future__ import annotations

import itertools

import duckdb
import pytest

from cjmlib.collection import events
from cjmlib.collection.events import _sort_codes
from cjmlib.collection.sql import lit


def _src(rows: list[tuple]) -> str:
    values = ", ".join(
        f"(NULL, {lit(c)}, 't', NULL, {s}::SMALLINT, {f}::INTEGER, {r}::BIGINT, {i}::INTEGER)"
        for c, s, f, r, i in rows)
    return (f"(SELECT * FROM (VALUES {values}) "
            "t(_reason, channel, touchpoint, stage, _sidx, _fidx, _row, _item))")


def test_packed_origin_sorts_like_the_four_columns() -> None:
    con = duckdb.connect()
    # edges of every part: 0, 1 and the largest value that fits
    parts = [(0, 1, 127), (0, 1, 65535), (1, 2, (1 << 32) - 1), (0, 1, 255)]
    rows = [("web", *p) for p in itertools.product(*parts)]
    src = _src(rows)
    _, origin = _sort_codes(con, src)
    assert "<<" in origin
    packed = con.execute(f"SELECT _sidx, _fidx, _row, _item FROM {src} e "
                         f"ORDER BY {origin}").fetchall()
    assert packed == sorted((s, f, r, i) for _, s, f, r, i in rows)


@pytest.mark.parametrize("bad", [("web", 0, 0, 1 << 32, 0), ("web", 0, 0, 1, 256),
                                 ("web", 128, 0, 1, 0), ("web", 0, -1, 1, 0)])
def test_origin_falls_back_to_columns_when_a_part_does_not_fit(bad: tuple) -> None:
    _, origin = _sort_codes(duckdb.connect(), _src([("web", 0, 0, 1, 0), bad]))
    assert origin == "e._sidx, e._fidx, e._row, e._item"


def test_enum_types_list_the_values_and_skip_many(monkeypatch: pytest.MonkeyPatch) -> None:
    con = duckdb.connect()
    src = _src([("web", 0, 0, 1, 0), ("app", 0, 0, 2, 0), ("it's", 0, 0, 3, 0)])
    enums, _ = _sort_codes(con, src)
    assert enums == {"channel": "ENUM('app', 'it''s', 'web')", "touchpoint": "ENUM('t')",
                     "stage": None}
    monkeypatch.setattr(events, "_MAX_ENUM_VALUES", 2)
    assert _sort_codes(con, src)[0]["channel"] is None


def test_enum_codes_decode_to_the_same_text() -> None:
    con = duckdb.connect()
    values = ["A", "a", " a", "é", "it's", "order_confirmation", None]
    rows = [(v, 0, 0, k + 1, 0) for k, v in enumerate(values)]
    src = _src(rows)
    enums, _ = _sort_codes(con, src)
    got = con.sql(f"SELECT channel::{enums['channel']} FROM {src} ORDER BY _row"
                  ).to_arrow_table().column(0).combine_chunks()
    assert got.type.id != got.dictionary_decode().type.id  # travelled as codes
    assert got.dictionary_decode().to_pylist() == values
