"""`dojosim simulate`: one job, one prediction."""

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from dojosim.cli.app import (
    CapacityFactorOption,
    CsvFlag,
    DevicesOption,
    DocsPerRowOption,
    EpOverlapOption,
    GlobalBatchOption,
    JsonFlag,
    KernelsOption,
    LossPositionsOption,
    MicroBatchOption,
    ModelOption,
    MoeImbalanceOption,
    PrecisionOption,
    SeqOption,
    SetOption,
    StackOption,
    SystemOption,
    TokensPerSeqOption,
    app,
    emit,
    sequences_of,
    stack_of,
    tables_console,
)
from dojosim.cli.vocabulary import command
from dojosim.stack import DEFAULT_STACK

if TYPE_CHECKING:
    from dojosim.job import Job
    from dojosim.perf.engine import Engine


@command(app, "simulate", old=("--gpus",), job_file=True, required=("model", "system", "devices", "global_batch"))
def simulate_command(
    model: ModelOption = None,
    system: SystemOption = None,
    devices: DevicesOption = None,
    global_batch: GlobalBatchOption = None,
    seq: SeqOption = None,
    micro_batch: MicroBatchOption = 1,
    tokens_per_seq: TokensPerSeqOption = None,
    docs_per_row: DocsPerRowOption = 1.0,
    loss_positions: LossPositionsOption = None,
    tp: Annotated[int, typer.Option("--tp", help="Tensor-parallel degree.")] = 1,
    pp: Annotated[int, typer.Option("--pp", help="Pipeline stages.")] = 1,
    vp: Annotated[int, typer.Option("--vp", help="Virtual stages per pipeline rank (interleaved 1F1B).")] = 1,
    cp: Annotated[int, typer.Option("--cp", help="Context-parallel degree.")] = 1,
    ep: Annotated[int, typer.Option("--ep", help="Expert-parallel degree.")] = 1,
    spatial: Annotated[
        int, typer.Option("--spatial", help="Row bands each image's feature maps are split into (halo exchange).")
    ] = 1,
    zero: Annotated[int, typer.Option("--zero", help="ZeRO stage 0-3 (3 = FSDP).")] = 0,
    recompute: Annotated[str, typer.Option("--recompute", help="none, selective or full.")] = "none",
    sequence_parallel: Annotated[bool, typer.Option("--sequence-parallel/--no-sequence-parallel")] = False,
    precision: PrecisionOption = "bf16",
    optimizer: Annotated[str, typer.Option("--optimizer", help="adamw or sgd.")] = "adamw",
    overrides: SetOption = None,
    stack: StackOption = DEFAULT_STACK,
    kernels: KernelsOption = None,
    moe_imbalance: MoeImbalanceOption = None,
    capacity_factor: CapacityFactorOption = None,
    ep_overlap: EpOverlapOption = None,
    timeline: Annotated[
        str | None, typer.Option("--timeline", help="Also draw the step per pipeline stage (an SVG file).")
    ] = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Predict one training step: time with its breakdown, MFU, throughput, memory, energy, cost."""
    from dojosim.job import Job
    from dojosim.parallel.plan import ParallelPlan
    from dojosim.perf.counterfactual import counterfactuals
    from dojosim.perf.jobs import engine_for
    from dojosim.report.estimate_view import estimate_document

    tables = tables_console(as_json, as_csv)
    plan = ParallelPlan(
        devices, global_batch, micro_batch, seq or 1, tp, pp, vp, cp, ep, zero, recompute, sequence_parallel,
        precision, spatial,
    )  # fmt: skip
    sequences = sequences_of(model, seq, tokens_per_seq, docs_per_row, loss_positions)
    loaded = stack_of(stack, kernels, moe_imbalance, capacity_factor, ep_overlap)
    job = Job.of(model, system, plan, overrides or (), optimizer, stack=loaded, sequences=sequences)
    engine = engine_for(job)
    estimate = engine.estimate(job.plan)
    if timeline:
        _write_timeline(timeline, job, engine)
    doc = {
        "model": job.model.name,
        "system": engine.sized.system.name,
        "devices": engine.sized.devices,
        "stack": job.stack.name,
        "kernels": job.stack.kernels.value,
        **({"sequences": job.sequences.as_dict(job.plan.seq)} if engine.profile.seq > 1 else {}),
        **estimate_document(estimate, counterfactuals(engine, job.plan, estimate)),
    }
    if as_json:
        emit(doc)
    else:
        from dojosim.report.estimate_view import print_estimate

        print_estimate(tables, doc)
    if not estimate.fits:  # the prediction is printed, but a script must not mistake it for a plan that runs
        need, have = estimate.memory.total / 1e9, engine.device.capacity_bytes / 1e9
        Console(stderr=True).print(
            f"[bold red]does not fit:[/] needs {need:.1f} GB per device, the device has {have:.1f} GB (exit 3)",
            highlight=False,
        )
        raise typer.Exit(DOES_NOT_FIT_EXIT)


DOES_NOT_FIT_EXIT = 3  # documented in README: 0 ok, 2 bad input, 3 the plan does not fit in memory


def _write_timeline(path: str, job: "Job", engine: "Engine") -> None:
    from pathlib import Path

    from dojosim.report.timeline_view import timeline_svg

    plan = job.plan
    drawn = engine.timeline(plan)
    title = (
        f"{job.model.name} on {job.system} x {plan.devices}: one step, {plan.pp} stages, "
        f"{plan.grad_accumulation} micro-batches"
    )
    Path(path).write_text(timeline_svg(drawn, title))
