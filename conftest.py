"""Root conftest: the notebook smoke test (nbval) runs in a temporary workspace.

When the session collects any notebook, a small sample is generated into
``<tmp>/data/raw`` and ``CJM_WORKSPACE`` points there before any kernel starts, so the
notebooks' default relative paths (``data/raw``, ``data/processed``, ``reports/...``) resolve
into the temporary workspace and never touch the project's own data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_WORKSPACE: Path | None = None
NOTEBOOK_SAMPLE_CUSTOMERS = 1500
NOTEBOOK_SAMPLE_SEED = 7


def pytest_collection_modifyitems(session, config, items):
    global _WORKSPACE
    if _WORKSPACE is not None or not any(str(i.path).endswith(".ipynb") for i in items):
        return
    from cjmlib.sample.generator import make_sample

    _WORKSPACE = Path(tempfile.mkdtemp(prefix="cjm-nbval-"))
    make_sample(_WORKSPACE / "data" / "raw", n_customers=NOTEBOOK_SAMPLE_CUSTOMERS,
                seed=NOTEBOOK_SAMPLE_SEED)
    os.environ["CJM_WORKSPACE"] = str(_WORKSPACE)


def pytest_unconfigure(config):
    if _WORKSPACE is not None:
        shutil.rmtree(_WORKSPACE, ignore_errors=True)
