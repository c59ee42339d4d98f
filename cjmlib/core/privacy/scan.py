"""Scanning a run's outputs for the personal data of its raw data.

:func:`scan_outputs` searches every output file of a run -- executed notebooks (cell sources
and text outputs), HTML (text and attributes), CSV/Parquet/JSON tables, Markdown, logs --
for the :class:`~cjmlib.core.privacy.detect.PersonalData` that
:func:`~cjmlib.core.privacy.sources.personal_data` read from the raw exports, and returns
the hits *masked* (``g***@icloud.com``, ``***806``, ``G*** W***``), so the scan report
itself leaks nothing. Images are not searched (their text comes from the tables, which
are); ``data:`` URIs and base64 image outputs are skipped.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cjmlib.core.io import file_sha256
from cjmlib.core.privacy.detect import PersonalData
from cjmlib.core.privacy.search import search_text
from cjmlib.core.privacy.sources import (
    IMAGE_SUFFIXES,
    _decode,
    _file_text,
    _parquet_text,
    _progress,
    personal_data,
)

_DATA_URI = re.compile(r"data:[\w/+.\-]+;base64,[A-Za-z0-9+/=\s]+")
_TAG = re.compile(r"<[^>]+>")


# --------------------------------------------------------------------------------------------
# Reading outputs as text
# --------------------------------------------------------------------------------------------
def _html_texts(markup: str) -> list[str]:
    """The markup (attributes included) and its visible text, data URIs removed."""
    markup = _DATA_URI.sub(" ", markup)
    text = html_lib.unescape(_TAG.sub(" | ", markup))
    return [html_lib.unescape(markup), text]


def _notebook_texts(path: Path) -> Iterator[tuple[str, str]]:
    """(where, text) for every cell source and every text output of a notebook."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    yield "metadata", json.dumps(nb.get("metadata", {}), ensure_ascii=False)
    for k, cell in enumerate(nb.get("cells", [])):
        where = f"cell {k}"
        source = cell.get("source", "")
        yield where, "".join(source) if isinstance(source, list) else str(source)
        for output in cell.get("outputs", []):
            parts: list[str] = []
            if "text" in output:
                text = output["text"]
                parts.append("".join(text) if isinstance(text, list) else str(text))
            for key in ("ename", "evalue"):
                if key in output:
                    parts.append(str(output[key]))
            parts.extend(str(line) for line in output.get("traceback", []))
            for mime, data in (output.get("data") or {}).items():
                if mime.startswith("image/") and mime != "image/svg+xml":
                    continue
                value = "".join(data) if isinstance(data, list) else (
                    data if isinstance(data, str) else json.dumps(data, ensure_ascii=False))
                if "html" in mime or "svg" in mime:
                    parts.extend(_html_texts(value))
                else:
                    parts.append(value)
            yield where, "\n".join(parts)


def output_texts(path: Path) -> Iterator[tuple[str, str]]:
    """(where, text) pieces of one output file to search; nothing for images."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return
    if suffix == ".ipynb":
        yield from _notebook_texts(path)
    elif suffix in (".html", ".htm"):
        for text in _html_texts(_decode(path.read_bytes())):
            yield "html", text
    elif suffix == ".parquet":
        yield "table", _parquet_text(path)
    elif suffix in (".xlsx", ".xlsm"):
        yield "table", _file_text(path)
    else:
        text = _decode(path.read_bytes())
        if suffix in (".json", ".ipynb"):
            try:  # \u escapes would hide CJK names and '@' from the text search
                text = json.dumps(json.loads(text), ensure_ascii=False)
            except ValueError:
                pass
        yield "text", text


# --------------------------------------------------------------------------------------------
# Scanning a run
# --------------------------------------------------------------------------------------------
@dataclass
class PrivacyScan:
    """What :func:`scan_outputs` found: ``hits`` (file, kind, where, value masked, count),
    the files searched and the files skipped (images)."""

    folder: Path
    hits: pd.DataFrame
    files_scanned: list[str]
    files_skipped: list[str]
    personal: PersonalData = field(repr=False)
    #: files of ``files_scanned`` whose earlier search (``searched``) was still valid
    files_searched_before: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.hits.empty

    def to_pandas(self) -> pd.DataFrame:
        return self.hits

    def message(self) -> str:
        """One sentence: passed, or how many leaks in which files."""
        n_values = (len(self.personal.emails), len(self.personal.phones),
                    len(self.personal.names) + len(self.personal.cjk_names))
        searched = (f"{len(self.files_scanned)} output files searched for {n_values[0]:,} "
                    f"e-mails, {n_values[1]:,} phones and {n_values[2]:,} names of the raw data")
        if self.passed:
            return f"privacy scan passed: {searched}; none found"
        files = sorted(self.hits["file"].unique())
        shown = "; ".join(
            f"{r.file} ({r.kind} {r.value}, {r.where})"
            for r in self.hits.head(8).itertuples(index=False))
        return (f"privacy scan FAILED: {int(self.hits['count'].sum())} personal data item(s) "
                f"in {len(files)} file(s): {shown}; {searched}")

    def _repr_html_(self) -> str:
        return f"<p>{html_lib.escape(self.message())}</p>" + self.hits.to_html(index=False)


#: What one output file holds: ``(kind, where, masked value) -> count``.
FileHits = dict[tuple[str, str, str], int]


def search_file(path: Path, personal: PersonalData) -> FileHits:
    """The personal data of ``personal`` in one output file, by place (see
    :func:`scan_outputs`); nothing for images."""
    rows: FileHits = {}
    for where, text in output_texts(path):
        piece: FileHits = {}
        for kind, value in search_text(text, personal):
            key = (kind, where, value)
            piece[key] = piece.get(key, 0) + 1
        for key, n in piece.items():
            # HTML is read twice (markup and visible text): the same value counts once
            rows[key] = max(rows.get(key, 0), n) if where == "html" else rows.get(key, 0) + n
    return rows


def scan_outputs(
    folder: str | os.PathLike[str],
    personal: PersonalData,
    *,
    exclude: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
    searched: Mapping[str, tuple[str, FileHits]] | None = None,
) -> PrivacyScan:
    """Search every file under ``folder`` for the personal data in ``personal``.

    ``exclude``: file names (relative to ``folder``) not to search; ``progress``: called
    with a line saying how far the search got, every
    :data:`~cjmlib.core.privacy.sources.PROGRESS_EVERY` seconds when it takes longer than
    that. ``searched``: files already searched for the same ``personal`` (while a run went
    on), as ``relative name -> (sha256, search_file result)``; a file whose bytes still
    have that digest is not searched again, any other is. Returns a :class:`PrivacyScan`;
    ``hits`` has one row per file, kind, place (notebook cell, html, table, text) and
    masked value, with how often it occurred. Long texts (tables) are searched by
    :func:`~cjmlib.core.privacy.search.search_text`, which finds what
    :func:`~cjmlib.core.privacy.detect.find_personal_data` finds.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: output folder not found")
    rows: dict[tuple[str, str, str, str], int] = {}
    scanned: list[str] = []
    skipped: list[str] = []
    before: list[str] = []
    report = _progress(progress)
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    for k, path in enumerate(paths, start=1):
        rel = str(path.relative_to(root))
        report(f"privacy scan: {k - 1} of {len(paths)} output files searched (next: {rel})")
        if rel in exclude:
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES:
            skipped.append(rel)
            continue
        scanned.append(rel)
        earlier = (searched or {}).get(rel)
        if earlier is not None and earlier[0] == file_sha256(path):
            found = earlier[1]
            before.append(rel)
        else:
            found = search_file(path, personal)
        for (kind, where, value), n in found.items():
            rows[(rel, kind, where, value)] = n
    hits = pd.DataFrame([{"file": f, "kind": k, "where": w, "value": v, "count": n}
                         for (f, k, w, v), n in rows.items()],
                        columns=["file", "kind", "where", "value", "count"])
    return PrivacyScan(root, hits, scanned, skipped, personal, before)


def scan_run(run_dir: str | os.PathLike[str], raw_dir: str | os.PathLike[str], *,
             exclude: Sequence[str] = ()) -> PrivacyScan:
    """:func:`personal_data` of ``raw_dir`` searched for in every output of ``run_dir``."""
    return scan_outputs(run_dir, personal_data(raw_dir), exclude=exclude)
