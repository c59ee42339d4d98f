"""Figures: one style for every notebook, readable in exported HTML and on paper.

Topic modules (``cjmlib.journeys.plots``, ``.voice``, ``.pilots``) hold the figure functions;
each takes tables (pandas) and keyword options and returns a matplotlib ``Figure`` without
showing or saving it. Notebooks display them; :func:`save_figure` writes PNGs to a run folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

# Headless runs (papermill, CI) must never try to open a window.
if not os.environ.get("DISPLAY") and "inline" not in matplotlib.get_backend().lower():
    matplotlib.use("Agg")

import matplotlib.pyplot as plt
import seaborn as sns

#: Width of a full-width figure in inches: fits a laptop screen and an A4 page in the HTML.
FULL_WIDTH = 10.0


def use_style() -> None:
    """Apply the workbench style: white grid, readable fonts, colour-blind-safe palette."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind",
                  rc={"figure.dpi": 100, "savefig.dpi": 150, "figure.figsize": (FULL_WIDTH, 5),
                      "axes.titlesize": 13, "axes.labelsize": 11, "legend.fontsize": 10,
                      "figure.autolayout": False, "axes.titleweight": "bold"})


def save_figure(fig: plt.Figure, folder: str | os.PathLike[str], name: str) -> Path:
    """Save ``fig`` as ``<folder>/<name>.png`` (150 dpi, tight) and return the path."""
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    return path
