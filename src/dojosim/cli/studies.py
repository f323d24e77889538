"""`dojosim search`, `dojosim sweep`, `dojosim compare`: questions over many jobs."""

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from dojosim.cli.app import (
    BackendOption,
    CsvFlag,
    DevicesOption,
    DocsPerRowOption,
    GlobalBatchOption,
    JsonFlag,
    KernelsOption,
    LossPositionsOption,
    ModelOption,
    ObjectiveOption,
    PrecisionOption,
    RayAddressOption,
    SeqOption,
    SetOption,
    StackOption,
    SystemOption,
    TokensPerSeqOption,
    WorkersOption,
    app,
    check_output,
    emit,
    interrupted,
    loaded_stack,
    progress_bar,
    sequences_of,
    stack_of,
    tables_console,
)
from dojosim.cli.vocabulary import command
from dojosim.errors import InputError
from dojosim.stack import DEFAULT_STACK

MaxMemoryOption = Annotated[float, typer.Option("--max-memory-fraction", help="Prune plans above this.")]


def _objective(objective: str) -> str:
    from dojosim.study.search import OBJECTIVES

    if objective not in OBJECTIVES:
        raise InputError(f"--objective: must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    return objective


STUDY_REQUIRED = ("model", "system", "devices", "global_batch")


@command(app, "search", old=("--gpus",), job_file=True, required=STUDY_REQUIRED)
def search_command(
    model: ModelOption = None,
    system: SystemOption = None,
    devices: DevicesOption = None,
    global_batch: GlobalBatchOption = None,
    seq: SeqOption = None,
    tokens_per_seq: TokensPerSeqOption = None,
    docs_per_row: DocsPerRowOption = 1.0,
    loss_positions: LossPositionsOption = None,
    objective: ObjectiveOption = "time",
    top: Annotated[int, typer.Option("--top", help="How many plans to show.")] = 10,
    max_memory_fraction: MaxMemoryOption = 0.9,
    precision: PrecisionOption = "bf16",
    out: Annotated[str, typer.Option("--out", help="Folder for plans.jsonl and plans.parquet.")] = "dojosim-search",
    resume: Annotated[bool, typer.Option("--resume", help="Keep finished plans from --out and cost the rest.")] = False,
    workers: WorkersOption = None,
    backend: BackendOption = "process",
    ray_address: RayAddressOption = None,
    overrides: SetOption = None,
    stack: StackOption = DEFAULT_STACK,
    kernels: KernelsOption = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Every valid plan, pruned on memory, costed; the best ones and the time-cost Pareto front."""
    from dojosim.report.search_view import print_search, search_document
    from dojosim.study.backends import check_backend
    from dojosim.study.search import SearchSpec, search
    from dojosim.study.sinks import FolderSink

    tables = tables_console(as_json, as_csv)
    _objective(objective)
    check_backend(backend)
    check_output(out, "--out", folder=True)
    sequences = sequences_of(model, seq, tokens_per_seq, docs_per_row, loss_positions)
    spec = SearchSpec(
        model, system, devices, global_batch, seq, precision, tuple(overrides or ()), max_memory_fraction,
        stack_of(stack, kernels), sequences,
    )  # fmt: skip
    sink = FolderSink(Path(out), resume)
    try:
        with progress_bar(as_json) as progress:
            task = progress.add_task("costing plans", total=None)
            found = search(
                spec, sink, workers, lambda n, of: progress.update(task, total=of, advance=n), backend, ray_address
            )
    except KeyboardInterrupt:
        sink.stop()
        raise interrupted(f"{_lines(sink.jsonl):,} costed plans kept in {sink.jsonl}") from None
    doc = search_document(spec, found, objective, top, str(Path(out)))
    if as_json:
        emit(doc)
    else:
        print_search(tables, doc, top)


@command(app, "sweep", old=("--gpus",), required=(*STUDY_REQUIRED, "vary"))
def sweep_command(
    model: ModelOption = None,
    system: SystemOption = None,
    devices: DevicesOption = None,
    global_batch: GlobalBatchOption = None,
    vary: Annotated[list[str] | None, typer.Option("--vary", help="PART.FIELD=V1,V2,... (repeat for a grid).")] = None,
    seq: SeqOption = None,
    objective: ObjectiveOption = "time",
    max_memory_fraction: MaxMemoryOption = 0.9,
    precision: PrecisionOption = "bf16",
    out: Annotated[
        str, typer.Option("--out", help="Folder for points.jsonl, per-point plans and sweep.svg.")
    ] = "dojosim-sweep",
    resume: Annotated[bool, typer.Option("--resume", help="Keep finished points from --out.")] = False,
    workers: WorkersOption = None,
    backend: BackendOption = "process",
    ray_address: RayAddressOption = None,
    report: Annotated[
        str | None, typer.Option("--report", help="Also write an HTML report with table and plot.")
    ] = None,
    overrides: SetOption = None,
    stack: StackOption = DEFAULT_STACK,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """What-if hardware: the best plan at every point of a grid of figure overrides."""
    from dojosim.report.search_view import print_sweep, sweep_html, sweep_rows, sweep_svg
    from dojosim.study.backends import check_backend
    from dojosim.study.search import SearchSpec
    from dojosim.study.sweep import parse_vary, points_of, run_sweep

    tables = tables_console(as_json, as_csv)
    varies = parse_vary(vary)
    check_backend(backend)
    check_output(out, "--out", folder=True)
    check_output(report, "--report")
    spec = SearchSpec(
        model, system, devices, global_batch, seq, precision, tuple(overrides or ()), max_memory_fraction, stack
    )
    try:
        with progress_bar(as_json) as progress:
            task = progress.add_task("hardware points", total=len(points_of(varies)))
            points = run_sweep(
                spec, varies, Path(out), objective, resume, lambda _p: progress.advance(task),
                workers=workers, backend=backend, ray_address=ray_address,
            )  # fmt: skip
    except KeyboardInterrupt:
        log = Path(out) / "points.jsonl"
        raise interrupted(f"{_lines(log)} of {len(points_of(varies))} hardware points kept in {log}") from None
    rows, names, plot = sweep_rows(points), [name for name, _ in varies], Path(out) / "sweep.svg"
    plot.write_text(sweep_svg(rows))
    if report:
        sweep_html(report, f"dojosim sweep: {model} on {system} x {devices}", names, rows)
    if as_json:
        emit({"points": rows, "plot": str(plot)})
    else:
        print_sweep(tables, names, rows, objective, str(plot))


def _lines(path: Path) -> int:
    """Finished records in a JSON-lines file (a line cut short by the interrupt does not count)."""
    return path.read_text().count("\n") if path.exists() else 0


DEFAULT_COMPARE = "dojo-v1,dojo-2,dojo-2-claimed,dojo-3-projected,dgx-h100,dgx-b200,gb200-nvl72"


def _count(text: str, option: str) -> float:
    t = text.strip().upper()
    scale = {"K": 1e3, "M": 1e6, "B": 1e9}.get(t[-1:], 1.0)
    try:
        value = float(t[:-1] if scale != 1.0 else t) * scale
    except ValueError:
        raise InputError(f"{option} {text!r}: expected a number such as 10M") from None
    if not math.isfinite(value):
        raise InputError(f"{option} {text!r}: must be a finite number such as 10M")
    return value


def _compare_systems(systems: str, fleet_eflops: float, epochs: float | None, fleet_gpu: str) -> list[str]:
    """compare's systems, with its other inputs checked before any search."""
    from dojosim.hardware import load_system

    names = [n.strip() for n in systems.split(",") if n.strip()]
    if not names:
        raise InputError("--systems: name at least one system")
    if fleet_eflops <= 0:
        raise InputError(f"--fleet-eflops: must be > 0, got {fleet_eflops:g}")
    if epochs is not None and epochs <= 0:
        raise InputError(f"--epochs: must be > 0, got {epochs:g}")
    load_system(fleet_gpu)  # a clear error for an unknown name before any search
    return names


def _tesla_section(
    names: list[str], overrides: list[str] | None, stack: str, kernels: str | None
) -> dict[str, Any] | None:
    """Tesla's workload claims against A100, recomputed with the overrides that apply to each side; only where
    a Dojo system is compared (a dozen fsd-video plan searches: seconds a GPU-only comparison does not need)."""
    from dojosim.hardware import load_system
    from dojosim.report.workload_claims_view import workload_claims_document
    from dojosim.study.workload_claims import tesla_claims

    if not any(load_system(name).maker == "Tesla" for name in names):
        return None

    return workload_claims_document(*tesla_claims(tuple(overrides or ()), stack_of(stack, kernels)))


@command(app, "compare", old=("--workload",), job_file=True)
def compare_command(
    model: Annotated[str, typer.Option("--model", help="Zoo name or FAMILY(key=value,...).")] = "fsd-video",
    systems: Annotated[str, typer.Option("--systems", help="Comma-separated presets or files.")] = DEFAULT_COMPARE,
    normalize: Annotated[str, typer.Option("--normalize", help="power, devices or cost.")] = "power",
    budget: Annotated[
        str | None, typer.Option("--budget", help="2MW, 3000 or $20000/h (default: one ExaPOD's power).")
    ] = None,
    seq: SeqOption = None,
    tokens_per_seq: TokensPerSeqOption = None,
    docs_per_row: DocsPerRowOption = 1.0,
    loss_positions: LossPositionsOption = None,
    precision: PrecisionOption = "bf16",
    batch_per_device: Annotated[float, typer.Option("--batch-per-device", help="Global batch per device.")] = 1.0,
    samples: Annotated[
        str | None, typer.Option("--samples", help="Samples in the training set, e.g. 100M (default: an assumption).")
    ] = None,
    dataset_clips: Annotated[str | None, typer.Option("--dataset-clips", hidden=True)] = None,  # old --samples
    epochs: Annotated[float | None, typer.Option("--epochs", help="Passes over the training set.")] = None,
    target_days: Annotated[
        float | None, typer.Option("--target-days", help="Devices needed to train in this time.")
    ] = None,
    fleet_eflops: Annotated[
        float, typer.Option("--fleet-eflops", help="Fleet size for the fleet and share sections (dense BF16 peak).")
    ] = 100.0,
    fleet_gpu: Annotated[
        str, typer.Option("--fleet-gpu", help="The GPU system the Dojo clusters share training with.")
    ] = "dgx-h100",
    out: Annotated[str, typer.Option("--out", help="The HTML report.")] = "report.html",
    overrides: SetOption = None,
    stack: StackOption = DEFAULT_STACK,
    kernels: KernelsOption = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Compare systems on one workload at the same budget: best plan, throughput, energy, cost, days to train,
    a fleet of --fleet-eflops, Dojo's share of training, and the public claims recomputed."""
    from dojosim.report import compare_html, compare_view
    from dojosim.report.compare_doc import compare_document
    from dojosim.study import campaign as camp
    from dojosim.study.budget import default_budget, parse_budget
    from dojosim.study.claims import claims_check
    from dojosim.study.compare import compare

    tables = tables_console(as_json, as_csv)
    check_output(out, "--out")
    names = _compare_systems(systems, fleet_eflops, epochs, fleet_gpu)
    sequences = sequences_of(model, seq, tokens_per_seq, docs_per_row, loss_positions)
    plan_budget = parse_budget(budget, normalize) or default_budget(normalize)
    given = samples or dataset_clips
    size, points = camp.campaign_size(_count(given, "--samples") if given else None, epochs), 3
    with progress_bar(as_json) as progress:
        task = progress.add_task("searching plans per system and size", total=len(names) * points)
        results = compare(
            model, names, plan_budget, batch_per_device, seq, points, lambda _n: progress.advance(task),
            stack_of(stack, kernels), precision, tuple(overrides or ()), sequences,
        )  # fmt: skip
        progress.update(task, description="fleet and share of training")
        fleet = camp.fleet(results, fleet_eflops, size.samples, size.epochs)
        share = camp.training_share(results, fleet_gpu, fleet_eflops)
    doc = compare_document(
        workload=model,
        stack=loaded_stack(stack, kernels),
        normalize=normalize,
        budget=plan_budget.value,
        results=results,
        campaign_spec={**size.as_dict(), "target_days": target_days},
        campaign=camp.campaign(results, size.samples, size.epochs, target_days),
        fleet_eflops=fleet_eflops,
        fleet=fleet,
        share=share,
        h100_equivalents=camp.h100_equivalents(results, "dojo-v1", "dgx-h100", camp.MUSK_H100_EQUIVALENTS),
        claims=claims_check(), workload_claims=_tesla_section(names, overrides, stack, kernels),
        break_even=camp.break_even_price(results, "dojo-v1", "dgx-b200"),
        report=out,
    )
    compare_html.write_html(doc)
    if as_json:
        emit(doc)
    else:
        compare_view.print_summary(doc, tables)
