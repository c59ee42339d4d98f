"""The journey model of ``configs/journey.yaml``: stages, touchpoints and their labels,
conversion touchpoints and named outcomes, the funnel, future-state targets and priority
weights."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cjmlib.core.config import load_yaml, resolve_path


@dataclass(frozen=True)
class JourneyConfig:
    """The journey model of ``configs/journey.yaml``.

    ``touchpoints`` maps each touchpoint to its ``stage``, ``label`` and future-state
    ``target`` (a dict of metric -> target value, e.g. ``exit_rate``, ``csat_mean``,
    ``median_duration_s``); ``priority_weights`` are the weights of
    :func:`cjmlib.journeys.touchpoints.prioritise`. ``endings`` (optional ``endings:`` list)
    are terminal touchpoints such as approved, declined or cancelled: with the outcomes'
    and conversion touchpoints they end a journey rather than lose it
    (:meth:`ending_touchpoints`, for ``build_journeys(endings=...)``).
    """

    stages: tuple[str, ...]
    touchpoints: Mapping[str, Mapping[str, Any]]
    conversion_touchpoints: tuple[str, ...]
    funnel_steps: tuple[str, ...]
    funnel_name: str
    funnel_window_days: float | None
    session_timeout_minutes: float
    exclude_touchpoints: tuple[str, ...] = ()
    priority_weights: Mapping[str, float] = field(default_factory=dict)
    min_customers: int = 30
    outcomes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    endings: tuple[str, ...] = ()

    def ending_touchpoints(self) -> tuple[str, ...]:
        """Conversion touchpoints, the touchpoints of every named outcome and ``endings``,
        each once: a journey whose last step is one of them ended, it is no exit."""
        names = [*self.conversion_touchpoints,
                 *[tp for tps in self.outcomes.values() for tp in tps], *self.endings]
        return tuple(dict.fromkeys(names))

    def outcome(self, name: str) -> tuple[str, ...]:
        """The touchpoints of a named outcome (the error lists the names there are)."""
        if name not in self.outcomes:
            raise ValueError(f"unknown outcome {name!r}; the journey config names "
                             f"{list(self.outcomes)}")
        return self.outcomes[name]

    def stage_of(self) -> dict[str, str]:
        """touchpoint -> stage."""
        return {tp: spec["stage"] for tp, spec in self.touchpoints.items()}

    def labels(self) -> dict[str, str]:
        """touchpoint -> readable label (the touchpoint name when no label is given)."""
        return {tp: spec.get("label", tp) for tp, spec in self.touchpoints.items()}

    def targets(self) -> pd.DataFrame:
        """Future-state targets: one row per touchpoint, one column per metric."""
        rows = {tp: dict(spec.get("target") or {}) for tp, spec in self.touchpoints.items()}
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "touchpoint"
        return frame.reset_index()


def load_journey_config(path: str | os.PathLike[str]) -> JourneyConfig:
    """Read and check ``configs/journey.yaml`` (the errors name the file and the key)."""
    resolved = resolve_path(path, must_exist=True)
    raw = load_yaml(resolved)
    for key in ("stages", "touchpoints"):
        if key not in raw:
            raise ValueError(f"{resolved}: missing key {key!r}; found {sorted(raw)}")
    if "conversion_touchpoints" not in raw and not raw.get("outcomes"):
        raise ValueError(f"{resolved}: missing key 'conversion_touchpoints' (or 'outcomes'); "
                         f"found {sorted(raw)}")
    stages = tuple(raw["stages"])
    touchpoints = raw["touchpoints"]
    for tp, spec in touchpoints.items():
        if not isinstance(spec, Mapping) or spec.get("stage") not in stages:
            found = spec.get("stage") if isinstance(spec, Mapping) else spec
            raise ValueError(
                f"{resolved}: touchpoints.{tp}.stage must be one of {list(stages)}; "
                f"found {found!r}"
            )
        target = spec.get("target") or {}
        if not isinstance(target, Mapping) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in target.values()):
            raise ValueError(
                f"{resolved}: touchpoints.{tp}.target must map metric names to numbers; "
                f"found {target!r}"
            )
    outcomes = _read_outcomes(raw.get("outcomes"), touchpoints, resolved)
    if "conversion_touchpoints" in raw:
        conversions = _touchpoint_list(raw["conversion_touchpoints"], "conversion_touchpoints",
                                       touchpoints, resolved)
    else:
        conversions = next(iter(outcomes.values()))
    outcomes = outcomes or {"conversion": conversions}
    endings = (_touchpoint_list(raw["endings"], "endings", touchpoints, resolved)
               if raw.get("endings") else ())
    funnel = raw.get("funnel") or {}
    steps = tuple(funnel.get("steps") or ())
    unknown = [s for s in steps if s not in touchpoints]
    if unknown:
        raise ValueError(f"{resolved}: funnel.steps {unknown} are not listed under touchpoints")
    return JourneyConfig(
        stages=stages,
        touchpoints=touchpoints,
        conversion_touchpoints=conversions,
        funnel_steps=steps,
        funnel_name=str(funnel.get("name", "funnel")),
        funnel_window_days=funnel.get("window_days"),
        session_timeout_minutes=float(raw.get("session_timeout_minutes", 30)),
        exclude_touchpoints=tuple(raw.get("exclude_touchpoints") or ()),
        priority_weights=dict(raw.get("priority_weights") or {}),
        min_customers=int(raw.get("min_customers", 30)),
        outcomes=outcomes,
        endings=endings,
    )


def _touchpoint_list(value: Any, key: str, touchpoints: Mapping[str, Any],
                     path: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise ValueError(f"{path}: {key} must be a list of touchpoint names; found {value!r}")
    unknown = [c for c in items if c not in touchpoints]
    if unknown:
        raise ValueError(f"{path}: {key} {unknown} are not listed under touchpoints")
    return tuple(items)


def _read_outcomes(value: Any, touchpoints: Mapping[str, Any],
                   path: Any) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{path}: outcomes must map an outcome name to a list of touchpoints "
                         f"(e.g. purchase: [order_confirmation]); found {value!r}")
    out = {}
    for name, tps in value.items():
        out[str(name)] = _touchpoint_list(tps, f"outcomes.{name}", touchpoints, path)
        if not out[str(name)]:
            raise ValueError(f"{path}: outcomes.{name} names no touchpoint")
    return out


