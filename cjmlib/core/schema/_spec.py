"""The two building blocks of the schema: a column and a table."""

from __future__ import annotations

from dataclasses import dataclass

#: Column types: Parquet/Arrow types as the workbench writes them.
TYPES: dict[str, str] = {
    "string": "text (Arrow string)",
    "int": "64-bit integer (32-bit for survey scores)",
    "float": "64-bit float",
    "bool": "true/false",
    "timestamp": "instant in UTC (microseconds, time zone UTC)",
    "local timestamp": "calendar time without a time zone (period starts)",
    "date": "calendar date",
    "json": "JSON text",
}


@dataclass(frozen=True)
class Column:
    """One column: its name, type (a key of :data:`TYPES`) and meaning."""

    name: str
    type: str
    meaning: str
    optional: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name!r}: type {self.type!r} is not one of "
                             f"{', '.join(TYPES)}")


@dataclass(frozen=True)
class TableSpec:
    """One table.

    ``step`` is the workflow step that writes it (a key of ``schema.STEPS``), or
    ``"canonical"`` (data/processed) or ``"input"`` (pilot inputs a researcher provides).
    ``file`` is the file stem: ``<run folder>/tables/<file>.csv`` and ``.parquet`` for
    output tables, ``data/processed/<file>.parquet`` for canonical ones. ``legacy`` is the
    stem the table had in the flat run folders before the ``tables/`` layout (None: its
    ``name``).
    """

    name: str
    step: str
    file: str
    description: str
    columns: tuple[Column, ...]
    patterns: tuple[tuple[str, str], ...] = ()
    legacy: str | None = None
    formats: tuple[str, ...] = ("csv", "parquet")
    #: Columns holding customers' own words (comments, quotes): never previewed, redacted
    #: wherever shown.
    free_text: tuple[str, ...] = ()

    def names(self, *, optional: bool = True) -> tuple[str, ...]:
        """Column names in order (without the optional ones when ``optional=False``)."""
        return tuple(c.name for c in self.columns if optional or not c.optional)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def location(self) -> str:
        if self.step == "canonical":
            return f"data/processed/{self.file}.parquet"
        if self.step == "input":
            return f"{self.file} (CSV or Parquet)"
        return "tables/" + ", ".join(f"{self.file}.{fmt}" for fmt in self.formats)


def columns(spec: str) -> tuple[Column, ...]:
    """Columns from a compact block, one per line: ``name | type | meaning``.

    A type ending in ``?`` marks an optional column.
    """
    out = []
    for line in spec.strip().splitlines():
        name, typ, meaning = (part.strip() for part in line.split("|", 2))
        optional = typ.endswith("?")
        out.append(Column(name, typ.rstrip("?").strip(), meaning, optional))
    return tuple(out)


@dataclass(frozen=True)
class FigureSpec:
    """One figure a notebook saves: ``figures/<file>.png``.

    ``file`` may end in ``*`` for a family of figures, one per metric, outcome or segment
    column (``pilot_km_*``); the part the star stands for is named in ``description``.
    """

    file: str
    step: str
    description: str

    def matches(self, stem: str) -> bool:
        if self.file.endswith("*"):
            return stem.startswith(self.file[:-1])
        return stem == self.file
