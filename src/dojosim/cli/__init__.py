"""The command line: `dojosim --help`. Every command takes --json; bad input exits 2 with one sentence.

Commands live by subject (machines, workload, simulate, checks, studies); importing them registers them on
the one Typer app. Each imports what it needs when it runs, so `dojosim --help` stays fast.
"""

import sys

from rich.console import Console

from dojosim.cli import checks, machines, simulate, stacks, studies, workload  # noqa: F401  (registers the commands)
from dojosim.cli.app import app
from dojosim.errors import InputError


def main() -> None:
    try:
        app()
    except InputError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


__all__ = ["app", "main"]
