"""Figures: one style for every notebook, readable in exported HTML and on paper.

Each step's ``plots`` module (``cjmlib.collection.plots``, ``cjmlib.journeys.plots``,
``cjmlib.voice.plots``, ``cjmlib.pilots.plots``, ``cjmlib.report.plots``) holds its figure
functions; each takes tables (pandas) and keyword options and returns a matplotlib
``Figure`` without showing or saving it. Notebooks call :func:`use_style` once and
:func:`show_figure` for every figure (save, display, close). Chinese text needs a CJK font
(:func:`find_cjk_font`; Debian ``fonts-noto-cjk``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib

# Headless runs (papermill, CI) must never try to open a window.
if not os.environ.get("DISPLAY") and "inline" not in matplotlib.get_backend().lower():
    matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

#: Width of a full-width figure in inches: fits a laptop screen and an A4 page in the HTML.
FULL_WIDTH = 10.0
#: Font families searched, in order, for CJK text (Debian: fonts-noto-cjk).
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans SC",
             "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", "Heiti SC", "SimHei",
             "AR PL UMing CN", "Droid Sans Fallback")
_CJK_FILE_HINTS = ("notosanscjk", "sourcehansans", "wqy", "msyh", "pingfang", "simhei",
                   "notosanssc", "notoserifcjk")


def use_style() -> None:
    """Apply the workbench style: white grid, readable fonts, colour-blind-safe palette."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind",
                  rc={"figure.dpi": 100, "savefig.dpi": 150, "figure.figsize": (FULL_WIDTH, 5),
                      "axes.titlesize": 13, "axes.labelsize": 11, "legend.fontsize": 10,
                      "figure.autolayout": False, "axes.titleweight": "bold"})


def error_bars(mid: Any, low: Any, high: Any) -> np.ndarray:
    """``xerr``/``yerr`` for matplotlib from a value and its interval: distances that are
    never negative (a rate of exactly 0 or 1 sits on its Wilson bound, and float rounding
    may put it a hair outside) and 0 where the interval is missing.

    >>> error_bars([1.0, 0.5], [0.8, float("nan")], [1.0 - 1e-17, 0.7]).tolist()
    [[0.19999999999999996, 0.0], [0.0, 0.19999999999999996]]
    """
    mid, low, high = (np.asarray(v, dtype=float) for v in (mid, low, high))
    below = np.nan_to_num(np.clip(mid - low, 0, None), nan=0.0)
    above = np.nan_to_num(np.clip(high - mid, 0, None), nan=0.0)
    return np.vstack([below, above])


def empty_chart(title: str, reason: str, *, width: float = FULL_WIDTH) -> plt.Figure:
    """A small figure that says why a chart has nothing to show (the data at hand has no rows
    for it), so a notebook and the report keep their place and say so instead of failing."""
    fig, ax = plt.subplots(figsize=(width, 1.6), layout="constrained")
    ax.axis("off")
    ax.set_title(title, loc="left")
    ax.text(0.0, 0.5, f"Nothing to show: {reason}.", transform=ax.transAxes, va="center",
            fontsize=11, color="#555555")
    return fig


def save_figure(fig: plt.Figure, folder: str | os.PathLike[str], name: str) -> Path:
    """Save ``fig`` as ``<folder>/<name>.png`` (150 dpi, tight) and return the path."""
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    return path


def show_figure(fig: plt.Figure, folder: str | os.PathLike[str], name: str) -> Path:
    """The one way a notebook shows a figure: save it as ``<folder>/<name>.png``, display it
    once in the notebook (nothing outside IPython) and close it; returns the PNG's path.

    Names follow the run folder's scheme, ``<step>_<figure>`` (``cjmlib.core.schema.FIGURES``).
    """
    path = save_figure(fig, folder, name)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: saved, nothing to show
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(fig)
    plt.close(fig)
    return path


@lru_cache(maxsize=1)
def find_cjk_font() -> str | None:
    """Name of an installed font family that has CJK glyphs, or None.

    Looks in matplotlib's font list first; when the list predates the font's installation
    (a cached list), registers the CJK font files found by
    ``matplotlib.font_manager.findSystemFonts`` and looks again.
    """
    from matplotlib import font_manager

    def known() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        for name in CJK_FONTS:
            if name in names:
                return name
        return next((n for n in sorted(names) if "CJK" in n and "Mono" not in n), None)

    name = known()
    if name is not None:
        return name
    for path in font_manager.findSystemFonts():
        flat = path.lower().replace("-", "").replace("_", "")
        if any(hint in flat for hint in _CJK_FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # unreadable font file
                continue
    return known()


def use_cjk_font() -> str | None:
    """Put a CJK font behind the Latin one in matplotlib's font fallback list.

    ``font.family`` becomes ``["DejaVu Sans", <CJK font>]``: Latin text keeps DejaVu Sans,
    and glyphs it lacks (Chinese) come from the CJK font (matplotlib >= 3.6 falls back glyph
    by glyph along the family list). Returns the CJK family used, or None when no CJK font
    is installed (Chinese then renders as boxes; install ``fonts-noto-cjk``).
    """
    name = find_cjk_font()
    if name is not None:
        plt.rcParams["font.family"] = ["DejaVu Sans", name]
    return name
