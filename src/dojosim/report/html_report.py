"""The HTML reports: one self-contained file (no scripts, no network), plots as inline SVG drawn by matplotlib
(`plots.py`), tables in wrappers that scroll sideways on a narrow screen."""

import html
import math
from pathlib import Path
from typing import Any

from dojosim.report import plots

PARTS = [
    "compute_fwd",
    "compute_bwd",
    "recompute",
    "tp_comm",
    "cp_comm",
    "ep_comm",
    "memory_stream",
    "pp_comm",
    "bubble",
    "dp_comm",
    "optimizer",
]
WIDE_IN = (7.5, 3.4)  # inches: a full-width plot; the page scales it to the screen


def _esc(text: Any) -> str:
    return html.escape(str(text))


def stacked_bars(rows: list[tuple[str, dict[str, float]]], title: str) -> str:
    """One horizontal bar per system: its step in seconds, split into the step-time parts."""
    parts = [p for p in PARTS if any(seconds.get(p, 0.0) > 0 for _, seconds in rows)]

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        names = [name for name, _ in rows]
        left = [0.0] * len(rows)
        for part in parts:
            widths = [seconds.get(part, 0.0) for _, seconds in rows]
            ax.barh(names, widths, left=left, color=plots.COLOURS[PARTS.index(part) % len(plots.COLOURS)],
                    label=part, height=0.6)  # fmt: skip
            left = [a + b for a, b in zip(left, widths, strict=True)]
        for y, total in enumerate(left):
            ax.annotate(f"{total:.3g} s", (total, y), xytext=(3, 0), textcoords="offset points", va="center")
        ax.invert_yaxis()
        ax.set_xlim(0, max(left + [1e-12]) * 1.15)
        ax.set_xlabel("seconds per training step")
        ax.set_title(title, loc="left")
        ax.grid(axis="y", visible=False)
        if parts:  # no system with a plan: nothing to name
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncols=min(6, len(parts)))

    return plots.svg_of(draw, title, (WIDE_IN[0], 1.6 + 0.32 * len(rows) + 0.2 * math.ceil(len(parts) / 6)))


def line_chart(
    series: list[tuple[str, list[tuple[float, float]]]], title: str, xlabel: str, ylabel: str, log: bool = True
) -> str:
    """One line per series, each with its own colour, line style and marker, so that overlapping lines stay
    apart; log axes labelled at 1, 2 and 5 of every decade."""
    kept = [(name, [p for p in s if p[0] > 0 and p[1] > 0]) for name, s in series]
    kept = [(name, s) for name, s in kept if s]
    if not kept:
        return f"<p>{_esc(title)}: no data</p>"

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        for i, (name, s) in enumerate(kept):
            xs, ys = zip(*sorted(s), strict=True)
            # Earlier series drawn wider and with larger markers, so that a later one on top never hides them.
            ax.plot(xs, ys, label=name, linewidth=max(1.0, 2.6 - 0.25 * i), markersize=max(4.0, 8 - 0.6 * i),
                    **plots.style(i))  # fmt: skip
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
            xs, ys = [x for _, s in kept for x, _ in s], [y for _, s in kept for _, y in s]
            plots.log_axis(ax.xaxis, min(xs), max(xs))
            plots.log_axis(ax.yaxis, min(ys), max(ys))
        ax.set_xlabel(f"{xlabel}{' (log scale)' if log else ''}")
        ax.set_ylabel(f"{ylabel}{' (log scale)' if log else ''}")
        ax.set_title(title, loc="left")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))

    return plots.svg_of(draw, title, WIDE_IN)


def memory_bars(rows: list[tuple[str, float, float]], title: str) -> str:
    """Memory per device of each system (bar) against its capacity (black tick), in GB."""

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        names = [name for name, _, _ in rows]
        used = [u / 1e9 for _, u, _ in rows]
        caps = [c / 1e9 for _, _, c in rows]
        colours = ["#c44e52" if u > c else "#3b6ea8" for u, c in zip(used, caps, strict=True)]
        # At least a sliver, so that a small footprint still shows as a bar; the label gives the figure.
        sliver = 0.006 * max(used + caps + [1e-9])
        ax.barh(names, [max(u, sliver) for u in used], color=colours, height=0.55)
        ax.scatter(caps, names, marker="|", s=220, linewidths=2.2, color="#111", zorder=3, label="capacity")
        for y, (u, c) in enumerate(zip(used, caps, strict=True)):
            ax.annotate(f"{u:.3g} / {c:.3g} GB", (max(u, c), y), xytext=(6, 0), textcoords="offset points",
                        va="center")  # fmt: skip
        ax.invert_yaxis()
        ax.set_xlim(0, max(used + caps + [1e-9]) * 1.35)
        ax.set_xlabel("GB per device (bar: used by the best plan; black tick: capacity, near + far memory)")
        ax.set_title(title, loc="left")
        ax.grid(axis="y", visible=False)

    return plots.svg_of(draw, title, (WIDE_IN[0], 1.1 + 0.32 * len(rows)))


KIND_COLORS = {
    "matmul": "#3b6ea8",
    "attention": "#e07b39",
    "conv": "#5a9e4b",
    "embedding": "#8172b2",
    "norm": "#c44e52",
    "softmax": "#da8bc3",
    "elementwise": "#937860",
}


def roofline_chart(title: str, roofs: dict[str, Any], points: list[dict[str, Any]], width_in: float = 5.2) -> str:
    """Op groups (kind x phase) on a log-log roofline: FLOP per byte against achieved FLOP/s, circle area by
    share of compute time; ceilings for the peak, the achievable matmul rate and each memory tier."""
    on_plot = [p for p in points if p["flops"] > 0 and p["bytes"] > 0 and p["seconds"] > 0]
    off_share = sum(p["time_share"] for p in points if p not in on_plot)
    peak = roofs["peak_flops_per_s"]
    bws = [(roofs["near_name"], roofs["near_bytes_per_s"], "-")]
    if roofs.get("far_bytes_per_s"):
        bws.append((roofs["far_name"], roofs["far_bytes_per_s"], "--"))
    intensities = [p["flops"] / p["bytes"] for p in on_plot] + [peak / bw for _, bw, _ in bws]
    lo = 10 ** (math.floor(math.log10(max(min(intensities), 1e-3))) - 0.5)
    hi = 10 ** (math.ceil(math.log10(max(intensities))) + 0.5)

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        for name, bw, dash in bws:
            ax.plot([lo, peak / bw, hi], [lo * bw, peak, peak], color="#222", linestyle=dash, linewidth=1.2,
                    label=f"{name} roof ({bw / 1e12:.3g} TB/s)")  # fmt: skip
        matrix = roofs["matrix_flops_per_s"]
        ax.axhline(matrix, color="#999", linestyle=":", label=f"achievable matmul ({matrix / 1e12:.0f} TFLOP/s)")
        for kind in sorted({p["kind"] for p in on_plot}):
            mine = [p for p in on_plot if p["kind"] == kind]
            ax.scatter([p["flops"] / p["bytes"] for p in mine], [p["flops"] / p["seconds"] for p in mine],
                       s=[12 + 500 * p["time_share"] for p in mine], color=KIND_COLORS.get(kind, "#8c8c8c"),
                       alpha=0.6, edgecolors="#333", linewidths=0.4, label=kind)  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.minorticks_off()  # a tick per decade: the span is many decades
        ax.set_xlim(lo, hi)
        ax.set_ylim(top=peak * 2)
        ax.set_xlabel("arithmetic intensity (FLOP per byte, log scale)")
        ax.set_ylabel("achieved FLOP/s (log scale)")
        ax.set_title(title, loc="left")
        if off_share > 0:
            ax.text(0.01, 0.01, f"ops with no FLOPs (copies, casts, reductions): {100 * off_share:.0f}% of "
                    "compute time, not plotted", transform=ax.transAxes, fontsize=7, color="#555")  # fmt: skip
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3, fontsize=7)

    return plots.svg_of(draw, title, (width_in, 4.4), css="plot roofline")


LONG_CELL = 40  # characters: a cell longer than this is prose and wraps; shorter ones stay on one line


def _cell(value: Any) -> str:
    text = str(value)
    return f'<td class="prose">{_esc(text)}</td>' if len(text) > LONG_CELL else f"<td>{_esc(text)}</td>"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A table in a wrapper that scrolls sideways, so that a wide table never widens the page on a phone;
    numbers and names stay on one line, prose wraps."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def footer(version: str, command: str, date: str, statuses: list[tuple[str, str]]) -> str:
    """What made the report: the dojosim version, the command line, the date, and how far to trust each system's
    figures (its preset's status)."""
    trust = ", ".join(f"{_esc(name)}: <b>{_esc(status)}</b>" for name, status in statuses)
    return (
        f"<footer><p>dojosim {_esc(version)}, {_esc(date)}: <code>{_esc(command)}</code></p>"
        f"<p>Status of each system's figures: {trust} (sourced: public figures; estimate: our reading where no "
        "figure is public; claimed: the maker's claim, unverified; projection: an extrapolation).</p></footer>"
    )


STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;padding:0 1em;max-width:1100px;color:#222;
overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%;margin:1em 0}table{border-collapse:collapse;font-size:13px;
overflow-wrap:normal}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;white-space:nowrap}
td.prose{white-space:normal;min-width:16em}th{background:#f3f3f3;white-space:normal}
svg.plot{display:block;max-width:100%;height:auto;margin:1em 0;background:#fff}
.grid{display:flex;flex-wrap:wrap;gap:8px}.grid svg.plot{flex:0 1 auto;min-width:0}
.verdict{font-size:17px;line-height:1.45;border-left:4px solid #3b6ea8;padding:.4em .9em;background:#f5f8fc}
.note{color:#555;font-size:13px}footer{margin-top:3em;border-top:1px solid #ddd;color:#555;font-size:13px}
@media (max-width:600px){body{margin:.5em auto;padding:0 .6em}.verdict{font-size:15px}h1{font-size:1.4em}}"""


def write_report(path: str | Path, title: str, sections: list[tuple[str, str]], lead: str = "", foot: str = "") -> Path:
    """Write atomically: an interrupted run never leaves a half-written report. `lead` (the verdict) opens the
    body, before the title; `foot` closes it."""
    path = Path(path)
    body = "".join(f"<section><h2>{_esc(h)}</h2>{content}</section>" for h, content in sections)
    doc = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_esc(title)}</title>'
        f"<style>{STYLE}</style></head><body>{lead}<h1>{_esc(title)}</h1>{body}{foot}</body></html>"
    )
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(path)
    return path
