"""`dojosim models` and `dojosim capture`: the workload as tables."""

from typing import Any

from rich.console import Console
from rich.table import Table

from dojosim.report.units import count, si


def print_models(console: Console, rows: list[dict[str, str]]) -> None:
    table = Table(title="model zoo (built from configs; no weights)")
    for col in ("name", "family", "spec", "summary"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["family"], row["spec"], row["summary"])
    console.print(table)
    console.print("[dim]Any family can be spelled out, e.g. llama(layers=2,hidden=512,heads=8,ffn=1024,vocab=1000)[/]")


def print_capture(console: Console, doc: dict[str, Any]) -> None:
    flops = doc["flops"]
    console.print(
        f"[bold]{doc['model']}[/]  input {doc['input']}  ({count(doc['op_count'])} ops, "
        f"{doc['layers']} repeated blocks, torch {doc['torch_version']})"
    )
    summary = Table(show_header=False)
    summary.add_column()
    summary.add_column(justify="right")
    summary.add_row("parameters", f"{doc['params'] / 1e9:.4g} B ({si(doc['param_bytes'], 'B')})")
    for phase in ("fwd", "bwd", "opt"):
        summary.add_row(f"FLOPs {phase}", si(flops[phase], "FLOP"))
    summary.add_row("FLOPs total", si(sum(flops.values()), "FLOP"))
    summary.add_row("bytes moved (fwd+bwd+opt)", si(sum(doc["bytes"].values()), "B"))
    summary.add_row("activations saved for backward", si(doc["activation_bytes"], "B"))
    summary.add_row(f"optimizer state ({doc['optimizer']})", si(doc["optimizer_state_bytes"], "B"))
    console.print(summary)
    table = Table(title="top ops by FLOPs (grouped over repeated blocks)")
    for col in ("op", "module", "phase", "count", "FLOPs", "share", "bytes"):
        table.add_column(col, overflow="fold")
    total = sum(flops.values()) or 1.0
    for row in doc["ops"]:
        table.add_row(
            row["op"].removeprefix("aten."),
            row["module"],
            row["phase"],
            count(row["count"]),
            si(row["flops"], "FLOP"),
            f"{100 * row['flops'] / total:.1f}%",
            si(row["bytes"], "B"),
        )
    console.print(table)
