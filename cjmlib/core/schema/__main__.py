"""`python -m cjmlib.core.schema` prints the tables as Markdown (for docs/design.md)."""

from cjmlib.core.schema import markdown

print(markdown(), end="")
