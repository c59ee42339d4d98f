"""Notebooks that do not read each other's results run side by side (cjmlib.workflow.runner,
``jobs``); the waves come from the notebooks' ``after`` and ``writes`` metadata
(cjmlib.workflow.plan.notebook_waves)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from cjmlib.workflow.plan import notebook_waves
from cjmlib.workflow.runner import RunFailed, run_notebooks
from tests.workflow.support import write_notebook

#: A notebook that writes when it started and ended into tables/<name>_times.csv.
TIMED = ("import time\nfrom pathlib import Path\nstart = time.time()\n"
         "if fail:\n    raise ValueError('planted failure')\n"
         "time.sleep(seconds)\n"
         "Path(output_dir, 'tables').mkdir(exist_ok=True)\n"
         "Path(output_dir, 'tables', '{name}_times.csv').write_text(f'{{start}},{{time.time()}}')\n"
         "Path(output_dir, 'shared.txt').write_text('{name}')")


def _meta(path: Path, **cjm: object) -> Path:
    nb = nbformat.read(path, as_version=4)
    nb.metadata["cjm"] = cjm
    nbformat.write(nb, path)
    return path


@pytest.fixture()
def chain(tmp_path: Path) -> Path:
    """01_a and 02_b read nothing of each other; 03_c reads both."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    params = ('output_dir: str = "out"  # run folder\nseconds: float = 1.5  # how long\n'
              'fail: bool = False  # raise on purpose')
    for stem, name in (("01_a", "a"), ("02_b", "b")):
        _meta(write_notebook(folder / f"{stem}.ipynb", params, TIMED.format(name=name)),
              after=[], writes=[f"tables/{name}_*"])
    _meta(write_notebook(folder / "03_c.ipynb", 'output_dir: str = "out"  # run folder',
                         "from pathlib import Path\nt = Path(output_dir, 'tables')\n"
                         "Path(output_dir, 'c.txt').write_text((t / 'a_times.csv').read_text()"
                         " + (t / 'b_times.csv').read_text())"),
          after=["01_a", "02_b"], writes=["c.txt"])
    return folder


def _times(run: Path, name: str) -> tuple[float, float]:
    start, end = (run / "tables" / f"{name}_times.csv").read_text().split(",")
    return float(start), float(end)


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


NOTEBOOKS = ["01_a", "02_b", "03_c"]


def test_waves_follow_after_and_a_notebook_without_writes_runs_alone(chain: Path) -> None:
    paths = [chain / f"{s}.ipynb" for s in NOTEBOOKS]
    assert [[p.stem for p in w] for w in notebook_waves(paths)] == [
        ["01_a", "02_b"], ["03_c"]]
    _meta(paths[1], after=[])  # 02_b no longer says what it writes: it runs on its own
    assert [[p.stem for p in w] for w in notebook_waves(paths)] == [
        ["01_a"], ["02_b"], ["03_c"]]
    _meta(paths[1])  # nor what it reads: after everything before it
    _meta(paths[2], writes=["c.txt"])  # no after: every notebook before it
    assert [[p.stem for p in w] for w in notebook_waves(paths)] == [
        ["01_a"], ["02_b"], ["03_c"]]
    # a notebook left out of the run is not waited for
    assert [[p.stem for p in w] for w in notebook_waves([paths[0], paths[2]])] == [
        ["01_a"], ["03_c"]]


def test_side_by_side_overlap_and_record_the_same_as_one_by_one(chain: Path,
                                                                 tmp_path: Path) -> None:
    common = dict(raw_dir=tmp_path, processed_dir=tmp_path / "processed",
                  reports_dir=tmp_path / "reports", notebooks=NOTEBOOKS, notebooks_dir=chain)
    one = run_notebooks(**common, jobs=1, reuse=False).run_dir
    two = run_notebooks(**common, jobs=2, reuse=False).run_dir
    a1, b1 = _times(one, "a"), _times(one, "b")
    a2, b2 = _times(two, "a"), _times(two, "b")
    assert b1[0] >= a1[1]                             # one by one: b starts after a ended
    assert b2[0] < a2[1] and a2[0] < b2[1]            # side by side: they overlap
    assert (two / "c.txt").read_text().startswith((two / "tables" / "a_times.csv").read_text())
    first, second = _manifest(one), _manifest(two)
    for m in (first, second):
        outputs = {n["notebook"]: n["outputs"] for n in m["notebooks"]}
        # shared.txt is claimed by neither: both may have written it, both record it
        assert outputs == {"01_a": ["shared.txt", "tables/a_times.csv"],
                           "02_b": ["shared.txt", "tables/b_times.csv"],
                           "03_c": ["c.txt"]}, m["run_id"]
        assert all(n["kernel_peak_mb"] is None or n["kernel_peak_mb"] > 10
                   for n in m["notebooks"])
    # the fingerprints do not depend on jobs: a side-by-side run reuses a one-by-one run
    assert [n["fingerprint"] for n in first["notebooks"]][:2] == [
        n["fingerprint"] for n in second["notebooks"]][:2]
    third = _manifest(run_notebooks(**common, jobs=2, reuse=True).run_dir)
    assert [n["status"] for n in third["notebooks"]] == ["reused"] * 3
    # a change to 01_a reruns it and 03_c, which reads it, not 02_b beside it
    fourth = _manifest(run_notebooks(**common, jobs=2, reuse=True,
                                     overrides={"01_a.seconds": 1.0}).run_dir)
    assert [n["status"] for n in fourth["notebooks"]] == ["succeeded", "reused", "succeeded"]


def test_a_failure_side_by_side_lets_the_other_finish_and_stops_the_run(chain: Path,
                                                                        tmp_path: Path
                                                                        ) -> None:
    with pytest.raises(RunFailed, match="02_b failed in cell 4") as info:
        run_notebooks(raw_dir=tmp_path, processed_dir=tmp_path / "processed",
                      reports_dir=tmp_path / "reports", notebooks=NOTEBOOKS,
                      notebooks_dir=chain, jobs=2, overrides={"02_b.fail": True})
    run = info.value.run_dir
    manifest = _manifest(run)
    assert manifest["status"] == "failed" and manifest["failed_notebook"] == "02_b"
    assert {n["notebook"]: n["status"] for n in manifest["notebooks"]} == {
        "01_a": "succeeded", "02_b": "failed"}  # 03_c, which reads both, never started
    assert (run / "tables" / "a_times.csv").exists() and not (run / "c.txt").exists()


def test_jobs_from_the_environment_must_be_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    from cjmlib.workflow.runner import default_jobs

    monkeypatch.setenv("CJM_JOBS", "3")
    assert default_jobs() == 3
    monkeypatch.setenv("CJM_JOBS", "two")
    with pytest.raises(ValueError, match="CJM_JOBS = 'two': expected a whole number"):
        default_jobs()
    monkeypatch.setenv("CJM_JOBS", "0")
    with pytest.raises(ValueError, match="CJM_JOBS = '0': expected a whole number .*1 or more"):
        default_jobs()


@pytest.mark.parametrize("value", ["two", 0, -1, True, 1.5])
def test_jobs_in_the_run_config_must_be_a_number(value: object, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from cjmlib.workflow import cli

    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(yaml.safe_dump({"jobs": value}), encoding="utf-8")
    code = cli.main(["run", "--config", str(run_yaml), "--raw", str(tmp_path / "raw"),
                     "--out", str(tmp_path / "reports"), "--processed", str(tmp_path / "p")])
    assert code == 2
    assert f"cjm run: {run_yaml} jobs = {value!r}: expected a whole number of notebooks" \
        in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()
