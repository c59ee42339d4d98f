"""cjm-workbench: customer-journey research from raw exports to pilot verdicts and reports.

The public API is re-exported here lazily: ``import cjmlib`` is instant and silent, and
``cjmlib.make_sample`` imports its module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "make_sample": "cjmlib.sample.generator",
    "collect": "cjmlib.collection.assembly",
    "stitch": "cjmlib.collection.identity",
    "check_parameters": "cjmlib.workflow.parameters",
    "ParameterError": "cjmlib.workflow.parameters",
    "check_scalar": "cjmlib.core.checks",
    "check_columns": "cjmlib.core.checks",
    "resolve_path": "cjmlib.core.config",
    "load_yaml": "cjmlib.core.config",
    "run_notebooks": "cjmlib.workflow.runner",
    "assign_variants": "cjmlib.pilots.design",
    "sample_size": "cjmlib.pilots.design",
    "minimum_detectable_effect": "cjmlib.pilots.design",
    "load_pilot_plan": "cjmlib.pilots.design",
    "MetricSpec": "cjmlib.pilots.metrics",
    "evaluate_pilot": "cjmlib.pilots.evaluation",
    "sample_ratio_mismatch": "cjmlib.pilots.srm",
    "difference_in_differences": "cjmlib.pilots.quasi_experiments",
    "build_journeys": "cjmlib.journeys.build",
    "touchpoint_metrics": "cjmlib.journeys.touchpoints",
    "markov_attribution": "cjmlib.journeys.attribution",
    "kpi_series": "cjmlib.journeys.changes",
    "detect_changes": "cjmlib.journeys.changes",
    "survey_metrics": "cjmlib.voice.surveys",
    "experience_curve": "cjmlib.voice.surveys",
    "score_sentiment": "cjmlib.voice.sentiment",
    "key_drivers": "cjmlib.voice.drivers",
    "segment_customers": "cjmlib.voice.segments",
    "persona_cards": "cjmlib.voice.segments",
    "build_report": "cjmlib.report.builder",
    "score_backlog": "cjmlib.report.backlog",
    "control_charts": "cjmlib.report.monitoring",
    "compare_runs": "cjmlib.report.comparison",
    "scan_run": "cjmlib.core.privacy",
    "suppress_small_groups": "cjmlib.core.privacy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cjmlib' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
