"""`dojosim validate`, `dojosim calibrate`, `dojosim check-local`: predictions against measurements."""

from typing import Annotated

import typer
from rich.console import Console

from dojosim.cli.app import CsvFlag, JsonFlag, SeqOption, app, check_output, emit, progress_bar, tables_console
from dojosim.cli.vocabulary import command
from dojosim.errors import InputError


@app.command("validate")
def validate_command(
    data: Annotated[
        list[str] | None,
        typer.Option("--data", help="Validation table(s), format docs/validation-schema.md (default: the public set)."),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Group the time rows' summary: source, system, gpus, metric, precision, stack."),
    ] = None,
    rows_shown: Annotated[int, typer.Option("--rows", help="How many rows to print, worst first (0: all).")] = 25,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Predict measured training runs and report the error: per row, then median, p90 and max."""
    tables = tables_console(as_json, as_csv)
    from dojosim.validation.run import (
        GROUPS,
        MEMORY_METRICS,
        TIME_METRICS,
        grouped,
        of_metrics,
        summarize,
        validate_rows,
    )
    from dojosim.validation.table import public_table_path, read_table

    if by is not None and by not in GROUPS:
        raise InputError(f"--by: must be one of {', '.join(GROUPS)}, got {by!r}")
    rows = [row for path in (data or [str(public_table_path())]) for row in read_table(path)]
    results = []
    interrupted = False
    with progress_bar(as_json) as progress:
        task = progress.add_task("predicting rows (first captures take a while; they are cached)", total=len(rows))
        try:
            validate_rows(rows, progress=lambda: progress.advance(task), sink=results)
        except KeyboardInterrupt:
            interrupted = True  # keep what finished: summarise the rows predicted so far
    doc = {
        "summary": summarize(of_metrics(results, TIME_METRICS)),  # time and throughput rows
        "memory_summary": summarize(of_metrics(results, MEMORY_METRICS)),  # peak memory per device
        "rows": [r.as_dict() for r in results],
        "interrupted": interrupted,
    }
    if by:
        doc["groups"] = {by: grouped(of_metrics(results, TIME_METRICS), by)}  # the time rows, grouped
    if as_json:
        emit(doc)
    else:
        from dojosim.report.validation_view import print_validation

        print_validation(tables, doc, by, rows_shown)
    if interrupted:
        raise typer.Exit(130)


@app.command("calibrate")
def calibrate_command(
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    out: Annotated[str | None, typer.Option("--out", help="System file to write (.toml).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Fewer sizes and repeats.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Measure this machine's matmul rate, memory bandwidth and per-op cost; write a system file."""
    from dojosim.validation.calibrate import calibrate

    check_output(out, "--out")
    path, measured = calibrate(device, out, quick)
    if as_json:
        emit({"system_file": str(path), "measured": measured})
        return
    from dojosim.report.units import si

    console = Console()
    console.print(
        f"[bold]{measured['name']}[/] ({device}): matmul fp32 {si(measured['peak_fp32'], 'FLOP/s')}, "
        f"bf16 {si(measured['peak_bf16'], 'FLOP/s')}, ramp {si(measured['matmul_ramp_s'], 's')}, "
        f"memory {si(measured['memory_bytes_per_s'], 'B/s')}, per op {si(measured['op_overhead_s'], 's')}"
    )
    console.print(f"wrote {path}: use it as --system {path}")


@command(app, "check-local", old=("--batch",), required=("model",))
def check_local_command(
    model: Annotated[
        str | None, typer.Option("--model", help="A small model: zoo name or FAMILY(key=value,...).")
    ] = None,
    global_batch: Annotated[int, typer.Option("--global-batch", help="Samples in the step.")] = 1,
    seq: SeqOption = None,
    system: Annotated[
        str | None, typer.Option("--system", help="Calibrated system file (default: calibrate now).")
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Timed steps after 2 warm-up steps.")] = 5,
    as_json: JsonFlag = False,
) -> None:
    """Run the real training step here (real tensors, fp32) and compare with the prediction, phase by phase and
    op group by op group."""
    from dojosim.validation.local import check_local

    if system is None:
        from dojosim.validation.calibrate import calibrate

        system = str(calibrate("cpu", quick=True)[0])
    result = check_local(model, global_batch, seq, system, steps)
    if as_json:
        emit(result.as_dict())
        return
    from dojosim.report.terminal import Grid, console_for, num, show
    from dojosim.report.units import si

    rows = []
    errors = result.error_pct
    groups = result.group_rows()
    for phase in ("fwd", "bwd", "opt", "step"):
        rows.append(
            [
                f"[bold]{phase}[/]",
                si(result.measured_s[phase], "s"),
                si(result.predicted_s[phase], "s"),
                f"{errors.get(phase, 0.0):+.1f}%",
            ]
        )
        for key, row in groups.items():
            if key.startswith(phase + " "):
                measured, predicted = row["measured_s"], row["predicted_s"]
                error = f"{100 * (predicted - measured) / measured:+.0f}%" if measured > 0 else ""
                rows.append([f"  {key.split(' ', 1)[1]}", si(measured, "s"), si(predicted, "s"), error])
    title = f"{model}, batch {global_batch}: measured here vs predicted for {system}"
    columns = [num("phase / op group"), num("measured"), num("predicted"), num("error")]
    show(console_for(), Grid.of(title, columns, rows))
