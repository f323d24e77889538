"""`dojosim validate`: predicted vs measured, worst rows first, then the summary."""

from typing import Any

from rich.console import Console
from rich.table import Table


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _summary_row(table: Table, name: str, s: dict[str, Any]) -> None:
    table.add_row(
        name,
        str(s["rows"]),
        str(s["predicted"]),
        str(s["unsupported"]),
        _pct(s["median_abs_pct_error"]),
        _pct(s["mean_abs_pct_error"]),
        _pct(s["p90_abs_pct_error"]),
        _pct(s["max_abs_pct_error"]),
        _pct(s["mean_signed_pct_error"]),
    )


def print_validation(console: Console, doc: dict[str, Any], by: str | None, rows_shown: int) -> None:
    rows = doc["rows"]
    predicted = sorted((r for r in rows if r["predicted"] is not None), key=lambda r: -r["abs_pct_error"])
    shown = predicted if rows_shown == 0 else predicted[:rows_shown]
    table = Table(title=f"rows, worst first ({len(shown)} of {len(predicted)} predicted)")
    for col in ("id", "system", "stack", "gpus", "metric", "measured", "predicted", "error", "largest part"):
        table.add_column(col, overflow="fold")
    for r in shown:
        err = r["error_pct"]
        style = "green" if abs(err) <= 10 else "yellow" if abs(err) <= 25 else "red"
        table.add_row(
            r["id"],
            r["system"],
            r.get("stack", ""),
            str(r["gpus"]),
            r["metric"],
            f"{r['measured']:.4g}",
            f"{r['predicted']:.4g}",
            f"[{style}]{err:+.1f}%[/]",
            r.get("largest_part", ""),
        )
    console.print(table)
    unsupported = [r for r in rows if r["predicted"] is None]
    if unsupported:
        u = Table(title=f"unsupported rows ({len(unsupported)})")
        u.add_column("id")
        u.add_column("reason", overflow="fold")
        for r in unsupported:
            u.add_row(r["id"], r["unsupported"])
        console.print(u)
    summary = Table(title="summary (|error| of predicted vs measured)")
    for col in ("group", "rows", "predicted", "unsupported", "median", "mean", "p90", "max", "mean signed"):
        summary.add_column(col, justify="right" if col != "group" else "left")
    _summary_row(summary, "time", doc["summary"])
    if doc.get("memory_summary", {}).get("rows"):
        _summary_row(summary, "memory", doc["memory_summary"])
    for name, s in doc.get("groups", {}).get(by or "", {}).items():
        _summary_row(summary, f"{by}={name}", s)
    console.print(summary)
    if doc.get("interrupted"):
        console.print("[yellow]interrupted: the summary covers the rows finished before Ctrl-C[/]")
