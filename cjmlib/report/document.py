"""The HTML document of the report: its style sheet, the page around the sections, and the
tables and figures the sections are made of.

:data:`CSS` is inlined (screen and an A4 print layout); :func:`document_html` writes the page
with its header, table of contents, sections and footer; :func:`table_html` and
:func:`figure_html` are the building blocks of the sections (figures as ``data:`` URIs).
"""

from __future__ import annotations

from collections.abc import Sequence

from cjmlib.report.text import Language, escape


def table_html(headers: Sequence[str], rows: Sequence[Sequence[str]], *,
               numeric: Sequence[int] = (), cls: str = "") -> str:
    """An HTML table; cells are already escaped HTML; ``numeric`` columns align right."""
    head = "".join(f'<th{" class=num" if i in numeric else ""}>{h}</th>'
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{c}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return (f'<div class="table-wrap"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def figure_html(uri: str, caption: str = "", alt: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{escape(alt or caption)}">{cap}</figure>'


CSS = """
:root { --ink: #1f2328; --muted: #667085; --line: #d0d7de; --bad: #b54708; --good: #067647;
  --accent: #0b5cad; --bg-soft: #f6f8fa; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.55; font-size: 16px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "Noto Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; }
header, main, footer { max-width: 1080px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; border-bottom: 3px solid var(--accent); }
h1 { font-size: 1.9rem; margin: 0 0 4px; }
h2 { font-size: 1.45rem; margin: 2.2rem 0 0.8rem; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.15rem; margin: 1.4rem 0 0.5rem; }
h4 { font-size: 0.95rem; margin: 0.9rem 0 0.3rem; color: var(--muted); text-transform: none; }
.subtitle { color: var(--muted); margin: 0 0 14px; }
nav { background: var(--bg-soft); border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 16px; margin: 18px 0; }
nav ol { margin: 4px 0; padding-left: 22px; columns: 2; }
nav a { color: var(--accent); text-decoration: none; }
ol.findings { padding-left: 1.4rem; }
ol.findings li { margin: 0.55rem 0; padding: 8px 12px; background: var(--bg-soft);
  border-left: 4px solid var(--accent); border-radius: 4px; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line);
  border-radius: 6px; }
figcaption { color: var(--muted); font-size: 0.88rem; margin-top: 4px; }
.table-wrap { overflow-x: auto; margin: 0.6rem 0 1rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left;
  vertical-align: top; }
th { background: var(--bg-soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.compact { width: auto; font-size: 0.85rem; }
table.backlog td:nth-child(2) { min-width: 13em; }
.muted { color: var(--muted); font-weight: normal; }
.missing { color: var(--bad); background: #fff6ed; border: 1px solid #f9dbaf; padding: 8px 12px;
  border-radius: 6px; }
article.pain { border: 1px solid var(--line); border-radius: 8px; padding: 4px 16px 10px;
  margin: 1rem 0; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.cols ul { margin: 0.2rem 0; padding-left: 1.1rem; }
blockquote { margin: 0.4rem 0; padding: 4px 12px; border-left: 3px solid var(--line);
  color: #344054; font-style: italic; }
.status { padding: 1px 7px; border-radius: 10px; font-size: 0.82rem; white-space: nowrap; }
.status.proposed { background: #e0efff; } .status.piloting { background: #fff1d6; }
.status.shipped { background: #dcfae6; } .status.rejected { background: #eaecf0; }
.verdict { font-size: 1.05rem; padding: 10px 14px; border-radius: 8px; background: #eaecf0; }
.verdict.ship { background: #dcfae6; } .verdict.stop { background: #fee4e2; }
.verdict.iterate { background: #fff1d6; }
ol.steps li { margin: 0.45rem 0; }
code { font-size: 0.88em; background: var(--bg-soft); padding: 1px 4px; border-radius: 4px; }
footer { color: var(--muted); font-size: 0.85rem; border-top: 1px solid var(--line);
  margin-top: 2.5rem; padding-top: 10px; padding-bottom: 30px; }
@media (max-width: 760px) { .cols { grid-template-columns: 1fr; } nav ol { columns: 1; } }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10.5pt; line-height: 1.4; }
  header, main, footer { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-before: page; margin-top: 0; }
  #summary h2, h2:first-of-type { break-before: auto; }
  h2, h3, h4 { break-after: avoid; }
  figure, table, article.pain, blockquote, ol.findings li { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  table { font-size: 8pt; }
  th, td { padding: 3px 4px; }
  td.num, th.num { white-space: normal; }
  table.backlog td:nth-child(2) { min-width: 0; }
  figure img { border: none; max-height: 230mm; }
  a { color: inherit; text-decoration: none; }
  ol.findings li, .verdict, .status, th { -webkit-print-color-adjust: exact;
    print-color-adjust: exact; }
}
"""


def document_html(lang: Language, run_id: str, generated: str, window: str,
                  bodies: Sequence[tuple[str, str]]) -> str:
    t = lang.t
    toc = "".join(f'<li><a href="#{key}">{escape(t(key))}</a></li>' for key, _ in bodies)
    sections = "".join(f'<section id="{key}"><h2>{escape(t(key))}</h2>{body}</section>'
                       for key, body in bodies)
    html_lang = "zh-CN" if lang.code == "zh" else "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{html_lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(t('title'))} · {escape(run_id)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<header><h1>{escape(t('title'))}</h1><p class=\"subtitle\">"
        f"{escape(t('subtitle', run_id=run_id, generated=generated, window=window))}</p></header>\n"
        f'<main>\n<nav aria-label="{escape(t("contents"))}"><b>{escape(t("contents"))}</b><ol>{toc}'
        f"</ol></nav>\n{sections}\n</main>\n"
        f"<footer>cjm-workbench · {escape(run_id)} · {escape(generated)}</footer>\n"
        "</body>\n</html>\n")
