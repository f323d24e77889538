"""`dojosim simulate`: one job, one prediction."""

from typing import Annotated

import typer
from rich.console import Console

from dojosim.cli.app import (
    DevicesOption,
    GlobalBatchOption,
    JsonFlag,
    ModelOption,
    SeqOption,
    SetOption,
    SystemOption,
    app,
    emit,
)


@app.command("simulate")
def simulate_command(
    model: ModelOption,
    system: SystemOption,
    devices: DevicesOption,
    global_batch: GlobalBatchOption,
    seq: SeqOption = None,
    micro_batch: Annotated[int, typer.Option("--micro-batch", help="Samples per micro-batch per DP rank.")] = 1,
    tp: Annotated[int, typer.Option("--tp", help="Tensor-parallel degree.")] = 1,
    pp: Annotated[int, typer.Option("--pp", help="Pipeline stages.")] = 1,
    vp: Annotated[int, typer.Option("--vp", help="Virtual stages per pipeline rank (interleaved 1F1B).")] = 1,
    cp: Annotated[int, typer.Option("--cp", help="Context-parallel degree.")] = 1,
    ep: Annotated[int, typer.Option("--ep", help="Expert-parallel degree.")] = 1,
    zero: Annotated[int, typer.Option("--zero", help="ZeRO stage 0-3 (3 = FSDP).")] = 0,
    recompute: Annotated[str, typer.Option("--recompute", help="none, selective or full.")] = "none",
    sequence_parallel: Annotated[bool, typer.Option("--sequence-parallel/--no-sequence-parallel")] = False,
    overlap_grad_reduce: Annotated[
        bool,
        typer.Option(
            "--overlap-grad-reduce/--no-overlap-grad-reduce",
            help="Reduce gradients under the backward pass (DDP, FSDP) or after it (pre-2023 Megatron, DeepSpeed).",
        ),
    ] = True,
    overlap_tp_comm: Annotated[
        bool,
        typer.Option(
            "--overlap-tp-comm/--no-overlap-tp-comm",
            help="Run backward's tensor-parallel collectives under the weight-gradient GEMMs (Megatron, NeMo).",
        ),
    ] = False,
    precision: Annotated[str, typer.Option("--precision", help="bf16, fp16, fp8, fp4 or fp32 matmuls.")] = "bf16",
    optimizer: Annotated[str, typer.Option("--optimizer", help="adamw or sgd.")] = "adamw",
    overrides: SetOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Predict one training step: time with its breakdown, MFU, throughput, memory, energy, cost."""
    from dojosim.job import Job
    from dojosim.parallel.plan import ParallelPlan
    from dojosim.perf.jobs import engine_for
    from dojosim.report.estimate_view import estimate_document

    plan = ParallelPlan(
        devices, global_batch, micro_batch, seq or 1, tp, pp, vp, cp, ep, zero, recompute, sequence_parallel,
        precision, overlap_grad_reduce, overlap_tp_comm,
    )  # fmt: skip
    job = Job.of(model, system, plan, overrides or (), optimizer)
    engine = engine_for(job)
    doc = {
        "model": job.model.name,
        "system": engine.sized.system.name,
        "devices": engine.sized.devices,
        **estimate_document(engine.estimate(job.plan)),
    }
    if as_json:
        emit(doc)
    else:
        from dojosim.report.estimate_view import print_estimate

        print_estimate(Console(), doc)
