"""Bad rows of text exports: their raw text, and files read line by line when pyarrow cannot.

:func:`raw_excerpt` is what the quarantine keeps of a row that could not be read into columns
(``raw_text``: e-mails and phone numbers masked, cut short). :func:`csv_batches` and
:func:`jsonl_batches` read a CSV or JSON-lines export line by line when pyarrow cannot split it
row by row -- a field longer than its block, a quote left open over several lines -- so one bad
line costs one row, never the file (:mod:`cjmlib.collection.landing` falls back on them).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: A field longer than this (characters) quarantines its row (``malformed_row``): no export
#: column legitimately holds a megabyte, and one such field must not reject its file.
MAX_FIELD_CHARS = 1 << 20
#: Characters of a malformed row's raw text kept in the quarantine (``raw_text``).
RAW_TEXT_CHARS = 2_000
#: Valid rows per batch when a file is read line by line (:func:`csv_batches`).
_PY_BATCH_ROWS = 50_000


_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\(?\d[\d \-().]{7,}\d")
#: dates and times look like phone numbers to _PHONE; they are no personal data
_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ T]\d{1,2})?|"
                        r"\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?: \d{1,2})?")


def _mask_personal(text: str) -> str:
    """E-mail addresses and phone-like numbers of raw text as ``[e-mail]`` and ``[phone]``
    (as :func:`cjmlib.core.privacy.redact` does), leaving dates and times readable."""
    text = _EMAIL.sub("[e-mail]", text)

    def phone(m: re.Match[str]) -> str:
        return m.group(0) if _DATE_LIKE.fullmatch(m.group(0).strip()) else "[phone]"

    return _PHONE.sub(phone, text)


def raw_excerpt(text: str | None) -> str | None:
    """The raw text of a malformed record as the quarantine keeps it: e-mail addresses and
    phone numbers masked (:func:`cjmlib.core.privacy.redact`), line ends shown as ``\\n``,
    cut at :data:`RAW_TEXT_CHARS` characters with the full length said."""
    if text is None:
        return None
    body = text.rstrip("\r\n")
    shown = _mask_personal(body[: RAW_TEXT_CHARS + 200])[:RAW_TEXT_CHARS]
    shown = shown.replace("\r", "\\r").replace("\n", "\\n")
    if len(body) > RAW_TEXT_CHARS:
        shown += f" ... [cut: {len(body):,} characters in all]"
    return shown


def longest_field(batch: Any) -> int:
    """Characters of the longest text cell of a record batch (0 when it has none)."""
    import pyarrow.compute as pc

    longest = 0
    for col in batch.columns:
        if len(col) and (col.type == "string" or col.type == "large_string"):
            n = pc.max(pc.utf8_length(col)).as_py()
            longest = max(longest, n or 0)
    return longest


class _PushbackLines:
    """Lines of a text file for :mod:`csv`, with the lines of the current record kept (its
    raw text) and lines pushed back to be read again."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self._pending: list[str] = []
        self.taken: list[str] = []

    def __iter__(self) -> _PushbackLines:
        return self

    def __next__(self) -> str:
        line = self._pending.pop() if self._pending else next(self._fh)
        self.taken.append(line)
        return line

    def push_back(self, lines: list[str]) -> None:
        self._pending.extend(reversed(lines))


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    """Let :mod:`csv` read fields up to ``limit`` characters (its default is 128 KB)."""
    old = csv.field_size_limit()
    csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def csv_batches(raw: Any, path: Path, enc: str, delimiter: str, quote: str, header: list[str],
                        bad: list[tuple[int, str, str | None]], source: str) -> Iterator[Any]:
    """Read a CSV line by line when pyarrow cannot: valid records in numbered batches; a
    record with the wrong number of columns or a field over :data:`MAX_FIELD_CHARS` goes to
    ``bad`` with its raw text. A record that ran over several lines because a quote was left
    open is cut back to its first line, and the lines after it are read again, so one bad line
    costs one row. Rows count records as pyarrow does (header not counted, blank lines
    skipped)."""
    import pyarrow as pa

    n_cols = len(header)
    text = io.TextIOWrapper(raw, encoding=enc, newline="")
    lines = _PushbackLines(text)
    reader = csv.reader(lines, delimiter=delimiter, quotechar=quote or None,
                        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE)
    rows: list[list[str]] = []
    numbers: list[int] = []
    row = 0
    yielded = False

    def batch() -> Any:
        cols = list(zip(*rows, strict=True)) if rows else [() for _ in header]
        return pa.RecordBatch.from_arrays(
            [*(pa.array(c, pa.string()) for c in cols), pa.array(numbers, pa.int64())],
            names=[*header, "_row"])

    with text, _csv_field_limit(2**31 - 1):
        try:
            next(reader)  # the header, read by _read_header
            while True:
                lines.taken = []
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error:
                    fields = None  # a quote open at the end of the file
                if fields == []:
                    continue  # a blank line is no record
                taken, raw = lines.taken, "".join(lines.taken)
                longest = max((len(f) for f in fields or []), default=0)
                if fields is not None and len(fields) == n_cols and longest <= MAX_FIELD_CHARS:
                    row += 1
                    rows.append(fields)
                    numbers.append(row)
                    if len(rows) >= _PY_BATCH_ROWS:
                        yield batch()
                        rows, numbers, yielded = [], [], True
                    continue
                row += 1
                if fields is not None and longest > MAX_FIELD_CHARS:
                    at = [len(f) for f in fields].index(longest)
                    col = repr(header[at]) if len(fields) == n_cols else f"at position {at + 1}"
                    detail = (f"field {col} holds {longest:,} characters; at most "
                              f"{MAX_FIELD_CHARS:,} are read")
                elif len(taken) > 1:
                    lines.push_back(taken[1:])
                    raw = taken[0]
                    detail = (f"expected {n_cols} columns; a quote opened on this line is not "
                              "closed on it (the lines after it are read on their own)")
                else:
                    detail = f"expected {n_cols} columns, found {len(fields or [])}"
                bad.append((row, detail, raw_excerpt(raw)))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: unreadable encoding: not valid {enc} ({exc.reason}); "
                             f"set 'encoding' for source {source!r}") from None
    if rows or not yielded:
        yield batch()


def jsonl_batches(raw: Any, path: Path, enc: str, bad: list[tuple[int, str, str | None]],
                          source: str) -> Iterator[Any]:
    """JSON lines read line by line when a line is too long for pyarrow: a line over
    :data:`MAX_FIELD_CHARS` goes to ``bad`` with its raw text; rows are line numbers."""
    import pyarrow as pa

    lines: list[str] = []
    numbers: list[int] = []
    yielded = False

    def batch() -> Any:
        return pa.RecordBatch.from_arrays([pa.array(lines, pa.string()),
                                           pa.array(numbers, pa.int64())],
                                          names=["_line", "_row"])

    try:
        with io.TextIOWrapper(raw, encoding=enc, newline="") as text:
            for k, line in enumerate(text, start=1):
                line = line.rstrip("\r\n")
                if len(line) > MAX_FIELD_CHARS:
                    bad.append((k, f"line of {len(line):,} characters; at most "
                                f"{MAX_FIELD_CHARS:,} are read", raw_excerpt(line)))
                    continue
                lines.append(line)
                numbers.append(k)
                if len(lines) >= _PY_BATCH_ROWS:
                    yield batch()
                    lines, numbers, yielded = [], [], True
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: unreadable encoding: not valid {enc} ({exc.reason}); set "
                         f"'encoding' for source {source!r}") from None
    if lines or not yielded:
        yield batch()
