"""The report's "What changed" section and its summary lines, from a real change search.

Events simulated in tests/journeys/test_changes.py (a payment incident, a shift at the cart,
a burst of arrivals, a slowdown from cart to payment, a channel fading out) go through
kpi_series and detect_changes; the report built from those tables must state each story
once in the executive summary (strongest first, in English and Chinese), say how many more
the section lists, and draw the strongest changes with their window.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from cjmlib.journeys.build import build_journeys
from cjmlib.journeys.changes import detect_changes, finding_values, kpi_series
from cjmlib.report import builder as rp
from cjmlib.report import plots as figs
from cjmlib.report.change_sections import CHARTED_CHANGES, SUMMARY_CHANGES
from tests.journeys.test_changes import simulate


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    journeys = build_journeys(simulate(), conversion_touchpoints=["done"], unit="customer")
    series = kpi_series(journeys)
    found = detect_changes(series, n_simulations=199)
    values = finding_values(found, series)
    folder = tmp_path_factory.mktemp("run") / "20261130T120000Z"
    (folder / "tables").mkdir(parents=True)
    found.findings.to_parquet(folder / "tables" / "journeys_changes.parquet")
    values.to_parquet(folder / "tables" / "journeys_change_values.parquet")
    return folder, found.findings, values


def _summary(report: rp.Report) -> list[str]:
    html = report.html
    block = html[html.index('<ol class="findings">'):]
    block = block[:block.index("</ol>")]
    return [re.sub(r"<[^>]+>", "", li) for li in re.findall(r"<li>(.*?)</li>", block, re.S)]


def test_each_story_is_told_once_strongest_first(run) -> None:
    folder, findings, _ = run
    report = rp.build_report(folder, language="en")
    lines = _summary(report)
    told = [line for line in lines if any(s[:60] in line for s in findings["sentence"])]
    assert 1 <= len(told) <= SUMMARY_CHANGES
    # the strongest finding comes first; the median and p90 of one slowdown are one story
    assert told[0].startswith(findings["sentence"].iloc[0][:60])
    slow = [line for line in told if "cart → payment" in line and "slower" in line]
    assert len(slow) <= 1
    assert f"{len(findings) - len(told)} more changes over time" in told[-1]
    zh = rp.build_report(folder, language="zh")
    assert any("另有" in line for line in _summary(zh))


def test_the_strongest_changes_are_drawn_with_their_window(run) -> None:
    folder, findings, values = run
    report = rp.build_report(folder, language="en")
    section = report.html[report.html.index("Changes over time, strongest first"):]
    section = section[:section.index("<h3", 10)] if "<h3" in section[10:] else section
    assert section.count("<img") == min(CHARTED_CHANGES, len(findings))
    r = findings.iloc[0].to_dict()
    v = values[(values["kpi"] == r["kpi"]) & (values["group"] == r["group"])]
    fig = figs.change_chart(v, r, rollouts=[("inside", r["start"]),
                                            ("long before", "2020-01-01")])
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["inside"]  # a rollout outside the series' span is not drawn
    shaded = [p for p in ax.patches if isinstance(p, matplotlib.patches.Polygon)
              or isinstance(p, matplotlib.patches.Rectangle)]
    assert shaded, "the changed window is shaded"
    matplotlib.pyplot.close(fig)
