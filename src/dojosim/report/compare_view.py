"""What `dojosim compare` shows: rich tables in the terminal and the self-contained HTML report.

Both read the same document (the command's --json output), so the terminal and the page never disagree.
"""

import html
from typing import Any

from rich.console import Console

from dojosim.report import html_report as h
from dojosim.report.terminal import Grid, num, prose, show, show_lines
from dojosim.report.units import si
from dojosim.units import days, mwh

BUDGET_UNITS = {"power": (1e6, "MW"), "devices": (1.0, "devices"), "cost": (1.0, "$/h")}


def _plan_text(b: dict[str, Any]) -> str:
    """The degrees that are not 1, compactly: 'tp8 pp4 dp32 mb1 z1 full'."""
    parts = [f"{k}{b[k]}" for k in ("tp", "pp", "cp", "ep") if b.get(k, 1) > 1]
    parts += [f"dp{b['dp']}", f"mb{b['micro_batch']}"]
    parts += [f"z{b['zero']}"] if b["zero"] else []
    parts += [b["recompute"]] if b["recompute"] != "none" else []
    return " ".join(parts)


def _per_million(b: dict[str, Any], key: str) -> float:
    return b[key] / b["global_batch"] * 1e6


def _rented_per_million(b: dict[str, Any]) -> str:
    rental = b.get("cost_rental_usd")
    return "—" if rental is None else f"{rental / b['global_batch'] * 1e6:,.0f}"


def _campaign_cells(c: dict[str, Any]) -> list[str]:
    cells = [c["system"], f"{c['devices']:,}", f"{c['days']:,.3g}", f"{c['energy_mwh']:,.3g}"]
    cells += [f"{c['cost_usd']:,.0f}" if c["rented"] else "—", f"{c['cost_at_cost_usd']:,.0f}"]
    return cells + ([f"{c['devices_for_target']:,}"] if "devices_for_target" in c else [])


SHARE_HEADERS = [
    "Dojo system",
    "devices",
    "GPUs beside it",
    "share of peak",
    "share of work",
    "devices for 5%",
    "devices for 10%",
]


def _share_cells(s: dict[str, Any]) -> list[str]:
    return [
        s["system"],
        f"{s['devices']:,}",
        f"{s['gpu_devices']:,.0f}",
        f"{100 * s['share_of_peak']:.1f}%",
        f"{100 * s['share_of_work']:.1f}%",
        f"{s['devices_for_5pct']:,.0f}",
        f"{s['devices_for_10pct']:,.0f}",
    ]


def _budget_text(doc: dict[str, Any]) -> str:
    scale, unit = BUDGET_UNITS[doc["normalize"]]
    return f"{doc['budget'] / scale:,.3g} {unit}"


# ----------------------------------------------------------------------------------------------- terminal


def print_summary(doc: dict[str, Any], console: Console) -> None:
    """One rich table per section of the report."""
    for section in (_print_best, _print_campaign, _print_fleet, _print_share, _print_claims):
        section(doc, console)


def _print_best(doc: dict[str, Any], console: Console) -> None:
    columns = [
        "system", num("devices"), prose("plan", 10), num("step"), num("samples/s", drop=1), num("MFU"),
        num("mem/dev", drop=2), num("$/1M owned"), prose("bottleneck", in_terminal=False),
    ]  # fmt: skip
    rows, why = [], []
    for r in doc["results"]:
        b = r["best"]
        if not b:
            rows.append([r["system"], f"{r['devices']:,}", *["—"] * 6, f"no plan: {r['error']}"])
            why.append(f"[bold]{r['system']}[/] ({r['status']}): no plan: {r['error']}")
            continue
        rows.append(
            [
                r["system"],
                f"{r['devices']:,}",
                _plan_text(b),
                si(b["step_time_s"], "s"),
                f"{b['samples_per_s']:,.4g}",
                f"{100 * b['mfu']:.1f}%",
                si(b["memory_bytes"], "B"),
                f"${_per_million(b, 'cost_at_cost_usd'):,.0f}",
                b["bottleneck"],
            ]
        )
        why.append(f"[bold]{r['system']}[/] ({r['status']}): {b['bottleneck']}")
    title = (
        f"{doc['workload']} ({doc.get('stack', '')}): best plan per system at {_budget_text(doc)} "
        f"({doc['normalize']})"
    )
    show(console, Grid.of(title, columns, rows))
    show_lines(console, "why:", why)


def _print_campaign(doc: dict[str, Any], console: Console) -> None:
    camp = doc["campaign_spec"]
    title = f"training campaign: {camp['dataset_samples']:,.0f} samples x {camp['epochs']:g} epochs"
    cols = ["system", num("devices"), num("days"), num("MWh"), num("rental ($)"), num("at cost ($)")]
    if camp.get("target_days"):
        cols.append(num(f"devices for {camp['target_days']:g} d"))
    show(console, Grid.of(title, cols, [_campaign_cells(c) for c in doc["campaign"]]))


def _print_fleet(doc: dict[str, Any], console: Console) -> None:
    if doc["fleet"]:
        columns = [
            "system", num("devices"), num("power"), num("samples/s"), num("MFU"), num("days"),
            prose("bottleneck", in_terminal=False),
        ]  # fmt: skip
        rows = [
            [
                f["system"],
                f"{f['devices']:,}",
                f"{f['power_mw']:,.0f} MW",
                f"{f['samples_per_s']:,.0f}",
                f"{100 * f['mfu']:.1f}%",
                f"{f['days']:.3g}",
                f["bottleneck"],
            ]
            for f in doc["fleet"]
        ]
        title = f"a {doc['fleet_eflops']:g} EFLOPS (dense BF16 peak) fleet of each system"
        show(console, Grid.of(title, columns, rows))
        show_lines(console, "why:", [f"[bold]{f['system']}[/]: {f['bottleneck']}" for f in doc["fleet"]])


def _print_share(doc: dict[str, Any], console: Console) -> None:
    if doc["share"]:
        title = (
            f"share of training: each Dojo cluster beside {doc['share'][0]['gpu']} up to "
            f"{doc['fleet_eflops']:g} EFLOPS"
        )
        columns = [SHARE_HEADERS[0], *(num(h) for h in SHARE_HEADERS[1:])]
        show(console, Grid.of(title, columns, [_share_cells(row) for row in doc["share"]]))

    eq = doc.get("h100_equivalents")
    if eq:
        console.print(
            f'Musk\'s "{eq["gpu_count"]:,.0f} H100-equivalents" of Dojo 1: '
            f"{eq['dojo_devices_on_peak']:,.0f} D1 on peak FLOPs, which do the work of "
            f"{eq['gpu_work_of_those_dojo_devices']:,.0f} H100 on this workload; "
            f"{eq['dojo_devices_on_workload']:,.0f} D1 match {eq['gpu_count']:,.0f} H100 here"
        )
    be = doc["break_even_dojo_v1_usd_per_d1_hour_vs_dgx_b200"]
    if be is not None:
        console.print(f"break-even rental price of a D1 (dojo-v1) against renting dgx-b200: ${be:.2f}/D1-hour")


def _print_claims(doc: dict[str, Any], console: Console) -> None:
    columns = [prose("claim", 16), prose("recomputed", 24), prose("verdict", 16)]
    rows = [[c["claim"], c["recomputed"], c["verdict"]] for c in doc["claims"]]
    show(console, Grid.of("the public claims, recomputed from the presets", columns, rows))
    console.print(f"report: {doc['report']}")


# ----------------------------------------------------------------------------------------------- HTML


def _summary_html(doc: dict[str, Any], results: list[dict[str, Any]]) -> str:
    return h.table(
        [
            "system",
            "status",
            "devices",
            "plan",
            "step time (s)",
            "samples/s",
            "MFU",
            "memory/device (GB)",
            "energy per step (MJ)",
            "MWh per 1M samples",
            "$ per 1M samples, rented",
            "$ per 1M samples, owned",
            "bottleneck",
        ],
        [
            [
                r["system"],
                r["status"],
                f"{r['devices']:,}",
                _plan_text(r["best"]),
                f"{r['best']['step_time_s']:.4g}",
                f"{r['best']['samples_per_s']:,.4g}",
                f"{100 * r['best']['mfu']:.1f}%",
                f"{r['best']['memory_bytes'] / 1e9:.2f}",
                f"{r['best']['energy_j'] / 1e6:.3g}",
                f"{mwh(_per_million(r['best'], 'energy_j')):.3g}",
                _rented_per_million(r["best"]),
                f"{_per_million(r['best'], 'cost_at_cost_usd'):,.0f}",
                r["best"]["bottleneck"],
            ]
            for r in results
        ]
        + [
            [r["system"], r["status"], r["devices"], "—", "—", "—", "—", "—", "—", "—", "—", "—", r["error"]]
            for r in doc["results"]
            if not r["best"]
        ],
    )


def _plots_html(doc: dict[str, Any], results: list[dict[str, Any]]) -> tuple[str, str, str, str]:
    """The step-time breakdown, the scaling curves, the rooflines and the memory bars."""
    camp = doc["campaign_spec"]
    samples = camp["dataset_samples"] * camp["epochs"]
    breakdown = h.stacked_bars(
        [(r["system"], {k[2:]: v for k, v in r["best"].items() if k.startswith("t_")}) for r in results],
        "step-time breakdown of the best plan (share of the step)",
    )
    scaling = h.line_chart(
        [(r["system"], [(s["devices"], s["samples_per_s"]) for s in r["scaling"]]) for r in results],
        "throughput vs device count (best plan at each size)",
        "devices",
        "samples/s",
    )
    scale, unit = BUDGET_UNITS[doc["normalize"]]
    days_plot = h.line_chart(
        [
            (r["system"], [(s["budget"] / scale, days(samples / s["samples_per_s"])) for s in r["scaling"]])
            for r in results
        ],
        f"days to train {camp['dataset_samples']:,.0f} samples x {camp['epochs']:g} epochs vs budget",
        f"budget ({unit})",
        "days",
    )
    rooflines = "".join(
        h.roofline_chart(f"{r['system']} ({r['roofline']['device']})", r["roofline"]["roofs"], r["roofline"]["points"])
        for r in results
        if r.get("roofline")
    )
    roofline_note = (
        '<p class="note">Each circle is one kind of op in one pass (forward or backward) of the best plan, on the '
        "busiest pipeline stage: its arithmetic intensity against the FLOP/s the model gives it; area is its share "
        "of compute time. Solid: the near-memory roof; dashed: far memory (Dojo's interface-card HBM), which bounds "
        "whatever does not fit in SRAM; dotted: the achievable matmul rate.</p>"
    )
    memory = h.memory_bars(
        [(r["system"], r["best"]["memory_bytes"], r["capacity_bytes"]) for r in results],
        "memory per device of the best plan against capacity",
    )
    return breakdown, scaling + days_plot, roofline_note + f'<div class="grid">{rooflines}</div>', memory


def _campaign_html(doc: dict[str, Any]) -> str:
    camp = doc["campaign_spec"]
    campaign = h.table(
        ["system", "devices", "days", "energy (MWh)", "rental ($, preset price)", "at cost ($, capex + power)"]
        + (["devices for target"] if camp.get("target_days") else []),
        [_campaign_cells(c) for c in doc["campaign"]],
    )
    be = doc["break_even_dojo_v1_usd_per_d1_hour_vs_dgx_b200"]
    rental = (
        f"<p>Break-even rental price of a Dojo V1 D1 against renting DGX B200 at its preset price: "
        f"<b>${be:.2f} per D1-hour</b>.</p>"
        if be is not None
        else "<p>No break-even price (dojo-v1 or dgx-b200 is not in the comparison).</p>"
    )
    return campaign + rental


def _fleet_html(doc: dict[str, Any]) -> str:
    return h.table(
        ["system", "devices", "peak (EFLOPS)", "power (MW)", "samples/s", "MFU", "days", "global batch", "bottleneck"],
        [
            [
                f["system"],
                f"{f['devices']:,}",
                f"{f['peak_eflops']:.1f}",
                f"{f['power_mw']:,.0f}",
                f"{f['samples_per_s']:,.0f}",
                f"{100 * f['mfu']:.1f}%",
                f"{f['days']:.3g}",
                f"{f['global_batch']:,}",
                f["bottleneck"],
            ]
            for f in doc["fleet"]
        ],
    ) + (
        '<p class="note">Each system\'s best plan at the budget, repeated as data-parallel replicas until the fleet '
        f"reaches {doc['fleet_eflops']:g} EFLOPS of dense BF16 peak, and re-estimated at that size (the wider "
        "gradient reduction is costed). The global batch grows with the fleet; whether training converges at that "
        "batch is outside the model.</p>"
    )


def _share_html(doc: dict[str, Any]) -> str:
    share_rows = doc["share"]
    share = (
        h.table(
            [f"{share_rows[0]['gpu']} beside it" if h == "GPUs beside it" else h for h in SHARE_HEADERS],
            [_share_cells(row) for row in share_rows],
        )
        + '<p class="note">The articles say Dojo would carry "5-10%" of Tesla\'s training. Read here as a share of '
        f"work: each Dojo cluster at the budget, beside a {share_rows[0]['gpu']} fleet that makes up the rest of "
        f"{doc['fleet_eflops']:g} EFLOPS of peak; the device counts for 5% and 10% scale Dojo linearly.</p>"
        if share_rows
        else "<p>No share computed: the GPU fleet system is not in the comparison.</p>"
    )
    eq = doc.get("h100_equivalents")
    if eq:
        share += (
            f'<p>Musk\'s "{eq["gpu_count"]:,.0f} H100-equivalents" of Dojo 1 by the end of 2024: '
            f"{eq['dojo_devices_on_peak']:,.0f} D1 if the equivalence is on dense BF16 peak; on this workload "
            f"those D1 do the work of <b>{eq['gpu_work_of_those_dojo_devices']:,.0f} H100</b>, and "
            f"<b>{eq['dojo_devices_on_workload']:,.0f} D1</b> match {eq['gpu_count']:,.0f} H100.</p>"
        )
    return share


def write_html(doc: dict[str, Any]) -> None:
    results = [r for r in doc["results"] if r["best"]]
    breakdown, scaling, rooflines, memory = _plots_html(doc, results)
    claims = h.table(
        ["claim", "recomputed from the presets", "verdict"],
        [[c["claim"], c["recomputed"], c["verdict"]] for c in doc["claims"]],
    )
    intro = (
        f'<p class="note">Workload <b>{html.escape(doc["workload"])}</b>, run by the '
        f'<b>{html.escape(doc.get("stack", ""))}</b> stack; every system at the same {doc["normalize"]} '
        f"budget of <b>{_budget_text(doc)}</b>; for each, the fastest plan a search over tp, pp, cp, dp, ZeRO, "
        "recompute and micro-batch found. Statuses say how far to trust a system's figures (sourced, claimed, "
        "projection).</p>"
    )
    h.write_report(
        doc["report"],
        f"dojosim: {doc['workload']} on Dojo and GPU clusters",
        [
            ("Best plan per system", intro + _summary_html(doc, results)),
            ("Where the time goes", breakdown),
            ("The workload on each roofline", rooflines),
            ("Scaling", scaling),
            ("Memory", memory),
            ("Training campaign and rental", _campaign_html(doc)),
            (f"A {doc['fleet_eflops']:g} EFLOPS fleet", _fleet_html(doc)),
            ("Share of training", _share_html(doc)),
            ("The public claims, recomputed", claims),
        ],
    )
