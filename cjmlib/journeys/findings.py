"""The headline findings of a journey analysis (02_journeys): the most urgent pain point, the
top loop, the channel switch that differs most, and the funnel's end-to-end conversion, as a
JSON-ready dict and as plain-language lines.

Each finding is None when its table is empty (no rated touchpoint, no loop, no channel switch
with enough customers), so a log with one channel or no loops still gets a summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd


def journey_findings(*, pain_points: pd.DataFrame, loops: pd.DataFrame,
                     switching: pd.DataFrame | None, funnel: pd.DataFrame | None,
                     journey_unit: str) -> dict[str, Any]:
    """The findings as a dict (written as ``journeys_findings.json``).

    ``pain_points``: the pain-point table ranked by ``priority_rank``; ``loops``:
    :func:`cjmlib.journeys.transitions.loops`; ``switching``:
    :func:`cjmlib.journeys.channels.switching_outcomes` (rows with ``small_cell`` are not
    used); ``funnel``: :func:`cjmlib.journeys.funnel.funnel`.
    """
    out: dict[str, Any] = {"journey_unit": journey_unit, "top_pain_point": None,
                           "pain_point_ranking": [], "top_loop": None,
                           "top_channel_switch": None, "funnel_conversion": None}
    if len(pain_points):
        top = pain_points.iloc[0]
        out["top_pain_point"] = {
            "touchpoint": top["touchpoint"], "priority_score": float(top["priority_score"]),
            "exit_rate": float(top["exit_rate"]),
            "csat_mean": float(top["csat_mean"]) if pd.notna(top["csat_mean"]) else None}
        out["pain_point_ranking"] = pain_points["touchpoint"].head(5).tolist()
    if len(loops):
        loop = loops.iloc[0]
        out["top_loop"] = {"touchpoint": loop["touchpoint"], "via": loop["via"],
                           "journeys": int(loop["journeys"]),
                           "loop_rate": float(loop["loop_rate"])}
    usable = (switching[~switching["small_cell"].astype(bool)] if switching is not None
              else pd.DataFrame())
    if len(usable):
        s = usable.iloc[0]
        out["top_channel_switch"] = {
            "from": s["from_channel"], "to": s["to_channel"], "outcome": s["outcome"],
            "switcher_rate": float(s["switcher_rate"]), "stayer_rate": float(s["stayer_rate"]),
            "difference": float(s["difference"]),
            "difference_ci": [float(s["difference_ci_low"]), float(s["difference_ci_high"])],
            "alpha": float(s["alpha"]) if "alpha" in s.index else 0.05}
    if funnel is not None and len(funnel):
        out["funnel_conversion"] = float(funnel["conversion_from_start"].iloc[-1])
    return out


def findings_markdown(findings: Mapping[str, Any], *,
                      labels: Mapping[str, str] | None = None) -> str:
    """The findings as Markdown bullet points, one sentence each.

    >>> print(findings_markdown({"top_pain_point": None, "top_loop": None,
    ...                          "top_channel_switch": None}))
    - No touchpoint has enough customers to rank pain points.
    - No loops (A → B → A) in these journeys.
    - No channel switch with enough customers to compare.
    """
    label = (labels or {}).get
    lines = []
    top = findings.get("top_pain_point")
    if top:
        csat = (f", CSAT {top['csat_mean']:.2f}" if top.get("csat_mean") is not None else "")
        lines.append(f"- Most urgent pain point: **{label(top['touchpoint'], top['touchpoint'])}** "
                     f"(priority {top['priority_score']:.0f}; exit rate "
                     f"{top['exit_rate']:.0%}{csat}).")
    else:
        lines.append("- No touchpoint has enough customers to rank pain points.")
    loop = findings.get("top_loop")
    if loop:
        lines.append(f"- Top loop: **{loop['touchpoint']} → {loop['via']} → "
                     f"{loop['touchpoint']}** in {loop['journeys']:,} journeys "
                     f"({loop['loop_rate']:.0%} of those reaching it).")
    else:
        lines.append("- No loops (A → B → A) in these journeys.")
    switch = findings.get("top_channel_switch")
    if switch:
        low, high = switch["difference_ci"]
        level = f"{100 * (1 - switch.get('alpha', 0.05)):.3g}%"
        lines.append(f"- Channel switch with the largest difference: **{switch['from']} → "
                     f"{switch['to']}**: {switch['outcome']} {switch['switcher_rate']:.0%} of "
                     f"switchers vs {switch['stayer_rate']:.0%} of the others (difference "
                     f"{switch['difference']:+.0%}, {level} CI {low:+.0%} to {high:+.0%}).")
    else:
        lines.append("- No channel switch with enough customers to compare.")
    return "\n".join(lines)
