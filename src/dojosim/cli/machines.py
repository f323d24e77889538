"""`dojosim systems`, `dojosim system show`, `dojosim system compare`: what the machine is."""

from typing import Annotated, Any

import typer

from dojosim.cli.app import CsvFlag, JsonFlag, SetOption, app, emit, system_app, tables_console
from dojosim.cli.vocabulary import command
from dojosim.errors import InputError


@app.command("systems")
def systems_command(as_json: JsonFlag = False, as_csv: CsvFlag = False) -> None:
    """List the system presets with a one-line summary."""
    tables = tables_console(as_json, as_csv)
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
        emit(rows)
    else:
        from dojosim.report.hardware_view import print_systems

        print_systems(tables, rows)


def _system_doc(name: str, devices: int | None, overrides: list[str] | None) -> dict[str, Any]:
    from dojosim.hardware import derive_totals, load_system, size_system
    from dojosim.report.hardware_view import system_document

    sized = size_system(load_system(name, overrides or []), devices)
    return system_document(sized, derive_totals(sized))


@command(system_app, "show", old=("--gpus",))
def system_show(
    name: Annotated[str, typer.Argument(help="A preset name (see `dojosim systems`) or a .toml file.")],
    devices: Annotated[int | None, typer.Option("--devices", help="Device count (default: the preset's).")] = None,
    overrides: SetOption = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """The hierarchy, every figure with its source, and totals derived from the parts."""
    tables = tables_console(as_json, as_csv)
    doc = _system_doc(name, devices, overrides)
    if as_json:
        emit(doc)
    else:
        from dojosim.report.hardware_view import print_system

        print_system(tables, doc)


@system_app.command("compare")
def system_compare(
    names: Annotated[list[str], typer.Argument(help="Systems as NAME or NAME@DEVICES, e.g. dojo-v1 dgx-b200@3000.")],
    overrides: SetOption = None,
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
) -> None:
    """Systems side by side, totals derived from parts."""
    tables = tables_console(as_json, as_csv)
    docs = []
    for spec in names:
        name, _, count = spec.partition("@")
        if count and not count.isdigit():
            raise InputError(f"'{spec}': the part after '@' must be a device count, e.g. dgx-b200@1024")
        docs.append(_system_doc(name, int(count) if count else None, overrides))
    if as_json:
        emit(docs)
    else:
        from dojosim.report.hardware_view import print_comparison

        print_comparison(tables, docs)
