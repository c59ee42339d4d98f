"""`cjm run --pilot`: notebooks whose inputs, parameters and code are unchanged are reused
from the previous run; everything downstream of new data runs again (cjmlib.workflow.runner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cjmlib.workflow.reuse import notebook_fingerprint, run_state
from cjmlib.workflow.runner import run_notebooks
from tests.workflow.support import write_notebook


def test_a_notebook_fingerprint_changes_with_its_inputs_only(tmp_path: Path) -> None:
    nb = tmp_path / "01_x.ipynb"
    write_notebook(nb, 'units_path: str = "u.csv"  # units\noutput_dir: str = "out"  # run folder',
              "pass")
    units, run_a, run_b = tmp_path / "u.csv", tmp_path / "run_a", tmp_path / "run_b"
    units.write_text("a\n1\n")
    run_a.mkdir()
    run_b.mkdir()

    def fp(run: Path = run_a, code: str = "c", overwrites: tuple[str, ...] = ()) -> str:
        return notebook_fingerprint(nb, {"units_path": str(units), "output_dir": str(run)},
                                    state=run_state(run), code=code, overwrites=overwrites)

    base = fp()
    assert fp(run=run_b) == base                      # another run folder, same inputs
    (run_b / "manifest.json").write_text("{}")        # run bookkeeping is not an input
    assert fp(run=run_b) == base
    assert fp(code="d") != base                       # library code changed
    (run_b / "events_summary.csv").write_text("n\n2\n")
    assert fp(run=run_b) != base                      # an earlier notebook's table differs
    assert fp(run=run_b, overwrites=("events_summary.csv",)) == base  # ...that it replaces
    units.write_text("a\n2\n")
    assert fp() != base                               # the pilot file's content changed


def test_a_new_pilot_file_reruns_only_what_depends_on_it(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # the library code is part of every fingerprint; hold it still while others edit cjmlib
    monkeypatch.setattr("cjmlib.workflow.runner.code_fingerprint", lambda: "code")
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    write_notebook(nbs / "01_events.ipynb",
              'raw_dir: str = "raw"  # raw data\noutput_dir: str = "out"  # run folder',
              'from pathlib import Path\nn = len(Path(raw_dir, "events.csv").read_text())\n'
              'Path(output_dir, "events_summary.csv").write_text(f"n\\n{n}\\n")')
    write_notebook(nbs / "02_pilot.ipynb",
              'units_path: str = "u.csv"  # pilot units\noutput_dir: str = "out"  # run folder',
              'from pathlib import Path\n'
              'Path(output_dir, "pilot_results.csv").write_text(Path(units_path).read_text())')
    write_notebook(nbs / "03_report.ipynb",
              'output_dir: str = "out"  # run folder\n'
              'previous_run: "Optional[str]" = None  # earlier run',
              'from pathlib import Path\n'
              'Path(output_dir, "report.html").write_text(Path(output_dir, "pilot_results.csv")'
              '.read_text() + Path(output_dir, "events_summary.csv").read_text() + '
              'str(previous_run))')
    raw = tmp_path / "raw"
    (raw / "pilot").mkdir(parents=True)
    (raw / "events.csv").write_text("customer_id\nc1\nc2\n")
    (raw / "pilot" / "ab_units.csv").write_text("unit_id,variant,converted\n1,control,0\n")
    new_pilot = tmp_path / "new_units.csv"
    new_pilot.write_text("unit_id,variant,converted\n1,control,0\n2,treatment,1\n")
    options = dict(raw_dir=raw, processed_dir=tmp_path / "processed",
                   reports_dir=tmp_path / "reports",
                   notebooks=["01_events", "02_pilot", "03_report"], notebooks_dir=nbs)
    first = run_notebooks(**options)
    messages: list[str] = []
    second = run_notebooks(pilot_path=new_pilot, progress=messages.append, **options)
    assert second.run_dir != first.run_dir
    entries = {e["notebook"]: e for e in second.manifest["notebooks"]}
    assert entries["01_events"]["status"] == "reused"
    assert entries["01_events"]["reused_from"] == first.run_dir.name
    assert entries["02_pilot"]["status"] == entries["03_report"]["status"] == "succeeded"
    assert any("01_events reused from" in msg for msg in messages)
    # copied: the executed notebook, its HTML and its table; the first run is untouched
    for name in ("notebooks/01_events.ipynb", "notebooks/01_events.html", "events_summary.csv"):
        assert (second.run_dir / name).read_bytes() == (first.run_dir / name).read_bytes()
    assert (second.run_dir / "pilot_results.csv").read_text() == new_pilot.read_text()
    assert (first.run_dir / "pilot_results.csv").read_text().count("\n") == 2
    assert str(first.run_dir) in (second.run_dir / "report.html").read_text()
    assert second.manifest["privacy_scan"]["passed"]
    # reuse is the default with --pilot only; with unchanged inputs only the report reruns
    # (its previous run changed)
    assert first.manifest["reuse"] is False and second.manifest["reuse"] is True
    third = run_notebooks(pilot_path=new_pilot, **options)
    assert [e["status"] for e in third.manifest["notebooks"]] == ["reused", "reused",
                                                                   "succeeded"]
    assert len({first.run_dir, second.run_dir, third.run_dir}) == 3


def test_run_folders_go_to_the_workspace_even_before_they_exist(tmp_path: Path,
                                                                monkeypatch) -> None:
    from cjmlib.workflow import cli, runner

    seen: dict = {}

    def fake_run(**kwargs):
        seen.update(kwargs)
        return runner.RunResult(run_dir=tmp_path / "reports" / "x", manifest={})

    monkeypatch.setenv("CJM_WORKSPACE", str(tmp_path))
    monkeypatch.setattr(runner, "run_notebooks", fake_run)
    assert cli.main(["run", "--pilot", str(tmp_path / "new.csv")]) == 0
    # configs/run.yaml says reports/ and data/processed: the workspace's, not the project's
    assert seen["reports_dir"] == tmp_path / "reports"
    assert seen["processed_dir"] == tmp_path / "data" / "processed"
    assert seen["pilot_path"] == tmp_path / "new.csv" and seen["reuse"] is None
    assert cli.main(["run", "--no-reuse", "--no-privacy-scan"]) == 0
    assert seen["reuse"] is False and seen["privacy_scan"] is False
