"""What every ``validity_*.py`` script shares: a simulated rate with its Monte Carlo standard
error, the band it must fall in, the printed line and the JSON record.

Bands (issue 13): a false-positive rate within [4%, 6%] at alpha = 0.05, or at most the stated
level for a method that is conservative by design; an interval's coverage within [94%, 96%].
At full size (``make validity``) the point estimate must lie in its band. The reduced size
that CI runs (``--quick``) cannot resolve a 1-point band, so there the band is widened by
three Monte Carlo standard errors: the check then catches a method that is plainly wrong
(the 18% or 47% the audit measured), not the last half point.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

#: (low, high) bands
FPR = (0.04, 0.06)
COVERAGE = (0.94, 0.96)


def at_most(level: float) -> tuple[float, float]:
    """The band of a method that is conservative by design: anything up to ``level``."""
    return (0.0, level)


@dataclass
class Rate:
    """One simulated rate: ``hits`` of ``runs``, its band and whether it holds."""

    name: str
    what: str            # "false positives" | "coverage" | "power" | ...
    hits: int
    runs: int
    band: tuple[float, float]
    quick: bool = False
    note: str = ""

    @property
    def rate(self) -> float:
        return self.hits / self.runs if self.runs else math.nan

    @property
    def se(self) -> float:
        """Monte Carlo standard error of the rate, sqrt(p (1 - p) / runs)."""
        p = self.rate
        return math.sqrt(max(p * (1 - p), 1e-12) / self.runs) if self.runs else math.nan

    @property
    def ok(self) -> bool:
        if not self.quick:
            return self.band[0] <= self.rate <= self.band[1]
        # three standard errors, taken at the band's nearest edge as well as at the rate: at
        # a small size a rate of 0% or 100% has a plug-in SE of 0 (48 of 48 intervals
        # covering is no evidence against 95%)
        edge = min(max(self.rate, self.band[0]), self.band[1])
        at_edge = math.sqrt(edge * (1 - edge) / self.runs) if self.runs else math.inf
        slack = 3 * max(self.se, at_edge)
        return self.band[0] - slack <= self.rate <= self.band[1] + slack

    def line(self) -> str:
        low, high = self.band
        band = f"<= {high:.0%}" if low == 0 else f"[{low:.0%}, {high:.0%}]"
        mark = "ok" if self.ok else "OUTSIDE"
        return (f"  {self.name:<58} {self.what:<15} {self.rate:7.2%} (MC SE {self.se:.2%}, "
                f"{self.hits}/{self.runs})  band {band:<11} {mark}"
                + (f"  {self.note}" if self.note else ""))

    def record(self) -> dict:
        out = asdict(self)
        out.update(hits=int(self.hits), runs=int(self.runs), rate=self.rate, se=self.se,
                   ok=bool(self.ok))
        return out


def report(script: str, rates: list[Rate], *, seconds: float, out: Path | None = None,
           extra: dict | None = None) -> bool:
    """Print the rates, write ``results/<script>.json`` with the date; True when all hold."""
    for r in rates:
        print(r.line(), flush=True)
    ok = all(r.ok for r in rates)
    print(f"{script}: {sum(r.ok for r in rates)}/{len(rates)} within their bands "
          f"({seconds:.0f} s)", flush=True)
    path = out or RESULTS / f"{script}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "date": dt.date.today().isoformat(), "machine": platform.machine(),
        "seconds": round(seconds, 1), "all_ok": ok,
        "rates": [r.record() for r in rates], **(extra or {}),
    }, indent=2) + "\n", encoding="utf-8")
    return ok
