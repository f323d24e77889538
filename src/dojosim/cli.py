"""The command line: `dojosim --help`. Every command takes --json; bad input exits 2 with one sentence."""

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from dojosim.errors import InputError

app = typer.Typer(
    help="dojosim: how long, how much memory, energy and money a training job takes on Dojo or GPU clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
system_app = typer.Typer(help="Show and compare machines.", no_args_is_help=True)
app.add_typer(system_app, name="system")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override a figure for a what-if study: PART.FIELD=VALUE, e.g. tile.offtile_bytes_per_s=72e12."
    ),
]


def _emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


@app.command("systems")
def systems_command(as_json: JsonFlag = False) -> None:
    """List the system presets with a one-line summary."""
    from dojosim.hardware import derive_totals, list_presets, load_system, size_system

    rows = []
    for name in list_presets():
        system = load_system(name)
        totals = derive_totals(size_system(system))
        bf16 = totals.peak_flops_per_s.get("bf16")
        rows.append(
            {
                "name": name,
                "status": system.status,
                "summary": system.summary,
                "devices": totals.devices,
                "peak_bf16_flops_per_s": bf16.value if bf16 else 0.0,
                "sram_bytes": totals.sram_bytes.value,
                "hbm_bytes": totals.hbm_bytes.value,
                "power_w": totals.power_w.value,
            }
        )
    if as_json:
        _emit(rows)
    else:
        from dojosim.report.hardware_view import print_systems

        print_systems(Console(), rows)


def _system_doc(name: str, devices: int | None, overrides: list[str] | None) -> dict[str, Any]:
    from dojosim.hardware import derive_totals, load_system, size_system
    from dojosim.report.hardware_view import system_document

    sized = size_system(load_system(name, overrides or []), devices)
    return system_document(sized, derive_totals(sized))


@system_app.command("show")
def system_show(
    name: Annotated[str, typer.Argument(help="A preset name (see `dojosim systems`) or a .toml file.")],
    devices: Annotated[
        int | None, typer.Option("--devices", "--gpus", help="Device count (default: the preset's).")
    ] = None,
    overrides: SetOption = None,
    as_json: JsonFlag = False,
) -> None:
    """The hierarchy, every figure with its source, and totals derived from the parts."""
    doc = _system_doc(name, devices, overrides)
    if as_json:
        _emit(doc)
    else:
        from dojosim.report.hardware_view import print_system

        print_system(Console(), doc)


@system_app.command("compare")
def system_compare(
    names: Annotated[list[str], typer.Argument(help="Systems as NAME or NAME@DEVICES, e.g. dojo-v1 dgx-b200@3000.")],
    overrides: SetOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Systems side by side, totals derived from parts."""
    docs = []
    for spec in names:
        name, _, count = spec.partition("@")
        if count and not count.isdigit():
            raise InputError(f"'{spec}': the part after '@' must be a device count, e.g. dgx-b200@1024")
        docs.append(_system_doc(name, int(count) if count else None, overrides))
    if as_json:
        _emit(docs)
    else:
        from dojosim.report.hardware_view import print_comparison

        print_comparison(Console(), docs)


@app.command("models")
def models_command(as_json: JsonFlag = False) -> None:
    """List the model zoo: named models and the families they are built from."""
    from dojosim.workload.zoo import zoo_rows

    rows = zoo_rows()
    if as_json:
        _emit(rows)
    else:
        from dojosim.report.workload_view import print_models

        print_models(Console(), rows)


@app.command("capture")
def capture_command(
    model: Annotated[str, typer.Argument(help="A zoo name (see `dojosim models`) or FAMILY(key=value,...).")],
    batch: Annotated[int, typer.Option("--batch", help="Samples (sequences, clips, images) in the step.")] = 1,
    seq: Annotated[int | None, typer.Option("--seq", help="Tokens per sequence (LMs; default per family).")] = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="adamw or sgd.")] = "adamw",
    dtype: Annotated[str, typer.Option("--dtype", help="Model dtype: bf16, fp16 or fp32.")] = "bf16",
    out: Annotated[str | None, typer.Option("--out", help="Write the graph to this file (.json.gz).")] = None,
    top: Annotated[int, typer.Option("--top", help="How many top op groups to show.")] = 10,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Capture again even if cached.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Capture every repeated block (slower; same result).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Capture one training step (forward, backward, optimizer) as an operator graph; nothing is allocated."""
    from dojosim.workload.cache import get_graph

    graph = get_graph(model, batch, seq, optimizer, dtype, use_cache=not no_cache, full=full)
    if out:
        graph.save(out)
    doc = {**graph.summary(), "ops": graph.top_ops(top)}
    if as_json:
        _emit(doc)
    else:
        from dojosim.report.workload_view import print_capture

        print_capture(Console(), doc)


@app.command("simulate")
def simulate_command(
    model: Annotated[str, typer.Option("--model", help="Zoo name or FAMILY(key=value,...).")],
    system: Annotated[str, typer.Option("--system", help="Preset name or .toml file.")],
    devices: Annotated[int, typer.Option("--devices", "--gpus", help="Devices (GPUs, D1 dies) in the run.")],
    global_batch: Annotated[int, typer.Option("--global-batch", help="Samples per optimizer step.")],
    seq: Annotated[int | None, typer.Option("--seq", help="Tokens per sample (LMs).")] = None,
    micro_batch: Annotated[int, typer.Option("--micro-batch", help="Samples per micro-batch per DP rank.")] = 1,
    tp: Annotated[int, typer.Option("--tp", help="Tensor-parallel degree.")] = 1,
    pp: Annotated[int, typer.Option("--pp", help="Pipeline stages.")] = 1,
    vp: Annotated[int, typer.Option("--vp", help="Virtual stages per pipeline rank (interleaved 1F1B).")] = 1,
    cp: Annotated[int, typer.Option("--cp", help="Context-parallel degree.")] = 1,
    ep: Annotated[int, typer.Option("--ep", help="Expert-parallel degree.")] = 1,
    zero: Annotated[int, typer.Option("--zero", help="ZeRO stage 0-3 (3 = FSDP).")] = 0,
    recompute: Annotated[str, typer.Option("--recompute", help="none, selective or full.")] = "none",
    sequence_parallel: Annotated[bool, typer.Option("--sequence-parallel/--no-sequence-parallel")] = False,
    precision: Annotated[str, typer.Option("--precision", help="bf16, fp16, fp8 or fp4 matmuls.")] = "bf16",
    optimizer: Annotated[str, typer.Option("--optimizer", help="adamw or sgd.")] = "adamw",
    overrides: SetOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Predict one training step: time with its breakdown, MFU, throughput, memory, energy, cost."""
    from dojosim.parallel.plan import ParallelPlan
    from dojosim.perf.simulate import simulate

    plan = ParallelPlan(
        devices=devices,
        global_batch=global_batch,
        micro_batch=micro_batch,
        seq=seq or 1,
        tp=tp,
        pp=pp,
        vp=vp,
        cp=cp,
        ep=ep,
        zero=zero,
        recompute=recompute,
        sequence_parallel=sequence_parallel,
        precision=precision,
    )
    sim = simulate(model, system, plan, overrides, optimizer)
    doc = {"model": model, "system": sim.sized.system.name, "devices": sim.sized.devices, **sim.estimate.as_dict()}
    if as_json:
        _emit(doc)
    else:
        from dojosim.report.estimate_view import print_estimate

        print_estimate(Console(), doc)


@app.command("validate")
def validate_command(
    data: Annotated[
        list[str] | None,
        typer.Option("--data", help="Validation table(s) in the SCHEMA.md format (default: the shipped public set)."),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Group the summary: source, system, gpus, metric, precision.")
    ] = None,
    rows_shown: Annotated[int, typer.Option("--rows", help="How many rows to print, worst first (0: all).")] = 25,
    as_json: JsonFlag = False,
) -> None:
    """Predict measured training runs and report the error: per row, then median, p90 and max."""
    from rich.progress import Progress

    from dojosim.validation.run import GROUPS, grouped, summarize, validate_rows
    from dojosim.validation.table import public_table_path, read_table

    if by is not None and by not in GROUPS:
        raise InputError(f"--by: must be one of {', '.join(GROUPS)}, got {by!r}")
    rows = [row for path in (data or [str(public_table_path())]) for row in read_table(path)]
    results = []
    interrupted = False
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("predicting rows (first captures take a while; they are cached)", total=len(rows))
        try:
            validate_rows(rows, progress=lambda: progress.advance(task), sink=results)
        except KeyboardInterrupt:
            interrupted = True  # keep what finished: summarise the rows predicted so far
    doc = {"summary": summarize(results), "rows": [r.as_dict() for r in results], "interrupted": interrupted}
    if by:
        doc["groups"] = {by: grouped(results, by)}
    if as_json:
        _emit(doc)
    else:
        from dojosim.report.validation_view import print_validation

        print_validation(Console(), doc, by, rows_shown)
    if interrupted:
        raise typer.Exit(130)


def main() -> None:
    try:
        app()
    except InputError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
