"""`dojosim validate`: predicted vs measured, worst rows first, then the summary."""

from typing import Any

from rich.console import Console

from dojosim.report.terminal import Column, Grid, num, prose, show

SUMMARY_COLUMNS = ("group", "rows", "predicted", "unsupported", "median", "mean", "p90", "max", "mean signed")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _summary_row(name: str, s: dict[str, Any]) -> tuple[str, ...]:
    return (
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


def _error_row(r: dict[str, Any]) -> tuple[str, ...]:
    err = r["error_pct"]
    style = "green" if abs(err) <= 10 else "yellow" if abs(err) <= 25 else "red"
    return (
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


def print_validation(console: Console, doc: dict[str, Any], by: str | None, rows_shown: int) -> None:
    rows = doc["rows"]
    predicted = sorted((r for r in rows if r["predicted"] is not None), key=lambda r: -r["abs_pct_error"])
    shown = predicted if rows_shown == 0 else predicted[:rows_shown]
    columns = [
        "id", Column("system", drop=1), Column("stack", drop=2), num("gpus"), "metric", num("measured"),
        num("predicted"), num("error"), Column("largest part", drop=3),
    ]  # fmt: skip
    title = f"rows, worst first ({len(shown)} of {len(predicted)} predicted)"
    show(console, Grid.of(title, columns, [_error_row(r) for r in shown]))
    unsupported = [r for r in rows if r["predicted"] is None]
    if unsupported:
        cells = [(r["id"], r["unsupported"]) for r in unsupported]
        show(console, Grid.of(f"unsupported rows ({len(unsupported)})", ["id", prose("reason")], cells))
    summary = [_summary_row("time", doc["summary"])]
    if doc.get("memory_summary", {}).get("rows"):
        summary.append(_summary_row("memory", doc["memory_summary"]))
    summary += [_summary_row(f"{by}={name}", s) for name, s in doc.get("groups", {}).get(by or "", {}).items()]
    columns = [SUMMARY_COLUMNS[0], *(num(c, drop=int(c in ("unsupported", "mean"))) for c in SUMMARY_COLUMNS[1:])]
    show(console, Grid.of("summary (|error| of predicted vs measured)", columns, summary))
    if doc.get("interrupted"):
        console.print("[yellow]interrupted: the summary covers the rows finished before Ctrl-C[/]")
