"""Speed of pilot evaluation on a large units table in DuckDB (run by `make bench`).

    .venv/bin/python benchmarks/bench_pilot.py [--units 10000000] [--threads 0]

Writes a synthetic units table (Parquet, every metric kind, CUPED covariates) with DuckDB,
then times: the input checks (arms, duplicates, domains), the one moments query (counts,
sums, sums of squares and cross-products of every moment metric), the value-count pulls of
the rank and survival methods, and a whole ``evaluate_pilot``. Only aggregates leave the
engine. Results: printed and written to benchmarks/results/bench_pilot.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from cjmlib.core.engine import connection
from cjmlib.pilots.aggregates import moment_aggregates, survival_counts, value_counts
from cjmlib.pilots.evaluation import evaluate_pilot
from cjmlib.pilots.metrics import parse_metrics
from cjmlib.pilots.units import load_units
from cjmlib.pilots.validation import check_units

METRICS = [
    {"name": "conversion", "kind": "proportion", "column": "converted",
     "covariate": "pre_converted", "role": "primary"},
    {"name": "revenue", "kind": "mean", "covariate": "pre_revenue"},
    {"name": "contacts_per_session", "kind": "ratio", "numerator": "contacts",
     "denominator": "sessions", "covariate": "pre_contacts",
     "covariate_denominator": "pre_sessions", "role": "guardrail", "better": "lower"},
    {"name": "csat_top2box", "kind": "ordinal", "column": "csat"},
    {"name": "csat_rank", "kind": "ordinal", "column": "csat", "method": "brunner_munzel"},
    {"name": "nps", "kind": "nps"},
    {"name": "checkout", "kind": "time_to_event", "duration": "checkout_time_s",
     "event": "checkout_completed", "tau": 900, "better": "lower"},
]


def make_units(path: Path, n: int) -> None:
    con = connection()
    con.raw_sql("SELECT setseed(0.42)")
    con.raw_sql(f"""
        COPY (
          SELECT i AS unit_id,
                 CASE WHEN hash(i) % 2 = 0 THEN 'control' ELSE 'treatment' END AS variant,
                 (random() < 0.3)::INT AS converted,
                 (random() < 0.4)::INT AS pre_converted,
                 round(random() * 80, 2) AS revenue,
                 round(random() * 80, 2) AS pre_revenue,
                 1 + (random() * 6)::INT AS sessions,
                 1 + (random() * 6)::INT AS pre_sessions,
                 (random() < 0.3)::INT AS contacts,
                 (random() < 0.3)::INT AS pre_contacts,
                 CASE WHEN random() < 0.45 THEN 1 + floor(random() * 5)::INT END AS csat,
                 CASE WHEN random() < 0.45 THEN floor(random() * 11)::INT END AS nps,
                 least(round(-300 * ln(1 - random()), 1), 900.0) AS checkout_time_s,
                 (random() < 0.95)::INT AS checkout_completed
          FROM range({n}) t(i)
        ) TO '{path}' (FORMAT parquet)
    """)


def timed(label: str, fn, results: dict) -> object:
    start = time.perf_counter()
    out = fn()
    results[label] = round(time.perf_counter() - start, 3)
    print(f"{label:<48} {results[label]:8.2f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: default)")
    args = parser.parse_args()

    con = connection()
    if args.threads:
        con.raw_sql(f"SET threads = {args.threads}")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "units.parquet"
        timed(f"write {args.units:,} units (Parquet)", lambda: make_units(path, args.units),
              results)
        data = load_units(path)
        specs = parse_metrics(METRICS)
        arms = ["control", "treatment"]
        timed("checks (arms, duplicates, domains)",
              lambda: check_units(data, metrics=specs, arms=arms, control="control"), results)
        moment_specs = [s for s in specs if s.kind in ("proportion", "mean", "ratio", "nps")
                        or s.method == "top2box"]
        timed(f"moments query ({len(moment_specs)} metrics, CUPED)",
              lambda: moment_aggregates(data, moment_specs, ["variant"]), results)
        timed("value counts for Brunner-Munzel (csat)",
              lambda: value_counts(data, ["csat"], ["variant"]), results)
        timed("counts per (time, event) for KM / RMST",
              lambda: survival_counts(data, specs[-1], "variant"), results)
        ev = timed("evaluate_pilot (all 7 metrics, end to end)",
                   lambda: evaluate_pilot(data, metrics=METRICS), results)
        print(ev.results[["metric", "n_control", "n_treatment", "effect", "ci_low", "ci_high",
                          "p_value"]].to_string(index=False))
    out = Path(__file__).resolve().parent / "results" / "bench_pilot.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"units": args.units, "machine": platform.platform(),
                               "seconds": results}, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
