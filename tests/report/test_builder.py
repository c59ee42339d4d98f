"""The improvement report: the summary states the pain point, the pilot's effect with its
interval and the verdict; the file is self-contained and printable, in English and Chinese;
missing tables are named, never drawn empty; the 06 notebook runs on whatever a run holds."""

from __future__ import annotations

import base64
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cjmlib.core.config import CONFIGS_DIR, load_yaml
from cjmlib.report import backlog as bl
from cjmlib.report import builder as rp
from cjmlib.report import monitoring as mon
from cjmlib.report.comparison import compare_runs

STAGES = ["awareness", "consideration", "purchase", "service", "loyalty"]
LABELS = {"payment": "Payment", "cart": "Basket", "product_page": "Product page",
          "support_call": "Support call", "home_page": "Home page"}


# ------------------------------------------------------------------------------------------
# A small synthetic run folder following the DESIGN.md table contracts
# ------------------------------------------------------------------------------------------
def synthetic_tables() -> dict[str, pd.DataFrame]:
    tps = ["payment", "cart", "product_page", "support_call", "home_page"]
    journeys = np.array([2000, 4000, 7000, 600, 5000])
    exits = np.array([900, 1300, 2000, 540, 900])
    metrics = pd.DataFrame({
        "touchpoint": tps, "stage": ["purchase", "purchase", "consideration", "service",
                                     "consideration"],
        "channel": "all", "events": journeys * 2, "customers": journeys // 2,
        "reach_share": journeys / 2 / 10000, "conversion_rate": [0.48, 0.25, 0.13, 0.05, 0.1],
        "ci_low": [0.46, 0.24, 0.12, 0.03, 0.09], "ci_high": [0.50, 0.26, 0.14, 0.07, 0.11],
        "exit_rate": exits / journeys, "median_duration_s": [150.0, 40, 60, 480, 25],
        "csat_mean": [1.9, 4.0, 4.2, 3.2, 4.2], "nps": [-95.0, -30, -10, -50, -12],
        "sentiment_mean": [-0.3, 0.4, 0.5, 0.0, 0.5],
        "removal_effect": [0.56, 0.5, 0.3, 0.0, 0.2],
        "priority_score": [64.0, 30, 20, 25, 12], "priority_rank": [1, 2, 4, 3, 5],
        "journeys": journeys, "exits": exits,
        "exit_rate_ci_low": exits / journeys - 0.02, "exit_rate_ci_high": exits / journeys + 0.02,
        "customers_total": 10000,
    })
    survey = pd.DataFrame({
        "level": "touchpoint", "group": tps, "n": [146, 189, 329, 70, 163],
        "csat_mean": [1.88, 3.96, 4.2, 3.24, 4.17], "csat_ci_low": [1.75, 3.85, 4.1, 3.0, 4.05],
        "csat_ci_high": [2.01, 4.07, 4.3, 3.5, 4.3], "top2box": [0.1, 0.7, 0.8, 0.4, 0.8],
        "nps": [-97.9, -33.3, -10, -50, -11.7], "nps_ci_low": [-100, -44, -20, -65, -24],
        "nps_ci_high": [-95.7, -22, 0, -35, 0.5], "ces_mean": [2.0, 5.5, 5.8, 4, 5.7],
        "n_csat": [146, 189, 329, 70, 163]})
    sentiment = pd.DataFrame({
        "response_id": ["r1", "r2", "r3", "r4", "r5"], "customer_id": ["cu_1", "cu_2", "cu_3",
                                                                      "cu_4", "cu_5"],
        "survey": "post_interaction", "touchpoint": ["payment", "payment", "payment", "cart",
                                                     "payment"],
        "language": ["en", "zh", "en", "en", "en"],
        "sentiment": [-0.7, -0.73, -0.6, 0.4, -0.5],
        "csat": [1.0, 1, 2, 4, 1],
        "text": ["Payment failed twice, mail me at jo.bloggs@example.org",
                 "支付页面很卡，体验很差", "My card was declined at checkout for no reason",
                 "Great basket", "Call me back on 07700 900123 please"]})
    themes = pd.DataFrame({"level": "touchpoint", "group": "payment", "language": "en",
                           "direction": "negative", "rank": [1, 2], "term": ["card", "failed"],
                           "examples": ["My card was declined", "Payment failed twice"]})
    by_channel = pd.DataFrame({"touchpoint": ["payment"] * 3, "channel": ["app", "web", "store"],
                               "customers": [450, 960, 4], "journeys": [760, 1440, 5],
                               "exit_rate": [0.41, 0.46, 0.2], "exit_rate_ci_low": [0.38, 0.43, 0.04],
                               "exit_rate_ci_high": [0.45, 0.49, 0.6]})
    funnel = pd.DataFrame({"step": ["product_page", "cart", "payment"],
                           "customers": [2466, 1629, 1130],
                           "conversion_from_previous": [1.0, 0.535, 0.713],
                           "conversion_from_start": [1.0, 0.535, 0.268],
                           "median_time_s": [0.0, 98.8, 255.2]})
    pilot = pd.DataFrame({
        "metric": ["conversion", "support_contacts_per_session", "csat_top2box"],
        "kind": ["proportion", "ratio", "ordinal"], "control": "control",
        "treatment": "treatment", "n_control": 687, "n_treatment": 717,
        "control_value": [0.300, 0.0783, 0.497], "treatment_value": [0.360, 0.0594, 0.671],
        "effect": [0.0596, -0.0189, 0.174], "rel_effect": [0.198, -0.242, 0.35],
        "ci_low": [0.0108, -0.0325, 0.099], "ci_high": [0.1083, -0.0053, 0.248],
        "p_value": [0.0168, 0.0065, 1e-5], "p_value_adjusted": [0.0168, 0.0065, 1.4e-5],
        "method": ["Welch t", "delta method", "top-2-box share (>= 4), Wald"],
        "srm_p_value": 0.42, "decision": ["ship", "guardrail ok", "better"],
        "role": ["primary", "guardrail", "secondary"], "rel_ci_low": [0.03, -0.38, 0.18],
        "rel_ci_high": [0.39, -0.07, 0.52], "trustworthy": True,
        "reason": ["significant improvement, guardrails ok", "no harm beyond the tolerated "
                   "margin", "adjusted p < alpha"]})
    did = pd.DataFrame({"metric": ["sales", "sales"], "estimate": [4.45, 1.68],
                        "se": [1.37, 2.7], "ci_low": [2.05, -2.47], "ci_high": [6.84, 5.49],
                        "p_value": [0.0005, 0.24], "inference": ["permutation",
                                                                 "synthetic control"],
                        "n_treated_units": 4, "n_control_units": 36,
                        "pre_trend_p_value": [0.18, np.nan], "default": [True, False],
                        "min_p_value": [1.1e-5, 0.001], "power_observed": [0.93, 0.41]})
    return {"touchpoint_metrics": metrics, "survey_metrics": survey, "sentiment": sentiment,
            "themes": themes, "touchpoint_metrics_by_channel": by_channel, "funnel": funnel,
            "pilot_results": pilot, "did_results": did}


def synthetic_monitoring() -> mon.Monitoring:
    rng = np.random.default_rng(5)
    periods = pd.Series(pd.date_range("2026-01-05", periods=20, freq="7D", tz="UTC"))
    n = np.full(20, 120)
    exits = rng.binomial(n, np.where(np.arange(20) < 15, 0.35, 0.65))
    rates = pd.DataFrame({"level": "touchpoint_channel", "group": "payment / app",
                          "touchpoint": "payment", "stage": "purchase", "channel": "app",
                          "period": periods, "complete": True, "journeys": n, "exits": exits,
                          "converted_journeys": rng.binomial(n, 0.4)})
    return mon.control_charts(rates, rollouts=[{"name": "App 5.2.0", "date": "2026-04-20",
                                                "channels": ["app"]}])


def synthetic_run(folder: Path, *, language: str = "en", previous: Path | None = None
                  ) -> rp.Report:
    """Write the synthetic tables into ``folder`` and build its report (used by
    test_browser.py too)."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = synthetic_tables()
    for name, table in tables.items():
        table.to_parquet(folder / f"{name}.parquet")
    items = bl.load_improvements(CONFIGS_DIR / "improvements.yaml")
    backlog = bl.score_backlog(items, tables["touchpoint_metrics"],
                               pilot_results=tables["pilot_results"], run_id=folder.name)
    backlog.to_parquet(folder / "backlog.parquet")
    settings = load_yaml(CONFIGS_DIR / "report.yaml")
    labels = settings["labels_zh"] if language == "zh" else LABELS
    stages = settings["stages_zh"] if language == "zh" else {s: s for s in STAGES}
    comparison = compare_runs(folder, previous) if previous is not None else None
    report = rp.build_report(
        folder, language=language, stages=STAGES, labels=labels, stage_labels=stages,
        backlog=backlog, monitoring=synthetic_monitoring(),
        rollouts=[mon.Rollout.from_dict({"name": "App 5.2.0", "date": "2026-04-20",
                                         "channels": ["app"]})],
        comparison=comparison, previous_run=previous.name if previous else None,
        pilot_name="payment page redesign", min_group_size=10)
    report.write(folder / "report.html")
    return report


@pytest.fixture(scope="module")
def english(tmp_path_factory: pytest.TempPathFactory) -> rp.Report:
    return synthetic_run(tmp_path_factory.mktemp("run") / "20261122T120000Z")


# ------------------------------------------------------------------------------------------
# Content
# ------------------------------------------------------------------------------------------
def test_summary_states_pain_point_pilot_effect_interval_and_verdict(english) -> None:
    assert 3 <= len(english.findings) <= 6 and english.errors == {}
    by_key = {f.key: f.text for f in english.findings}
    assert by_key["pain_point"].startswith("Payment is the most urgent pain point")
    assert "45.0% of the journeys" in by_key["pain_point"]          # 900 / 2000
    assert "95% CI 43.0% to 47.0%" in by_key["pain_point"]
    assert "CSAT is 1.88 of 5 (95% CI 1.75 to 2.01; n = 146), the lowest" in by_key["pain_point"]
    pilot = by_key["pilot"]
    assert "conversion went from 30.0% to 36.0%" in pilot
    assert "+6.0 pp (95% CI +1.1 pp to +10.8 pp" in pilot and "Verdict: ship" in pilot
    assert "Guardrails held (support contacts per session)" in pilot
    assert "App 5.2.0" in by_key["monitoring"] and "Payment / app" in by_key["monitoring"]
    assert by_key["backlog"].startswith("Top of the improvement backlog")
    # the summary comes first in the document
    html = english.html
    # the store pilot's table states what the design could show
    store = html[html.index("Store pilot (difference-in-differences)"):]
    assert "Smallest attainable p" in store and "Power at this size" in store
    assert "93%" in store[:store.index("</table>")]
    assert html.index('id="summary"') < html.index('id="journey"') < html.index('id="pain"')


def test_the_document_is_self_contained_and_printable(english) -> None:
    html = english.html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.I)
    assert "url(" not in html and "@import" not in html
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 5  # journey map, evidence, backlog, pilot, control charts
    for uri in images:
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "@media print" in html and "@page" in html
    assert '<meta name="viewport"' in html and '<html lang="en">' in html


def test_quotes_are_redacted_and_small_groups_suppressed(english) -> None:
    html = english.html
    assert "jo.bloggs@example.org" not in html and "[e-mail]" in html
    assert "07700 900123" not in html
    assert "“My card was declined at checkout for no reason”" in html
    # the store channel has 4 customers at payment: shown as suppressed, not as 20%
    row = re.search(r"<td>store</td>(.*?)</tr>", html).group(1)
    assert "fewer than 10: not shown" in row and "20.0%" not in row


def test_next_steps_follow_from_the_evidence(english) -> None:
    steps = " ".join(english.next_steps)
    assert "Roll out <b>Redesign the payment page</b>" in steps
    assert "Investigate the exit rate at <b>Payment / app</b>" in steps
    assert "Pilot next:" in steps


def test_chinese_report_has_chinese_fixed_text(tmp_path: Path) -> None:
    report = synthetic_run(tmp_path / "20261122T120000Z", language="zh")
    html = report.html
    assert '<html lang="zh-CN">' in html
    for text in ("执行摘要", "客户旅程地图", "主要痛点及证据", "改进事项优先级清单", "试点结果与结论",
                 "持续监测", "下一步行动", "结算-支付"):
        assert text in html, text
    for english_text in ("Executive summary", "Journey map", "What to do next", "Verdict"):
        assert english_text not in html
    pilot = next(f.text for f in report.findings if f.key == "pilot")
    assert "+6.0 个百分点" in pilot and "结论：上线" in pilot


def test_missing_tables_are_named_and_never_drawn(tmp_path: Path) -> None:
    empty = tmp_path / "20261122T120000Z"
    empty.mkdir()
    report = rp.build_report(empty)
    assert report.findings == [] and "<img" not in report.html
    for table, notebook in (("touchpoint_metrics", "02_journeys"),
                            ("pilot_results", "05_pilot_eval"), ("did_results", "05_pilot_eval")):
        assert (f"Not available in this run: table {table} is missing (written by "
                f"{notebook}).") in report.html
    assert report.missing["touchpoint_metrics"] == "02_journeys"
    assert "Monitoring not available" in report.html
    # only the pilot's tables: its finding and section are there, the others say what is missing
    tables = synthetic_tables()
    tables["pilot_results"].to_parquet(empty / "pilot_results.parquet")
    partial = rp.build_report(empty)
    assert [f.key for f in partial.findings] == ["pilot"]
    assert partial.html.count("<img") == 1  # the pilot's effects, nothing else


def test_a_run_with_only_the_contract_columns_still_reports(tmp_path: Path) -> None:
    from cjmlib.journeys.touchpoints import METRIC_COLUMNS

    run = tmp_path / "20261122T120000Z"
    run.mkdir()
    tables = synthetic_tables()
    contract = tables["touchpoint_metrics"][list(METRIC_COLUMNS)]
    contract.to_parquet(run / "touchpoint_metrics.parquet")
    items = bl.load_improvements(CONFIGS_DIR / "improvements.yaml")
    backlog = bl.score_backlog(items, contract)
    assert backlog["impact"].isna().all() and backlog["rank"].isna().all()
    assert "no journeys column" in backlog["note"].iloc[0]
    report = rp.build_report(run, labels=LABELS, backlog=backlog)
    pain = next(f.text for f in report.findings if f.key == "pain_point")
    assert "45.0% of the journeys that reach it end there without converting (– journeys)" in pain


def test_a_table_of_an_unexpected_shape_costs_only_its_own_section(tmp_path: Path) -> None:
    run = tmp_path / "20261122T120000Z"
    run.mkdir()
    tables = synthetic_tables()
    tables["touchpoint_metrics"].drop(columns=["stage"]).to_parquet(
        run / "touchpoint_metrics.parquet")
    tables["pilot_results"].to_parquet(run / "pilot_results.parquet")
    report = rp.build_report(run, labels=LABELS)
    assert "journey" in report.errors and "pilot" not in report.errors
    assert "This section could not be built (ValueError: journey_map" in report.html
    assert {f.key for f in report.findings} >= {"pain_point", "pilot"}


def test_the_comparison_with_a_previous_run(tmp_path: Path) -> None:
    first = tmp_path / "20261122T120000Z"
    synthetic_run(first)
    second = tmp_path / "20261123T120000Z"
    second.mkdir()
    tables = synthetic_tables()
    tables["touchpoint_metrics"].loc[0, "exits"] = 1300       # payment exits: 45% -> 65%
    tables["touchpoint_metrics"].loc[0, ["exit_rate", "exit_rate_ci_low",
                                         "exit_rate_ci_high"]] = [0.65, 0.63, 0.67]
    for name, table in tables.items():
        table.to_parquet(second / f"{name}.parquet")
    comparison = compare_runs(second, first)
    report = rp.build_report(second, labels=LABELS, comparison=comparison,
                             previous_run=first.name)
    html = report.html
    assert f"Compared with run {first.name}" in html
    section = html[html.index('id="comparison"'):]
    assert re.search(r"<td>Payment</td><td>exit rate</td><td class=num>45.0%</td>"
                     r"<td class=num>65.0%</td><td class=num>\+20.0 pp</td>", section)
    first_report = rp.build_report(first, labels=LABELS)
    assert "This is the first report in this reports folder" in first_report.html


def test_the_pilot_finding_matches_a_real_evaluation(sample_dir: Path, ground_truth: dict,
                                                     tmp_path: Path) -> None:
    from cjmlib.pilots.design import load_pilot_plan
    from cjmlib.pilots.evaluation import evaluate_pilot

    plan = load_pilot_plan(CONFIGS_DIR / "pilot.yaml")
    evaluation = evaluate_pilot(sample_dir / "pilot" / "ab_units.csv", metrics=plan.metrics,
                                planned_split=plan.arms, srm_alpha=plan.srm_alpha,
                                n_resamples=99)
    run = tmp_path / "20261122T120000Z"
    run.mkdir()
    evaluation.results.to_parquet(run / "pilot_results.parquet")
    finding = next(f for f in rp.build_report(run).findings if f.key == "pilot")
    primary = evaluation.results[evaluation.results["role"] == "primary"].iloc[0]
    assert finding.numbers["ci"] == (primary["ci_low"], primary["ci_high"])
    assert f"{100 * primary['ci_low']:+.1f} pp to {100 * primary['ci_high']:+.1f} pp" in (
        finding.text)
    assert f"Verdict: {primary['decision']}" in finding.text
    planted = ground_truth["ab_lift"]["conversion"]["difference"]
    assert primary["ci_low"] < planted < primary["ci_high"]


# ------------------------------------------------------------------------------------------
# Figures in Chinese, and the notebook
# ------------------------------------------------------------------------------------------
def test_chinese_text_renders_in_figures_with_a_cjk_font() -> None:
    from cjmlib.report import plots as figs

    name = figs.report_style()
    if name is None:
        pytest.skip("no CJK font installed (Debian: apt-get install fonts-noto-cjk)")
    tables = synthetic_tables()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph is a warning: fail on it
        fig = figs.journey_map(tables["touchpoint_metrics"], stages=STAGES,
                               labels=load_yaml(CONFIGS_DIR / "report.yaml")["labels_zh"],
                               stage_labels={"purchase": "购买"},
                               words={"exit": "退出率", "legend": "颜色越深越紧迫"},
                               title="客户旅程地图")
        uri = figs.figure_data_uri(fig)
    assert uri.startswith("data:image/png;base64,")


def test_the_report_notebook_runs_on_an_empty_run_folder(tmp_path: Path) -> None:
    import nbformat
    import papermill

    from cjmlib.core.config import NOTEBOOKS_DIR

    run = tmp_path / "20261122T120000Z"
    run.mkdir()
    executed = tmp_path / "06.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "06_report.ipynb"), str(executed), kernel_name="python3",
        parameters={"run_dir": str(run), "events_path": str(tmp_path / "none.parquet"),
                    "feedback_path": None, "language": "zh"},
        progress_bar=False, log_output=False)
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "本次运行缺少：数据表 touchpoint_metrics（应由 02_journeys 生成）" in html
    assert "无法进行持续监测" in html
    nb = nbformat.read(executed, as_version=4)
    streams = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type in
               ("stream", "error")]
    assert streams == [], streams  # no warnings, no errors
