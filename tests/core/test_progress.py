"""Progress lines: none for short loops, rate-limited lines and a last line for long ones."""

from __future__ import annotations

import io

from cjmlib.core import progress as progress_mod
from cjmlib.core.progress import Progress


def test_short_loops_print_nothing():
    out = io.StringIO()
    with Progress(100, "quick", stream=out) as p:
        for _ in range(100):
            p.step()
    assert out.getvalue() == "" and p.done == 100


def test_long_loops_print_rate_limited_lines_and_a_last_one(monkeypatch):
    clock = iter([0.0] + [float(t) for t in range(1, 200)])
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    with Progress(40, "fits", after=5, every=10, stream=out) as p:
        for _ in range(40):
            p.step()  # one second per step
    lines = out.getvalue().splitlines()
    # first line at 5 s (5 done), then every 10 s: 15, 25, 35; and the last line
    assert lines[0] == "fits: 5/40 (5 s, about 35 s left)"
    assert [ln.split(":")[1].split("/")[0].strip() for ln in lines[:-1]] == ["5", "15", "25",
                                                                              "35"]
    assert lines[-1] == "fits: 40/40 (41 s)"
