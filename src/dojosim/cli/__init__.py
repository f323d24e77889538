"""The command line: `dojosim --help`. Every command takes --json; bad input exits 2 with one sentence.

Commands live by subject (machines, workload, simulate, checks, studies); importing them registers them on
the one Typer app. Each imports what it needs when it runs, so `dojosim --help` stays fast.
"""

import sys
from collections.abc import Sequence

import typer
from rich.console import Console
from rich.markup import escape

from dojosim.cli import checks, machines, rent, simulate, stacks, studies, workload  # noqa: F401  (registers the commands)
from dojosim.cli.app import app, click_exceptions
from dojosim.errors import InputError

BAD_INPUT_EXIT = 2


def _error(message: str) -> int:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return BAD_INPUT_EXIT


def run(argv: Sequence[str] | None = None) -> int:
    """Run `dojosim ARGS` and return its exit code. Every usage error is one line on stderr, as InputError is:
    click's own messages name the option, and its usage box would spread one mistake over many lines."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = app(args=args, prog_name="dojosim", standalone_mode=False, obj={"argv": args})
    except click_exceptions.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else "", nl=False)
        return BAD_INPUT_EXIT
    except click_exceptions.ClickException as exc:
        where = f"{exc.ctx.command_path}: " if getattr(exc, "ctx", None) else ""
        return _error(where + " ".join(exc.format_message().split()))
    except typer.Abort:
        return 130
    except InputError as exc:
        return _error(" ".join(str(exc).split()))
    except SystemExit as exc:  # Typer's --show-completion and --install-completion end this way
        return exc.code if isinstance(exc.code, int) else 0
    return code if isinstance(code, int) else 0


def main() -> None:
    sys.exit(run())


__all__ = ["app", "main", "run"]
