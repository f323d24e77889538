"""`dojosim models` and `dojosim capture`: what runs."""

from typing import Annotated

import typer

from dojosim.cli.app import CsvFlag, JsonFlag, ModelOption, SeqOption, app, check_output, emit, tables_console
from dojosim.cli.vocabulary import command
from dojosim.errors import InputError


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


# A capture records the model's tensors in one dtype; fp8 and fp4 are matmul precisions of a bf16 model (simulate)
CAPTURE_PRECISIONS = ("bf16", "fp16", "fp32")


@command(app, "capture", old=("MODEL", "--batch", "--dtype"), required=("model",))
def capture_command(
    model: ModelOption = None,
    global_batch: Annotated[
        int, typer.Option("--global-batch", help="Samples (sequences, clips, images) in the step.")
    ] = 1,
    seq: SeqOption = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="adamw or sgd.")] = "adamw",
    precision: Annotated[str, typer.Option("--precision", help="The model's dtype: bf16, fp16 or fp32.")] = "bf16",
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

    if precision not in CAPTURE_PRECISIONS:
        raise InputError(
            f"--precision: a capture takes {', '.join(CAPTURE_PRECISIONS)} (fp8 and fp4 are matmul precisions of a "
            f"bf16 model: give them to simulate), got {precision!r}"
        )
    check_output(out, "--out")
    graph = get_graph(model, global_batch, seq, optimizer, precision, use_cache=not no_cache, full=full)
    if out:
        graph.save(out)
    doc = {**graph.summary(), "ops": graph.top_ops(top)}
    if as_json:
        emit(doc)
    else:
        from dojosim.report.workload_view import print_capture

        print_capture(tables, doc)
