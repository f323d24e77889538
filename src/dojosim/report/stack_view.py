"""The stack presets as a terminal table, then each one's summary."""

from typing import Any

from rich.console import Console

from dojosim.report.terminal import Column, Grid, prose, show

COLUMNS = (
    "attention", "pointwise", "optimizer", "overlap_grad_reduce", "overlap_param_gather", "tp_overlap",
    "reshard_after_forward",
)  # fmt: skip
HEADINGS = ("attention", "pointwise", "optimizer", "grad overlap", "gather overlap", "tp overlap", "FSDP reshard")


def print_stacks(console: Console, rows: list[dict[str, Any]]) -> None:
    cells = [
        (f"{row['name']} (default)" if row["default"] else row["name"], *(str(row[c]).lower() for c in COLUMNS),
         row["summary"])
        for row in rows
    ]  # fmt: skip
    columns = ["name", *(prose(h, 8) for h in HEADINGS), Column("summary", in_terminal=False)]
    show(console, Grid.of("training stacks (--stack)", columns, cells))
    for row in rows:
        console.print(f"[bold]{row['name']}[/]: {row['summary']}", highlight=False)
    console.print("each figure's source: dojosim stacks --json")
