"""Speed of change detection on 10 million events, and its false-finding rate (`make bench`).

Speed: the 10-million-event log of ``bench_journeys.py`` (500,000 customers, 25
touchpoints, 180 days, so weekly periods), with planted changes added by rewriting events
in DuckDB (not timed): exits at ``tp_12`` double in weeks 8-10 (an incident) and the
``store`` channel loses 90% of its events from week 15 on (a fade-out). One fresh process
times ``build_journeys`` + :func:`cjmlib.journeys.changes.kpi_series` (every KPI series,
counted in DuckDB) + :func:`cjmlib.journeys.changes.detect_changes` (the scan and Monte
Carlo over every series), library import and DuckDB start-up outside the clock, fastest of
three runs. Target (issue 12): under 10 s on 2 cores.

Journeys are customers, as in ``bench_journeys.py``. Customers there come back over the
whole 180 days, so the automatic open horizon (95th percentile of the gaps between steps)
is about six weeks and every period of the exit and conversion series holds more than 2%
open journeys: those series are reported as having no closed period rather than tested,
and the planted tp_12 incident cannot be seen in them (the tests recover incidents on
journeys that close). Session journeys (``--unit session``) make them testable but cost a
sessionisation pass over the 10 million events.

Validity (``--validity``, opt-in, a few minutes): the false-finding rate of
``detect_changes`` with no planted change, over ``--runs`` runs of 20 series of 30 periods
(binomial rates and Poisson counts) at alpha 0.05 with Benjamini-Hochberg, reported with its
Monte Carlo standard error; the unit test runs a small version of it.

    python benchmarks/bench_changes.py                 # 10M events
    python benchmarks/bench_changes.py --check         # exit 1 when the target is missed
    python benchmarks/bench_changes.py --validity --runs 2000

Results are printed and written to ``benchmarks/results/changes.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_journeys import CONVERSIONS, _peak_rss_mb, generate  # noqa: E402

TARGET_SECONDS = 10.0


def plant(source: Path, target: Path) -> Path:
    """Copy the log with an exit incident at tp_12 (weeks 8-10: half of the journeys that
    reach tp_12 then lose every later event) and the store channel fading out (90% of its
    events from week 15 on are dropped)."""
    from cjmlib.core.engine import duckdb_connection

    target.mkdir(parents=True, exist_ok=True)
    out = target / "events.parquet"
    if out.exists():
        return target
    con = duckdb_connection()
    con.execute(f"""
        COPY (
          WITH e AS (SELECT *, date_diff('day', TIMESTAMPTZ '2026-01-01 00:00:00+00',
                                         event_time) AS d
                     FROM read_parquet('{source.as_posix()}/*.parquet')),
          cut AS (SELECT customer_id, min(event_time) AS at FROM e
                  WHERE touchpoint = 'tp_12' AND d BETWEEN 49 AND 69
                    AND hash(customer_id) % 2 = 0
                  GROUP BY customer_id)
          SELECT e.* EXCLUDE (d) FROM e LEFT JOIN cut USING (customer_id)
          WHERE (cut.at IS NULL OR e.event_time <= cut.at)
            AND NOT (e.channel = 'store' AND e.d >= 105 AND hash(e.seq, e.customer_id) % 10 <> 0)
        ) TO '{out.as_posix()}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")
    return target


def run_once(path: str, unit: str = "customer") -> dict:
    t0 = time.perf_counter()
    import statsmodels.stats.multitest
    import statsmodels.stats.proportion  # noqa: F401 - Newcombe intervals

    from cjmlib.journeys.build import build_journeys
    from cjmlib.journeys.changes import detect_changes, kpi_series
    from cjmlib.journeys.events import default_backend

    default_backend()
    t_import = time.perf_counter() - t0
    t1 = time.perf_counter()
    journeys = build_journeys(path, conversion_touchpoints=CONVERSIONS, unit=unit,
                              sessions="inactivity")
    t_build = time.perf_counter() - t1
    t2 = time.perf_counter()
    series = kpi_series(journeys)
    t_series = time.perf_counter() - t2
    t3 = time.perf_counter()
    changes = detect_changes(series)
    t_detect = time.perf_counter() - t3
    tested = changes.series[changes.series["status"] == "tested"]
    return {"seconds": round(t_build + t_series + t_detect, 3),
            "build_seconds": round(t_build, 3), "series_seconds": round(t_series, 3),
            "detect_seconds": round(t_detect, 3), "import_seconds": round(t_import, 3),
            "peak_rss_mb": round(_peak_rss_mb(__import__("resource").getrusage(0)), 1),
            "period": series.period, "periods": int(len(series.periods)),
            "series": int(len(changes.series)), "tested": int(len(tested)),
            "simulations": int(changes.n_simulations),
            "findings": changes.findings[["kpi", "group", "kind", "start", "end",
                                          "p_adjusted"]].astype(str).head(12)
            .to_dict("records")}


def validity(runs: int, *, n_series: int = 20, n_periods: int = 30, alpha: float = 0.05,
             seed: int = 2026) -> dict:
    """False-finding rate of detect_changes on series with no change."""
    import pandas as pd

    from cjmlib.journeys.changes import KpiSeries, detect_changes

    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2026-01-05", tz="UTC")
    periods = pd.DataFrame({"period_index": np.arange(n_periods),
                            "period": t0 + pd.to_timedelta(7 * np.arange(n_periods), unit="D"),
                            "exposure": 1.0})
    periods["period_end"] = periods["period"] + pd.Timedelta(days=7)
    hits, p_values = [], []
    start = time.perf_counter()
    for r in range(runs):
        poisson = np.arange(n_series) % 4 == 3
        n = rng.integers(40, 2000, (n_series, n_periods)).astype(float)
        x = rng.binomial(n.astype(int), rng.uniform(0.02, 0.6, (n_series, 1))).astype(float)
        n[poisson] = 1.0
        x[poisson] = rng.poisson(rng.uniform(5, 500, (int(poisson.sum()), 1)),
                                 (int(poisson.sum()), n_periods))
        table = pd.DataFrame({
            "kpi": np.repeat(np.where(poisson, "arrivals", "exit_rate"), n_periods),
            "level": "touchpoint",
            "group": np.repeat([f"g{j:02d}" for j in range(n_series)], n_periods),
            "period": np.tile(periods["period"].to_numpy(), n_series),
            "period_index": np.tile(np.arange(n_periods), n_series),
            "numerator": x.ravel(), "denominator": n.ravel(), "value": (x / n).ravel(),
            "open_excluded": 0, "exposure": 1.0})
        series = KpiSeries(table=table, periods=periods, period="week", unit="customer",
                           observed_from=t0, observed_until=t0, open_horizon=pd.Timedelta(0),
                           open_journeys=0, journeys=0)
        changes = detect_changes(series, alpha=alpha, seed=r)
        hits.append(not changes.findings.empty)
        p_values.extend(changes.series["p_value"].dropna().tolist())
    rate = float(np.mean(hits))
    se = float(np.sqrt(rate * (1 - rate) / runs)) if 0 < rate < 1 else float(
        np.sqrt(alpha * (1 - alpha) / runs))
    p = np.asarray(p_values)
    return {"runs": runs, "series_per_run": n_series, "periods": n_periods, "alpha": alpha,
            "adjust": "bh", "false_finding_rate": rate, "monte_carlo_se": round(se, 4),
            "within_alpha_plus_3se": rate <= alpha + 3 * se,
            "per_series_share_p_below": {str(a): float(np.mean(p <= a))
                                         for a in (0.05, 0.01, 0.0025, 0.001)},
            "seconds": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--data-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "cjm-bench-journeys")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "changes.json")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when the target is missed")
    parser.add_argument("--validity", action="store_true",
                        help="also simulate the false-finding rate with no planted change")
    parser.add_argument("--runs", type=int, default=1000, help="runs of the validity check")
    parser.add_argument("--unit", choices=("customer", "session"), default="customer",
                        help="journey unit (session: 30-minute inactivity)")
    parser.add_argument("--run-once", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_once:
        print(json.dumps(run_once(args.run_once, args.unit)))
        return 0

    folder = args.data_dir / f"events-{args.events}-{args.customers}-25"
    if not any(folder.glob("*.parquet")):
        print(f"generating {args.events:,} events -> {folder}", flush=True)
        generate(folder, n_events=args.events, n_customers=args.customers)
    planted = plant(folder, args.data_dir / f"changes-{args.events}-{args.customers}")
    print(f"{args.events:,} events with planted changes, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    runs = []
    for _ in range(args.repeat):
        proc = subprocess.run([sys.executable, __file__, "--run-once", str(planted),
                               "--unit", args.unit],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"run failed:\n{proc.stderr[-3000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = runs[-1]
        print(f"  {r['seconds']:6.2f} s (build {r['build_seconds']:.2f} + series "
              f"{r['series_seconds']:.2f} + detect {r['detect_seconds']:.2f}), peak "
              f"{r['peak_rss_mb']:.0f} MB, {r['series']} series ({r['tested']} tested) over "
              f"{r['periods']} {r['period']}s", flush=True)
    best = dict(min(runs, key=lambda x: x["seconds"]))
    best["all_seconds"] = [x["seconds"] for x in runs]
    best["meets_target"] = best["seconds"] < TARGET_SECONDS
    for f in best["findings"]:
        print(f"    {f['kpi']:<22} {f['group']:<18} {f['kind']:<12} {f['start'][:10]} "
              f"-> {f['end'][:10]}  p_adj {float(f['p_adjusted']):.2g}")
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "python": platform.python_version(),
                           "load_average_at_start": list(os.getloadavg())},
               "target_seconds": TARGET_SECONDS, "events": args.events, "unit": args.unit,
               "speed": best}
    if args.validity:
        v = validity(args.runs)
        results["validity"] = v
        print(f"false-finding rate {v['false_finding_rate']:.3f} (MC SE "
              f"{v['monte_carlo_se']:.3f}) over {v['runs']} runs of {v['series_per_run']} "
              f"null series at alpha {v['alpha']}; per-series p <= 0.05: "
              f"{v['per_series_share_p_below']['0.05']:.3f} ({v['seconds']} s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"{'meets' if best['meets_target'] else 'MISSES'} the {TARGET_SECONDS:.0f} s target "
          f"({best['seconds']:.2f} s); wrote {args.out}")
    return 1 if (args.check and not best["meets_target"]) else 0


if __name__ == "__main__":
    sys.exit(main())
