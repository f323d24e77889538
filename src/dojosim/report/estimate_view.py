"""`dojosim simulate`: one plan's prediction as tables."""

from typing import Any

from rich.console import Console

from dojosim.perf.counterfactual import Counterfactual
from dojosim.perf.result import Estimate
from dojosim.report.bottleneck import counterfactual_sentence, sentence
from dojosim.report.terminal import Grid, is_csv, num, show
from dojosim.report.units import count, si


def print_estimate(console: Console, doc: dict[str, Any]) -> None:
    plan = doc["plan"]
    degrees = " ".join(f"{k}={plan[k]}" for k in ("tp", "pp", "vp", "cp", "ep", "dp"))
    job = (
        f"{degrees}, zero={plan['zero']}, recompute={plan['recompute']}, micro-batch {plan['micro_batch']} x "
        f"{plan['grad_accumulation']} accumulation, global batch {plan['global_batch']}, {plan['precision']}"
        + (f", stack {doc['stack']}" if doc.get("stack") else "")
    )
    console.print(f"[bold]{doc['model']}[/] on [bold]{doc['system']}[/] x {count(doc['devices'])}: {job}")
    if is_csv(console):  # what the terminal prints as prose, above and below the tables
        columns = ["model", "system", "devices", "plan", "bottleneck"]
        row = (doc["model"], doc["system"], doc["devices"], job, doc["bottleneck"]["sentence"])
        show(console, Grid.of("job", columns, [row]))
    show(console, Grid.of("prediction", ["figure", num("value")], _headline_rows(doc), show_header=False))
    parts = [
        (key, si(value, "s"), f"{100 * value / doc['step_time_s']:.1f}%")
        for key, value in doc["breakdown_s"].items()
        if value > 0
    ]
    show(console, Grid.of("step time breakdown", ["part", num("time"), num("share")], parts))
    mem = [(key, si(value, "B")) for key, value in doc["memory_bytes_per_device"].items()]
    mem += [(f"[dim]{t['name']} capacity[/]", f"[dim]{si(t['bytes'], 'B')}[/]") for t in doc["memory_tiers"]]
    show(console, Grid.of("memory per device", ["part", num("bytes")], mem))
    collectives = doc.get("details", {}).get("collectives", [])
    if collectives:
        columns = ["group", "op", num("size"), num("count"), "members per level", num("each")]
        rows = [
            (
                c["group"],
                c["op"],
                si(c["bytes"], "B"),
                f"{c['count_per_step']:,.0f}",
                " x ".join(f"{g:.3g}" for g in c["members_per_level"]),  # an uneven straddle's is not whole
                si(c["seconds_each"], "s"),
            )
            for c in collectives
        ]
        show(console, Grid.of("collectives the plan inserts (per step)", columns, rows))
    console.print(f"[bold]bottleneck:[/] {doc['bottleneck']['sentence']}")


def _headline_rows(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures a reader looks at first."""
    rows = [("step time", si(doc["step_time_s"], "s"))]
    trained = " (tokens trained)" if "real_tokens_per_s" in doc["throughput"] else ""  # the convention, for LMs
    rows.append((f"MFU / HFU{trained}", f"{100 * doc['mfu']:.1f}% / {100 * doc['hfu']:.1f}%"))
    if "sequences" in doc:  # the rows as trained: real tokens, documents and loss positions of the padded length
        q = doc["sequences"]
        rows.append(("real tokens / docs / loss positions per row", f"{q['tokens_per_seq']:,.4g} / "
                     f"{q['docs_per_row']:,.4g} / {q['loss_positions']:,.4g} of {q['seq']:,}"))
    rows += [(key.replace("_", " "), f"{value:,.1f}") for key, value in doc["throughput"].items()]
    fits = "fits" if doc["fits"] else "[red]does not fit[/]"
    rows.append(("memory per device", f"{si(doc['memory_bytes_per_device']['total'], 'B')} ({fits})"))
    rows.append(("energy per step", si(doc["energy_j"], "J")))
    for basis in ("owned", "rental"):  # each basis on its own row, never one figure standing for both
        usd = doc[f"cost_{basis}_usd"]
        rows.append((f"cost per step, {basis}", "—" if usd is None else f"${usd:,.4g}"))
    return rows


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
