"""Repository rules: one source of dependencies, notebooks stored clean and parameterised."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib

import nbformat
import pytest

from cjmlib.core.config import NOTEBOOKS_DIR, ROOT
from cjmlib.workflow.environment import environment_yaml

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def test_environment_yml_is_generated_from_pyproject() -> None:
    committed = (ROOT / "environment.yml").read_text(encoding="utf-8")
    assert committed == environment_yaml(ROOT / "pyproject.toml"), (
        "environment.yml drifted from pyproject.toml: run `make environment.yml`")


def test_every_dependency_says_why_it_is_here() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = tomllib.loads(text)["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values()
                                      for r in extra]
    for req in reqs:
        line = next(line for line in text.splitlines() if f'"{req}"' in line)
        assert re.search(r'",\s+#\s+\S', line), f"no justification comment for {req}"


def test_the_six_notebooks_exist() -> None:
    assert [p.stem for p in NOTEBOOKS] == ["01_collect", "02_journeys", "03_voice",
                                          "04_pilot_design", "05_pilot_eval", "06_report"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a code cell has outputs"
            assert cell.execution_count is None, f"{path.name}: a code cell has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_import_in_one_cell_at_the_top(path) -> None:
    """Title, then one cell of imports (modules, functions, classes: a constant imported there
    would read as an unknown parameter), then the parameters."""
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = [c for c in nb.cells if c.cell_type == "code"]
    imports = ast.parse(code[0].source).body
    assert imports and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in imports)
    for cell in code[1:]:
        for node in ast.walk(ast.parse(cell.source)):
            assert not isinstance(node, (ast.Import, ast.ImportFrom)), (
                f"{path.name}: import outside the imports cell: {ast.unparse(node)}")
    for node in imports:
        for alias in node.names:
            assert not alias.name.isupper(), f"{path.name}: imports the constant {alias.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_parameters_are_typed_commented_and_checked(path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"][1:]  # after the imports
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0], "parameters must follow the imports"
    for line in tagged[0].source.splitlines():
        if not line.strip():
            continue
        assert "  # " in line, f"{path.name}: parameter without a comment: {line!r}"
        node = ast.parse(line.split("  # ")[0]).body[0]
        assert isinstance(node, ast.AnnAssign), f"{path.name}: not a typed literal: {line!r}"
        ast.literal_eval(node.value)  # plain literal, nothing derived
    assert "check_parameters(globals())" in code[1].source
    names = [ast.parse(line.split("  # ")[0]).body[0].target.id
             for line in tagged[0].source.splitlines() if line.strip()]
    assert ("run_dir" if path.stem == "06_report" else "output_dir") in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_sees_every_declared_parameter(path) -> None:
    """papermill's line parser must agree with Python, or it warns about real parameters."""
    from papermill import inspect_notebook

    from cjmlib.workflow.plan import declared_parameters

    assert list(inspect_notebook(str(path))) == list(declared_parameters(path))


def test_readme_quick_start_is_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```(?:sh|bash|console)?\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()
                if line.split("#")[0].strip()]
    assert commands == ["make run", "make test"]


def test_ci_calls_make_test() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", script, re.M)


def test_importing_cjmlib_is_quiet_and_lazy() -> None:
    code = ("import sys, cjmlib; heavy = [m for m in ('pandas', 'ibis', 'statsmodels', "
            "'matplotlib') if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]" and done.stderr == ""


def test_public_names_do_not_shadow_submodules() -> None:
    """`from cjmlib import themes` must give the module, not a function of the same name."""
    import pkgutil

    import cjmlib

    modules = {m.name for m in pkgutil.iter_modules(cjmlib.__path__)}
    assert not modules & set(cjmlib.__all__)
    for name in cjmlib.__all__:
        assert getattr(cjmlib, name) is not None
