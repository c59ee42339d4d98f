"""Runs that cannot corrupt, leak or mislead (issue 14): regression tests of findings 2, 3, 6,
7 and 8 on tiny notebooks, and a fault-injection suite on the real chain (marked slow) that
kills `cjm run` at each notebook and inside 01's write, fills the disk and starts two runs at
once; after each, the processed data is one whole generation, the manifest says what
happened and the next run succeeds."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cjmlib.core import config, generations, locks
from cjmlib.core.io import file_sha256
from cjmlib.core.runs import find_previous_run
from cjmlib.workflow import cli
from cjmlib.workflow.runner import RunFailed, run_notebooks
from tests.workflow.support import write_notebook

LINUX = sys.platform.startswith("linux") and Path("/proc/self/stat").exists()
#: `cjm` with the notebooks of a given folder (argv[1]) instead of the project's.
DRIVER = ("import sys; from pathlib import Path; from cjmlib.core import config; "
          "config.NOTEBOOKS_DIR = Path(sys.argv[1]); from cjmlib.workflow.cli import main; "
          "sys.exit(main(sys.argv[2:]))")
LEAKED_EMAIL = "janet.roeberg@corpmail-example.com"


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def _env(home: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(config.ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "CJM_WORKSPACE": str(home), "PYTHONPATH": path}


def start_cjm(home: Path, *args: str, notebooks: Path | None = None,
              log: str = "stderr.txt") -> subprocess.Popen:
    """`cjm ARGS` in ``home`` as a background process, stderr to ``home/log``; with
    ``notebooks``, that folder's notebooks instead of the project's."""
    command = ([sys.executable, "-c", DRIVER, str(notebooks)] if notebooks else
               [sys.executable, "-m", "cjmlib"])
    err = open(home / log, "w")  # the child writes it; the file closes with the test
    return subprocess.Popen([*command, *args], cwd=home, env=_env(home), stderr=err,
                            stdout=subprocess.PIPE, text=True)


def cjm(home: Path, *args: str, notebooks: Path | None = None,
        timeout: float = 600) -> tuple[int, str, str]:
    """Run `cjm ARGS` to the end: (exit code, stdout, stderr)."""
    proc = start_cjm(home, *args, notebooks=notebooks, log="last_stderr.txt")
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out, (home / "last_stderr.txt").read_text()


def wait_for(condition: Callable[[], object], *, timeout: float = 300, every: float = 0.05,
             what: str = "condition") -> object:
    """Poll ``condition`` until it returns something true; fail naming ``what``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def kernels_of(pid: int) -> list[int]:
    """Pids of the live notebook kernels started by process ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and b"ipykernel" in cmdline:
            found.append(int(stat.parent.name))
    return found


def is_dead(pid: int) -> bool:
    """Gone or a zombie waiting to be reaped (it runs no code any more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def manifest_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def runs_in(reports: Path) -> list[Path]:
    return sorted(p for p in reports.glob("2*") if p.is_dir())


def debris(processed: Path) -> list[str]:
    """What an interrupted writer left around or inside ``processed``."""
    parent = processed.parent
    return sorted(str(p) for p in [*parent.glob(f".{processed.name}.new-*"),
                                   *parent.glob(f".{processed.name}.old-*"),
                                   *processed.rglob(".collect-*"), *processed.rglob("*.tmp")])


def generation_of(processed: Path, raws: dict[str, Path]) -> str:
    """Which raw dataset the processed tables come from, checking they are one whole
    generation: a manifest, every table of it with its row count, the events' and
    feedback's customers all in customers.parquet, and the manifest's input hashes equal to
    one of ``raws``' files."""
    manifest = json.loads((processed / "manifest.json").read_text())
    for name, table in manifest["tables"].items():
        rows = pq.ParquetFile(processed / table["path"]).metadata.num_rows
        assert rows == table["rows"], f"{name}: {rows} rows, the manifest says {table['rows']}"
    customers = set(pd.read_parquet(processed / "customers.parquet")["customer_id"])
    for name in ("events", "feedback"):
        ids = set(pd.read_parquet(processed / f"{name}.parquet")["customer_id"].dropna())
        assert ids <= customers, f"{name} holds customers that customers.parquet lacks"
    hashes = {i["file"]: i["sha256"] for i in manifest["inputs"]}
    matching = [name for name, raw in raws.items()
                if all(file_sha256(raw / f) == h for f, h in hashes.items())]
    assert len(matching) == 1, f"inputs match {matching} of {list(raws)}"
    return matching[0]


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    """Tiny notebooks: 01_slow (ticks until told), 02_report (writes report_name, with a
    raw e-mail when leak=True), 03_fill (fills the disk but ``leave_kb``, then writes
    ``big_kb`` into the run folder; its HTML export needs some 280 KB)."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "01_slow.ipynb",
                   'output_dir: str = "out"  # run folder\nseconds: float = 0.0  # how long',
                   "import os, time\nfrom pathlib import Path\n"
                   "Path(output_dir, 'kernel.pid').write_text(str(os.getpid()))\n"
                   "end, k = time.time() + seconds, 0\n"
                   "while time.time() < end:\n    k += 1\n"
                   "    Path(output_dir, 'ticks.txt').write_text(str(k))\n    time.sleep(0.05)")
    write_notebook(folder / "02_report.ipynb",
                   'output_dir: str = "out"  # run folder\n'
                   'report_name: str = "report.html"  # report file\nleak: bool = False  # leak',
                   "from pathlib import Path\n"
                   # spelt backwards: the notebook's own source must not hold it
                   f"text = {LEAKED_EMAIL[::-1]!r}[::-1] if leak else 'no one'\n"
                   "target = Path(output_dir, report_name)\n"
                   "target.parent.mkdir(parents=True, exist_ok=True)\n"
                   "target.write_text(f'<p>contact {text}</p>')")
    write_notebook(folder / "03_fill.ipynb",
                   'output_dir: str = "out"  # run folder\n'
                   'leave_kb: int = 0  # free space to leave; 0: fill nothing\n'
                   'big_kb: int = 0  # then write this much into the run folder',
                   "import os\nfrom pathlib import Path\n"
                   "if leave_kb:\n    st = os.statvfs(output_dir)\n"
                   "    free = st.f_bavail * st.f_frsize - leave_kb * 1024\n"
                   "    Path(output_dir, '..', 'filler.bin').write_bytes(b'0' * max(free, 0))\n"
                   "if big_kb:  # as every table is written: a failed write leaves nothing\n"
                   "    from cjmlib.core.io import atomic_write\n"
                   "    atomic_write(Path(output_dir, 'big.bin'),\n"
                   "                 lambda tmp: tmp.write_bytes(b'1' * big_kb * 1024))\n"
                   "print('fine')")
    return folder


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    """A workspace with a raw folder holding one customer's e-mail and name."""
    raw = tmp_path / "ws" / "raw"
    raw.mkdir(parents=True)
    (raw / "customers.csv").write_text(f"customer,email,first_name,last_name\n"
                                       f"1,{LEAKED_EMAIL},Janet,Roeberg\n")
    (tmp_path / "ws" / "run.yaml").write_text("parameters: {}\n")
    return tmp_path / "ws"


def tiny_args(*notebooks: str, extra: tuple[str, ...] = ()) -> list[str]:
    return ["run", "--raw", "raw", "--processed", "data/processed", "--out", "reports",
            "--config", "run.yaml", "--notebooks", *notebooks, *extra]


# ------------------------------------------------------------------------------------------
# finding 2: two runs share data/processed
# ------------------------------------------------------------------------------------------
def test_a_second_run_is_refused_while_the_first_holds_the_data(tiny: Path, home: Path
                                                                 ) -> None:
    """Issue 14, finding 2: a second run replaced the tables under the first."""
    first = start_cjm(home, *tiny_args("01_slow", extra=("-p", "seconds", "4")),
                      notebooks=tiny)
    wait_for(lambda: list(home.glob("reports/2*/kernel.pid")), what="the first run's kernel")
    code, _, err = cjm(home, *tiny_args("01_slow"), notebooks=tiny)
    assert code == cli.EXIT_BUSY
    running = runs_in(home / "reports")[0].name
    assert (f"the processed data {home / 'data' / 'processed'} is in use by run {running}, "
            f"pid {first.pid}") in err
    assert "wait until it has finished" in err
    first.communicate(timeout=120)
    assert first.returncode == 0
    assert [manifest_of(r)["status"] for r in runs_in(home / "reports")] == ["succeeded"]


def test_collect_refuses_processed_data_another_process_holds(tmp_path: Path,
                                                              sample_dir: Path) -> None:
    """collect() run by hand (a notebook in JupyterLab) while a run holds the data."""
    from cjmlib.collection.assembly import collect

    processed = tmp_path / "processed"
    with locks.acquire(locks.lock_path_for(processed), what="x", run_id="20260101T000000Z"):
        with pytest.raises(locks.LockHeld, match="in use by run 20260101T000000Z"):
            collect(sample_dir, processed_dir=processed)
    assert not processed.exists() and not debris(processed)


# ------------------------------------------------------------------------------------------
# finding 3: kills leave mixed tables, debris, live kernels and `running` manifests
# ------------------------------------------------------------------------------------------
@pytest.mark.skipif(not LINUX, reason="reads /proc to find the kernel")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_run_takes_its_kernel_along_and_says_so(tiny: Path, home: Path,
                                                         signum: int) -> None:
    """Issue 14, finding 3: the kernel outlived `cjm run` and kept writing; the manifest
    stayed `running` forever."""
    proc = start_cjm(home, *tiny_args("01_slow", extra=("-p", "seconds", "60")),
                     notebooks=tiny)
    kernel = wait_for(lambda: kernels_of(proc.pid), what="the kernel")[0]
    wait_for(lambda: list(home.glob("reports/2*/ticks.txt")), what="the kernel's writes")
    os.kill(proc.pid, signum)
    proc.communicate(timeout=60)
    wait_for(lambda: is_dead(kernel), timeout=3, what=f"kernel {kernel} to die")
    run = runs_in(home / "reports")[0]
    ticks = (run / "ticks.txt").read_text()
    time.sleep(0.3)
    assert (run / "ticks.txt").read_text() == ticks  # nothing writes any more
    if signum == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM
        assert manifest_of(run)["status"] == "aborted"
        assert manifest_of(run)["aborted"] == "stopped by SIGTERM"
    else:
        assert manifest_of(run)["status"] == "running"  # nobody was left to say otherwise
    code, out, err = cjm(home, *tiny_args("01_slow"), notebooks=tiny)
    assert code == 0, err
    manifest = manifest_of(run)
    assert manifest["status"] == "aborted"
    assert [n["status"] for n in manifest["notebooks"]] == ["aborted"]
    if signum == signal.SIGKILL:
        assert f"run {run.name} had been interrupted; its manifest now says aborted" in err
        assert manifest["aborted"].startswith(f"its cjm run (pid {proc.pid} on ")
    assert not list((home / "reports" / ".locks").glob("*.lock"))


@pytest.mark.skipif(not LINUX, reason="reads /proc to find the kernels")
def test_a_stop_takes_every_kernel_running_side_by_side(tiny: Path, home: Path) -> None:
    """Two notebooks run at once (``--jobs 2``): SIGTERM kills both kernels."""
    import nbformat

    twin = tiny / "01_twin.ipynb"
    twin.write_text((tiny / "01_slow.ipynb").read_text().replace("kernel.pid", "twin.pid")
                    .replace("ticks.txt", "twin_ticks.txt"))
    for path, name in ((tiny / "01_slow.ipynb", "ticks"), (twin, "twin")):
        nb = nbformat.read(path, as_version=4)
        nb.metadata["cjm"] = {"after": [], "writes": [f"{name}*", "kernel.pid"
                                                      if name == "ticks" else "twin.pid"]}
        nbformat.write(nb, path)
    proc = start_cjm(home, *tiny_args("01_slow", "01_twin",
                                      extra=("-p", "seconds", "60", "--jobs", "2")),
                     notebooks=tiny)
    kernels = wait_for(lambda: len(kernels_of(proc.pid)) == 2 and kernels_of(proc.pid),
                       what="both kernels")
    wait_for(lambda: len(list(home.glob("reports/2*/*ticks.txt"))) == 2,
             what="both kernels' writes")
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    for kernel in kernels:
        wait_for(lambda k=kernel: is_dead(k), timeout=3, what=f"kernel {kernel} to die")
    assert proc.returncode == 128 + signal.SIGTERM
    manifest = manifest_of(runs_in(home / "reports")[0])
    assert manifest["status"] == "aborted"
    assert [n["status"] for n in manifest["notebooks"]] == ["aborted", "aborted"]


def _write_generation(processed: Path, tag: str) -> Path:
    folder = generations.new_generation(processed)
    (folder / "events.parquet").write_text(tag)
    (folder / "manifest.json").write_text(tag)
    return folder


def test_a_generation_is_swapped_in_whole_and_a_half_swap_is_completed(tmp_path: Path
                                                                       ) -> None:
    processed = tmp_path / "processed"
    generations.commit(processed, _write_generation(processed, "A"), owned={"events.parquet",
                                                                             "manifest.json"})
    (processed / "README.md").write_text("kept")
    generations.commit(processed, _write_generation(processed, "B"), owned={"events.parquet",
                                                                             "manifest.json"})
    assert {p.name: p.read_text() for p in processed.iterdir()} == {
        "events.parquet": "B", "manifest.json": "B", "README.md": "kept"}
    assert not debris(processed)
    # killed while writing C: its unfinished folder, a .tmp and an old work folder are debris
    unfinished = generations.new_generation(processed)
    (unfinished / "events.parquet").write_text("C")
    (processed / ".events.parquet.x1.tmp").write_text("half")
    (processed / ".collect-abc").mkdir()
    assert len(generations.recover(processed)) == 3
    assert not debris(processed) and (processed / "events.parquet").read_text() == "B"
    # killed between the two renames of the fallback swap: the finished generation wins
    finished = _write_generation(processed, "D")
    processed.rename(tmp_path / ".processed.old-1")
    assert generations.recover(processed)[0] == f"restored {processed} from {finished.name}"
    assert (processed / "events.parquet").read_text() == "D" and not debris(processed)


# ------------------------------------------------------------------------------------------
# finding 6: disk full
# ------------------------------------------------------------------------------------------
@pytest.fixture()
def small_disk(home: Path):
    """``home/reports`` on a 3 MB tmpfs (root and mount needed; else the test is skipped)."""
    reports = home / "reports"
    reports.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(reports)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {done.stderr.decode().strip()}")
    try:
        yield reports
    finally:
        subprocess.run(["umount", "-l", str(reports)], check=False)


@pytest.mark.parametrize("where", ["html export", "notebook"])
def test_a_full_disk_ends_as_a_clear_failure(tiny: Path, home: Path, small_disk: Path,
                                             where: str) -> None:
    """Issue 14, finding 6: a raw `OSError: [Errno 28]` traceback, the manifest left
    `running`, a truncated HTML export."""
    options = (("-p", "leave_kb", "120") if where == "html export" else
               ("-p", "leave_kb", "120", "-p", "big_kb", "400"))
    code, _, err = cjm(home, *tiny_args("03_fill", extra=options), notebooks=tiny)
    assert code == 1
    assert "Traceback" not in err
    assert "run failed: disk full: no space left on device" in err
    run = runs_in(small_disk)[0]
    manifest = manifest_of(run)
    assert manifest["status"] == "failed"
    assert manifest["error"].startswith("disk full: no space left on device")
    assert not (run / "notebooks" / "03_fill.html").exists()  # no half page
    assert not list(run.rglob("*.tmp")) and not list(run.rglob(".*"))
    (small_disk / "filler.bin").unlink()
    code, _, err = cjm(home, *tiny_args("03_fill"), notebooks=tiny)
    assert code == 0, err


def test_a_manifest_that_cannot_be_written_is_reported_on_stderr(
        tiny: Path, home: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from cjmlib.workflow import runner

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner, "export_html", full)
    real = runner.write_json

    def manifest_full(data, path):
        if data.get("status") != "running":
            full()
        return real(data, path)

    monkeypatch.setattr(runner, "write_json", manifest_full)
    with pytest.raises(RunFailed, match="disk full: no space left on device; could not "
                                        "write into"):
        run_notebooks(raw_dir=home / "raw", processed_dir=home / "data" / "processed",
                      reports_dir=home / "reports", notebooks=["03_fill"], notebooks_dir=tiny,
                      privacy_scan=False)
    err = capsys.readouterr().err
    assert "manifest.json: could not record status 'failed' (No space left on device)" in err


# ------------------------------------------------------------------------------------------
# finding 7: failed runs as baseline, leaking report kept
# ------------------------------------------------------------------------------------------
def test_a_leaking_report_is_removed_and_the_run_is_no_baseline(tiny: Path, home: Path
                                                                ) -> None:
    """Issue 14, finding 7: a run failing the privacy scan kept its report.html, and failed
    or killed runs became the next run's comparison baseline."""
    code, _, err = cjm(home, *tiny_args("02_report", extra=("-p", "leak", "true")),
                       notebooks=tiny)
    assert code == 1 and "privacy scan FAILED" in err
    assert "removed the 1 file(s) holding them: report.html" in err
    leaked = runs_in(home / "reports")[0]
    assert not (leaked / "report.html").exists()
    assert LEAKED_EMAIL not in "".join(p.read_text(errors="replace")
                                       for p in leaked.rglob("*") if p.is_file())
    scan = manifest_of(leaked)["privacy_scan"]
    assert scan["passed"] is False
    assert scan["removed"] == ["report.html"]
    assert find_previous_run(leaked.parent / "29990101T000000Z") is None
    code, _, err = cjm(home, *tiny_args("02_report"), notebooks=tiny)
    assert code == 0, err
    good = runs_in(home / "reports")[-1]
    assert find_previous_run(leaked.parent / "29990101T000000Z") == good


# ------------------------------------------------------------------------------------------
# finding 8: output names outside the run folder
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, problem", [
    ("../../x.html", "'..' leads outside the run folder"),
    ("/tmp/x.html", "an absolute path writes outside the run folder"),
    ("manifest.json", "manifest.json is written by cjm run itself"),
])
def test_an_output_name_outside_the_run_folder_is_refused(home: Path, capsys, name: str,
                                                          problem: str) -> None:
    """Issue 14, finding 8: `-p report_name ../../x.html` wrote outside the run folder,
    unscanned."""
    code = cli.main(["run", "--raw", str(home / "raw"), "--out", str(home / "reports"),
                     "--processed", str(home / "processed"), "-p", "report_name", name])
    assert code == 2
    err = capsys.readouterr().err
    assert f"cjm run: parameter report_name = {name!r}: {problem}; expected a file name " \
           "inside the run folder" in err
    assert not (home / "reports").exists()


def test_an_output_name_below_the_run_folder_is_written_there(tiny: Path, home: Path) -> None:
    code, out, err = cjm(home, *tiny_args("02_report", extra=("-p", "report_name",
                                                              "share/summary.html")),
                         notebooks=tiny)
    assert code == 0, err
    assert (Path(out.strip()) / "share" / "summary.html").exists()


def test_the_run_folder_parameters_are_not_the_users_to_set(home: Path, capsys) -> None:
    code = cli.main(["run", "--raw", str(home / "raw"), "--out", str(home / "reports"),
                     "-p", "06_report.run_dir", str(home / "elsewhere")])
    assert code == 2
    assert "the run folder is chosen by cjm run" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------
# the fault-injection suite on the real chain (slow: about one full run and two collections)
# ------------------------------------------------------------------------------------------
CHAIN = ("01_collect", "02_journeys", "03_voice", "04_pilot_design", "05_pilot_eval",
         "06_report")


def chain_args(raw: str, *extra: str) -> list[str]:
    """One notebook at a time (``--jobs 1``): the suite stops the run at each in turn."""
    return ["run", "--raw", raw, "--processed", "data/processed", "--out", "reports",
            "--reuse", "--jobs", "1", *extra]


def stop_at(home: Path, proc: subprocess.Popen, notebook: str, signum: int) -> int:
    """Send ``signum`` to `cjm run` ``proc`` once ``notebook``'s kernel runs; return the exit
    code after checking that the kernel died with it."""
    label = f"[{CHAIN.index(notebook) + 1}/6] {notebook} ..."
    wait_for(lambda: label in (home / "stderr.txt").read_text(), what=label)
    kernel = wait_for(lambda: kernels_of(proc.pid), what=f"{notebook}'s kernel")[0]
    os.kill(proc.pid, signum)
    proc.communicate(timeout=120)
    wait_for(lambda: is_dead(kernel), timeout=3, what=f"{notebook}'s kernel to die")
    return proc.returncode


@pytest.fixture(scope="module")
def chain_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with two raw datasets (a: seed 5, b: seed 6) of 1,200 people each."""
    home = tmp_path_factory.mktemp("faults")
    for name, seed in (("a", "5"), ("b", "6")):
        code, _, err = cjm(home, "sample", "--out", f"raw_{name}", "--customers", "1200",
                           "--seed", seed)
        assert code == 0, err
    return home


@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="reads /proc to find the kernels")
def test_kills_at_each_notebook_and_inside_the_write_leave_one_generation(chain_home: Path
                                                                          ) -> None:
    home = chain_home
    processed = home / "data" / "processed"
    raws = {"a": home / "raw_a", "b": home / "raw_b"}
    reports = home / "reports"
    aborted: list[Path] = []

    # 1. dataset a collected; `cjm run` killed -9 while 02 runs
    stop_at(home, start_cjm(home, *chain_args("raw_a")), "02_journeys", signal.SIGKILL)
    aborted.append(runs_in(reports)[-1])
    assert generation_of(processed, raws) == "a"
    before = {p.name: file_sha256(p) for p in processed.glob("*.*")}

    # 2. dataset b: `cjm run` killed -9 inside 01's write (events written, the rest not yet)
    proc = start_cjm(home, *chain_args("raw_b"))
    wait_for(lambda: list(home.glob("data/.processed.new-*/events.parquet")), every=0.005,
             what="01 writing the new generation's events")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    aborted.append(runs_in(reports)[-1])
    wait_for(lambda: not locks.is_held(locks.lock_path_for(processed)), timeout=3,
             what="the orphaned kernel to let go of the processed data")
    assert debris(processed)  # the unfinished generation, until the next start
    assert {p.name: file_sha256(p) for p in processed.glob("*.*")} == before
    assert generation_of(processed, raws) == "a"  # whole: nothing of b next to a

    # 3. a kill at each later notebook; each run reuses what the runs before it finished, so
    #    every notebook executes once. While 02 runs, a second run is refused.
    proc = start_cjm(home, *chain_args("raw_b"))
    wait_for(lambda: "[2/6] 02_journeys ..." in (home / "stderr.txt").read_text(),
             what="02 on dataset b")
    assert not debris(processed) and generation_of(processed, raws) == "b"
    code, _, err = cjm(home, "run", "--raw", "raw_a", "--processed", "data/processed",
                       "--out", "reports", "--notebooks", "01_collect")
    assert code == cli.EXIT_BUSY and "is in use by run" in err
    # (04_pilot_design reads nothing of 01: it ran right after 01, before 02)
    for notebook, signum in (("03_voice", signal.SIGTERM), ("05_pilot_eval", signal.SIGKILL),
                             ("06_report", signal.SIGTERM)):
        if notebook != "03_voice":
            proc = start_cjm(home, *chain_args("raw_b"))
        code = stop_at(home, proc, notebook, signum)
        run = runs_in(reports)[-1]
        aborted.append(run)
        if signum == signal.SIGTERM:
            assert code == 128 + signal.SIGTERM
            assert manifest_of(run)["status"] == "aborted"
        assert generation_of(processed, raws) == "b"

    # 4. the next run succeeds, and every interrupted run says so
    code, out, err = cjm(home, *chain_args("raw_b"), timeout=900)
    assert code == 0, err
    done = Path(out.strip().splitlines()[-1])
    assert manifest_of(done)["status"] == "succeeded" and (done / "report.html").exists()
    assert generation_of(processed, raws) == "b" and not debris(processed)
    for run in aborted:
        manifest = manifest_of(run)
        assert manifest["status"] == "aborted", run
        assert "running" not in [n.get("status") for n in manifest["notebooks"]]
    assert find_previous_run(reports / "29990101T000000Z") == done
