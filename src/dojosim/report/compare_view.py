"""What `dojosim compare` shows in the terminal: the verdict, then rich tables; and the cells and lines the
terminal and the HTML report (`compare_html.py`) share.

Both read the same document (the command's --json output), so the terminal and the page never disagree.
"""

import math
from typing import Any

from rich.console import Console

from dojosim.report.compare_doc import budget_text
from dojosim.report.terminal import Grid, num, prose, show, show_lines
from dojosim.report.units import si, usd

# A table of days whose every row is under an hour says nothing about a campaign: it is left out, with one line.
SHORTEST_TELLING_DAYS = 1 / 24


def _plan_text(b: dict[str, Any]) -> str:
    """The degrees that are not 1, compactly: 'tp8 pp4 dp32 mb1 z1 full'."""
    parts = [f"{k}{b[k]}" for k in ("tp", "pp", "cp", "ep") if b.get(k, 1) > 1]
    parts += [f"dp{b['dp']}", f"mb{b['micro_batch']}"]
    parts += [f"z{b['zero']}"] if b["zero"] else []
    parts += [b["recompute"]] if b["recompute"] != "none" else []
    return " ".join(parts)


def _usd(value: float | None) -> str:
    """Dollars without the sign (the column header says $); a dash where there is no figure."""
    return "—" if value is None else usd(value, sign="")


def _per_million(b: dict[str, Any], key: str) -> float:
    return b[key] / b["global_batch"] * 1e6


def _usd_per_million(b: dict[str, Any], key: str, sign: str = "") -> str:
    """A best plan's cost per million samples on one basis ("cost_owned_usd" or "cost_rental_usd")."""
    text = _usd(None if b.get(key) is None else _per_million(b, key))
    return text if text == "—" else sign + text


def _rate(per_s: float) -> str:
    """A throughput in full with thousands separators (never in e-notation), small ones to three figures."""
    return f"{per_s:,.0f}" if per_s >= 100 else f"{per_s:.3g}"


def _campaign_cells(c: dict[str, Any]) -> list[str]:
    cells = [c["system"], f"{c['devices']:,}", f"{c['days']:,.3g}", f"{c['energy_mwh']:,.3g}"]
    cells += [_usd(c["cost_rental_usd"]), _usd(c["cost_owned_usd"])]
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
    alone = s.get("exceeds_fleet")
    return [
        s["system"],
        f"{s['devices']:,}",
        f"{s['gpu_devices']:,.0f}",
        "100% (alone it exceeds the fleet)" if alone else f"{100 * s['share_of_peak']:.1f}%",
        f"{100 * s['share_of_work']:.1f}%",
        f"{math.ceil(s['devices_for_5pct']):,}",  # whole devices: a fraction of one rounds up
        f"{math.ceil(s['devices_for_10pct']):,}",
    ]


def _budget_text(doc: dict[str, Any]) -> str:
    return budget_text(doc["normalize"], doc["budget"])


def campaign_size_text(camp: dict[str, Any]) -> str:
    """'100M samples x 10 epochs (assumption: ...)': the campaign's size with where it comes from."""
    size = f"{camp['dataset_samples']:,.0f} samples x {camp['epochs']:g} epochs"
    return f"{size} ({camp['status']}: {camp['basis']})" if camp.get("basis") else size


def left_out(rows: list[dict[str, Any]], what: str) -> str | None:
    """The one line that replaces a table of days with nothing to say at this campaign size, or None."""
    if rows and max(r["days"] for r in rows) < SHORTEST_TELLING_DAYS:
        longest = max(r["days"] for r in rows) * 24 * 60
        return (
            f"{what} left out: every system finishes the campaign in under an hour (the slowest in {longest:.0f} "
            "minutes); pass a larger --samples or --epochs to see it"
        )
    return None


# ----------------------------------------------------------------------------------------------- terminal


def print_summary(doc: dict[str, Any], console: Console) -> None:
    """The verdict first, then one rich table per section of the report; a table with nothing to say at the
    campaign's size is one line saying why."""
    if doc.get("verdict"):
        console.print(f"[bold]verdict:[/] {doc['verdict']['text']}", highlight=False)
    skipped = {
        _print_campaign: left_out(doc["campaign"], "the campaign table is"),
        _print_fleet: left_out(doc["fleet"], f"the {doc['fleet_eflops']:g} EFLOPS fleet table is"),
    }
    for section in (_print_best, _print_campaign, _print_fleet, _print_share, _print_workload_claims, _print_claims):
        if skipped.get(section):
            console.print(skipped[section], highlight=False)
        else:
            section(doc, console)


def _print_best(doc: dict[str, Any], console: Console) -> None:
    columns = [
        "system", num("devices"), prose("plan", 10), num("step"), num("samples/s", drop=1), num("MFU"),
        num("mem/dev", drop=2), num("$/1M owned"), num("$/1M rented", drop=3), prose("bottleneck", in_terminal=False),
    ]  # fmt: skip
    rows, why = [], []
    for r in doc["results"]:
        b = r["best"]
        if not b:
            rows.append([r["system"], f"{r['devices']:,}", *["—"] * 7, f"no plan: {r['error']}"])
            why.append(f"[bold]{r['system']}[/] ({r['status']}): no plan: {r['error']}")
            continue
        rows.append(
            [
                r["system"],
                f"{r['devices']:,}",
                _plan_text(b),
                si(b["step_time_s"], "s"),
                _rate(b["samples_per_s"]),
                f"{100 * b['mfu']:.1f}%",
                si(b["memory_bytes"], "B"),
                _usd_per_million(b, "cost_owned_usd", "$"),
                _usd_per_million(b, "cost_rental_usd", "$"),
                b["bottleneck"],
            ]
        )
        why.append(f"[bold]{r['system']}[/] ({r['status']}): {b['bottleneck']}")
    title = (
        f"{doc['workload']} ({doc.get('stack', '')}, {doc.get('kernels', 'eager')} kernels on every system): "
        f"best plan per system at {_budget_text(doc)} "
        f"({doc['normalize']})"
    )
    show(console, Grid.of(title, columns, rows))
    show_lines(console, "why:", why)


def _print_campaign(doc: dict[str, Any], console: Console) -> None:
    camp = doc["campaign_spec"]
    title = f"training campaign: {camp['dataset_samples']:,.0f} samples x {camp['epochs']:g} epochs"
    cols = ["system", num("devices"), num("days"), num("MWh"), num("rental ($)"), num("owned ($)")]
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


def _print_workload_claims(doc: dict[str, Any], console: Console) -> None:
    """Tesla's workload claims against A100, recomputed by searching both sides (study/workload_claims.py)."""
    section = doc.get("workload_claims")
    if not section:
        return
    columns = [prose("claim", 16), "status", prose("recomputed by the simulator", 24), prose("verdict", 24)]
    rows = [[f"{c['claim']} ({c['workload']})", c["status"], c["recomputed"], c["verdict"]] for c in section["claims"]]
    show(console, Grid.of("Tesla's workload claims vs A100, recomputed", columns, rows))
    for w in section["workloads"]:
        console.print(f"[dim]{w['name']}: {w['model']}: {w['rationale']}[/]", highlight=False)
