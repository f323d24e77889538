"""The comparison report: one self-contained HTML file (no scripts, no network), plots as inline SVG."""

import html
import math
from pathlib import Path
from typing import Any

PALETTE = [
    "#3b6ea8",
    "#e07b39",
    "#5a9e4b",
    "#c44e52",
    "#8172b2",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
    "#2f4b7c",
]
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


def _esc(text: Any) -> str:
    return html.escape(str(text))


def stacked_bars(rows: list[tuple[str, dict[str, float]]], title: str) -> str:
    """One horizontal bar per system, split into the step-time parts (shares of the step)."""
    width, left, bar_h = 760, 150, 22
    per_row = 6
    legend_rows = math.ceil(len(PARTS) / per_row)
    height = 40 + bar_h * 1.5 * len(rows) + 18 * legend_rows + 12
    out = [
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        f'role="img" aria-label="{_esc(title)}"><text x="10" y="18" class="t">{_esc(title)}</text>'
    ]
    for i, (name, parts) in enumerate(rows):
        y = 40 + i * bar_h * 1.5
        total = sum(parts.values()) or 1.0
        x = left
        out.append(f'<text x="10" y="{y + 15:.0f}">{_esc(name)}</text>')
        for j, key in enumerate(PARTS):
            w = (width - left - 20) * parts.get(key, 0.0) / total
            if w > 0:
                out.append(
                    f'<rect x="{x:.1f}" y="{y:.0f}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE[j]}">'
                    f"<title>{_esc(name)}: {key} {100 * parts[key] / total:.1f}%</title></rect>"
                )
                x += w
    for j, key in enumerate(PARTS):
        x, y = 10 + (j % per_row) * 120, height - 18 * (legend_rows - j // per_row) - 4
        out.append(
            f'<rect x="{x}" y="{y:.0f}" width="10" height="10" fill="{PALETTE[j]}"/>'
            f'<text x="{x + 14}" y="{y + 9:.0f}" font-size="10">{key}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    """Values to label on an axis spanning [lo, hi] (already log10 when log)."""
    if log:
        decades = [float(10**k) for k in range(math.ceil(lo), math.floor(hi) + 1)]
        return decades if len(decades) >= 2 else [10**lo, 10**hi]
    return [lo + (hi - lo) * i / 4 for i in range(5)]


def _fmt(v: float) -> str:
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e6 or v == 0 else f"{v:.0e}"


def line_chart(
    series: list[tuple[str, list[tuple[float, float]]]], title: str, xlabel: str, ylabel: str, log: bool = True
) -> str:
    width, height, left, bottom = 760, 360, 80, 50
    pts = [p for _, s in series for p in s if p[0] > 0 and p[1] > 0]
    if not pts:
        return f"<p>{_esc(title)}: no data</p>"
    f = math.log10 if log else (lambda v: v)
    xs, ys = [f(p[0]) for p in pts], [f(p[1]) for p in pts]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

    def sx(v: float) -> float:
        return left + (f(v) - x0) / (x1 - x0) * (width - left - 170)

    def sy(v: float) -> float:
        return height - bottom - (f(v) - y0) / (y1 - y0) * (height - bottom - 40)

    out = [
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{_esc(title)}"><text x="10" y="18" class="t">{_esc(title)}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 160}" y2="{height - bottom}" stroke="#333"/>',
        f'<line x1="{left}" y1="30" x2="{left}" y2="{height - bottom}" stroke="#333"/>',
        f'<text x="{left}" y="{height - 10}">{_esc(xlabel)}{" (log)" if log else ""}</text>',
        f'<text x="10" y="34">{_esc(ylabel)}</text>',
    ]
    for v in _ticks(x0, x1, log):
        out.append(f'<text x="{sx(v) - 10:.0f}" y="{height - bottom + 15}" font-size="9">{_fmt(v)}</text>')
    for v in _ticks(y0, y1, log):
        out.append(f'<text x="{left - 6}" y="{sy(v) + 3:.0f}" font-size="9" text-anchor="end">{_fmt(v)}</text>')
    for i, (name, s) in enumerate(series):
        s = [p for p in s if p[0] > 0 and p[1] > 0]
        if not s:
            continue
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in s:
            out.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"><title>{_esc(name)}: '
                f"{x:.4g}, {y:.4g}</title></circle>"
            )
        out.append(f'<text x="{width - 150}" y="{50 + 16 * i}" fill="{color}">{_esc(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def memory_bars(rows: list[tuple[str, float, float]], title: str) -> str:
    """Memory per device (bar) against capacity (tick), as a share of capacity."""
    width, left, bar_h = 760, 150, 18
    height = 50 + bar_h * 1.6 * len(rows)
    out = [
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        f'role="img" aria-label="{_esc(title)}"><text x="10" y="18" class="t">{_esc(title)}</text>'
    ]
    top = max([u / c for _, u, c in rows if c] + [1.0])
    for i, (name, used, cap) in enumerate(rows):
        y = 36 + i * bar_h * 1.6
        # At least a sliver, so that a small footprint still shows as a bar, not as nothing.
        w = max(3.0, (width - left - 120) * (used / cap) / top) if cap else 0
        cx = left + (width - left - 120) / top
        color = "#c44e52" if used > cap else "#3b6ea8"
        out.append(
            f'<text x="10" y="{y + 13:.0f}">{_esc(name)}</text><rect x="{left}" y="{y:.0f}" width="{w:.1f}" '
            f'height="{bar_h}" fill="{color}"/><line x1="{cx:.1f}" y1="{y - 2:.0f}" x2="{cx:.1f}" '
            f'y2="{y + bar_h + 2:.0f}" stroke="#000" stroke-width="2"/><text x="{left + w + 6:.1f}" '
            f'y="{y + 13:.0f}">{used / 1e9:.2f} / {cap / 1e9:.1f} GB</text>'
        )
    out.append("</svg>")
    return "".join(out)


KIND_COLORS = {
    "matmul": "#3b6ea8",
    "attention": "#e07b39",
    "conv": "#5a9e4b",
    "embedding": "#8172b2",
    "norm": "#c44e52",
    "softmax": "#da8bc3",
    "elementwise": "#937860",
}


def roofline_chart(title: str, roofs: dict[str, Any], points: list[dict[str, Any]], width: int = 540) -> str:
    """Op groups (kind x phase) on a log-log roofline: FLOP per byte against achieved FLOP/s, circle area by
    share of compute time; ceilings for the peak, the achievable matmul rate and each memory tier."""
    height, left, bottom, top = 368, 62, 56, 64
    plotted = [p["flops"] > 0 and p["bytes"] > 0 and p["seconds"] > 0 for p in points]
    on_plot = [p for p, keep in zip(points, plotted, strict=True) if keep]
    off_share = sum(p["time_share"] for p, keep in zip(points, plotted, strict=True) if not keep)
    peak = roofs["peak_flops_per_s"]
    bws = [(roofs["near_name"], roofs["near_bytes_per_s"], "")]
    if roofs.get("far_bytes_per_s"):
        bws.append((roofs["far_name"], roofs["far_bytes_per_s"], ' stroke-dasharray="5,3"'))
    intensities = [p["flops"] / p["bytes"] for p in on_plot] + [peak / bw for _, bw, _ in bws]
    x0 = math.floor(math.log10(max(min(intensities), 1e-3))) - 0.5
    x1 = math.ceil(math.log10(max(intensities))) + 0.5
    achieved = [p["flops"] / p["seconds"] for p in on_plot]
    y1 = math.log10(peak) + 0.3
    y0 = min([math.log10(a) for a in achieved] + [y1 - 4]) - 0.3

    def sx(ai: float) -> float:
        return left + (math.log10(ai) - x0) / (x1 - x0) * (width - left - 12)

    def sy(flops_per_s: float) -> float:
        v = min(max(math.log10(flops_per_s), y0), y1)
        return height - bottom - (v - y0) / (y1 - y0) * (height - bottom - top)

    out = [
        f'<svg class="plot roofline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_esc(title)}"><text x="10" y="18" class="t">{_esc(title)}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 12}" y2="{height - bottom}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#333"/>',
        f'<text x="{left}" y="{height - bottom + 28}">FLOP per byte (log)</text>',
        f'<text x="4" y="{top - 4}">FLOP/s</text>',
    ]
    for e in range(math.ceil(x0), math.floor(x1) + 1):
        out.append(f'<text x="{sx(10**e) - 8:.0f}" y="{height - bottom + 14}" font-size="9">1e{e}</text>')
    for e in range(math.ceil(y0), math.floor(y1) + 1):
        out.append(f'<text x="4" y="{sy(10**e) + 3:.0f}" font-size="9">1e{e}</text>')
    for name, bw, dash in bws:
        knee = peak / bw
        lo = 10**x0
        out.append(
            f'<polyline points="{sx(lo):.1f},{sy(lo * bw):.1f} {sx(knee):.1f},{sy(peak):.1f} '
            f'{sx(10**x1):.1f},{sy(peak):.1f}" fill="none" stroke="#222" stroke-width="1.5"{dash}>'
            f"<title>{_esc(name)}: {bw / 1e12:.3g} TB/s, ridge at {knee:.3g} FLOP/B</title></polyline>"
        )
        out.append(f'<text x="{sx(lo) + 4:.1f}" y="{sy(lo * bw) - 4:.1f}" font-size="9">{_esc(name)}</text>')
    matrix = roofs["matrix_flops_per_s"]
    out.append(
        f'<line x1="{left}" y1="{sy(matrix):.1f}" x2="{width - 12}" y2="{sy(matrix):.1f}" stroke="#999" '
        f'stroke-dasharray="2,3"><title>achievable matmul rate {matrix / 1e12:.0f} TFLOP/s</title></line>'
    )
    for p, a in zip(on_plot, achieved, strict=True):
        r = 3 + 14 * math.sqrt(p["time_share"])
        color = KIND_COLORS.get(p["kind"], "#8c8c8c")
        out.append(
            f'<circle cx="{sx(p["flops"] / p["bytes"]):.1f}" cy="{sy(a):.1f}" r="{r:.1f}" fill="{color}" '
            f'fill-opacity="0.6" stroke="{color}"><title>{_esc(p["kind"])} {_esc(p["phase"])}: '
            f"{p['flops'] / p['bytes']:.3g} FLOP/B, {a / 1e12:.3g} TFLOP/s, {100 * p['time_share']:.1f}% of compute"
            "</title></circle>"
        )
    kinds = sorted({p["kind"] for p in on_plot})
    for i, kind in enumerate(kinds):
        color = KIND_COLORS.get(kind, "#8c8c8c")
        out.append(
            f'<circle cx="{14 + i % 6 * 84}" cy="{30 + i // 6 * 12}" r="4" fill="{color}"/>'
            f'<text x="{21 + i % 6 * 84}" y="{33 + i // 6 * 12}" font-size="10">{_esc(kind)}</text>'
        )
    if off_share > 0:
        out.append(
            f'<text x="{left}" y="{height - 8}" font-size="9">ops with no FLOPs (copies, casts, reductions): '
            f"{100 * off_share:.0f}% of compute time, not plotted</text>"
        )
    out.append("</svg>")
    return "".join(out)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}.grid{display:flex;flex-wrap:wrap;gap:8px}.grid .plot{display:inline-block}
.plot{display:block;margin:1em 0;background:#fff;border:1px solid #eee}.t{font-weight:bold}
h1{overflow-wrap:anywhere}svg text{font-size:11px;font-family:system-ui,sans-serif}.note{color:#555;font-size:13px}"""


def write_report(path: str | Path, title: str, sections: list[tuple[str, str]]) -> Path:
    """Write atomically: an interrupted run never leaves a half-written report."""
    path = Path(path)
    body = "".join(f"<section><h2>{_esc(h)}</h2>{content}</section>" for h, content in sections)
    doc = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{_esc(title)}</h1>{body}</body></html>"
    )
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(path)
    return path
