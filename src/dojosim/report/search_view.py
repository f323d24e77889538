"""`dojosim search` and `dojosim sweep`: the best plans and the Pareto front, the best plan per hardware point,
as rich tables, JSON documents, an SVG bar chart and an HTML page."""

from typing import Any

from rich.console import Console

from dojosim.perf.jobs import engine_for
from dojosim.report import html_report as h
from dojosim.report.bottleneck import sentence
from dojosim.report.terminal import Column, Grid, num, prose, show
from dojosim.report.units import si
from dojosim.study.search import PlanResult, SearchResult, SearchSpec, pareto_front
from dojosim.study.sweep import SweepPoint

SEARCH_COLUMNS = ("tp", "pp", "vp", "cp", "ep", "dp", "micro_batch", "zero")


def bottleneck_of(spec: SearchSpec, r: PlanResult) -> str:
    """The bottleneck sentence of a costed plan (its full estimate is arithmetic on a cached engine)."""
    job = spec.job(r.plan)
    return sentence(engine_for(job).estimate(job.plan, check=False))


def plan_row(spec: SearchSpec, r: PlanResult) -> dict[str, Any]:
    return {**r.to_row(), "bottleneck": bottleneck_of(spec, r)}


def search_document(spec: SearchSpec, found: SearchResult, objective: str, top: int, out: str) -> dict[str, Any]:
    return {
        "enumerated": found.enumerated,
        "pruned_on_memory": found.pruned_on_memory,
        "costed": len(found.results),
        "objective": objective,
        "top": [plan_row(spec, r) for r in found.best(objective, top)],
        "pareto_front": [plan_row(spec, r) for r in pareto_front(found.results)],
        "out": out,
    }


def print_search(console: Console, doc: dict[str, Any], top: int) -> None:
    console.print(
        f"{doc['enumerated']:,} plans enumerated, {doc['pruned_on_memory']:,} pruned on memory before "
        f"costing, {doc['costed']:,} costed; all in {doc['out']}/plans.parquet"
    )
    sections = (
        (f"best {len(doc['top'])} by {doc['objective']}", doc["top"]),
        ("time-cost Pareto front", doc["pareto_front"][:top]),
    )
    # The terminal reads a plan as one phrase ('tp8 pp4 dp32 mb1 z1 selective sp'); CSV keeps each degree.
    degrees = [Column(k, right=True, in_terminal=False) for k in (*SEARCH_COLUMNS, "recompute", "sp")]
    columns = [
        prose("plan", 12, in_csv=False), *degrees, num("step"), num("MFU"), num("cost", drop=1),
        num("memory", drop=1), prose("bottleneck"),
    ]  # fmt: skip
    for title, rows in sections:
        cells = [
            (
                _plan_phrase(r),
                *(r[k] for k in SEARCH_COLUMNS),
                r["recompute"],
                "y" if r["sequence_parallel"] else "",
                si(r["step_time_s"], "s"),
                f"{100 * r['mfu']:.1f}%",
                f"${r['cost_usd']:.3g}",
                si(r["memory_bytes"], "B"),
                r["bottleneck"],
            )
            for r in rows
        ]
        show(console, Grid.of(title, columns, cells))


def _plan_phrase(r: dict[str, Any]) -> str:
    """The degrees that are not 1, then dp, micro-batch, ZeRO, recompute and sequence parallelism."""
    parts = [f"{k}{r[k]}" for k in ("tp", "pp", "vp", "cp", "ep") if r[k] > 1]
    parts += [f"dp{r['dp']}", f"mb{r['micro_batch']}", f"z{r['zero']}"]
    parts += [r["recompute"]] if r["recompute"] != "none" else []
    return " ".join(parts + (["sp"] if r["sequence_parallel"] else []))


# ------------------------------------------------------------------------------------------------ sweep


def sweep_rows(points: list[SweepPoint]) -> list[dict[str, Any]]:
    """One record per hardware point: the point, its best plan's row and bottleneck sentence, or its error."""
    rows = []
    for p in points:
        row = p.to_row()
        if p.best is not None:
            row["bottleneck"] = bottleneck_of(p.spec, p.best)
        rows.append(row)
    return rows


SWEEP_PLAN = ("tp", "pp", "cp", "dp", "micro_batch", "zero", "recompute")


def sweep_html(path: str, title: str, names: list[str], rows: list[dict[str, Any]]) -> None:
    cells = [
        [
            *(r["point"][name] for name in names),
            *(
                (*(r.get(k) for k in SWEEP_PLAN), f"{r['step_time_s']:.4g}", f"{100 * r['mfu']:.1f}%", r["bottleneck"])
                if "error" not in r
                else ("—",) * 9 + (r["error"],)
            ),
        ]
        for r in rows
    ]
    headers = [*names, "tp", "pp", "cp", "dp", "mb", "zero", "recompute", "step (s)", "MFU", "bottleneck"]
    h.write_report(path, title, [("Best plan at each hardware point", h.table(headers, cells) + sweep_svg(rows))])


def print_sweep(console: Console, names: list[str], rows: list[dict[str, Any]], objective: str, plot: str) -> None:
    columns = [*(num(name) for name in names), prose("plan", 12), num("step"), num("MFU"), num("cost", drop=1)]
    cells = []
    for r in rows:
        values = [r["point"][name] for name in names]
        if "error" in r:
            cells.append((*values, "—", "—", "—", "—", r["error"]))
            continue
        degrees = " ".join(f"{k}{r[k]}" for k in ("tp", "pp", "vp", "cp", "dp"))
        plan = f"{degrees} mb{r['micro_batch']} zero{r['zero']} {r['recompute']}"
        cost = f"${r['cost_usd']:.3g}"
        cells.append((*values, plan, si(r["step_time_s"], "s"), f"{100 * r['mfu']:.1f}%", cost, r["bottleneck"]))
    grid = Grid.of(f"best plan by {objective} at each hardware point", [*columns, prose("bottleneck")], cells)
    show(console, grid)
    console.print(f"plot: {plot}")


def sweep_svg(rows: list[dict[str, Any]], metric: str = "step_time_s", unit: str = "s") -> str:
    """A self-contained bar chart of the best plan's metric at each hardware point."""
    width, height, left, bottom = 760, 320, 70, 90
    values = [r.get(metric) for r in rows]
    top = max((v for v in values if v), default=1.0)
    bar = (width - left - 20) / max(1, len(rows))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="11"><text x="{left}" y="16" font-size="13">best {metric} per hardware point</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#333"/>',
    ]
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        x = left + i * bar + bar * 0.15
        label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in row["point"].items())
        if value:
            bar_h = (height - bottom - 30) * value / top
            parts.append(
                f'<rect x="{x:.1f}" y="{height - bottom - bar_h:.1f}" width="{bar * 0.7:.1f}" height="{bar_h:.1f}" '
                f'fill="#3b6ea8"><title>{label}: {value:.4g} {unit}</title></rect>'
            )
            parts.append(f'<text x="{x:.1f}" y="{height - bottom - bar_h - 4:.1f}">{value:.3g}</text>')
        parts.append(
            f'<text transform="translate({x + bar * 0.35:.1f},{height - bottom + 12}) rotate(30)">{label}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
