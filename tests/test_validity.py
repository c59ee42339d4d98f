"""The validity suite at the CI size: every ``benchmarks/validity_*.py`` runs with
``--quick --check`` (bands widened by three Monte Carlo standard errors; see
benchmarks/_validity.py) and must exit 0. ``make validity`` runs them at full size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("validity_*.py"))


def test_there_are_validity_scripts():
    assert SCRIPTS, "no benchmarks/validity_*.py found"


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_validity_script_holds_its_bands_at_the_ci_size(script: Path, tmp_path: Path):
    out = tmp_path / "x.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, str(script), "--quick", "--check", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (f"{script.name} --quick --check exited {proc.returncode}\n"
                                  f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    assert out.exists(), f"{script.name} wrote no {out.name}"
