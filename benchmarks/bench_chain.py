"""The whole chain as a user runs it: ``cjm sample`` then ``cjm run`` (issue 15).

    python benchmarks/bench_chain.py                        # 500,000 customers (~11M events)
    python benchmarks/bench_chain.py --customers 20000      # the make-run size
    python benchmarks/bench_chain.py --check                # exit 1 when a target is missed
    python benchmarks/bench_chain.py --engine pyspark       # the analysis on local Spark

1. ``cjm sample --customers N --seed 42`` in a fresh process: wall time, CPU time and peak
   resident memory (``ru_maxrss`` of the child).
2. ``cjm run`` on that sample into a fresh workspace folder (``--workdir``), privacy scan
   included: the run's wall and CPU time, each notebook's seconds and its kernel's peak
   memory (``kernel_peak_mb`` of the run manifest: the kernel's ``VmHWM``, DuckDB's native
   memory included), the privacy scan's seconds, and the largest resident memory of any
   process of the run.
3. The run's story, for comparing sizes: the top pain points, the pilot's verdict and
   effect, and the changes found (from the run's tables); with ``--compare-with RUN`` the
   departures from a smaller run's story (:func:`same_story`).

Targets on 2 cores (issue 15): sample generation of 500,000 customers <= 90 s; the whole
``cjm run`` <= 240 s; every notebook <= 4 GB. The load average (``os.getloadavg``) before
and after is written beside the figures, since other jobs on the machine stretch wall time.
Results: ``benchmarks/results/chain.json`` (``chain_<customers>.json`` for other sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLE_TARGET_S = 90.0
RUN_TARGET_S = 240.0
NOTEBOOK_TARGET_MB = 4000.0


def timed(cmd: list[str], *, env: dict[str, str] | None = None,
          log: Path | None = None) -> dict[str, float]:
    """Run ``cmd``; its wall time, CPU time (user + system of it and its children) and the
    largest resident memory of any of its processes."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(log, "w") if log else open(os.devnull, "w") as out:
        code = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              cwd=ROOT).returncode
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {code}"
                         + (f"; see {log}" if log else ""))
    return {"wall_s": round(wall, 2),
            "cpu_s": round((after.ru_utime - before.ru_utime)
                           + (after.ru_stime - before.ru_stime), 2),
            # ru_maxrss is the largest child so far (KiB): exact for the first command only
            "max_rss_mb_so_far": round(after.ru_maxrss * 1024 / 1e6, 1)}


def story(run_dir: Path) -> dict[str, object]:
    """What the run found, in a few comparable facts."""
    import pandas as pd

    tables = run_dir / "tables"
    out: dict[str, object] = {}
    pain = tables / "journeys_pain_points.parquet"
    if pain.exists():
        p = pd.read_parquet(pain).sort_values("priority_rank")
        out["top_pain_points"] = p["touchpoint"].head(5).tolist()
    pilot = tables / "pilot_results.parquet"
    if pilot.exists():
        r = pd.read_parquet(pilot)
        cols = [c for c in ("metric", "effect", "ci_low", "ci_high", "p_value", "decision")
                if c in r.columns]
        out["pilot"] = r[cols].round(4).to_dict("records")
    changes = tables / "journeys_changes.parquet"
    if changes.exists():
        c = pd.read_parquet(changes)
        out["changes"] = c[[k for k in ("kpi", "group") if k in c.columns]].head(8).to_dict(
            "records")
    return out


def same_story(big: dict, small: dict) -> list[str]:
    """Where the story of a large run departs from a small run's: the two top pain points,
    each pilot metric's decision, and whether the two runs' intervals of its effect overlap
    (sampling noise differs with size, so the effects need not be equal), and the strongest
    change found."""
    out = []
    if big.get("top_pain_points", [])[:2] != small.get("top_pain_points", [])[:2]:
        out.append(f"top pain points {big.get('top_pain_points')} vs "
                   f"{small.get('top_pain_points')}")
    pilots = {r["metric"]: r for r in small.get("pilot", [])}
    for r in big.get("pilot", []):
        o = pilots.get(r["metric"])
        if o is None:
            out.append(f"pilot metric {r['metric']} only in the large run")
        elif r.get("decision") != o.get("decision"):
            out.append(f"pilot {r['metric']}: {r.get('decision')} vs {o.get('decision')}")
        elif r["ci_high"] < o["ci_low"] or o["ci_high"] < r["ci_low"]:
            out.append(f"pilot {r['metric']}: intervals apart ({r['ci_low']}, {r['ci_high']}) "
                       f"vs ({o['ci_low']}, {o['ci_high']})")
    first = (big.get("changes") or [None])[0]
    if first is not None and first not in (small.get("changes") or []):
        out.append(f"strongest change {first} not found in the small run")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, help="keep the sample and run here")
    parser.add_argument("--engine", default=None, help="cjm run --engine (default duckdb)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--compare-with", type=Path,
                        help="a run folder of a smaller run (e.g. make run's 20,000 customers) "
                             "whose story this run's must tell too")
    args = parser.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="cjm-chain-"))
    raw, processed, reports = work / "raw", work / "processed", work / "reports"
    for folder in (raw, processed, reports):
        shutil.rmtree(folder, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CJM_WORKSPACE": str(ROOT)}
    load_before = os.getloadavg()[0]

    print(f"== cjm sample --customers {args.customers:,}", flush=True)
    sample = timed([str(BIN / "cjm"), "sample", "--out", str(raw), "--customers",
                    str(args.customers), "--seed", str(args.seed)], env=env,
                   log=work / "sample.log")
    sample["peak_mb"] = sample.pop("max_rss_mb_so_far")
    print(f"   {sample['wall_s']:.1f} s (CPU {sample['cpu_s']:.1f} s), "
          f"peak {sample['peak_mb']:,.0f} MB", flush=True)

    print("== cjm run", flush=True)
    cmd = [str(BIN / "cjm"), "run", "--raw", str(raw), "--processed", str(processed),
           "--out", str(reports), "--no-reuse"]
    if args.engine:
        cmd += ["--engine", args.engine]
    run = timed(cmd, env=env, log=work / "run.log")
    run["max_rss_mb"] = run.pop("max_rss_mb_so_far")  # largest of the sample and the run
    run_dir = max(p for p in reports.iterdir() if (p / "manifest.json").exists())
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    notebooks = [{"notebook": e["notebook"], "status": e.get("status"),
                  "seconds": e.get("seconds"), "kernel_peak_mb": e.get("kernel_peak_mb")}
                 for e in manifest.get("notebooks", [])]
    scan = manifest.get("privacy_scan") or {}
    for e in notebooks:
        peak = e["kernel_peak_mb"]
        print(f"   {e['notebook']:<16} {e['seconds']:>7.1f} s  "
              f"{'' if peak is None else f'{peak:,.0f} MB'}")
    print(f"   privacy scan     {scan.get('seconds', float('nan')):>7.1f} s "
          f"({'passed' if scan.get('passed') else 'FAILED' if scan else 'not run'})")
    print(f"   whole run        {run['wall_s']:>7.1f} s (CPU {run['cpu_s']:.1f} s)")
    load_after = os.getloadavg()[0]

    misses = []
    departures = None
    if args.compare_with is not None:
        departures = same_story(story(run_dir), story(args.compare_with))
        print(f"   story against {args.compare_with.name}: "
              + ("the same" if not departures else "; ".join(departures)))
        misses += [f"story: {d}" for d in departures]
    if args.customers == 500_000:
        if sample["wall_s"] > SAMPLE_TARGET_S:
            misses.append(f"sample {sample['wall_s']:.0f} s > {SAMPLE_TARGET_S:.0f} s")
        if run["wall_s"] > RUN_TARGET_S:
            misses.append(f"cjm run {run['wall_s']:.0f} s > {RUN_TARGET_S:.0f} s")
    for e in notebooks:
        if (e["kernel_peak_mb"] or 0) > NOTEBOOK_TARGET_MB:
            misses.append(f"{e['notebook']} {e['kernel_peak_mb']:,.0f} MB > "
                          f"{NOTEBOOK_TARGET_MB:,.0f} MB")
    result = {
        "customers": args.customers, "seed": args.seed, "engine": args.engine or "duckdb",
        "cores": os.cpu_count(), "load_before": load_before, "load_after": load_after,
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                 capture_output=True, text=True).stdout.strip(),
        "sample": sample, "run": run, "notebooks": notebooks,
        "privacy_scan": {"seconds": scan.get("seconds"), "passed": scan.get("passed"),
                         "hits": scan.get("hits")},
        "run_status": manifest.get("status"), "story": story(run_dir),
        "compared_with": str(args.compare_with) if args.compare_with else None,
        "story_departures": departures,
        "targets": {"sample_s": SAMPLE_TARGET_S, "run_s": RUN_TARGET_S,
                    "notebook_mb": NOTEBOOK_TARGET_MB},
        "misses": misses,
    }
    out = ROOT / "benchmarks" / "results" / (
        "chain.json" if args.customers == 500_000 and not args.engine
        else f"chain_{args.customers}{'_' + args.engine if args.engine else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    print(f"load average {load_before:.2f} before, {load_after:.2f} after; written {out}")
    for miss in misses:
        print(f"   target missed: {miss}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if (args.check and misses) else 0


if __name__ == "__main__":
    raise SystemExit(main())
