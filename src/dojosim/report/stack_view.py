"""The stack presets as a terminal table, then each one's summary."""

from typing import Any

from rich.console import Console

from dojosim.report.terminal import Column, Grid, show, show_lines

COLUMNS = (
    "attention", "pointwise", "optimizer", "overlap_grad_reduce", "overlap_param_gather", "tp_overlap",
    "reshard_after_forward", "fp8_recipe", "cuda_graphs", "training_state",
)  # fmt: skip
HEADINGS = (
    "attention", "pointwise", "optimizer", "grad overlap", "gather overlap", "tp overlap", "FSDP reshard", "fp8",
    "CUDA graphs", "state",
)  # fmt: skip


def print_stacks(console: Console, rows: list[dict[str, Any]]) -> None:
    cells = [
        (f"{row['name']} (default)" if row["default"] else row["name"], *(str(row[c]).lower() for c in COLUMNS),
         row["summary"])
        for row in rows
    ]  # fmt: skip
    # On a narrow terminal FSDP's resharding goes first, then the kernel columns: the overlaps tell stacks apart.
    drop = {"state": 3, "FSDP reshard": 2, "fp8": 2, "CUDA graphs": 2, "pointwise": 1, "optimizer": 1}
    columns = ["name", *(Column(h, drop=drop.get(h, 0)) for h in HEADINGS)]
    columns.append(Column("summary", in_terminal=False))
    show(console, Grid.of("training stacks (--stack)", columns, cells))
    show_lines(console, None, [f"[bold]{row['name']}[/]: {row['summary']}" for row in rows])
    console.print("each figure's source: dojosim stacks --json")
