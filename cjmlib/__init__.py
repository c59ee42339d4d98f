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
    "make_sample": "cjmlib.sample",
    "collect": "cjmlib.collection",
    "stitch": "cjmlib.identity",
    "check_parameters": "cjmlib.parameters",
    "ParameterError": "cjmlib.parameters",
    "check_scalar": "cjmlib.checks",
    "check_columns": "cjmlib.checks",
    "resolve_path": "cjmlib.config",
    "load_yaml": "cjmlib.config",
    "run_notebooks": "cjmlib.runner",
    "assign_variants": "cjmlib.pilot_design",
    "sample_size": "cjmlib.pilot_design",
    "minimum_detectable_effect": "cjmlib.pilot_design",
    "load_pilot_plan": "cjmlib.pilot_design",
    "MetricSpec": "cjmlib.pilot_eval",
    "evaluate_pilot": "cjmlib.pilot_eval",
    "sample_ratio_mismatch": "cjmlib.pilot_eval",
    "difference_in_differences": "cjmlib.quasi_experiments",
    "build_journeys": "cjmlib.journeys",
    "touchpoint_metrics": "cjmlib.touchpoints",
    "markov_attribution": "cjmlib.attribution",
    "survey_metrics": "cjmlib.voice",
    "experience_curve": "cjmlib.voice",
    "score_sentiment": "cjmlib.sentiment",
    "key_drivers": "cjmlib.drivers",
    "segment_customers": "cjmlib.segments",
    "persona_cards": "cjmlib.segments",
    "build_report": "cjmlib.report",
    "score_backlog": "cjmlib.backlog",
    "control_charts": "cjmlib.monitoring",
    "compare_runs": "cjmlib.monitoring",
    "scan_run": "cjmlib.privacy",
    "suppress_small_groups": "cjmlib.privacy",
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
