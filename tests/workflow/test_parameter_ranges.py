"""Notebook parameters out of range fail before anything is computed, with a message naming
the notebook, the parameter, its value and what was expected (issue 14, finding 9: 04 took
alpha 2, -1, 0 and power 1.5 and died with "cannot convert float NaN to integer")."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjmlib.core.config import NOTEBOOKS_DIR
from cjmlib.workflow.parameters import (
    NOTEBOOK_RULES,
    RULES,
    ParameterError,
    Rule,
    check_parameter_values,
    parameter_problems,
)
from cjmlib.workflow.plan import declared_parameters
from cjmlib.workflow.runner import NOTEBOOKS


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("alpha", 2, "> 0 and < 0.5, got 2"),
    ("alpha", -1, "> 0 and < 0.5, got -1"),
    ("alpha", 0, "> 0 and < 0.5, got 0"),
    ("alpha", 0.5, "> 0 and < 0.5, got 0.5"),
    ("alpha", float("nan"), "> 0 and < 0.5, got nan"),
    ("power", 1.5, "> 0 and < 1, got 1.5"),
    ("power", 0, "> 0 and < 1, got 0"),
    ("icc", -0.1, ">= 0 and <= 1, got -0.1"),
    ("cluster_size", 0.5, ">= 1, got 0.5"),
])
def test_pilot_design_refuses_what_finding_9_accepted(name, value, expected) -> None:
    with pytest.raises(ParameterError) as info:
        check_parameter_values({"alpha": 0.05, "power": 0.8, name: value},
                               notebook="04_pilot_design")
    assert str(info.value) == f"04_pilot_design: parameter {name!r} must be {expected}"


def test_every_problem_is_listed_with_its_notebook() -> None:
    problems = parameter_problems({"alpha": 2, "power": 1.5, "cluster_cv": -1},
                                  notebook="04_pilot_design")
    assert problems == ["04_pilot_design: parameter 'alpha' must be > 0 and < 0.5, got 2",
                        "04_pilot_design: parameter 'power' must be > 0 and < 1, got 1.5",
                        "04_pilot_design: parameter 'cluster_cv' must be >= 0, got -1"]
    with pytest.raises(ParameterError) as info:
        check_parameter_values({"alpha": 2, "power": 1.5}, notebook="04_pilot_design")
    assert str(info.value).strip().splitlines()[1].strip() == (
        "- 04_pilot_design: parameter 'power' must be > 0 and < 1, got 1.5")


@pytest.mark.parametrize(("notebook", "values", "expected"), [
    ("02_journeys", {"seed": -1}, "parameter 'seed' must be >= 0, got -1"),
    ("02_journeys", {"journey_unit": "week"},
     "parameter 'journey_unit' must be one of 'auto', 'customer', 'session', got 'week'"),
    ("02_journeys", {"markov_order": 4}, "parameter 'markov_order' must be >= 1 and <= 3"),
    ("02_journeys", {"analysis_start": "yesterday-ish"},
     "parameter 'analysis_start' must be a date or time such as '2026-03-01'"),
    ("01_collect", {"memory_limit": "lots"},
     "parameter 'memory_limit' must be a size such as '1GB' or '512MB', got 'lots'"),
    ("01_collect", {"coverage_freq": "year"}, "parameter 'coverage_freq' must be one of"),
    ("03_voice", {"k_min": 4, "k_max": 3}, "parameter 'k_max' must be >= k_min (4), got 3"),
    ("03_voice", {"trend_freq": "D"}, "parameter 'trend_freq' must be one of 'W', 'M', 'Q'"),
    ("03_voice", {"min_stability": 1.2}, "parameter 'min_stability' must be >= 0 and <= 1"),
    ("05_pilot_eval", {"window_days": 0}, "parameter 'window_days' must be > 0, got 0"),
    ("05_pilot_eval", {"panel_period": "year"}, "parameter 'panel_period' must be one of"),
    ("06_report", {"language": "fr"}, "parameter 'language' must be one of 'en', 'zh'"),
])
def test_each_notebook_names_the_parameter_value_and_expectation(notebook, values,
                                                                 expected) -> None:
    problems = parameter_problems(values, notebook=notebook)
    assert len(problems) == 1 and problems[0].startswith(f"{notebook}: {expected}")


def test_paths_must_exist_when_the_notebook_needs_them(tmp_path: Path) -> None:
    missing = str(tmp_path / "nothing.csv")
    assert parameter_problems({"events_path": missing}, notebook="02_journeys") == [
        f"02_journeys: parameter 'events_path' must name an existing file or folder, got "
        f"{missing!r} (not found)"]
    # optional: None passes, a given path must exist
    assert parameter_problems({"feedback_path": None}, notebook="02_journeys") == []
    assert parameter_problems({"units_path": None}, notebook="04_pilot_design") == [
        "04_pilot_design: parameter 'units_path' is needed here, got None"]
    # 05 reads the events only to build units or a panel, the units table only without them
    assert parameter_problems({"events_path": missing}, notebook="05_pilot_eval") == []
    assert len(parameter_problems({"events_path": missing, "assignment_path": str(tmp_path)},
                                  notebook="05_pilot_eval")) == 1
    assert parameter_problems({"units_path": missing, "assignment_path": str(tmp_path)},
                              notebook="05_pilot_eval") == []


def test_none_passes_an_optional_parameter_and_bools_are_not_numbers() -> None:
    assert parameter_problems({"k": None, "min_group_size": None, "language": None},
                              notebook="03_voice") == []
    assert Rule(ge=0).problem("x", True, {}) is None  # the type check refuses bools


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_the_rules_name_declared_parameters_and_the_defaults_keep_them(stem: str) -> None:
    declared = declared_parameters(NOTEBOOKS_DIR / f"{stem}.ipynb")
    own = NOTEBOOK_RULES.get(stem, {})
    assert set(own) <= set(declared), f"rules for parameters {stem} does not declare"
    rules = {**RULES, **own}
    # paths depend on the data at hand; every other default must satisfy its rule
    defaults = {k: v for k, v in declared.items() if k in rules and not rules[k].exists}
    assert parameter_problems(defaults, notebook=stem) == []


@pytest.mark.slow
@pytest.mark.parametrize(("stem", "bad"), [
    ("01_collect", {"coverage_freq": "year"}),
    ("02_journeys", {"alpha": 1.0}),
    ("03_voice", {"n_boot": -5}),
    ("04_pilot_design", {"alpha": 2, "power": 1.5}),
    ("05_pilot_eval", {"alpha": -1}),
    ("06_report", {"sessions": "visits"}),
])
def test_every_notebook_stops_in_its_validation_cell(stem: str, bad: dict,
                                                     tmp_path: Path) -> None:
    """Executed by papermill (as `cjm run` and scheduled jobs do): the error comes from the
    cell after the parameters, before any data is read."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as info:
        papermill.execute_notebook(
            str(NOTEBOOKS_DIR / f"{stem}.ipynb"), str(tmp_path / "out.ipynb"),
            parameters={**bad, "output_dir": str(tmp_path / "run")}
            if stem != "06_report" else {**bad, "run_dir": str(tmp_path / "run")},
            kernel_name="python3", progress_bar=False, log_output=False, cwd=str(tmp_path))
    assert info.value.ename == "ParameterError"
    name, value = next(iter(bad.items()))
    assert f"{stem}: parameter {name!r} must be" in info.value.evalue
    assert f"got {value!r}" in info.value.evalue
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    failed = next(i for i, c in enumerate(code) if any(
        o.get("output_type") == "error" for o in c.get("outputs", [])))
    injected = next(i for i, c in enumerate(code)
                    if "injected-parameters" in c.metadata.get("tags", []))
    assert failed == injected + 1, "the check must be the cell right after the parameters"
