"""Output tables of journeys (filled in below)."""

from __future__ import annotations

from cjmlib.core.schema._spec import FigureSpec, TableSpec

TABLES: tuple[TableSpec, ...] = ()

FIGURES: tuple[FigureSpec, ...] = ()
