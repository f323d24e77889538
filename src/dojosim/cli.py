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
        overlap_grad_reduce=overlap_grad_reduce,
        overlap_tp_comm=overlap_tp_comm,
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


@app.command("calibrate")
def calibrate_command(
    device: Annotated[str, typer.Option("--device", help="cpu or cuda.")] = "cpu",
    out: Annotated[str | None, typer.Option("--out", help="System file to write (.toml).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Fewer sizes and repeats.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Measure this machine's matmul rate, memory bandwidth and per-op cost; write a system file."""
    from dojosim.hardware.calibrate import calibrate

    path, measured = calibrate(device, out, quick)
    if as_json:
        _emit({"system_file": str(path), "measured": measured})
        return
    from dojosim.report.units import si

    console = Console()
    console.print(
        f"[bold]{measured['name']}[/] ({device}): matmul fp32 {si(measured['peak_fp32'], 'FLOP/s')}, "
        f"bf16 {si(measured['peak_bf16'], 'FLOP/s')}, ramp {si(measured['matmul_ramp_s'], 's')}, "
        f"memory {si(measured['memory_bytes_per_s'], 'B/s')}, per op {si(measured['op_overhead_s'], 's')}"
    )
    console.print(f"wrote {path}: use it as --system {path}")


@app.command("check-local")
def check_local_command(
    model: Annotated[str, typer.Option("--model", help="A small model: zoo name or FAMILY(key=value,...).")],
    batch: Annotated[int, typer.Option("--batch", help="Samples in the step.")] = 1,
    seq: Annotated[int | None, typer.Option("--seq", help="Tokens per sample (LMs).")] = None,
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
        from dojosim.hardware.calibrate import calibrate

        system = str(calibrate("cpu", quick=True)[0])
    result = check_local(model, batch, seq, system, steps)
    if as_json:
        _emit(result.as_dict())
        return
    from rich.table import Table

    from dojosim.report.units import si

    table = Table(title=f"{model}, batch {batch}: measured here vs predicted for {system}")
    for col in ("phase / op group", "measured", "predicted", "error"):
        table.add_column(col, justify="right")
    errors = result.error_pct
    groups = result.group_rows()
    for phase in ("fwd", "bwd", "opt", "step"):
        table.add_row(
            f"[bold]{phase}[/]",
            si(result.measured_s[phase], "s"),
            si(result.predicted_s[phase], "s"),
            f"{errors.get(phase, 0.0):+.1f}%",
        )
        for key, row in groups.items():
            if key.startswith(phase + " "):
                measured, predicted = row["measured_s"], row["predicted_s"]
                error = f"{100 * (predicted - measured) / measured:+.0f}%" if measured > 0 else ""
                table.add_row(f"  {key.split(' ', 1)[1]}", si(measured, "s"), si(predicted, "s"), error)
    Console().print(table)


@app.command("search")
def search_command(
    model: Annotated[str, typer.Option("--model", help="Zoo name or FAMILY(key=value,...).")],
    system: Annotated[str, typer.Option("--system", help="Preset name or .toml file.")],
    devices: Annotated[int, typer.Option("--devices", "--gpus", help="Devices in the run.")],
    global_batch: Annotated[int, typer.Option("--global-batch", help="Samples per optimizer step.")],
    seq: Annotated[int | None, typer.Option("--seq", help="Tokens per sample (LMs).")] = None,
    objective: Annotated[str, typer.Option("--objective", help="time, cost or energy.")] = "time",
    top: Annotated[int, typer.Option("--top", help="How many plans to show.")] = 10,
    max_memory_fraction: Annotated[float, typer.Option("--max-memory-fraction", help="Prune plans above this.")] = 0.9,
    precision: Annotated[str, typer.Option("--precision", help="bf16, fp16, fp8, fp4 or fp32.")] = "bf16",
    out: Annotated[str, typer.Option("--out", help="Folder for plans.jsonl and plans.parquet.")] = "dojosim-search",
    resume: Annotated[bool, typer.Option("--resume", help="Keep finished plans from --out and cost the rest.")] = False,
    workers: Annotated[int | None, typer.Option("--workers", help="Processes (default: one per core).")] = None,
    backend: Annotated[str, typer.Option("--backend", help="process (local pool) or ray.")] = "process",
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Ray cluster to join.")] = None,
    overrides: SetOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Every valid plan, pruned on memory, costed; the best ones and the time-cost Pareto front."""
    from pathlib import Path

    from rich.progress import Progress

    from dojosim.perf.search import OBJECTIVES, SearchSpec, pareto_front, run_search

    if objective not in OBJECTIVES:
        raise InputError(f"--objective: must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if not 0 < max_memory_fraction <= 1:
        raise InputError(f"--max-memory-fraction: must be in (0, 1], got {max_memory_fraction}")
    spec = SearchSpec(model, system, devices, global_batch, seq, precision, tuple(overrides or ()), max_memory_fraction)
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("costing plans", total=None)

        def advance(n: int, total: int) -> None:
            progress.update(task, total=total, advance=n)

        result = run_search(
            spec, Path(out), resume=resume, workers=workers, progress=advance, backend=backend, ray_address=ray_address
        )
    key = OBJECTIVES[objective]
    best = sorted(result["rows"], key=lambda r: r[key])[:top]
    front = pareto_front(result["rows"])
    doc = {k: result[k] for k in ("enumerated", "pruned_on_memory", "costed")}
    doc.update(objective=objective, top=best, pareto_front=front, out=str(Path(out)))
    if as_json:
        _emit(doc)
        return
    from rich.table import Table

    from dojosim.report.units import si

    console = Console()
    console.print(
        f"{doc['enumerated']:,} plans enumerated, {doc['pruned_on_memory']:,} pruned on memory before "
        f"costing, {doc['costed']:,} costed; all in {out}/plans.parquet"
    )
    for title, rows in ((f"best {len(best)} by {objective}", best), ("time-cost Pareto front", front[:top])):
        table = Table(title=title)
        for col in (
            "tp",
            "pp",
            "vp",
            "cp",
            "ep",
            "dp",
            "mb",
            "zero",
            "recompute",
            "sp",
            "step",
            "MFU",
            "cost",
            "memory",
            "bottleneck",
        ):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(
                *(str(r[k]) for k in ("tp", "pp", "vp", "cp", "ep", "dp", "micro_batch", "zero")),
                r["recompute"],
                "y" if r["sequence_parallel"] else "",
                si(r["step_time_s"], "s"),
                f"{100 * r['mfu']:.1f}%",
                f"${r['cost_usd']:.3g}",
                si(r["memory_bytes"], "B"),
                r["bottleneck"],
            )
        console.print(table)


@app.command("sweep")
def sweep_command(
    model: Annotated[str, typer.Option("--model", help="Zoo name or FAMILY(key=value,...).")],
    system: Annotated[str, typer.Option("--system", help="Preset name or .toml file.")],
    devices: Annotated[int, typer.Option("--devices", "--gpus", help="Devices in the run.")],
    global_batch: Annotated[int, typer.Option("--global-batch", help="Samples per optimizer step.")],
    vary: Annotated[list[str], typer.Option("--vary", help="PART.FIELD=V1,V2,... (repeat for a grid).")],
    seq: Annotated[int | None, typer.Option("--seq", help="Tokens per sample (LMs).")] = None,
    objective: Annotated[str, typer.Option("--objective", help="time, cost or energy.")] = "time",
    max_memory_fraction: Annotated[float, typer.Option("--max-memory-fraction")] = 0.9,
    out: Annotated[
        str, typer.Option("--out", help="Folder for points.jsonl, per-point plans and sweep.svg.")
    ] = "dojosim-sweep",
    resume: Annotated[bool, typer.Option("--resume", help="Keep finished points from --out.")] = False,
    workers: Annotated[int | None, typer.Option("--workers", help="Processes (default: one per core).")] = None,
    backend: Annotated[str, typer.Option("--backend", help="process (local pool) or ray.")] = "process",
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Ray cluster to join.")] = None,
    report: Annotated[
        str | None, typer.Option("--report", help="Also write an HTML report with table and plot.")
    ] = None,
    overrides: SetOption = None,
    as_json: JsonFlag = False,
) -> None:
    """What-if hardware: the best plan at every point of a grid of figure overrides."""
    from pathlib import Path

    from rich.progress import Progress

    from dojosim.perf.search import SearchSpec
    from dojosim.perf.sweep import parse_vary, points_of, run_sweep, sweep_svg

    varies = parse_vary(vary)
    spec = SearchSpec(model, system, devices, global_batch, seq, "bf16", tuple(overrides or ()), max_memory_fraction)
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("hardware points", total=len(points_of(varies)))
        rows = run_sweep(
            spec,
            varies,
            Path(out),
            objective,
            resume,
            workers,
            backend,
            ray_address,
            progress=lambda _p: progress.advance(task),
        )
    (Path(out) / "sweep.svg").write_text(sweep_svg(rows))
    if report:
        from dojosim.report import html_report as h

        cells = [
            [
                *(r["point"][name] for name, _ in varies),
                *(
                    (
                        r.get("tp"),
                        r.get("pp"),
                        r.get("cp"),
                        r.get("dp"),
                        r.get("micro_batch"),
                        r.get("zero"),
                        r.get("recompute"),
                        f"{r['step_time_s']:.4g}",
                        f"{100 * r['mfu']:.1f}%",
                        r["bottleneck"],
                    )
                    if "error" not in r
                    else ("—",) * 9 + (r["error"],)
                ),
            ]
            for r in rows
        ]
        headers = [
            *(name for name, _ in varies),
            "tp",
            "pp",
            "cp",
            "dp",
            "mb",
            "zero",
            "recompute",
            "step (s)",
            "MFU",
            "bottleneck",
        ]
        h.write_report(
            report,
            f"dojosim sweep: {model} on {system} x {devices}",
            [("Best plan at each hardware point", h.table(headers, cells) + sweep_svg(rows))],
        )
    if as_json:
        _emit({"points": rows, "plot": str(Path(out) / "sweep.svg")})
        return
    from rich.table import Table

    from dojosim.report.units import si

    table = Table(title=f"best plan by {objective} at each hardware point")
    for col in (*(name for name, _ in varies), "plan", "step", "MFU", "cost", "bottleneck"):
        table.add_column(col, overflow="fold")
    for r in rows:
        values = [r["point"][name] for name, _ in varies]
        if "error" in r:
            table.add_row(*values, "—", "—", "—", "—", r["error"])
            continue
        degrees = " ".join(f"{k}{r[k]}" for k in ("tp", "pp", "vp", "cp", "dp"))
        plan = f"{degrees} mb{r['micro_batch']} zero{r['zero']} {r['recompute']}"
        table.add_row(
            *values, plan, si(r["step_time_s"], "s"), f"{100 * r['mfu']:.1f}%", f"${r['cost_usd']:.3g}", r["bottleneck"]
        )
    Console().print(table)
    Console().print(f"plot: {Path(out) / 'sweep.svg'}")


DEFAULT_COMPARE = "dojo-v1,dojo-2,dojo-2-claimed,dojo-3-projected,dgx-h100,dgx-b200,gb200-nvl72"


def _count(text: str, option: str) -> float:
    t = text.strip().upper()
    scale = {"K": 1e3, "M": 1e6, "B": 1e9}.get(t[-1:], 1.0)
    try:
        return float(t[:-1] if scale != 1.0 else t) * scale
    except ValueError:
        raise InputError(f"{option} {text!r}: expected a number such as 10M") from None


@app.command("compare")
def compare_command(
    workload: Annotated[
        str, typer.Option("--workload", help="Model: zoo name or FAMILY(key=value,...).")
    ] = "fsd-video",
    systems: Annotated[str, typer.Option("--systems", help="Comma-separated presets or files.")] = DEFAULT_COMPARE,
    normalize: Annotated[str, typer.Option("--normalize", help="power, devices or cost.")] = "power",
    budget: Annotated[
        str | None, typer.Option("--budget", help="2MW, 3000 or $20000/h (default: one ExaPOD's power).")
    ] = None,
    seq: Annotated[int | None, typer.Option("--seq", help="Tokens per sample (LMs).")] = None,
    batch_per_device: Annotated[float, typer.Option("--batch-per-device", help="Global batch per device.")] = 1.0,
    dataset_clips: Annotated[str, typer.Option("--dataset-clips", help="Samples in the dataset, e.g. 10M.")] = "10M",
    epochs: Annotated[float, typer.Option("--epochs")] = 5.0,
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
    as_json: JsonFlag = False,
) -> None:
    """Compare systems on one workload at the same budget: best plan, throughput, energy, cost, days to train,
    a fleet of --fleet-eflops, Dojo's share of training, and the public claims recomputed."""
    from rich.progress import Progress

    from dojosim.hardware import load_system
    from dojosim.perf import compare as cmp
    from dojosim.report import compare_view

    names = [n.strip() for n in systems.split(",") if n.strip()]
    if not names:
        raise InputError("--systems: name at least one system")
    if fleet_eflops <= 0:
        raise InputError(f"--fleet-eflops: must be > 0, got {fleet_eflops:g}")
    if epochs <= 0:
        raise InputError(f"--epochs: must be > 0, got {epochs:g}")
    load_system(fleet_gpu)  # a clear error for an unknown name before any search
    plan_budget = cmp.parse_budget(budget, normalize) or cmp.default_budget(normalize)
    clips, target = _count(dataset_clips, "--dataset-clips"), target_days
    points = 3
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("searching plans per system and size", total=len(names) * points)
        results = cmp.compare(
            workload,
            names,
            plan_budget,
            batch_per_device,
            seq,
            scaling_points=points,
            progress=lambda _n: progress.advance(task),
        )
        progress.update(task, description="fleet and share of training")
        fleet = cmp.fleet(results, workload, seq, fleet_eflops, clips, epochs)
        share = cmp.training_share(results, workload, seq, fleet_gpu, fleet_eflops)
    doc = {
        "workload": workload,
        "normalize": normalize,
        "budget": plan_budget.value,
        "results": [vars(r) for r in results],
        "campaign_spec": {"dataset_samples": clips, "epochs": epochs, "target_days": target},
        "campaign": cmp.campaign(results, clips, epochs, target),
        "fleet_eflops": fleet_eflops,
        "fleet": fleet,
        "share": share,
        "h100_equivalents": cmp.h100_equivalents(results, "dojo-v1", "dgx-h100", cmp.MUSK_H100_EQUIVALENTS),
        "claims": cmp.claims_check(),
        "break_even_dojo_v1_usd_per_d1_hour_vs_dgx_b200": cmp.break_even_price(results, "dojo-v1", "dgx-b200"),
        "report": out,
    }
    compare_view.write_html(doc)
    if as_json:
        _emit(doc)
        return
    compare_view.print_summary(doc, Console())


def main() -> None:
    try:
        app()
    except InputError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
