"""`dojosim models` and `dojosim capture`: the workload as tables."""

from typing import Any

from rich.console import Console

from dojosim.report.terminal import Grid, num, prose, show
from dojosim.report.units import count, si


def print_models(console: Console, rows: list[dict[str, str]]) -> None:
    cells = [(row["name"], row["family"], row["spec"], row["summary"]) for row in rows]
    columns = ["name", "family", prose("spec", 24), prose("summary", 24)]
    show(console, Grid.of("model zoo (built from configs; no weights)", columns, cells))
    console.print("[dim]Any family can be spelled out, e.g. llama(layers=2,hidden=512,heads=8,ffn=1024,vocab=1000)[/]")


def print_capture(console: Console, doc: dict[str, Any]) -> None:
    flops = doc["flops"]
    console.print(
        f"[bold]{doc['model']}[/]  input {doc['input']}  ({count(doc['op_count'])} ops, "
        f"{doc['layers']} repeated blocks, torch {doc['torch_version']})"
    )
    summary = [("parameters", f"{doc['params'] / 1e9:.4g} B ({si(doc['param_bytes'], 'B')})")]
    summary += [(f"FLOPs {phase}", si(flops[phase], "FLOP")) for phase in ("fwd", "bwd", "opt")]
    summary += [
        ("FLOPs total", si(sum(flops.values()), "FLOP")),
        ("bytes moved (fwd+bwd+opt)", si(sum(doc["bytes"].values()), "B")),
        ("activations saved for backward", si(doc["activation_bytes"], "B")),
        (f"optimizer state ({doc['optimizer']})", si(doc["optimizer_state_bytes"], "B")),
    ]
    show(console, Grid.of("step", ["figure", num("value")], summary, show_header=False))
    total = sum(flops.values()) or 1.0
    ops = [
        (
            row["op"].removeprefix("aten."),
            row["module"],
            row["phase"],
            count(row["count"]),
            si(row["flops"], "FLOP"),
            f"{100 * row['flops'] / total:.1f}%",
            si(row["bytes"], "B"),
        )
        for row in doc["ops"]
    ]
    columns = [prose("op", 16), prose("module", 16), "phase", *map(num, ("count", "FLOPs", "share", "bytes"))]
    show(console, Grid.of("top ops by FLOPs (grouped over repeated blocks)", columns, ops))
