"""`dojosim simulate`: one plan's prediction as tables."""

from typing import Any

from rich.console import Console
from rich.table import Table

from dojosim.perf.counterfactual import Counterfactual
from dojosim.perf.result import Estimate
from dojosim.report.bottleneck import counterfactual_sentence, sentence
from dojosim.report.units import count, si


def print_estimate(console: Console, doc: dict[str, Any]) -> None:
    plan = doc["plan"]
    degrees = " ".join(f"{k}={plan[k]}" for k in ("tp", "pp", "vp", "cp", "ep", "dp"))
    console.print(
        f"[bold]{doc['model']}[/] on [bold]{doc['system']}[/] x {count(doc['devices'])}: {degrees}, "
        f"zero={plan['zero']}, recompute={plan['recompute']}, micro-batch {plan['micro_batch']} x "
        f"{plan['grad_accumulation']} accumulation, global batch {plan['global_batch']}, {plan['precision']}"
        + (f", stack {doc['stack']}" if doc.get("stack") else "")
    )
    top = Table(show_header=False)
    top.add_column()
    top.add_column(justify="right")
    top.add_row("step time", si(doc["step_time_s"], "s"))
    top.add_row("MFU / HFU", f"{100 * doc['mfu']:.1f}% / {100 * doc['hfu']:.1f}%")
    for key, value in doc["throughput"].items():
        top.add_row(key.replace("_", " "), f"{value:,.1f}")
    top.add_row(
        "memory per device",
        f"{si(doc['memory_bytes_per_device']['total'], 'B')} ({'fits' if doc['fits'] else '[red]does not fit[/]'})",
    )
    top.add_row("energy per step", si(doc["energy_j"], "J"))
    top.add_row("cost per step", f"${doc['cost_usd']:,.4g} (at cost ${doc['cost_at_cost_usd']:,.4g})")
    console.print(top)
    parts = Table(title="step time breakdown")
    parts.add_column("part")
    parts.add_column("time", justify="right")
    parts.add_column("share", justify="right")
    for key, value in doc["breakdown_s"].items():
        if value > 0:
            parts.add_row(key, si(value, "s"), f"{100 * value / doc['step_time_s']:.1f}%")
    mem = Table(title="memory per device")
    mem.add_column("part")
    mem.add_column("bytes", justify="right")
    for key, value in doc["memory_bytes_per_device"].items():
        mem.add_row(key, si(value, "B"))
    for tier in doc["memory_tiers"]:
        mem.add_row(f"[dim]{tier['name']} capacity[/]", f"[dim]{si(tier['bytes'], 'B')}[/]")
    console.print(parts)
    console.print(mem)
    collectives = doc.get("details", {}).get("collectives", [])
    if collectives:
        ct = Table(title="collectives the plan inserts (per step)")
        for col in ("group", "op", "size", "count", "members per level", "each"):
            ct.add_column(col)
        for c in collectives:
            ct.add_row(
                c["group"],
                c["op"],
                si(c["bytes"], "B"),
                f"{c['count_per_step']:,.0f}",
                " x ".join(map(str, c["members_per_level"])),
                si(c["seconds_each"], "s"),
            )
        console.print(ct)
    console.print(f"[bold]bottleneck:[/] {doc['bottleneck']['sentence']}")


def estimate_document(e: Estimate, found: list[Counterfactual] | None = None) -> dict[str, Any]:
    """An estimate as plain data, its bottleneck as figures with a sentence; with `found`, the sentence says what
    freeing each resource would gain (`bottleneck.resource`, `bottleneck.speedup_if_free`), and the list of them."""
    doc = e.as_dict()
    doc["bottleneck"] = {
        **doc["bottleneck"],
        "sentence": counterfactual_sentence(e, found) if found is not None else sentence(e),
    }
    if found is not None and found:
        doc["bottleneck"] = {
            **doc["bottleneck"],
            "resource": found[0].resource,
            "speedup_if_free": found[0].speedup_if_free,
            "counterfactuals": [c.as_dict() for c in found],
        }
    return doc
