"""The notebooks as a researcher uses them in JupyterLab: every notebook runs top to bottom,
twice in the same kernel (the second run starts from the first one's state), with its
default parameters, from the notebooks folder as JupyterLab starts kernels there."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from cjmlib.core.config import NOTEBOOKS_DIR
from cjmlib.sample.generator import make_sample
from cjmlib.workflow.runner import NOTEBOOKS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("lab")
    make_sample(home / "data" / "raw", n_customers=1200, seed=11)
    return home


def _run_twice(path: Path) -> list[str]:
    """Execute every cell of the notebook, then every cell again, in one kernel; return the
    errors of the second round (the first round raises)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=900,
                            resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
    errors = []
    with client.setup_kernel():
        for round_ in (1, 2):
            for index, cell in enumerate(nb.cells):
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as exc:
                    if round_ == 1:
                        raise
                    errors.append(f"cell {index}: {str(exc).splitlines()[-1]}")
    return errors


def test_every_notebook_runs_twice_in_one_kernel(workspace: Path, monkeypatch) -> None:
    monkeypatch.setenv("CJM_WORKSPACE", str(workspace))
    for name in NOTEBOOKS:  # in order: each reads what the ones before it wrote
        errors = _run_twice(NOTEBOOKS_DIR / f"{name}.ipynb")
        assert errors == [], f"{name} failed when run again: {errors}"
    run = workspace / "reports" / "interactive"
    assert (run / "report.html").exists()
    assert (run / "tables" / "journeys_touchpoint_metrics.parquet").exists()
    assert (run / "figures" / "journeys_journey_map.png").exists()


def test_the_journey_configs_conversions_win_over_a_notebook_default(processed_dir: Path,
                                                                     tmp_path: Path) -> None:
    """02 used its own default conversion list even when the config named another one."""
    import pandas as pd
    import papermill
    import yaml

    from cjmlib.core.config import CONFIGS_DIR

    journey = yaml.safe_load((CONFIGS_DIR / "journey.yaml").read_text(encoding="utf-8"))
    journey["conversion_touchpoints"] = ["cart"]
    journey["funnel"]["steps"] = ["product_page", "cart"]
    config = tmp_path / "journey.yaml"
    config.write_text(yaml.safe_dump(journey), encoding="utf-8")
    out = tmp_path / "run"
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / "02_journeys.ipynb"), str(tmp_path / "02.ipynb"),
        parameters={"events_path": str(processed_dir / "events.parquet"),
                    "feedback_path": str(processed_dir / "feedback.parquet"),
                    "customers_path": str(processed_dir / "customers.parquet"),
                    "config_path": str(config), "journey_unit": "customer",
                    "output_dir": str(out)},
        kernel_name="python3", progress_bar=False, log_output=False, cwd=str(tmp_path))
    summary = pd.read_parquet(out / "tables" / "journeys_summary.parquet")
    events = pd.read_parquet(processed_dir / "events.parquet")
    events = events[~events["touchpoint"].isin(journey.get("exclude_touchpoints") or [])]
    reached_cart = events.groupby("customer_id")["touchpoint"].apply(lambda t: "cart" in set(t))
    assert summary["converted_journeys"].iloc[0] == int(reached_cart.sum())
