"""`dojosim rent`: the cluster rented out to many tenants, simulated job by job over months."""

from typing import TYPE_CHECKING, Annotated

import typer

from dojosim.cli.app import (
    BackendOption,
    CsvFlag,
    DevicesOption,
    JsonFlag,
    RayAddressOption,
    SystemOption,
    WorkersOption,
    app,
    check_output,
    emit,
    interrupted,
    progress_bar,
    tables_console,
)
from dojosim.cli.vocabulary import command
from dojosim.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

    from dojosim.study.rent.run import RentSpec


def _clouds(text: str) -> tuple[str, ...]:
    clouds = tuple(c.strip() for c in text.split(",") if c.strip())
    if not clouds:
        raise InputError("--clouds: give one or more GPU presets with a rental price, comma-separated")
    return clouds


@command(app, "rent", required=("system", "devices"))
def rent_command(
    system: SystemOption = None,
    devices: DevicesOption = None,
    mix: Annotated[
        str, typer.Option("--mix", help="Workload mixes, comma-separated: shipped names or .toml files.")
    ] = "tesla-internal,external-tenants",
    days: Annotated[float, typer.Option("--days", help="Days of arrivals to simulate.")] = 90.0,
    scheduler: Annotated[str, typer.Option("--scheduler", help="fifo, backfill (EASY) or priority.")] = "fifo",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the arrivals and failures.")] = 0,
    price: Annotated[
        float | None, typer.Option("--price", help="What tenants pay, USD per device-hour (for revenue).")
    ] = None,
    clouds: Annotated[
        str, typer.Option("--clouds", help="GPU presets whose rental prices tenants compare against.")
    ] = "dgx-h100,dgx-b200,gb200-nvl72",
    out: Annotated[str | None, typer.Option("--out", help="Write the HTML report here.")] = None,
    vary: Annotated[
        list[str] | None,
        typer.Option("--vary", help="Sweep scenarios: scheduler, devices, mix, price, seed or days =V1,V2 (repeat)."),
    ] = None,
    workers: WorkersOption = None,
    backend: BackendOption = "process",
    ray_address: RayAddressOption = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """A multi-tenant cluster over months: utilisation, queue waits, goodput, break-even price, GPU-cloud bills.
    With --vary, a sweep of scenarios, each on a worker of the process pool or a Ray cluster (--backend ray)."""
    from dojosim.report.rent_view import print_rent, rent_document, write_rent_html
    from dojosim.study.rent.outcome import summarize
    from dojosim.study.rent.run import RentSpec, prepare, simulate
    from dojosim.units import SECONDS_PER_DAY

    tables = tables_console(as_json, as_csv)
    check_output(out, "--out")
    spec = RentSpec(system, devices, mix, days, scheduler, seed, price, _clouds(clouds))
    if vary:
        _sweep(spec, vary, (workers, backend, ray_address), tables, as_json)
        return
    with progress_bar(as_json) as progress:
        task = progress.add_task("runtimes (plan search per shape, cached)", total=None)
        try:
            prepared = prepare(spec, progress=lambda n, of: progress.update(task, completed=n, total=of))
        except KeyboardInterrupt:
            raise interrupted("runtimes computed so far are cached; nothing simulated", resume=False) from None
        sim_task = progress.add_task("simulating days", total=days)
        run = simulate(prepared, lambda t: progress.update(sim_task, completed=t / SECONDS_PER_DAY))
    result = summarize(prepared, *run)
    if out:
        write_rent_html(out, result)
    if as_json:
        emit(rent_document(result))
    else:
        print_rent(tables, result)
    if result.interrupted:
        kept = f"the summary above covers {result.simulated_s / SECONDS_PER_DAY:,.1f} of {days:g} days"
        raise interrupted(kept, resume=False)


def _sweep(spec: "RentSpec", vary: list[str], where: tuple, tables: "Console", as_json: bool) -> None:
    """Every combination of the --vary values, each scenario a whole simulation on a worker."""
    from dojosim.report.rent_view import scenario_grid
    from dojosim.report.terminal import show
    from dojosim.study.backends import check_backend
    from dojosim.study.rent.run import prepare
    from dojosim.study.rent.scenarios import parse_vary, run_scenarios, scenarios

    workers, backend, ray_address = where
    check_backend(backend)
    grid = scenarios(spec, parse_vary(vary))
    with progress_bar(as_json) as progress:
        task = progress.add_task("runtimes (plan search per shape, cached)", total=None)
        for _, scenario in grid:  # fill the shared runtime cache here once, not in every worker at the same time
            prepare(scenario, progress=lambda n, of: progress.update(task, completed=n, total=of))
        task = progress.add_task("scenarios", total=len(grid))
        try:
            rows = run_scenarios(grid, backend, workers, ray_address, lambda n: progress.advance(task, n))
        except KeyboardInterrupt:
            raise interrupted("finished scenarios are not kept; rerun the sweep", resume=False) from None
    if as_json:
        emit({"scenarios": [r.as_dict() for r in rows]})
    else:
        show(tables, scenario_grid(rows))
