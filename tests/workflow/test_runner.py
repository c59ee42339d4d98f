"""`cjm run` mechanics on tiny notebooks: parameter planning, run folders, manifest, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cjmlib.workflow import cli
from cjmlib.workflow.plan import plan_parameters
from cjmlib.workflow.runner import RunFailed, run_notebooks
from tests.workflow.support import write_notebook


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "01_first.ipynb",
              'output_dir: str = "out"  # run folder\nraw_dir: str = "raw"  # raw data\n'
              'greeting: str = "hello"  # what to write',
              'from pathlib import Path\nsecret_code_marker = 1\n'
              'Path(output_dir, "first.txt").write_text(greeting)\nprint("visible output")')
    write_notebook(folder / "02_second.ipynb",
              'output_dir: str = "out"  # run folder\nfail: bool = False  # raise on purpose',
              'from pathlib import Path\nif fail:\n    raise ValueError("planted failure")\n'
              'Path(output_dir, "second.txt").write_text(Path(output_dir, "first.txt")'
              '.read_text() + "!")')
    return folder


def test_parameters_go_only_to_notebooks_that_declare_them(tiny: Path) -> None:
    paths = sorted(tiny.glob("*.ipynb"))
    plan = plan_parameters(paths, {"output_dir": "/r", "raw_dir": "/raw", "units_path": "u"},
                           {"greeting": "hi", "02_second.fail": True})
    assert plan == {"01_first": {"output_dir": "/r", "raw_dir": "/raw", "greeting": "hi"},
                    "02_second": {"output_dir": "/r", "fail": True}}


def test_an_override_no_notebook_declares_is_refused(tiny: Path) -> None:
    with pytest.raises(ValueError) as info:
        plan_parameters(sorted(tiny.glob("*.ipynb")), {}, {"gretting": "hi"})
    assert str(info.value) == ("unknown parameter(s) gretting: no notebook declares them; "
                               "known parameters: fail, greeting, output_dir, raw_dir")


def test_a_run_writes_notebooks_html_and_manifest(tiny: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.csv").write_text("x\n1\n")
    messages: list[str] = []
    result = run_notebooks(raw_dir=raw, processed_dir=tmp_path / "processed",
                           reports_dir=tmp_path / "reports", notebooks=["01_first", "02_second"],
                           notebooks_dir=tiny, overrides={"greeting": "hi"},
                           progress=messages.append)
    run = result.run_dir
    assert result.ok
    assert (run / "second.txt").read_text() == "hi!"
    for stem in ("01_first", "02_second"):
        assert (run / "notebooks" / f"{stem}.ipynb").exists()
        html = (run / "notebooks" / f"{stem}.html").read_text()
        assert "secret_code_marker" not in html and "check_parameters" not in html
    assert "visible output" in (run / "notebooks" / "01_first.html").read_text()
    assert (run / "notebooks" / "kernel.log").exists()
    assert {p.name for p in run.iterdir() if p.is_file()} == {
        "manifest.json", "index.html", "first.txt", "second.txt"}
    index = (run / "index.html").read_text()
    assert '<a href="notebooks/01_first.html">' in index and "first.txt" in index
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert [n["notebook"] for n in manifest["notebooks"]] == ["01_first", "02_second"]
    assert all(n["seconds"] > 0 for n in manifest["notebooks"])
    assert manifest["notebooks"][0]["parameters"]["greeting"] == "hi"
    assert manifest["inputs"][str(raw / "a.csv")]["bytes"] == 4
    assert manifest["packages"]["pandas"]
    assert any("02_second done in" in m for m in messages)


def test_a_failing_notebook_stops_the_run_and_keeps_the_folder(tiny: Path,
                                                               tmp_path: Path) -> None:
    with pytest.raises(RunFailed) as info:
        run_notebooks(raw_dir=tmp_path, processed_dir=tmp_path, reports_dir=tmp_path / "r",
                      notebooks=["01_first", "02_second"], notebooks_dir=tiny,
                      overrides={"fail": True})
    message = str(info.value)
    assert message.startswith("02_second failed in cell 4 (In [4]): ValueError: planted failure")
    assert 'raise ValueError("planted failure")' in message
    run = info.value.run_dir
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["failed_notebook"] == "02_second"
    assert (run / "notebooks" / "01_first.html").exists()
    assert (run / "notebooks" / "02_second.ipynb").exists()
    assert "planted failure" in (run / "index.html").read_text()  # the index says what failed


def test_cli_reports_the_failure_and_exit_code(tiny: Path, tmp_path: Path, capsys,
                                               monkeypatch) -> None:
    monkeypatch.setattr("cjmlib.core.config.NOTEBOOKS_DIR", tiny)
    run_yaml = tmp_path / "run.yaml"  # not the repository's, whose parameters are the chain's
    run_yaml.write_text("parameters: {greeting: hello}\n")
    code = cli.main(["run", "--raw", str(tmp_path), "--processed", str(tmp_path),
                     "--out", str(tmp_path / "r"), "--notebooks", "01_first", "02_second",
                     "-p", "fail", "true", "--config", str(run_yaml)])
    err = capsys.readouterr().err
    assert code == 1
    assert "run failed: 02_second failed in cell 4" in err and "partial run kept in" in err
    code = cli.main(["run", "--notebooks", "01_first", "-p", "nope", "1", "--config",
                     str(run_yaml)])
    assert code == 2
    assert "unknown parameter(s) nope" in capsys.readouterr().err


def test_cli_parses_parameter_values_as_yaml() -> None:
    assert cli._parse_value("0.1") == 0.1
    assert cli._parse_value("true") is True
    assert cli._parse_value("[a, b]") == ["a", "b"]
    assert cli._parse_value("NEW.csv") == "NEW.csv"


def test_the_manifest_hashes_the_config_files_actually_used(tmp_path: Path) -> None:
    """A run given another journey config hashes that file, not the default configs/."""
    from cjmlib.workflow.plan import used_config_files

    other = tmp_path / "mine" / "journey.yaml"
    other.parent.mkdir()
    other.write_text("stages: []\n")
    processed = tmp_path / "processed"
    processed.mkdir()
    (processed / "events.parquet").write_text("x")
    plan = {"02_journeys": {"config_path": str(other),
                            "events_path": str(processed / "events.parquet"),
                            "segment_col": None, "output_dir": str(tmp_path / "run")},
            "06_report": {"improvements_path": None, "report_config_path": str(other)}}
    run_config = tmp_path / "run.yaml"
    run_config.write_text("parameters: {}\n")
    assert used_config_files(plan, [run_config], outputs=[processed]) == sorted(
        [other.resolve(), run_config.resolve()])


def test_cjm_run_in_a_project_folder_uses_it_as_workspace(tmp_path: Path, monkeypatch,
                                                          capsys) -> None:
    from cjmlib.core import config

    monkeypatch.delenv("CJM_WORKSPACE", raising=False)
    (tmp_path / "configs").mkdir()
    monkeypatch.chdir(tmp_path)
    cli._choose_workspace(config)
    assert config.workspace() == tmp_path.resolve()
    assert config.configs_dir() == tmp_path.resolve() / "configs"
    assert capsys.readouterr().err.startswith(f"workspace: {tmp_path.resolve()} (configs: ")
    # a folder that is no project (no data/, no configs/) is not taken over
    monkeypatch.delenv("CJM_WORKSPACE")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cli._choose_workspace(config)
    assert config.workspace() == config.ROOT
    assert "workspace: " in capsys.readouterr().err  # and it says where it writes


def test_run_config_parameters_of_notebooks_left_out_are_not_passed() -> None:
    """`cjm run --notebooks 02_journeys` with 03_voice's parameters in run.yaml failed as
    'unknown parameter(s) 03_voice.our_brand'. They are now left for the notebook they name;
    a name no notebook of the chain declares is still passed on, to be refused as a typo."""
    values = {"03_voice.our_brand": "Northwind", "segment_features": ["age"], "alpha": 0.1,
              "02_journeys.segment_col": "tier", "segmnet_col": "typo", "09_none.x": 1}
    kept = cli._config_parameters(values, ["01_collect", "02_journeys"])
    assert kept == {"alpha": 0.1, "02_journeys.segment_col": "tier", "segmnet_col": "typo",
                    "09_none.x": 1}
    assert "03_voice.our_brand" in cli._config_parameters(values, ["03_voice"])
