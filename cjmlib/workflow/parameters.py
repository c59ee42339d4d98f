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
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, MutableMapping
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
    name (with the closest declared name) and every value whose type does not match.

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
        values[name] = value
    if problems:
        raise ParameterError("; ".join(problems) if len(problems) == 1 else
                             "\n  - " + "\n  - ".join(problems))
    if seen is None and isinstance(namespace, MutableMapping):
        namespace[_SEEN] = frozenset(namespace)
    return values


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
