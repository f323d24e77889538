"""The Typer application and what every command shares: --json, --set, one-sentence errors."""

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dojosim.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    help="dojosim: how long, how much memory, energy and money a training job takes on Dojo or GPU clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings=HELP_OPTIONS,
)
system_app = typer.Typer(help="Show and compare machines.", no_args_is_help=True, context_settings=HELP_OPTIONS)


def _version(value: bool) -> None:
    if value:
        from dojosim import __version__

        sys.stdout.write(f"dojosim {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """dojosim: how long, how much memory, energy and money a training job takes on Dojo or GPU clusters."""
app.add_typer(system_app, name="system")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
CsvFlag = Annotated[bool, typer.Option("--csv", help="Print the tables as CSV, each after a '# title' line.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override a figure for a what-if study: PART.FIELD=VALUE, e.g. tile.offtile_bytes_per_s=72e12."
    ),
]
ModelOption = Annotated[str, typer.Option("--model", help="Zoo name or FAMILY(key=value,...).")]
SystemOption = Annotated[str, typer.Option("--system", help="Preset name or .toml file.")]
DevicesOption = Annotated[int, typer.Option("--devices", "--gpus", help="Devices (GPUs, D1 dies) in the run.")]
GlobalBatchOption = Annotated[int, typer.Option("--global-batch", help="Samples per optimizer step.")]
SeqOption = Annotated[int | None, typer.Option("--seq", min=1, help="Tokens per sample (LMs).")]
StackOption = Annotated[
    str,
    typer.Option("--stack", help="Training software: a stack preset (see `dojosim stacks`) or a .toml file."),
]
ObjectiveOption = Annotated[str, typer.Option("--objective", help="time, cost or energy.")]
WorkersOption = Annotated[int | None, typer.Option("--workers", help="Processes (default: one per core).")]
BackendOption = Annotated[str, typer.Option("--backend", help="process (local pool) or ray.")]
RayAddressOption = Annotated[str | None, typer.Option("--ray-address", help="Ray cluster to join.")]


def check_output(path: str | None, option: str, folder: bool = False) -> None:
    """Refuse, before any work, an output path that cannot be written: its folder must exist and be writable
    (for a folder output, its parent), and it must not be a folder where a file is asked for."""
    if not path:
        return
    target = Path(path)
    parent = target if folder and target.exists() else target.parent  # the folder the output is written in
    if not folder and target.is_dir():
        raise InputError(f"{option}: '{path}' is a folder; give a file name")
    if folder and target.exists() and not target.is_dir():
        raise InputError(f"{option}: '{path}' is a file; give a folder")
    if not parent.exists():
        raise InputError(f"{option}: folder '{parent}' does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{option}: folder '{parent}' is not writable")


def tables_console(as_json: bool, as_csv: bool) -> "Console":
    """Where a command's tables go: the terminal at its width, a file at full width, or CSV (checked before work)."""
    from dojosim.report.terminal import console_for

    if as_json and as_csv:
        raise InputError("--csv and --json: choose one")
    return console_for(as_csv)


def emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
