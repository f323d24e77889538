"""`dojosim models` and `dojosim capture`: what runs."""

from typing import Annotated

import typer

from dojosim.cli.app import CsvFlag, JsonFlag, app, check_output, emit, tables_console


@app.command("models")
def models_command(as_json: JsonFlag = False, as_csv: CsvFlag = False) -> None:
    """List the model zoo: named models and the families they are built from."""
    tables = tables_console(as_json, as_csv)
    from dojosim.workload.zoo import zoo_rows

    rows = zoo_rows()
    if as_json:
        emit(rows)
    else:
        from dojosim.report.workload_view import print_models

        print_models(tables, rows)


@app.command("capture")
def capture_command(
    model: Annotated[str, typer.Argument(help="A zoo name (see `dojosim models`) or FAMILY(key=value,...).")],
    batch: Annotated[int, typer.Option("--batch", help="Samples (sequences, clips, images) in the step.")] = 1,
    seq: Annotated[
        int | None, typer.Option("--seq", min=1, help="Tokens per sequence (LMs; default per family).")
    ] = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="adamw or sgd.")] = "adamw",
    dtype: Annotated[str, typer.Option("--dtype", help="Model dtype: bf16, fp16 or fp32.")] = "bf16",
    out: Annotated[str | None, typer.Option("--out", help="Write the graph to this file (.json.gz).")] = None,
    top: Annotated[int, typer.Option("--top", help="How many top op groups to show.")] = 10,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Capture again even if cached.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Capture every repeated block (slower; same result).")] = False,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Capture one training step (forward, backward, optimizer) as an operator graph; nothing is allocated."""
    tables = tables_console(as_json, as_csv)
    from dojosim.workload.cache import get_graph

    check_output(out, "--out")
    graph = get_graph(model, batch, seq, optimizer, dtype, use_cache=not no_cache, full=full)
    if out:
        graph.save(out)
    doc = {**graph.summary(), "ops": graph.top_ops(top)}
    if as_json:
        emit(doc)
    else:
        from dojosim.report.workload_view import print_capture

        print_capture(tables, doc)
