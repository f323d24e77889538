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
    """Run the real training step here (real tensors, fp32) and compare with the prediction, phase by phase."""
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
    for col in ("phase", "measured", "predicted", "error"):
        table.add_column(col, justify="right")
    errors = result.error_pct
    for phase in ("fwd", "bwd", "opt", "step"):
        table.add_row(
            phase,
            si(result.measured_s[phase], "s"),
            si(result.predicted_s[phase], "s"),
            f"{errors.get(phase, 0.0):+.1f}%",
        )
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
    out: Annotated[str, typer.Option("--out", help="The HTML report.")] = "report.html",
    as_json: JsonFlag = False,
) -> None:
    """Compare systems on one workload at the same budget: best plan, throughput, energy, cost, days to train."""
    from rich.progress import Progress

    from dojosim.perf import compare as cmp

    names = [n.strip() for n in systems.split(",") if n.strip()]
    if not names:
        raise InputError("--systems: name at least one system")
    plan_budget = cmp.parse_budget(budget, normalize)
    clips, target = _count(dataset_clips, "--dataset-clips"), target_days
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("searching plans per system", total=len(names))
        results = cmp.compare(
            workload, names, plan_budget, batch_per_device, seq, progress=lambda _n: progress.advance(task)
        )
    runs = cmp.campaign(results, clips, epochs, target)
    claims = cmp.claims_check()
    break_even = cmp.break_even_price(results, "dojo-v1", "dgx-b200")
    doc = {
        "workload": workload,
        "normalize": normalize,
        "results": [vars(r) for r in results],
        "campaign": runs,
        "claims": claims,
        "break_even_dojo_v1_usd_per_d1_hour_vs_dgx_b200": break_even,
        "report": out,
    }
    _write_compare_report(doc)
    if as_json:
        _emit(doc)
        return
    from rich.table import Table

    from dojosim.report.units import si

    t = Table(title=f"{workload}: best plan per system at the same {normalize} budget")
    for col in (
        "system",
        "status",
        "devices",
        "plan",
        "step",
        "samples/s",
        "MFU",
        "mem/device",
        "$ per 1M samples",
        "bottleneck",
    ):
        t.add_column(col, overflow="fold")
    for r in results:
        if not r.best:
            t.add_row(r.system, r.status, str(r.devices), "—", "—", "—", "—", "—", "—", r.error)
            continue
        b = r.best
        plan = f"tp{b['tp']} pp{b['pp']} cp{b['cp']} dp{b['dp']} mb{b['micro_batch']} zero{b['zero']} {b['recompute']}"
        t.add_row(
            r.system,
            r.status,
            f"{r.devices:,}",
            plan,
            si(b["step_time_s"], "s"),
            f"{b['samples_per_s']:,.1f}",
            f"{100 * b['mfu']:.1f}%",
            si(b["memory_bytes"], "B"),
            f"${b['cost_usd'] / b['global_batch'] * 1e6:,.0f}",
            b["bottleneck"],
        )
    console = Console()
    console.print(t)
    for row in runs:
        console.print(
            f"{row['system']}: {clips:,.0f} samples x {epochs:g} epochs in {row['days']:,.1f} days, "
            f"{row['energy_mwh']:,.0f} MWh, ${row['cost_usd']:,.0f}"
        )
    if break_even is not None:
        console.print(f"break-even rental price of a D1 (dojo-v1) against renting dgx-b200: ${break_even:.2f}/D1-hour")
    console.print(f"report: {out}")


def _write_compare_report(doc: dict[str, Any]) -> None:
    from dojosim.report import html_report as h

    results = [r for r in doc["results"] if r["best"]]
    summary = h.table(
        [
            "system",
            "status",
            "devices",
            "step time (s)",
            "samples/s",
            "MFU",
            "memory/device (GB)",
            "energy per step (MJ)",
            "$ per 1M samples",
            "bottleneck",
        ],
        [
            [
                r["system"],
                r["status"],
                r["devices"],
                f"{r['best']['step_time_s']:.4g}",
                f"{r['best']['samples_per_s']:.4g}",
                f"{100 * r['best']['mfu']:.1f}%",
                f"{r['best']['memory_bytes'] / 1e9:.2f}",
                f"{r['best']['energy_j'] / 1e6:.3g}",
                f"{r['best']['cost_usd'] / r['best']['global_batch'] * 1e6:,.0f}",
                r["best"]["bottleneck"],
            ]
            for r in results
        ]
        + [
            [r["system"], r["status"], r["devices"], "—", "—", "—", "—", "—", "—", r["error"]]
            for r in doc["results"]
            if not r["best"]
        ],
    )
    breakdown = h.stacked_bars(
        [(r["system"], {k[2:]: v for k, v in r["best"].items() if k.startswith("t_")}) for r in results],
        "step-time breakdown of the best plan (share of the step)",
    )
    scaling = h.line_chart(
        [(r["system"], [(s["devices"], s["samples_per_s"]) for s in r["scaling"]]) for r in results],
        "throughput vs device count (best plan at each size)",
        "devices",
        "samples/s",
    )
    days = h.line_chart(
        [(r["system"], [(s["devices"], 1e7 / s["samples_per_s"] / 86400) for s in r["scaling"]]) for r in results],
        "days to train 10M samples (one epoch) vs devices",
        "devices",
        "days",
    )
    from dojosim.hardware import load_system, size_system
    from dojosim.perf.device import device_model

    capacity = {}
    for r in results:
        capacity[r["system"]] = device_model(size_system(load_system(r["system"]), r["devices"])).capacity_bytes
    memory = h.memory_bars(
        [(r["system"], r["best"]["memory_bytes"], capacity[r["system"]]) for r in results],
        "memory per device of the best plan against capacity",
    )
    claims = h.table(
        ["claim", "recomputed from the presets", "verdict"],
        [[c["claim"], c["recomputed"], c["verdict"]] for c in doc["claims"]],
    )
    campaign = h.table(
        ["system", "devices", "days", "energy (MWh)", "cost ($)"],
        [
            [c["system"], c["devices"], f"{c['days']:.1f}", f"{c['energy_mwh']:.0f}", f"{c['cost_usd']:,.0f}"]
            for c in doc["campaign"]
        ],
    )
    be = doc["break_even_dojo_v1_usd_per_d1_hour_vs_dgx_b200"]
    rental = (
        f"<p>Break-even rental price of a Dojo V1 D1 against renting DGX B200 at its preset price: "
        f"<b>${be:.2f} per D1-hour</b>.</p>"
        if be is not None
        else "<p>No break-even price (a run failed).</p>"
    )
    h.write_report(
        doc["report"],
        f"dojosim: {doc['workload']} on Dojo and GPU clusters",
        [
            ("Best plan per system", summary),
            ("Where the time goes", breakdown),
            ("Scaling", scaling + days),
            ("Memory", memory),
            ("Training campaign", campaign + rental),
            ("The public claims, recomputed", claims),
        ],
    )


def main() -> None:
    try:
        app()
    except InputError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
