"""Figures of 01_collect: rows per source, quarantine reasons, coverage over time, identities."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cjmlib.core.checks import check_columns
from cjmlib.core.figures import FULL_WIDTH


def source_rows(sources: pd.DataFrame) -> plt.Figure:
    """Two panels per source: raw rows read (log scale, sources differ by orders of magnitude)
    and the share of them quarantined (duplicates included), with counts written on the bars."""
    check_columns(sources, ["source", "rows_in", "rows_quarantined"], what="sources table")
    df = sources.sort_values("rows_in")
    fig, (left, right) = plt.subplots(1, 2, sharey=True, figsize=(FULL_WIDTH, 0.4 * len(df) + 1.8),
                                      gridspec_kw={"width_ratios": [3, 2]})
    y = np.arange(len(df))
    left.barh(y, df["rows_in"].clip(lower=1), color="C0")
    left.set_xscale("log")
    left.set_yticks(y, df["source"])
    for yi, n in enumerate(df["rows_in"]):
        left.text(max(n, 1), yi, f" {n:,}", va="center", fontsize=9)
    left.set_xlabel("raw rows read (log scale)")
    left.set_title("Rows read")
    share = np.where(df["rows_in"] > 0, df["rows_quarantined"] / df["rows_in"].clip(lower=1), 0)
    right.barh(y, 100 * share, color="C3")
    for yi, (q, sh) in enumerate(zip(df["rows_quarantined"], share, strict=True)):
        right.text(100 * sh, yi, f" {q:,} ({100 * sh:.1f}%)", va="center", fontsize=9)
    right.set_xlim(0, max(5.0, 100 * float(share.max()) * 1.6))
    right.set_xlabel("quarantined, % of rows read")
    right.set_title("Rows quarantined")
    fig.tight_layout()
    return fig


def quarantine_reasons(reasons: pd.DataFrame) -> plt.Figure:
    """Bars of quarantined rows per source and reason (the output of ``top_reasons``)."""
    check_columns(reasons, ["source", "reason", "rows"], what="quarantine reasons")
    df = reasons.iloc[::-1]
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 0.4 * max(len(df), 1) + 1.5))
    labels = [f"{s}: {r}" for s, r in zip(df["source"], df["reason"], strict=True)]
    ax.barh(np.arange(len(df)), df["rows"], color="C3")
    ax.set_yticks(np.arange(len(df)), labels)
    for yi, v in enumerate(df["rows"]):
        ax.text(v, yi, f" {v:,}", va="center", fontsize=9)
    ax.set_xlabel("quarantined rows")
    ax.set_title("Why rows were quarantined")
    fig.tight_layout()
    return fig


def coverage(cov: pd.DataFrame, *, by: str = "source", value: str = "events") -> plt.Figure:
    """Small multiples, one row per ``by`` group: ``value`` per period (the output of
    ``cjmlib.collection.quality.coverage``). Each panel has its own scale; an empty period is a gap
    in that export (or, for campaigns, a week without a send)."""
    check_columns(cov, ["period", by, value], what="coverage table")
    wide = cov.pivot_table(index="period", columns=by, values=value, aggfunc="sum",
                           fill_value=0).sort_index()
    groups = list(wide.columns)
    fig, axes = plt.subplots(len(groups), 1, sharex=True, squeeze=False,
                             figsize=(FULL_WIDTH, 1.1 * len(groups) + 1.2))
    width = (wide.index[1] - wide.index[0]) * 0.8 if len(wide.index) > 1 else 1
    for ax, g in zip(axes[:, 0], groups, strict=True):
        vals = wide[g]
        ax.bar(wide.index, vals, width=width, color="C0")
        empty = wide.index[vals == 0]
        if len(empty):
            ax.bar(empty, [vals.max() or 1] * len(empty), width=width, color="C3", alpha=0.15)
        ax.set_ylabel(g, rotation=0, ha="right", va="center", fontsize=9)
        ax.yaxis.set_major_locator(plt.MaxNLocator(2))
        ax.tick_params(axis="y", labelsize=8)
    axes[0, 0].set_title(f"Coverage over time: {value} per period and {by} "
                         "(shaded: no rows in the period)")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def identifiers_per_customer(customers: pd.DataFrame) -> plt.Figure:
    """Histogram of identifiers per stitched customer, split by whether a CRM profile exists."""
    check_columns(customers, ["n_identifiers"], what="customers table")
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 4))
    top = int(customers["n_identifiers"].max()) if len(customers) else 1
    bins = np.arange(0.5, top + 1.5)
    if "crm_id" in customers:
        crm = customers["crm_id"].notna()
        ax.hist([customers.loc[crm, "n_identifiers"], customers.loc[~crm, "n_identifiers"]],
                bins=bins, stacked=True, label=["with CRM profile", "without"],
                color=["C0", "C1"])
        ax.legend()
    else:
        ax.hist(customers["n_identifiers"], bins=bins, color="C0")
    ax.set_xticks(np.arange(1, top + 1))
    ax.set_xlabel("identifiers per customer")
    ax.set_ylabel("customers")
    ax.set_title("How many identifiers formed each customer")
    fig.tight_layout()
    return fig
