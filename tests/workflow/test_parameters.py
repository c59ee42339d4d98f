"""Notebook parameters: unknown names and wrong types fail with a message naming them."""

from __future__ import annotations

import pytest

from cjmlib.workflow.parameters import ParameterError, check_parameters, conforms, describe_type


def _ns(**values):
    annotations = {"events_path": str, "alpha": float, "journey_unit": str,
                   "conversion_touchpoints": list[str], "segment_col": str | None,
                   "planned_split": dict[str, float]}
    ns = {"__annotations__": annotations, "events_path": "e.parquet", "alpha": 0.05,
          "journey_unit": "customer", "conversion_touchpoints": ["order_confirmation"],
          "segment_col": None, "planned_split": {"control": 0.5, "treatment": 0.5},
          # what IPython and the validation cell put into the namespace
          "In": [""], "Out": {}, "get_ipython": print, "exit": exit, "quit": quit,
          "check_parameters": check_parameters, "pytest": pytest, "_": None}
    ns.update(values)
    return ns


def test_declared_values_come_back_unchanged() -> None:
    values = check_parameters(_ns(alpha=0.1))
    assert values["alpha"] == 0.1
    assert set(values) == {"events_path", "alpha", "journey_unit", "conversion_touchpoints",
                           "segment_col", "planned_split"}


def test_unknown_parameter_is_named_with_a_suggestion() -> None:
    with pytest.raises(ParameterError) as info:
        check_parameters(_ns(alhpa=0.1))
    message = str(info.value)
    assert message.startswith("unknown parameter 'alhpa' (did you mean 'alpha'?)")
    assert "declares: events_path, alpha," in message


def test_unknown_parameter_without_a_close_match() -> None:
    with pytest.raises(ParameterError, match=r"^unknown parameter 'no_such_param'; this"):
        check_parameters(_ns(no_such_param=1))


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("alpha", "0.05", "parameter 'alpha' must be float, got str '0.05'"),
    ("alpha", True, "parameter 'alpha' must be float, got bool True"),
    ("conversion_touchpoints", "payment",
     "parameter 'conversion_touchpoints' must be list[str], got str 'payment'"),
    ("conversion_touchpoints", ["a", 1],
     "parameter 'conversion_touchpoints' must be list[str], got list ['a', 1]"),
    ("segment_col", 3, "parameter 'segment_col' must be str or None, got int 3"),
    ("planned_split", {"control": "half"},
     "parameter 'planned_split' must be dict[str, float], got dict {'control': 'half'}"),
])
def test_ill_typed_parameter_names_type_and_value(name, value, expected) -> None:
    with pytest.raises(ParameterError) as info:
        check_parameters(_ns(**{name: value}))
    assert str(info.value) == expected


def test_several_problems_are_listed_together() -> None:
    with pytest.raises(ParameterError) as info:
        check_parameters(_ns(alpha="x", typo=1))
    lines = str(info.value).strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("- ") for line in
                                   (x.strip() for x in lines))


def test_a_notebook_without_typed_parameters_is_refused() -> None:
    with pytest.raises(ParameterError, match="no typed parameters found"):
        check_parameters({"alpha": 0.05})


def test_int_is_a_float_but_bool_is_not_an_int() -> None:
    assert conforms(1, float)
    assert not conforms(True, int)
    assert not conforms(1.5, int)
    assert conforms(None, str | None)
    assert conforms((1, 2), list[int])


def test_describe_type_reads_like_the_declaration() -> None:
    assert describe_type(str | None) == "str or None"
    assert describe_type(list[str]) == "list[str]"


def test_quoted_annotations_are_checked_like_real_ones() -> None:
    ns = {"__annotations__": {"units_path": "Optional[str]", "arms": "list[str]"},
          "units_path": None, "arms": ["control"]}
    assert check_parameters(ns) == {"units_path": None, "arms": ["control"]}
    ns["units_path"] = 3
    with pytest.raises(ParameterError, match=r"'units_path' must be str or None, got int 3"):
        check_parameters(ns)
    with pytest.raises(ParameterError, match=r"cannot read the type 'os.path'"):
        check_parameters({"__annotations__": {"x": "os.path"}, "x": 1})


def test_a_second_run_in_the_same_kernel_ignores_what_the_notebook_made_itself() -> None:
    """Run all cells twice in JupyterLab: the first run left `params`, tables and lists
    behind; the second check must not call them unknown parameters."""
    ns = _ns()
    check_parameters(ns)
    ns.update(params={"alpha": 0.05}, conversions=["order_confirmation"], n_rows=3)
    ns["alpha"] = 0.1  # the parameters cell runs again, maybe edited
    assert check_parameters(ns)["alpha"] == 0.1
    ns["alpha"] = "high"  # types are still checked on every run
    with pytest.raises(ParameterError, match="parameter 'alpha' must be float"):
        check_parameters(ns)


def test_an_unknown_name_present_at_the_first_check_still_fails_later() -> None:
    ns = _ns(alhpa=0.1)
    with pytest.raises(ParameterError):
        check_parameters(ns)
    with pytest.raises(ParameterError, match="unknown parameter 'alhpa'"):
        check_parameters(ns)
