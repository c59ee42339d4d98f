"""Sample generation benchmark: ``cjm sample --customers 500000`` timed as a user runs it.

    python benchmarks/bench_sample.py                  # 500,000 customers, results/sample.json
    python benchmarks/bench_sample.py --customers 20000 --keep --workdir /tmp/bench

Runs ``python -m cjmlib sample --out <workdir>/raw --customers N --seed 42`` in a fresh
process and records its wall time, CPU time (user + system) and peak resident memory
(``ru_maxrss`` of that process, from ``os.wait4``), the size of what it wrote and the
machine's load average, in ``benchmarks/results/sample.json``. Target (issue 15): at most
90 s on 2 cores for 500,000 customers. On a shared machine other jobs stretch the wall time;
the CPU time stays comparable, so both are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TARGET_S = 90.0
TARGET_MB = 4096.0


def run(customers: int, seed: int, workdir: Path) -> dict:
    out = workdir / "raw"
    cmd = [sys.executable, "-m", "cjmlib", "sample", "--out", str(out),
           "--customers", str(customers), "--seed", str(seed)]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"cjm sample failed ({proc.returncode}):\n{stderr[-4000:]}")
    files = [p for p in out.rglob("*") if p.is_file()]
    truth = json.loads((out / "ground_truth.json").read_text(encoding="utf-8"))
    peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "benchmark": "bench_sample", "command": " ".join(["cjm", *cmd[3:]]),
        "customers": customers, "seed": seed, "events": truth["n_events"],
        "files": len(files), "output_mib": round(sum(p.stat().st_size for p in files) / 2**20, 1),
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "user_s": round(usage.ru_utime, 1), "system_s": round(usage.ru_stime, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "target": {"wall_s": TARGET_S, "peak_rss_mb": TARGET_MB},
        "meets_target": {"time": wall <= TARGET_S, "cpu": cpu <= TARGET_S,
                         "memory": peak_mb < TARGET_MB},
        "progress": [line.strip() for line in stderr.splitlines() if line.strip()],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / "sample.json")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cjm-bench-sample-"))
    try:
        result = run(args.customers, args.seed, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\ncjm sample --customers {result['customers']:,}: {result['events']:,} events, "
          f"{result['output_mib']:,} MiB in {result['files']} files")
    print(f"  wall time          {result['wall_s']:7.1f} s   (target <= {TARGET_S:.0f} s)")
    print(f"  CPU time           {result['cpu_s']:7.1f} s   (user {result['user_s']} s, "
          f"system {result['system_s']} s)")
    print(f"  peak memory (RSS)  {result['peak_rss_mb']:7.0f} MB  (target < {TARGET_MB:.0f} MB)")
    print(f"  load average       {result['machine']['load_average_before']} before, "
          f"{result['machine']['load_average_after']} after")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
