"""Helpers shared by the workflow tests."""

from __future__ import annotations

from pathlib import Path

import nbformat


def write_notebook(path: Path, params: str, body: str) -> Path:
    """A tiny notebook: a title, the `parameters` cell, the validation cell, one body cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    check = nbformat.v4.new_code_cell(
        "from cjmlib.workflow.parameters import check_parameters\nparams = check_parameters(globals())")
    nb.cells = [nbformat.v4.new_markdown_cell("# tiny"), p, check,
                nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)
    return path
