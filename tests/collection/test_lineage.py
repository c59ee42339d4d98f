"""The processed tables against the raw data they were built from (issue 14, finding 4)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cjmlib.collection.lineage import StaleProcessedData, check_lineage, raw_lineage


def _collected(tmp_path: Path, files: dict[str, str], *, hashes: bool = True) -> Path:
    """A raw folder with ``files`` and a processed folder whose manifest names them, as
    01_collect writes it (plus a database source, which has no file)."""
    raw, processed = tmp_path / "raw", tmp_path / "processed"
    processed.mkdir()
    inputs = [{"source": "db", "file": "postgresql://crm", "format": "sql", "rows": 3}]
    for name, text in files.items():
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_text(text)
        entry = {"source": name.split(".")[0], "file": name, "format": "csv",
                 "bytes": len(text.encode())}
        if hashes:
            entry["sha256"] = hashlib.sha256(text.encode()).hexdigest()
        inputs.append(entry)
    (processed / "events.parquet").write_bytes(b"tables")
    (processed / "manifest.json").write_text(json.dumps({"raw_dir": str(raw),
                                                         "inputs": inputs}))
    return processed


FILES = {"web.csv": "id\n1\n2\n", "crm/orders.csv": "order\n7\n", "app.csv": "a\nx\n"}


def test_unchanged_raw_data_passes_and_is_named(tmp_path: Path) -> None:
    processed = _collected(tmp_path, FILES)
    lineage = check_lineage(processed / "events.parquet")
    assert not lineage.stale and lineage.files == 3 and lineage.not_checked is None
    assert lineage.raw_dir == tmp_path / "raw" and lineage.processed_dir == processed
    assert lineage.message() == (
        f"The tables of {processed} were built by 01_collect from 3 raw files of "
        f"{tmp_path / 'raw'}; {tmp_path / 'raw'} holds them unchanged (compared by SHA-256).")


def test_changed_and_missing_raw_files_are_refused_by_name(tmp_path: Path) -> None:
    processed = _collected(tmp_path, FILES)
    raw = tmp_path / "raw"
    (raw / "web.csv").write_text("id\n1\n3\n")  # same size, other content: by the hash
    (raw / "crm" / "orders.csv").write_text("order\n7\n8\n")
    (raw / "app.csv").unlink()
    (raw / "new.csv").write_text("not judged\n")
    lineage = raw_lineage(processed)
    assert lineage.changed == ("web.csv", "crm/orders.csv") and lineage.missing == ("app.csv",)
    with pytest.raises(StaleProcessedData) as info:
        check_lineage(processed, raw_dir=raw)
    message = str(info.value)
    assert message.startswith(
        f"The tables of {processed} were built by 01_collect from other raw data than {raw} "
        "now holds (changed since 01_collect ran: web.csv, crm/orders.csv; missing since "
        "01_collect ran: app.csv). Re-run 01_collect first")
    assert "allow_stale_processed" in message and "new.csv" not in message


def test_another_raw_folder_than_the_collected_one_is_compared(tmp_path: Path) -> None:
    processed = _collected(tmp_path, FILES)
    other = tmp_path / "other"
    other.mkdir()
    (other / "web.csv").write_text(FILES["web.csv"])
    with pytest.raises(StaleProcessedData, match=r"missing since 01_collect ran: "
                                                 r"crm/orders.csv, app.csv\)"):
        check_lineage(processed, raw_dir=other)


def test_allowed_stale_tables_say_which_raw_data_they_come_from(tmp_path: Path) -> None:
    processed = _collected(tmp_path, FILES)
    (tmp_path / "raw" / "app.csv").write_text("replaced\n")
    lineage = check_lineage(processed, allow_stale=True)
    assert lineage.stale and lineage.allowed_stale and lineage.changed == ("app.csv",)
    assert lineage.message().endswith(
        f"allow_stale_processed is set: the tables are analysed as they are, built from 3 "
        f"raw files of {tmp_path / 'raw'} as its manifest.json names them, not from the raw "
        "data now present.")


def test_a_manifest_without_hashes_is_compared_by_size(tmp_path: Path) -> None:
    processed = _collected(tmp_path, FILES, hashes=False)
    (tmp_path / "raw" / "web.csv").write_text("id\n1\n3\n")  # same size: not seen
    assert not raw_lineage(processed).stale
    assert raw_lineage(processed).compared_by == "size"
    (tmp_path / "raw" / "web.csv").write_text("id\n1\n33\n")
    assert raw_lineage(processed).changed == ("web.csv",)


def test_what_cannot_be_compared_is_said_not_refused(tmp_path: Path) -> None:
    """A run never fails on data it has no use for: an events table made elsewhere, or
    processed tables shipped without their raw data."""
    own = tmp_path / "mine"
    own.mkdir()
    (own / "events.csv").write_text("customer_id\n1\n")
    lineage = check_lineage(own / "events.csv")
    assert lineage.not_checked.startswith("no collect manifest (manifest.json)")
    assert "not checked against raw data" in lineage.message()
    processed = _collected(tmp_path, FILES)
    for raw in (tmp_path / "absent", tmp_path / "empty"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        lineage = check_lineage(processed, raw_dir=raw)
        assert not lineage.stale
        assert lineage.not_checked == (f"the raw folder {raw} is absent or empty (01_collect "
                                       f"read {tmp_path / 'raw'})")


def test_a_long_list_of_files_is_cut(tmp_path: Path) -> None:
    processed = _collected(tmp_path, {f"f{i:02d}.csv": "x\n" for i in range(14)})
    for i in range(14):
        (tmp_path / "raw" / f"f{i:02d}.csv").write_text("yy\n")
    assert "f09.csv and 4 more" in raw_lineage(processed).differences()


def test_the_collect_manifest_is_read_as_01_collect_writes_it(processed_dir: Path,
                                                              sample_dir: Path) -> None:
    lineage = raw_lineage(processed_dir / "events.parquet")
    assert not lineage.stale and lineage.raw_dir == sample_dir.resolve()
    assert lineage.files == len(json.loads(
        (processed_dir / "manifest.json").read_text())["inputs"])
