"""Plots drawn by matplotlib and returned as SVG text, ready to inline in a report or write as a file.

matplotlib is imported here only, inside the functions, so that importing dojosim.report costs nothing; the
figure is a bare `Figure` (no pyplot, no global state) saved by the SVG backend. Text stays text
(`svg.fonttype = none`: small files that a browser lays out in its own font), and ids are salted with the
plot's label, so the same figures give the same bytes and two plots on one page never share an id.
"""

import html
import io
import re
from collections.abc import Callable
from typing import Any

# Distinct colours, line styles and markers, so that overlapping series stay apart in colour and without it.
COLOURS = ["#3b6ea8", "#e07b39", "#5a9e4b", "#c44e52", "#8172b2", "#937860", "#da8bc3", "#8c8c8c", "#ccb974",
           "#64b5cd", "#2f4b7c"]  # fmt: skip
LINE_STYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 2)), (0, (8, 2))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h"]

RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
}

# The SVG prologue (XML declaration, doctype, the generator's metadata) is dropped: the rest is valid both
# inline in HTML and as a file of its own.
_PROLOGUE = re.compile(r"^.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_COMMENT = re.compile(r"\s*<!--.*?-->", re.S)
# Text was laid out with DejaVu Sans metrics; where the reader lacks that font, any sans-serif is close enough.
_FONT = "font-family: 'DejaVu Sans'"


def style(i: int) -> dict[str, Any]:
    """The i-th series' colour, line style and marker."""
    return {
        "color": COLOURS[i % len(COLOURS)],
        "linestyle": LINE_STYLES[i % len(LINE_STYLES)],
        "marker": MARKERS[i % len(MARKERS)],
    }


def svg_of(draw: Callable[[Any], None], label: str, size_in: tuple[float, float], css: str = "plot") -> str:
    """`draw(figure)` on a new figure of `size_in` inches, saved as SVG whose root carries `css` as its class
    and `label` as its accessible name."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({**RC, "svg.hashsalt": label}):
        fig = Figure(figsize=size_in, layout="constrained")
        draw(fig)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = _COMMENT.sub("", _METADATA.sub("", _PROLOGUE.sub("", out.getvalue(), count=1), count=1))
    text = text.replace(_FONT, f"{_FONT}, Arial, sans-serif")
    head = f'<svg class="{html.escape(css)}" role="img" aria-label="{html.escape(label)}"'
    return text.replace("<svg", head, 1)


def log_axis(axis: Any, lo: float, hi: float) -> None:
    """A log axis over data from `lo` to `hi` labelled in plain numbers: at 1, 2 and 5 of every decade, or, where
    the data span less than a decade, at round linear steps, so that every axis has several labelled ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    if hi < 10 * lo:
        axis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    else:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: plain(v)))
    axis.set_minor_formatter(NullFormatter())


def plain(v: float) -> str:
    """A tick label: 3 significant digits, thousands separated, exponent only far from 1."""
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e7:
        return f"{v:,.3g}" if abs(v) < 1e3 else f"{v:,.0f}"
    return f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-")
