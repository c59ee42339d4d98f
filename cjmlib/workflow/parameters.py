"""Validation of notebook parameters.

Each notebook declares its parameters in the cell tagged ``parameters`` as *typed*
assignments (``alpha: float = 0.05  # significance level``). Python records those names
and types in ``__annotations__``; papermill injects overrides as plain assignments in
the next cell and only *warns* about names the notebook does not declare. The cell after
that calls :func:`check_parameters`, which turns a misspelt or ill-typed parameter into
an error that names it, so a scheduled run fails loudly instead of silently using a default.

Optional parameters are written with a quoted annotation, ``units_path: "Optional[str]" =
None``: papermill's parameter parser accepts it (it rejects ``str | None``) and the kernel
needs no import, because :func:`check_parameters` evaluates quoted annotations itself. A
parameter line holds exactly one ``=`` (papermill skips lines with more, comments included).

Beyond its type, a value must make sense: :data:`RULES` (every notebook declaring the name)
and :data:`NOTEBOOK_RULES` (one notebook's own) say what each parameter may be -- a range, a
set of choices, a path that must exist, a date. :func:`check_parameter_values` checks them,
in the validation cell right after :func:`check_parameters` (``check_parameter_values(params,
notebook="04_pilot_design")``, before anything is computed) and, on the values a run plans,
without a kernel (the runner, before papermill starts a notebook). A problem names the notebook, the parameter, its value and what
was expected: ``04_pilot_design: parameter 'alpha' must be > 0 and < 0.5, got 2``.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

# Names IPython puts in every user namespace; never parameters.
_IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})
# What papermill can inject: plain literals.
_LITERAL_TYPES = (str, int, float, bool, list, dict, tuple, type(None))
# Set in the namespace by the first check: the names that existed then. A notebook run again
# top to bottom in the same kernel holds its own results from the first run (``params``,
# tables, ...); they were created after the first check, so they are not parameters.
_SEEN = "_cjm_names_at_first_check"


class ParameterError(ValueError):
    """A notebook parameter is unknown or does not have its declared type."""


def check_parameters(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Check a notebook's parameters and return them as a plain dict.

    ``namespace`` is the notebook's ``globals()``. Declared parameters are the annotated
    names of the ``parameters`` cell. Raises :class:`ParameterError` listing every unknown
    name (with the closest declared name) and every value whose type does not match. The
    values that come back have their declared types; :func:`check_parameter_values` then
    checks their ranges.

    A notebook run top to bottom again in the same kernel checks again: the names its cells
    created after the first check are not parameters and are left alone.

    >>> check_parameters({"__annotations__": {"alpha": float}, "alpha": 0.1})
    {'alpha': 0.1}
    >>> check_parameters({"__annotations__": {"alpha": float}, "alpha": 0.1, "alhpa": 0.2})
    Traceback (most recent call last):
    ...
    cjmlib.workflow.parameters.ParameterError: unknown parameter 'alhpa' (did you mean 'alpha'?); this notebook declares: alpha
    """
    declared: dict[str, Any] = {name: _evaluate_annotation(name, annotation) for name, annotation
                                in dict(namespace.get("__annotations__", {})).items()}
    if not declared:
        raise ParameterError(
            "no typed parameters found: the cell tagged 'parameters' must declare each "
            "parameter with a type, e.g. `alpha: float = 0.05  # significance level`"
        )
    problems: list[str] = []
    seen = namespace.get(_SEEN)
    for name, value in namespace.items():
        if name.startswith("_") or name in declared or name in _IPYTHON_NAMES:
            continue
        if seen is not None and name not in seen:
            continue  # made by the notebook itself after its first check
        if isinstance(value, _LITERAL_TYPES):
            close = difflib.get_close_matches(name, list(declared), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                f"unknown parameter {name!r}{hint}; this notebook declares: "
                + ", ".join(declared)
            )
    values: dict[str, Any] = {}
    for name, annotation in declared.items():
        if name not in namespace:
            problems.append(f"parameter {name!r} is declared but has no value")
            continue
        value = namespace[name]
        if not conforms(value, annotation):
            problems.append(
                f"parameter {name!r} must be {describe_type(annotation)}, "
                f"got {type(value).__name__} {value!r}"
            )
            continue  # its range means nothing for a value of the wrong type
        values[name] = value
    if problems:
        raise ParameterError(_join(problems))
    if seen is None and isinstance(namespace, MutableMapping):
        namespace[_SEEN] = frozenset(namespace)
    return values


def _join(problems: list[str]) -> str:
    """One problem on one line; several as a list."""
    return problems[0] if len(problems) == 1 else "\n  - " + "\n  - ".join(problems)


@dataclass(frozen=True)
class Rule:
    """What a parameter's value must be beyond its type. None passes unless ``required``.

    ``gt``, ``ge``, ``lt``, ``le``: bounds (``ge`` may name another parameter: ``"k_min"``);
    ``choices``: the allowed values; ``exists``: a path that must exist; ``pattern``: a
    regular expression the whole text must match (``what`` says it in words); ``time``: a
    date or time pandas can read. ``when``: the rule applies only when one of these
    parameters is set (not None, not empty); ``unless``: only when none of them is.
    """

    gt: float | None = None
    ge: float | str | None = None
    lt: float | None = None
    le: float | None = None
    choices: tuple[Any, ...] | None = None
    exists: bool = False
    required: bool = False
    pattern: str | None = None
    what: str = ""
    time: bool = False
    when: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()

    def applies(self, values: Mapping[str, Any]) -> bool:
        """False when ``when`` or ``unless`` switch the rule off for these values."""
        if self.when and not any(values.get(n) for n in self.when):
            return False
        return not any(values.get(n) for n in self.unless)

    def problem(self, name: str, value: Any, values: Mapping[str, Any]) -> str | None:
        """What is wrong with ``value`` as parameter ``name``, or None when it is fine."""
        if value is None:
            return f"parameter {name!r} is needed here, got None" if self.required else None
        if self.choices is not None and value not in self.choices:
            return (f"parameter {name!r} must be one of "
                    + ", ".join(repr(c) for c in self.choices) + f", got {value!r}")
        if self.exists:
            return _missing_path(name, value)
        if self.pattern is not None and not (
                isinstance(value, str) and re.fullmatch(self.pattern, value, re.IGNORECASE)):
            return f"parameter {name!r} must be {self.what or self.pattern}, got {value!r}"
        if self.time:
            return _unreadable_time(name, value)
        return self._out_of_range(name, value, values)

    def _out_of_range(self, name: str, value: Any, values: Mapping[str, Any]) -> str | None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        ge, ge_text = self.ge, repr(self.ge)
        if isinstance(ge, str):  # bounded by another parameter
            ge, ge_text = values.get(ge), f"{ge} ({values.get(ge)!r})"
        bounds = [(self.gt, ">", repr(self.gt), lambda v, b: v > b),
                  (ge, ">=", ge_text, lambda v, b: v >= b),
                  (self.lt, "<", repr(self.lt), lambda v, b: v < b),
                  (self.le, "<=", repr(self.le), lambda v, b: v <= b)]
        bounds = [(b, word, text, ok) for b, word, text, ok in bounds
                  if isinstance(b, (int, float))]
        # NaN fails every comparison, so it is out of range too
        if all(ok(value, b) for b, _, _, ok in bounds):
            return None
        expected = " and ".join(f"{word} {text}" for _, word, text, _ in bounds)
        return f"parameter {name!r} must be {expected}, got {value!r}"


def _missing_path(name: str, value: Any) -> str | None:
    from cjmlib.core.config import resolve_path

    if not isinstance(value, str) or not value:
        return f"parameter {name!r} must name a file or folder, got {value!r}"
    if resolve_path(value).exists():
        return None
    return f"parameter {name!r} must name an existing file or folder, got {value!r} (not found)"


def _unreadable_time(name: str, value: Any) -> str | None:
    import pandas as pd

    try:
        pd.Timestamp(value)
    except (TypeError, ValueError):
        return (f"parameter {name!r} must be a date or time such as '2026-03-01' or "
                f"'2026-03-01 09:30', got {value!r}")
    return None


#: Rules for a parameter name in every notebook that declares it.
RULES: dict[str, Rule] = {
    "alpha": Rule(gt=0, lt=0.5),  # two-sided significance level
    "seed": Rule(ge=0),
    "config_path": Rule(exists=True),
    "journey_unit": Rule(choices=("auto", "customer", "session")),
    "sessions": Rule(choices=("given", "inactivity")),
    "pilot_config_path": Rule(exists=True),
}

_REQUIRED_FILE = Rule(exists=True, required=True)
_FILE_IF_GIVEN = Rule(exists=True)

#: Rules of one notebook's own parameters (they win over :data:`RULES`).
NOTEBOOK_RULES: dict[str, dict[str, Rule]] = {
    "01_collect": {
        "raw_dir": _REQUIRED_FILE,
        "sources_path": _REQUIRED_FILE,
        "memory_limit": Rule(pattern=r"\s*\d+(\.\d+)?\s*(b|bytes|[kmgt]i?b)\s*",
                             what="a size such as '1GB' or '512MB'"),
        "top_reasons_shown": Rule(ge=1),
        "coverage_freq": Rule(choices=("day", "week", "month")),
        "run_date": Rule(time=True),
    },
    "02_journeys": {
        "events_path": _REQUIRED_FILE,
        "feedback_path": _FILE_IF_GIVEN,
        "customers_path": _FILE_IF_GIVEN,
        "analysis_start": Rule(time=True),
        "analysis_end": Rule(time=True),
        "markov_order": Rule(ge=1, le=3),
        "top_paths": Rule(ge=1),
        "top_flows": Rule(ge=3),
    },
    "03_voice": {
        "feedback_path": _REQUIRED_FILE,
        "customers_path": _REQUIRED_FILE,
        "events_path": _REQUIRED_FILE,
        "min_n": Rule(ge=1),
        "trend_freq": Rule(choices=("W", "M", "Q")),
        "theme_top": Rule(ge=1),
        "theme_min_docs": Rule(ge=1),
        "driver_method": Rule(choices=("shapley", "relative_weights")),
        "n_boot": Rule(ge=0),
        "k_min": Rule(ge=2),
        "k_max": Rule(ge="k_min"),
        "k": Rule(ge=2),
        "stability_seeds": Rule(ge=1),
        "min_stability": Rule(ge=0, le=1),
        "segment_max_fit": Rule(ge=100),
    },
    "04_pilot_design": {
        "units_path": _REQUIRED_FILE,
        "pilot_config_path": _REQUIRED_FILE,
        "power": Rule(gt=0, lt=1),
        "icc": Rule(ge=0, le=1),
        "cluster_size": Rule(ge=1),
        "cluster_cv": Rule(ge=0),
    },
    "05_pilot_eval": {
        "units_path": Rule(exists=True, unless=("assignment_path",)),
        "assignment_path": _FILE_IF_GIVEN,
        "treated_units_path": _FILE_IF_GIVEN,
        "events_path": Rule(exists=True, when=("assignment_path", "treated_units_path")),
        "sources_path": Rule(exists=True, when=("unit_identifier",)),
        "panel_period": Rule(choices=("day", "week", "month")),
        "launch": Rule(time=True),
        "window_days": Rule(gt=0),
        "pre_days": Rule(ge=0),
    },
    "06_report": {
        "report_config_path": _REQUIRED_FILE,
        "improvements_path": _FILE_IF_GIVEN,
        "previous_run": _FILE_IF_GIVEN,
        "language": Rule(choices=("en", "zh")),
        "min_group_size": Rule(ge=1),
    },
}


def parameter_problems(values: Mapping[str, Any], *, notebook: str) -> list[str]:
    """Every value of ``values`` (parameter name -> value) outside what its rule allows,
    one message each, naming ``notebook``, the parameter, its value and what was expected.
    Names without a rule are not looked at; types are :func:`check_parameters`' concern.

    >>> parameter_problems({"alpha": 2, "power": 1.5}, notebook="04_pilot_design")
    ["04_pilot_design: parameter 'alpha' must be > 0 and < 0.5, got 2", \
"04_pilot_design: parameter 'power' must be > 0 and < 1, got 1.5"]
    """
    rules = {**RULES, **NOTEBOOK_RULES.get(notebook, {})}
    problems = []
    for name, value in values.items():
        rule = rules.get(name)
        if rule is None or not rule.applies(values):
            continue
        problem = rule.problem(name, value, values)
        if problem is not None:
            problems.append(f"{notebook}: {problem}")
    return problems


def check_parameter_values(values: Mapping[str, Any], *, notebook: str) -> None:
    """Raise :class:`ParameterError` listing every problem :func:`parameter_problems` finds.

    For the values a notebook will run with (its declared defaults updated with what the
    run passes), checked before a kernel starts.

    >>> check_parameter_values({"alpha": 0.05, "power": 0.8}, notebook="04_pilot_design")
    >>> check_parameter_values({"alpha": 0}, notebook="02_journeys")
    Traceback (most recent call last):
    ...
    cjmlib.workflow.parameters.ParameterError: 02_journeys: parameter 'alpha' must be > 0 and < 0.5, got 0
    """
    problems = parameter_problems(values, notebook=notebook)
    if problems:
        raise ParameterError(_join(problems))


# Names a quoted annotation may use.
_ANNOTATION_NAMES: dict[str, Any] = {
    "str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict,
    "tuple": tuple, "None": None, "Any": Any, "Optional": typing.Optional,
    "Union": typing.Union, "Literal": Literal,
}


def _evaluate_annotation(name: str, annotation: Any) -> Any:
    """Turn a quoted annotation such as ``"Optional[str]"`` into the type it names."""
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, {"__builtins__": {}}, dict(_ANNOTATION_NAMES))
    except Exception as exc:
        raise ParameterError(
            f"cannot read the type {annotation!r} of parameter {name!r}; use builtins, "
            f"list[...], dict[...], Optional[...] or Literal[...]"
        ) from exc


def conforms(value: Any, annotation: Any) -> bool:
    """True when ``value`` fits ``annotation`` (builtins, ``X | None``, ``Literal``,
    ``list[X]``, ``dict[K, V]``). An int is accepted where a float is declared.

    >>> conforms(3, float), conforms(True, int), conforms(["a"], list[str])
    (True, False, True)
    >>> conforms("session", Literal["customer", "session"]), conforms(None, str | None)
    (True, True)
    """
    if annotation is Any:
        return True
    origin = get_origin(annotation)
    if origin is Literal:
        return value in get_args(annotation)
    if origin in (Union, types.UnionType):
        return any(conforms(value, arg) for arg in get_args(annotation))
    if annotation is None or annotation is type(None):
        return value is None
    if origin in (list, tuple):
        (item_type, *_) = get_args(annotation) or (Any,)
        return isinstance(value, (list, tuple)) and all(conforms(v, item_type) for v in value)
    if origin is dict:
        key_type, value_type = get_args(annotation) or (Any, Any)
        return isinstance(value, dict) and all(
            conforms(k, key_type) and conforms(v, value_type) for k, v in value.items()
        )
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation in (list, tuple):
        return isinstance(value, (list, tuple))
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True  # an annotation we cannot check (a string, a typing construct): accept


def describe_type(annotation: Any) -> str:
    """Readable name of an annotation for error messages.

    >>> describe_type(Literal["customer", "session"])
    "one of 'customer', 'session'"
    >>> describe_type(list[str] | None)
    'list[str] or None'
    """
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in get_args(annotation))
    if annotation is None or annotation is type(None):
        return "None"
    if origin is not None:
        return typing._type_repr(annotation)  # e.g. list[str]
    return getattr(annotation, "__name__", repr(annotation))
