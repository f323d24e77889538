"""`dojosim rent`: the cluster rented out to many tenants, simulated job by job over months."""

from typing import Annotated

import typer

from dojosim.cli.app import (
    CsvFlag,
    DevicesOption,
    JsonFlag,
    SystemOption,
    app,
    check_output,
    emit,
    interrupted,
    progress_bar,
    tables_console,
)
from dojosim.cli.vocabulary import command
from dojosim.errors import InputError


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
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """A multi-tenant cluster over months: utilisation, queue waits, goodput, break-even price, GPU-cloud bills."""
    from dojosim.report.rent_view import print_rent, rent_document, write_rent_html
    from dojosim.study.rent.outcome import summarize
    from dojosim.study.rent.run import RentSpec, prepare, simulate
    from dojosim.units import SECONDS_PER_DAY

    tables = tables_console(as_json, as_csv)
    check_output(out, "--out")
    spec = RentSpec(system, devices, mix, days, scheduler, seed, price, _clouds(clouds))
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
