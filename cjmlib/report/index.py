"""``index.html``: the table of contents of a run folder.

Every output of a run, grouped by the notebook that wrote it (from ``manifest.json``), with
its description from :mod:`cjmlib.core.schema` and relative links: tables with a preview of
their first rows (free text redacted, long text cut), figures shown, documents and the
executed notebooks linked. One self-contained HTML file with no scripts and no external
resources, so it opens from a file share or an e-mail attachment as it does from disk.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cjmlib.core import schema
from cjmlib.core.io import atomic_write
from cjmlib.core.privacy import redact
from cjmlib.core.runs import FIGURES_FOLDER, NOTEBOOKS_FOLDER, TABLES_FOLDER

#: Rows and columns of a table preview; longer text is cut to ``PREVIEW_CHARS``.
PREVIEW_ROWS, PREVIEW_COLUMNS, PREVIEW_CHARS = 5, 10, 80
_TOP_FILES = ("report.html", "manifest.json")
_CSS = """
body { font-family: "DejaVu Sans", "Noto Sans CJK SC", Arial, sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; font-size: 1.25rem;
border-bottom: 2px solid #ddd; } h3 { font-size: 1.02rem; margin: 1.4rem 0 0.2rem; }
.muted { color: #666; } .status-failed { color: #b00; font-weight: bold; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.4rem 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0.4rem 0 1rem; } figure img { width: 36rem; max-width: 100%;
border: 1px solid #eee; } .wide { overflow-x: auto; max-width: 100%; }
nav a { margin-right: 1rem; } code { background: #f4f4f4; padding: 0 3px; }
"""


def write_index(run_dir: str | os.PathLike[str],
                manifest: Mapping[str, Any] | None = None) -> Path:
    """Write ``<run_dir>/index.html`` and return its path.

    ``manifest``: the run manifest (read from ``manifest.json`` when None). Outputs the
    manifest does not attribute to a notebook are listed at the end under "Other files".
    """
    root = Path(run_dir)
    if manifest is None:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    markup = index_html(root, manifest)
    return atomic_write(root / "index.html",
                        lambda tmp: tmp.write_text(markup, encoding="utf-8"))


def index_html(root: Path, manifest: Mapping[str, Any]) -> str:
    """The markup of ``index.html`` for the run folder ``root``."""
    run_id = str(manifest.get("run_id", root.name))
    parts = [f"<h1>Run {_e(run_id)}</h1>", _run_line(manifest), _top_links(root, manifest)]
    listed: set[str] = set()
    for entry in manifest.get("notebooks", []):
        parts.append(_notebook_section(root, entry, listed))
    others = sorted(rel for rel in _files(root) if rel not in listed
                    and rel not in _TOP_FILES and rel != "index.html"
                    and not rel.startswith(f"{NOTEBOOKS_FOLDER}/"))
    if others:
        parts.append("<h2>Other files</h2>")
        parts.extend(_output(root, rel) for rel in others)
    body = "\n".join(parts)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Run {_e(run_id)}: outputs</title><style>{_CSS}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def _run_line(manifest: Mapping[str, Any]) -> str:
    status = str(manifest.get("status", "unknown"))
    bits = [f"<span class=\"status-{_e(status)}\">{_e(status)}</span>"]
    for key, label in (("started_at", "started"), ("finished_at", "finished")):
        if manifest.get(key):
            bits.append(f"{label} {_e(manifest[key])}")
    return f"<p class=muted>Status: {'; '.join(bits)}.</p>"


def _top_links(root: Path, manifest: Mapping[str, Any]) -> str:
    links = [f'<a href="{name}">{label}</a>' for name, label in
             (("report.html", "Improvement report"), ("manifest.json", "Manifest"))
             if (root / name).exists()]
    links += [f'<a href="#{_e(e.get("notebook"))}">{_e(e.get("notebook"))}</a>'
              for e in manifest.get("notebooks", [])]
    return f"<nav>{''.join(links)}</nav>" if links else ""


def _notebook_section(root: Path, entry: Mapping[str, Any], listed: set[str]) -> str:
    name = str(entry.get("notebook", "?"))
    status = str(entry.get("status", "unknown"))
    head = [f'<h2 id="{_e(name)}">{_e(name)}</h2>']
    facts = [f"<span class=\"status-{_e(status)}\">{_e(status)}</span>"]
    if entry.get("seconds") is not None:
        facts.append(f"{float(entry['seconds']):.1f} s")
    if entry.get("reused_from"):
        facts.append(f"reused from run {_e(entry['reused_from'])}")
    links = [f'<a href="{NOTEBOOKS_FOLDER}/{_e(name)}{suffix}">{label}</a>'
             for suffix, label in ((".html", "notebook (HTML)"), (".ipynb", "notebook (.ipynb)"))
             if (root / NOTEBOOKS_FOLDER / f"{name}{suffix}").exists()]
    head.append(f"<p class=muted>{'; '.join(facts)}. {' · '.join(links)}</p>")
    if entry.get("error"):
        head.append(f"<pre>{_e(entry['error'])}</pre>")
    if entry.get("status") == "skipped" and entry.get("reason"):
        head.append(f"<p>Not run: {_e(entry['reason'])}.</p>")
    # tables first, then documents, then figures; each group by name
    kinds = {".parquet": 0, ".csv": 0, ".json": 1, ".md": 1, ".png": 2}
    outputs = sorted((str(rel) for rel in entry.get("outputs", []) if (root / str(rel)).exists()),
                     key=lambda rel: (kinds.get(Path(rel).suffix, 1), Path(rel).name))
    # a table is written twice (CSV and Parquet): one entry per stem
    seen_stems: set[str] = set()
    for rel in outputs:
        listed.add(rel)
        path = Path(rel)
        key = str(path.with_suffix(""))
        if path.suffix in (".csv", ".parquet") and key in seen_stems:
            continue
        seen_stems.add(key)
        head.append(_output(root, rel))
    if not outputs:
        head.append("<p class=muted>No outputs.</p>")
    return "\n".join(head)


def _output(root: Path, rel: str) -> str:
    path = Path(rel)
    stem, suffix = path.stem, path.suffix.lower()
    if suffix in (".csv", ".parquet"):
        return _table(root, path)
    if suffix == ".png":
        spec = schema.figure_for_file(stem)
        text = spec.description if spec else "No description in cjmlib.core.schema."
        return (f"<h3>{_e(stem)}</h3><p>{_e(text)}</p><figure><a href=\"{_e(rel)}\">"
                f"<img src=\"{_e(rel)}\" alt=\"{_e(text)}\"></a></figure>")
    spec = schema.table_for_file(stem)
    text = spec.description if spec else ""
    return f"<h3>{_e(stem)}</h3><p>{_e(text)} <a href=\"{_e(rel)}\">{_e(path.name)}</a></p>"


def _table(root: Path, path: Path) -> str:
    stem = path.stem
    spec = schema.table_for_file(stem)
    siblings = [path.with_suffix(s) for s in (".csv", ".parquet")
                if (root / path.with_suffix(s)).exists()]
    links = " ".join(f'<a href="{_e(str(p))}">{_e(p.suffix[1:].upper())}</a>' for p in siblings)
    described = spec.description if spec else "No description in cjmlib.core.schema."
    out = [f"<h3>{_e(stem)}</h3>", f"<p>{_e(described)} {links}</p>"]
    try:
        frame = _read(root, siblings)
    except (OSError, ValueError) as exc:  # an unreadable file is listed, not fatal
        out.append(f"<p class=muted>Preview unavailable: {_e(exc)}</p>")
        return "\n".join(out)
    out.append(preview_html(frame, free_text=spec.free_text if spec else ()))
    return "\n".join(out)


def _read(root: Path, files: Sequence[Path]) -> pd.DataFrame:
    parquet = [p for p in files if p.suffix == ".parquet"]
    if parquet:
        import pyarrow.parquet as pq

        handle = pq.ParquetFile(root / parquet[0])
        rows = next(handle.iter_batches(batch_size=PREVIEW_ROWS), None)
        frame = (rows.to_pandas() if rows is not None
                 else handle.schema_arrow.empty_table().to_pandas())
        frame.attrs["rows"] = handle.metadata.num_rows
        return frame.head(PREVIEW_ROWS)
    frame = pd.read_csv(root / files[0], nrows=PREVIEW_ROWS)
    with open(root / files[0], encoding="utf-8", errors="replace") as fh:
        frame.attrs["rows"] = max(sum(1 for _ in fh) - 1, 0)
    return frame


def preview_html(frame: pd.DataFrame, *, free_text: Sequence[str] = ()) -> str:
    """The first rows and columns of ``frame`` as an HTML table; columns named in
    ``free_text`` (customers' own words) are not shown, other text is redacted of e-mails
    and phone numbers and cut to :data:`PREVIEW_CHARS` characters."""
    total = frame.attrs.get("rows", len(frame))
    hidden = [c for c in frame.columns if c in free_text]
    shown = [c for c in frame.columns if c not in hidden][:PREVIEW_COLUMNS]
    cut = len(frame.columns) - len(hidden) - len(shown)
    head = "".join(f"<th>{_e(c)}</th>" for c in shown)
    rows = []
    for record in frame.head(PREVIEW_ROWS)[shown].itertuples(index=False):
        cells = []
        for value in record:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            cells.append(f"<td class=num>{_e(_cell(value))}</td>" if number
                         else f"<td>{_e(_cell(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    notes = [f"{total:,} rows, {len(frame.columns)} columns"]
    if cut > 0:
        notes.append(f"first {len(shown)} columns shown")
    if hidden:
        notes.append("free text not shown: " + ", ".join(hidden))
    return (f"<div class=wide><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
            f"</tbody></table></div><p class=muted>{_e('; '.join(notes))}.</p>")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ")
    # only text can carry what customers wrote; numbers and times are shown as they are
    text = str(redact(value)) if isinstance(value, str) else str(value)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def _files(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
            and not p.name.endswith(".tmp") and (p.parent.name in (TABLES_FOLDER, FIGURES_FOLDER, NOTEBOOKS_FOLDER)
                                                 or p.parent == root)]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
