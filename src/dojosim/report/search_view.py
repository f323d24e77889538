"""`dojosim search` and `dojosim sweep`: the best plans and the Pareto front, the best plan per hardware point,
as rich tables, JSON documents, an SVG bar chart and an HTML page."""

from typing import Any

from rich.console import Console

from dojosim.perf.counterfactual import counterfactuals
from dojosim.perf.jobs import engine_for
from dojosim.report import html_report as h
from dojosim.report import plots
from dojosim.report.bottleneck import counterfactual_sentence
from dojosim.report.launch_args import FRAMEWORKS, load_framework, run_document
from dojosim.report.terminal import Column, Grid, num, prose, show
from dojosim.report.units import si
from dojosim.study.search import PlanResult, SearchResult, SearchSpec, pareto_front
from dojosim.study.sweep import SweepPoint

# What the framework arguments say, and what they leave to the user.
SCOPE = "framework arguments set the plan; the model's shape, data, optimizer and the stack's overlaps are yours"
SEARCH_COLUMNS = ("tp", "pp", "vp", "cp", "ep", "spatial", "dp", "micro_batch", "zero")


def bottleneck_fields(spec: SearchSpec, r: PlanResult) -> dict[str, Any]:
    """What a costed plan would gain from each resource freed: the sentence, the top resource and its speed-up
    (the estimates are arithmetic on a cached engine; only shown plans pay for them)."""
    job = spec.job(r.plan)
    engine = engine_for(job)
    estimate = engine.estimate(job.plan, check=False)
    found = counterfactuals(engine, job.plan, estimate)
    return {
        "bottleneck": counterfactual_sentence(estimate, found),
        "bottleneck_resource": found[0].resource if found else None,
        "bottleneck_speedup_if_free": found[0].speedup_if_free if found else None,
    }


def bottleneck_of(spec: SearchSpec, r: PlanResult) -> str:
    return bottleneck_fields(spec, r)["bottleneck"]


def step_cost(row: dict[str, Any]) -> str:
    """A plan's cost per step with its basis: owned where the system has an owned cost, else rented."""
    owned = row.get("cost_owned_usd")
    return f"${owned:.3g} owned" if owned is not None else f"${row['cost_rental_usd']:.3g} rented"


def plan_row(spec: SearchSpec, r: PlanResult) -> dict[str, Any]:
    return {**r.to_row(), **bottleneck_fields(spec, r)}


def run_of(spec: SearchSpec, r: PlanResult) -> dict[str, Any]:
    """How to run a costed plan: its `dojosim simulate` line and each framework's arguments."""
    job = spec.job(r.plan)
    layers = engine_for(job).shape.layers
    return run_document(spec.model, spec.system, job.plan, spec.overrides, spec.stack, layers, spec.sequences)


def search_document(spec: SearchSpec, found: SearchResult, objective: str, top: int, out: str) -> dict[str, Any]:
    best = found.best(objective, top)
    rows = [plan_row(spec, r) for r in best]
    return {
        "enumerated": found.enumerated,
        "pruned_on_memory": found.pruned_on_memory,
        "costed": len(found.results),
        "objective": objective,
        "top": rows,
        "pareto_front": [plan_row(spec, r) for r in pareto_front(found.results)],
        "best": {**rows[0], "run": run_of(spec, best[0])} if best else None,
        "out": out,
    }


def print_run(console: Console, run: dict[str, Any]) -> None:
    """The best plan's command lines, each printed whole (the terminal wraps it, nothing is cut) so it can be
    copied."""

    def line(text: str, **style: Any) -> None:
        console.print(text, soft_wrap=True, markup=False, highlight=False, **style)

    line("run the best plan:", style="bold")
    line(f"  ({SCOPE})", style="dim")
    line(f"  {run['dojosim']}")
    for key in FRAMEWORKS:
        framework = load_framework(key)
        line(f"  {framework.name} ({run['commands'][key]}):")
        if run[key]:
            line(f"    {' '.join(run[key])}")
        for text in run["not_expressible"].get(key, []):
            line(f"    not expressible in {framework.name}: {text}")
        for text in run["notes"].get(key, []):
            line(f"    note: {text}", style="dim")


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
        prose("plan", 12, in_csv=False), *degrees, num("step"), num("MFU"), num("cost/step", drop=1),
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
                step_cost(r),
                si(r["memory_bytes"], "B"),
                r["bottleneck"],
            )
            for r in rows
        ]
        show(console, Grid.of(title, columns, cells))
    if doc.get("best"):
        print_run(console, doc["best"]["run"])


def _plan_phrase(r: dict[str, Any]) -> str:
    """The degrees that are not 1, then dp, micro-batch, ZeRO, recompute and sequence parallelism."""
    parts = [f"{k}{r[k]}" for k in ("tp", "pp", "vp", "cp", "ep") if r[k] > 1]
    parts += [f"bands{r['spatial']}"] if r.get("spatial", 1) > 1 else []
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
        cost = step_cost(r)
        cells.append((*values, plan, si(r["step_time_s"], "s"), f"{100 * r['mfu']:.1f}%", cost, r["bottleneck"]))
    grid = Grid.of(f"best plan by {objective} at each hardware point", [*columns, prose("bottleneck")], cells)
    show(console, grid)
    console.print(f"plot: {plot}")


def sweep_svg(rows: list[dict[str, Any]], metric: str = "step_time_s", unit: str = "s") -> str:
    """A self-contained bar chart of the best plan's metric at each hardware point (a point with no plan has no
    bar), in the metric's unit."""
    labels = [", ".join(f"{k.split('.')[-1]}={v}" for k, v in r["point"].items()) for r in rows]
    values = [r.get(metric) or 0.0 for r in rows]
    title = f"best {metric} per hardware point"

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        bars = ax.bar(range(len(rows)), values, color="#3b6ea8", width=0.7)
        ax.bar_label(bars, labels=[f"{v:.3g}" if v else "no plan" for v in values], padding=2, fontsize=8)
        ax.set_xticks(range(len(rows)), labels, rotation=30, ha="right")
        ax.set_ylim(0, max(values + [1e-12]) * 1.15)
        ax.set_ylabel(f"{metric.removesuffix('_s')} ({unit})")
        ax.set_xlabel("hardware point")
        ax.set_title(title, loc="left")
        ax.grid(axis="x", visible=False)

    return plots.svg_of(draw, title, (7.5, 3.8))
