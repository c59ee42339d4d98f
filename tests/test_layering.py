"""The package layering of docs/design.md ("Package layout"): imports only go downwards in
core, stats, collection, journeys, voice, pilots, report, workflow; `sample` uses core,
stats and pilots; only `workflow` (which uses everything) imports `sample`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "cjmlib"
ORDER = ["core", "stats", "collection", "journeys", "voice", "pilots", "report", "workflow"]


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return [n.split(".")[1] for n in names if n.startswith("cjmlib.") and n.count(".") >= 1]


def allowed(source: str, target: str) -> bool:
    if source == target or source == "workflow":
        return True
    if source == "sample":
        return target in ("core", "stats", "pilots")
    if target == "sample" or target not in ORDER or source not in ORDER:
        return target != "sample"
    return ORDER.index(target) < ORDER.index(source)


def test_imports_only_go_downwards():
    upward = [(str(path.relative_to(ROOT.parent)), f"cjmlib.{target}")
              for path in ROOT.rglob("*.py") if len(path.relative_to(ROOT).parts) > 1
              for target in _imports(path)
              if not allowed(path.relative_to(ROOT).parts[0], target)]
    assert upward == [], f"upward imports: {upward}"


def test_the_rule_itself_catches_an_upward_import():
    assert not allowed("core", "report") and not allowed("pilots", "sample")
    assert allowed("report", "core") and allowed("sample", "pilots")
