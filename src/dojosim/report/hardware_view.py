"""`dojosim systems` and `dojosim system show|compare`: the machine as tables and JSON."""

from typing import Any

from rich.console import Console

from dojosim.hardware import Cost, Figure, SizedSystem, System, Totals, derive_totals, size_system
from dojosim.hardware.plausibility import densities
from dojosim.report.terminal import Grid, num, prose, show
from dojosim.report.units import count, si

# Totals keys to human units, in display order.
TOTAL_UNITS = {
    "sram_bytes": ("SRAM", "B"),
    "hbm_bytes": ("HBM", "B"),
    "hbm_bytes_per_s": ("HBM bandwidth", "B/s"),
    "bisection_bytes_per_s": ("bisection (per direction)", "B/s"),
    "power_w": ("IT power", "W"),
    "idle_power_w": ("idle power", "W"),
    "facility_power_w": ("facility power (x PUE)", "W"),
}
STATUS_STYLE = {
    "sourced": "green",
    "sourced-2nd": "green",
    "estimate": "yellow",
    "fitted": "yellow",
    "user": "cyan",
    "claimed": "magenta",
    "projection": "red",
}


def _fig(f: Figure) -> dict[str, Any]:
    return {"value": f.value, "source": f.source, "status": f.status}


def check_rows(system: System) -> list[dict[str, Any]]:
    """Each published total beside the derived one, at the published device count."""
    rows = []
    for check in system.checks:
        derived = derive_totals(size_system(system, check.devices)).as_dict()[check.total]
        rows.append(
            {
                "total": check.total,
                "devices": check.devices,
                "published": check.published.value,
                "derived": derived.value,
                "error_pct": 100.0 * (derived.value / check.published.value - 1.0),
                "source": check.published.source,
                "status": check.published.status,
            }
        )
    return rows


def _cost_doc(cost: Cost) -> dict[str, Any]:
    """The cost figures as given, each part with its derived share per device, and the owned device-hour."""
    doc: dict[str, Any] = {k: _fig(v) for k, v in vars(cost).items() if isinstance(v, Figure)}
    if cost.parts:
        doc["parts"] = [
            {"name": p.name, "per": p.per, "usd_each": _fig(p.usd_each), "usd_per_device": p.usd_per_device}
            for p in cost.parts
        ]
    if cost.owned:
        doc["equipment_usd_per_device"] = cost.equipment_usd_per_device
        doc["nre_usd_per_device"] = cost.nre_usd_per_device
        doc["owned_usd_per_device_hour_before_electricity"] = cost.owned_usd_per_device_hour
    return doc


def system_document(sized: SizedSystem, totals: Totals) -> dict[str, Any]:
    system, device = sized.system, sized.system.device
    device_figs = {name: _fig(value) for name, value in vars(device).items() if isinstance(value, Figure)}
    device_figs.update({f"peak_flops_per_s.{k}": _fig(v) for k, v in device.peak_flops_per_s.items()})
    levels = []
    for lvl in sized.levels:
        levels.append(
            {
                "name": lvl.name,
                "summary": lvl.level.summary,
                "topology": lvl.level.topology,
                "children": lvl.children,
                "units": lvl.units,
                "devices_per_unit": lvl.devices_per_unit,
                "mesh_dims": list(lvl.mesh_dims) if lvl.mesh_dims else None,
                "fat_tree_tiers": lvl.fat_tree_tiers,
                "child_egress_bytes_per_s": lvl.child_egress_bytes_per_s.value,
                "egress_bytes_per_s": lvl.egress_bytes_per_s.value if lvl.egress_bytes_per_s else None,
                "bisection_bytes_per_s": lvl.bisection_bytes_per_s.value,
                "link_latency_s": lvl.level.link_latency_s.value,
                "memory": [
                    {
                        "name": p.name,
                        "cards_per_unit": p.cards.value,
                        "bytes_per_card": p.bytes_per_card.value,
                        "bytes_per_s_per_card": p.bytes_per_s_per_card.value,
                    }
                    for p in lvl.level.memory
                ],
            }
        )
    flat = totals.as_dict()
    return {
        "name": system.name,
        "summary": system.summary,
        "status": system.status,
        "origin": system.origin,
        "devices": sized.devices,
        "device": {"name": device.name, "summary": device.summary, "figures": device_figs},
        "levels": levels,
        "totals": {
            "peak_flops": {k: v.value for k, v in totals.peak_flops_per_s.items()},
            **{key: flat[key].value for key in TOTAL_UNITS},
        },
        "total_figures": {key: _fig(value) for key, value in flat.items()},
        "pue": _fig(system.pue),
        "cost": _cost_doc(system.cost),
        "checks": check_rows(system),
        "densities": [d.as_dict() for d in densities(system)],
        "warnings": [d.warning() for d in densities(system) if not d.plausible],
        "notes": list(system.notes),
    }


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def print_system(console: Console, doc: dict[str, Any]) -> None:
    console.print(
        f"[bold]{doc['name']}[/] — {doc['summary']}  ({_status(doc['status'])}, {count(doc['devices'])} devices)"
    )
    figures = [
        (name, si(fig["value"], unit) if (unit := _unit_of(name)) else f"{fig['value']:g}", _status(fig["status"]),
         fig["source"])
        for name, fig in doc["device"]["figures"].items()
    ]  # fmt: skip
    title = f"device: {doc['device']['name']} — {doc['device']['summary']}"
    show(console, Grid.of(title, ["figure", num("value"), "status", prose("source", 24)], figures))

    levels = []
    for lvl in doc["levels"]:
        topo = lvl["topology"] + (f" {lvl['mesh_dims'][0]}x{lvl['mesh_dims'][1]}" if lvl["mesh_dims"] else "")
        topo += f", {lvl['fat_tree_tiers']} tiers" if lvl["fat_tree_tiers"] else ""
        levels.append(
            (
                lvl["name"],
                topo,
                count(lvl["children"]),
                count(lvl["units"]),
                count(lvl["devices_per_unit"]),
                si(lvl["child_egress_bytes_per_s"], "B/s"),
                si(lvl["bisection_bytes_per_s"], "B/s"),
                si(lvl["link_latency_s"], "s"),
            )
        )
    columns = ["level", prose("topology", 10), *map(num, ("children", "units", "devices/unit", "child egress")),
               num("bisection"), num("latency")]  # fmt: skip
    show(console, Grid.of("hierarchy (bottom-up)", columns, levels))

    totals = []
    for key, fig in doc["total_figures"].items():
        label, unit = TOTAL_UNITS.get(key, (f"peak {key.split('.')[-1]}", "FLOP/s"))
        totals.append((label, si(fig["value"], unit), _status(fig["status"]), fig["source"]))
    title = f"totals at {count(doc['devices'])} devices (derived from parts)"
    show(console, Grid.of(title, ["total", num("value"), "status", prose("derivation")], totals))

    if doc["checks"]:
        checks = []
        for row in doc["checks"]:
            label, unit = TOTAL_UNITS.get(row["total"], (row["total"], "FLOP/s"))
            err = row["error_pct"]
            style = "green" if abs(err) <= 3 else "yellow" if abs(err) <= 10 else "red"
            checks.append(
                (label, count(row["devices"]), si(row["derived"], unit), si(row["published"], unit),
                 f"[{style}]{err:+.1f}%[/]", row["source"])
            )  # fmt: skip
        columns = ["total", num("devices"), num("derived"), num("published"), num("error"), prose("source", 20)]
        show(console, Grid.of("derived vs published", columns, checks))
    _print_cost(console, doc["cost"])
    _print_densities(console, doc["densities"])
    for note in doc["notes"]:
        console.print(f"[dim]note: {note}[/]")
    for warning in doc["warnings"]:
        console.print(f"[bold yellow]warning:[/] physically implausible: {warning}")


def _print_densities(console: Console, rows: list[dict[str, Any]]) -> None:
    """Power, compute and SRAM per mm^2 of the device's silicon beside the plausible limit (hardware/plausibility)."""
    if not rows:
        return
    cells = []
    for row in rows:
        scale = row["unit_scale"]
        verdict = "[green]plausible[/]" if row["plausible"] else "[bold red]implausible[/]"
        cells.append((row["label"], f"{row['value_per_mm2'] / scale:.3g} {row['unit']}",
                      f"{row['limit_per_mm2'] / scale:.3g}", verdict, row["argument"]))  # fmt: skip
    columns = ["density", num("value"), num("limit"), "verdict", prose("why the limit", 24)]
    show(console, Grid.of("per mm^2 of compute silicon", columns, cells))


def _cost_value(name: str, value: float) -> str:
    if name.endswith("_usd") or "_usd_" in name:
        return f"${value:,.4g}" if value < 1000 else f"${value:,.0f}"
    if name.startswith("opex_fraction"):
        return f"{value:.0%}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.4g}"


def _print_cost(console: Console, cost: dict[str, Any]) -> None:
    """What a device costs to rent or to own: the figures as given, each part with its share per device, and the
    owned device-hour they add up to."""
    rows = [
        (name.replace("_", " "), _cost_value(name, fig["value"]), _status(fig["status"]), fig["source"])
        for name, fig in cost.items()
        if isinstance(fig, dict) and "value" in fig
    ]
    for part in cost.get("parts", []):
        each = part["usd_each"]
        rows.append(
            (f"{part['name']} (one per {part['per']})", f"${each['value']:,.0f} = ${part['usd_per_device']:,.0f}/dev",
             _status(each["status"]), each["source"])
        )  # fmt: skip
    if "owned_usd_per_device_hour_before_electricity" in cost:
        hour = cost["owned_usd_per_device_hour_before_electricity"]
        rows.append(("owned, per device-hour before electricity", f"${hour:.3f}", "derived",
                     "equipment and NRE share over the lifetime, plus operations"))  # fmt: skip
    show(console, Grid.of("cost of a device, rented or owned", ["item", num("value"), "status", prose("source")], rows))


def _unit_of(name: str) -> str:
    """The SI unit a field name carries (names say their units)."""
    for marker, unit in (("flops_per_s", "FLOP/s"), ("bytes_per_s", "B/s"), ("bytes", "B"), ("usd", "USD")):
        if marker in name:
            return unit
    for suffix, unit in (("_hz", "Hz"), ("_w", "W"), ("_s", "s")):
        if name.endswith(suffix):
            return unit
    return ""


def print_systems(console: Console, rows: list[dict[str, Any]]) -> None:
    cells = [
        (
            row["name"],
            _status(row["status"]),
            count(row["devices"]),
            si(row["peak_bf16_flops_per_s"], "FLOP/s"),
            si(row["sram_bytes"] + row["hbm_bytes"], "B"),
            si(row["power_w"], "W"),
            row["summary"],
        )
        for row in rows
    ]
    columns = ["name", "status", *map(num, ("devices", "peak BF16", "memory", "power")), prose("summary", drop=1)]
    show(console, Grid.of("system presets", columns, cells))


def print_comparison(console: Console, docs: list[dict[str, Any]]) -> None:
    rows = []
    dtypes = sorted({d for doc in docs for d in doc["totals"]["peak_flops"]}, key=["fp32", "bf16", "fp8", "fp4"].index)
    for dtype in dtypes:
        rows.append((f"peak {dtype}", *[si(doc["totals"]["peak_flops"].get(dtype, 0), "FLOP/s") for doc in docs]))
    for key, (label, unit) in TOTAL_UNITS.items():
        rows.append((label, *[si(doc["totals"][key], unit) for doc in docs]))
    rows.append(
        (
            "peak BF16 per IT watt",
            *[si(doc["totals"]["peak_flops"].get("bf16", 0) / doc["totals"]["power_w"], "FLOP/s/W") for doc in docs],
        )
    )
    rows.append(
        (
            "HBM bytes per BF16 FLOP",
            *[
                f"{(doc['totals']['hbm_bytes_per_s']) / doc['totals']['peak_flops'].get('bf16', 1):.2g} B/FLOP"
                for doc in docs
            ],
        )
    )
    rows.append(("status", *[_status(doc["status"]) for doc in docs]))
    columns = ["", *(num(f"{doc['name']}\n{count(doc['devices'])} x {doc['device']['name']}") for doc in docs)]
    show(console, Grid.of("systems side by side (totals derived from parts)", columns, rows))
