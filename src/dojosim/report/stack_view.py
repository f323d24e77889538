"""The stack presets as a terminal table, then each one's summary."""

from typing import Any

from rich.console import Console
from rich.table import Table

COLUMNS = (
    "attention", "pointwise", "optimizer", "overlap_grad_reduce", "overlap_param_gather", "tp_overlap",
    "reshard_after_forward",
)  # fmt: skip
HEADINGS = ("attention", "pointwise", "optimizer", "grad overlap", "gather overlap", "tp overlap", "FSDP reshard")


def print_stacks(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(title="training stacks (--stack)")
    table.add_column("name", no_wrap=True)
    for heading in HEADINGS:
        table.add_column(heading)
    for row in rows:
        name = f"{row['name']} (default)" if row["default"] else row["name"]
        table.add_row(name, *(str(row[c]).lower() for c in COLUMNS))
    console.print(table)
    for row in rows:
        console.print(f"[bold]{row['name']}[/]: {row['summary']}", highlight=False)
    console.print("each figure's source: dojosim stacks --json")
