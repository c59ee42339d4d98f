"""docs/design.md and cjmlib.core.schema agree, and nothing points outside the repository."""

from __future__ import annotations

import re
import subprocess

from cjmlib.core import schema
from cjmlib.core.config import ROOT

DESIGN = ROOT / "docs" / "design.md"


def test_the_design_document_holds_the_schema_tables() -> None:
    text = DESIGN.read_text(encoding="utf-8")
    assert schema.with_tables(text) == text, (
        "docs/design.md is out of date with cjmlib/core/schema: run `make docs`")


def test_every_table_and_column_appears_in_the_design_document() -> None:
    text = DESIGN.read_text(encoding="utf-8")
    for table in schema.TABLES.values():
        assert f"#### {table.name}\n" in text
        for column in table.columns:
            assert re.search(rf"^\| {re.escape(column.name)} \| {column.type}", text, re.M), (
                table.name, column.name)


def test_nothing_in_the_repository_refers_to_a_path_outside_it() -> None:
    files = subprocess.run(["git", "ls-files", "*.py", "*.md", "*.ipynb", "*.yaml", "*.toml",
                            "Makefile"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    sibling = "../" + "shared"  # written in two pieces so this file does not match itself
    outside = [f for f in files if sibling in (ROOT / f).read_text(encoding="utf-8")
               or ("shared" + "/DESIGN") in (ROOT / f).read_text(encoding="utf-8")]
    assert outside == []


def test_every_dotted_cjmlib_name_in_the_repository_exists() -> None:
    """Docstrings, docs, configs and notebooks name modules and functions by their dotted
    path; after a move every such name must still resolve (wildcards ending in `_*` aside)."""
    import importlib

    files = subprocess.run(["git", "ls-files", "*.py", "*.md", "*.ipynb", "*.yaml"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()

    def resolves(dotted: str) -> bool:
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            try:
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                return False
            return True
        return False

    broken = {}
    for f in files:
        text = (ROOT / f).read_text(encoding="utf-8")
        for name in set(re.findall(r"cjmlib(?:\.[A-Za-z_]\w*)+(?![\w*])", text)):
            if not name.endswith("_") and not resolves(name):
                broken.setdefault(name, f)
    assert broken == {}
