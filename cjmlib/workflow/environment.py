"""Generate environment.yml (for conda users) from pyproject.toml, the single source.

    python -m cjmlib.workflow.environment > environment.yml      (what `make environment.yml` runs)

Conda-forge names differ from PyPI names for a few packages; extras such as
``ibis-framework[duckdb]`` are spelled as their conda-forge equivalents.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# PyPI requirement name (with extras) -> conda-forge package name
_CONDA_NAMES = {
    "ibis-framework[duckdb]": "ibis-duckdb",
    "pyspark": "pyspark",
}
_PIP_ONLY: set[str] = {"causaldata"}  # packages without a known conda-forge build (pip inside conda)


def environment_yaml(pyproject: Path) -> str:
    """environment.yml text for the core, notebook and dev dependencies of ``pyproject``."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data["project"]
    python = project["requires-python"]
    reqs = list(project["dependencies"])
    for extra in ("notebooks", "dev"):
        reqs += project.get("optional-dependencies", {}).get(extra, [])
    conda, pip = [], []
    for req in reqs:
        m = re.match(r"^([A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)\s*(.*)$", req.strip())
        if not m:
            raise ValueError(f"cannot parse requirement {req!r} in {pyproject}")
        name, spec = m.group(1), m.group(2).replace(" ", "")
        base = name.split("[")[0]
        if base in _PIP_ONLY:
            pip.append(f"{name}{spec}")
        else:
            conda.append(f"{_CONDA_NAMES.get(name, base.lower())}{spec}")
    lines = [
        "# Generated from pyproject.toml by `make environment.yml`; do not edit by hand.",
        "# conda env create -f environment.yml && conda activate cjm-workbench",
        "name: cjm-workbench",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python{python}",
        *[f"  - {c}" for c in conda],
        "  - pip",
        "  - pip:",
        *[f"      - {p}" for p in pip],
        "      - -e .",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    sys.stdout.write(environment_yaml(root / "pyproject.toml"))
