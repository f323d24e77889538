"""`dojosim rent` for people: the summary tables, the JSON document, and the HTML report with its plots
(utilisation and queue length over time, wait distributions per tenant, break-even price against utilisation)."""

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from dojosim.report import html_report, plots
from dojosim.report.terminal import Grid, num, show
from dojosim.units import mwh

if TYPE_CHECKING:
    from dojosim.study.rent.outcome import RentResult

PERCENTILES = (50, 90, 99)


def _usd(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"


def _h(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} h"


def rent_document(result: "RentResult") -> dict[str, Any]:
    doc = result.as_dict()
    doc["energy_mwh"] = mwh(result.energy_j)
    return doc


def summary_grid(r: "RentResult") -> Grid:
    rows = [
        ("system", f"{r.devices:,} x {r.system}"),
        ("simulated", f"{r.simulated_s / 86400:,.1f} of {r.days:g} days" + (" (interrupted)" if r.interrupted else "")),
        ("scheduler, seed", f"{r.scheduler}, {r.seed}"),
        ("jobs", f"{r.jobs:,} arrived, {r.finished:,} finished, {r.rejected:,} rejected (no plan fits)"),
        ("utilisation", f"{100 * r.utilisation:.1f}%"),
        ("mean queue", f"{r.mean_queue:,.1f} jobs"),
        ("goodput", f"{100 * r.goodput:.2f}% (useful / paid device-hours)"),
        ("failures, preemptions", f"{r.failures:,}, {r.preemptions:,}"),
        ("fragmentation", f"{100 * r.fragmentation:.1f}% of free devices outside the largest free region"),
        ("energy", f"{mwh(r.energy_j):,.0f} MWh"),
        ("paid device-hours", f"{r.paid_device_h:,.0f}"),
        ("owned cost", _usd(r.owned_cost_usd)),
        ("break-even price", f"{_usd(r.break_even_usd_per_device_hour)} per device-hour at this utilisation"),
        ("revenue", "give --price" if r.revenue_usd is None else f"{_usd(r.revenue_usd)} at "
         f"{_usd(r.price_usd_per_device_hour)} per device-hour"),
        ("simulation time", f"{r.sim_wall_s:.2f} s"),
    ]  # fmt: skip
    return Grid.of("dojosim rent: summary", ["figure", "value"], rows)


def tenant_grid(r: "RentResult") -> Grid:
    clouds = list(r.tenants[0].cloud_usd) if r.tenants else []
    columns = ["tenant", num("jobs"), num("finished"), *(num(f"wait p{p}") for p in PERCENTILES),
               num("device-h"), num("bill here"), *(num(f"on {c}") for c in clouds)]  # fmt: skip
    rows = [
        [t.tenant, f"{t.jobs:,}", f"{t.finished:,}", *(_h(t.wait_h.get(p)) for p in PERCENTILES),
         f"{t.paid_device_h:,.0f}", _usd(t.bill_usd), *(_usd(t.cloud_usd[c]) for c in clouds)]
        for t in r.tenants
    ]  # fmt: skip
    return Grid.of("Tenants: queue waits, and the finished jobs' bill here and rented on GPU clouds", columns, rows)


def print_rent(console: Console, r: "RentResult") -> None:
    show(console, summary_grid(r))
    show(console, tenant_grid(r))


def _timeline_svg(r: "RentResult") -> str:
    def draw(fig: Any) -> None:
        top, bottom = fig.subplots(2, 1, sharex=True)
        days = [h / 24 for h, _, _ in r.timeline]
        top.plot(days, [100 * u for _, u, _ in r.timeline], **{**plots.style(0), "marker": None})
        top.set_ylabel("utilisation %")
        top.set_ylim(0, 105)
        bottom.plot(days, [q for _, _, q in r.timeline], **{**plots.style(1), "marker": None})
        bottom.set_ylabel("queued jobs")
        bottom.set_xlabel("day")
        top.set_title(f"{r.system}, {r.scheduler}: hourly means")

    return plots.svg_of(draw, "utilisation and queue length over time", (7.5, 4.2))


def _waits_svg(r: "RentResult") -> str:
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        for i, (tenant, waits) in enumerate(sorted(r.waits_h.items())):
            if waits:
                ordered = sorted(waits)
                share = [(k + 1) / len(ordered) for k in range(len(ordered))]
                ax.step(ordered, share, where="post", label=tenant, color=plots.style(i)["color"])
        ax.set_xlabel("wait (hours)")
        ax.set_ylabel("share of jobs waiting at most this long")
        ax.set_title("Queue waits per tenant")
        ax.legend()

    return plots.svg_of(draw, "queue wait distribution per tenant", (7.5, 3.4))


def _break_even_svg(r: "RentResult") -> str:
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        ax.plot([100 * u for u, _ in r.break_even_curve], [p for _, p in r.break_even_curve], **plots.style(0))
        if r.break_even_usd_per_device_hour:
            ax.axvline(100 * r.utilisation, color="#888", linestyle=":")
            ax.annotate("simulated", (100 * r.utilisation, r.break_even_usd_per_device_hour))
        ax.set_xlabel("utilisation %")
        ax.set_ylabel("USD per device-hour")
        ax.set_title("Break-even price against utilisation (owned cost)")

    return plots.svg_of(draw, "break-even price against utilisation", (7.5, 3.4))


def rent_sections(r: "RentResult") -> list[tuple[str, str]]:
    """The HTML section(s) of a rent run, for this report or another one."""
    def table(grid: Grid) -> str:
        return html_report.table([c.header for c in grid.columns], [list(row) for row in grid.rows])

    sections = [
        ("Summary", table(summary_grid(r))),
        ("Utilisation and queue over time", _timeline_svg(r)),
        ("Queue waits", _waits_svg(r) + table(tenant_grid(r))),
    ]
    if r.break_even_curve:
        sections.append(("Break-even price", _break_even_svg(r)))
    return sections


def write_rent_html(path: str | Path, r: "RentResult") -> Path:
    title = f"dojosim rent: {r.devices:,} x {r.system}, {r.days:g} days, {r.scheduler}"
    return html_report.write_report(path, title, rent_sections(r))


def scenario_grid(rows: list[Any]) -> Grid:
    """One line per rental scenario of a sweep: its varied values and headline figures."""
    names = list(rows[0].point) if rows else []
    columns = [*map(num, names), num("utilisation"), num("goodput"), num("fragmentation"), num("finished"),
               num("worst p90 wait"), num("break-even $/dev-h"), num("revenue", drop=1)]  # fmt: skip
    cells = [
        (*(f"{v:,}" if isinstance(v, int) else str(v) for v in r.point.values()), f"{r.utilisation:.1%}",
         f"{r.goodput:.1%}", f"{r.fragmentation:.0%}", f"{r.finished:,} of {r.jobs:,}", _h(r.wait_p90_h),
         _usd(r.break_even_usd_per_device_hour), _usd(r.revenue_usd))
        for r in rows
    ]  # fmt: skip
    return Grid.of("rental scenarios", columns, cells)
