"""Output tables and figures of 01_collect: rows per source, quarantine, stitching, coverage."""

from __future__ import annotations

from cjmlib.core.schema._spec import FigureSpec, TableSpec, columns

TABLES: tuple[TableSpec, ...] = (
    TableSpec("collect_sources", "collect", "collect_sources",
              "One row per raw source of configs/sources.yaml: rows read, kept and "
              "quarantined (cjmlib.collection.assembly.collect).", columns("""
source | string | the raw source (configs/sources.yaml)
kind | string | canonical table the source feeds: events, feedback or customers
files | int | raw files read for the source (0 for a SQL query)
rows_in | int | raw records read from its files
rows_out | int | raw records that reached the canonical table (feedback: distinct raw rows; customers: rows joined to a stitched customer; a source with `rollup`: every raw row of the groups written)
rows_quarantined | int | raw records in `quarantine/<source>.parquet` (distinct file and row)
records_written | int | rows written to the canonical table (a feedback row may hold several answers, so it may exceed rows_out; a rolled-up row stands for several raw rows, so it may fall short of it)
balanced | bool | rows_in = rows_out + rows_quarantined (collect stops when false)
absent_columns | string | columns the config declares that some files of the source lack, optional ones included (`column (field f, optional) absent from file, ...`; those fields are empty for the files named); empty when none
""")),
    TableSpec("collect_quarantine", "collect", "collect_quarantine",
              "Quarantined rows counted by source, file, reason and column (the same counts "
              "as quarantine/summary.csv).", columns("""
source | string | the raw source
file | string | raw file, relative to data/raw
reason | string | why the rows were rejected: missing_id, unparseable_time, negative_duration, `<field>_out_of_range`, unknown_touchpoint, exact_duplicate, near_duplicate, malformed_row, unparseable_record, ambiguous_identity, unmatched_join, ambiguous_join, missing_join_key, missing_rollup_key, rollup_group_rejected, ...
column | string | raw column(s) at fault, comma-separated (missing_id names every identifier column); null for whole-row reasons
rows | int | quarantined rows of that file with that reason and column
""")),
    TableSpec("collect_stitching", "collect", "collect_stitching",
              "Four shares that describe the stitched customer base, each with its "
              "denominator (cjmlib.collection.quality.stitching_summary).", columns("""
metric | string | what is counted: more than one identifier; CRM profile; cross-channel (2+ channels, among customers with events); feedback only (no events)
count | int | customers with that property
denominator | int | customers (customers with events for the cross-channel share)
share | float | count / denominator, 0-1
ci_low | float | lower bound of the 95% Wilson interval of share
ci_high | float | upper bound of the 95% Wilson interval of share
""")),
    TableSpec("collect_coverage", "collect", "collect_coverage",
              "Events and customers per period and source: a gap in a source's series is a "
              "gap in its export (cjmlib.collection.quality.coverage).", columns("""
period | local timestamp | start of the period (day, week from Monday, or month: the notebook's coverage_freq) in UTC wall time, without a time zone
source | string | the raw source the events came from
events | int | events of the source in the period
customers | int | distinct customers with an event of the source in the period
""")),
    TableSpec("collect_manifest", "collect", "collect_manifest",
              "The collection manifest: inputs with SHA-256, rows in, out and quarantined per "
              "source with their reasons, unconfigured files, table sizes, identity and "
              "de-duplication statistics (the content of data/processed/manifest.json).", (),
              formats=("json",)),
)

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("collect_rows_per_source", "collect",
               "Bars of the raw rows read per source (log scale) beside the share of them "
               "quarantined, counts written on the bars; no intervals."),
    FigureSpec("collect_quarantine_reasons", "collect",
               "Bars of quarantined rows for the most frequent sources and reasons; no "
               "intervals."),
    FigureSpec("collect_coverage", "collect",
               "Events per period, one small panel per source on its own scale, with empty "
               "periods shaded; no intervals."),
    FigureSpec("collect_identifiers_per_customer", "collect",
               "Histogram of how many identifiers formed each customer, split by whether a CRM "
               "profile exists; no intervals."),
)
