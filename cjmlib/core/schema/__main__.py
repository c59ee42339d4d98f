"""`python -m cjmlib.core.schema` prints the tables as Markdown; with `--write FILE` it
replaces the generated block of FILE (docs/design.md) with them."""

import sys
from pathlib import Path

from cjmlib.core.schema import markdown, with_tables

if len(sys.argv) == 3 and sys.argv[1] == "--write":
    path = Path(sys.argv[2])
    path.write_text(with_tables(path.read_text(encoding="utf-8")), encoding="utf-8")
else:
    print(markdown(), end="")
