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
    height = 60 + bar_h * 1.5 * len(rows) + 40
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
    y = height - 22
    for j, key in enumerate(PARTS):
        out.append(
            f'<rect x="{10 + j * 68}" y="{y}" width="10" height="10" fill="{PALETTE[j]}"/>'
            f'<text x="{24 + j * 68}" y="{y + 9}" font-size="9">{key}</text>'
        )
    out.append("</svg>")
    return "".join(out)


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
        f'<text x="{left}" y="{height - 15}">{_esc(xlabel)}{" (log)" if log else ""}</text>',
        f'<text x="10" y="34">{_esc(ylabel)}</text>',
    ]
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
        w = (width - left - 120) * (used / cap) / top if cap else 0
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


def table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}.plot{display:block;margin:1em 0;background:#fff;border:1px solid #eee}.t{font-weight:bold}
svg text{font-size:11px;font-family:system-ui,sans-serif}.note{color:#555;font-size:13px}"""


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
