"""The Typer application and what every command shares: --json, --set, one-sentence errors."""

import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from dojosim.errors import InputError

try:  # Typer 0.2x runs on its own copy of click; older Typers run on click itself
    from typer._click import exceptions as click_exceptions  # noqa: F401  (cli/__init__ catches these)
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions  # type: ignore[no-redef]  # noqa: F401
    from click import get_current_context  # type: ignore[no-redef]

if TYPE_CHECKING:
    from rich.progress import Progress

    from dojosim.job import Sequences
    from dojosim.stack import Stack

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    help="dojosim: how long, how much memory, energy and money a training job takes on Dojo or GPU clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish and PowerShell
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
# The vocabulary every command shares (cli/vocabulary.py adds the old names as hidden aliases and job files).
# Options a job file may give are None here and checked as required once the file is read.
ModelOption = Annotated[str | None, typer.Option("--model", help="Zoo name or FAMILY(key=value,...).")]
SystemOption = Annotated[str | None, typer.Option("--system", help="Preset name or .toml file.")]
DevicesOption = Annotated[int | None, typer.Option("--devices", help="Devices (GPUs, D1 dies) in the run.")]
GlobalBatchOption = Annotated[int | None, typer.Option("--global-batch", help="Samples per optimizer step.")]
MicroBatchOption = Annotated[int, typer.Option("--micro-batch", help="Samples per micro-batch per DP rank.")]
SeqOption = Annotated[int | None, typer.Option("--seq", help="Tokens per sample (LMs; default per family).")]
TokensPerSeqOption = Annotated[
    float | None,
    typer.Option(
        "--tokens-per-seq", help="Mean real (non-padding) tokens per row, for unpadded kernels (default: all --seq)."
    ),
]
DocsPerRowOption = Annotated[
    float, typer.Option("--docs-per-row", help="Documents packed per row, attention masked per document.")
]
LossPositionsOption = Annotated[
    float | None,
    typer.Option("--loss-positions", help="Positions per row with a loss, e.g. 76 masked-LM ones (default: all)."),
]
PrecisionOption = Annotated[str, typer.Option("--precision", help="Matmul precision: bf16, fp16, fp8, fp4 or fp32.")]
StackOption = Annotated[
    str,
    typer.Option("--stack", help="Training software: a stack preset (see `dojosim stacks`) or a .toml file."),
]
KernelsOption = Annotated[
    str | None,
    typer.Option(
        "--kernels", help="Which op chains run as one kernel: eager, framework or compiled (default: the stack's)."
    ),
]
MoeImbalanceOption = Annotated[
    float | None,
    typer.Option(
        "--moe-imbalance",
        help="MoE routing: the busiest expert-parallel rank's tokens over the mean, >= 1 (default: the stack's).",
    ),
]
CapacityFactorOption = Annotated[
    float | None,
    typer.Option(
        "--capacity-factor",
        help="MoE routing: tokens beyond this x the mean per expert are dropped; 0: dropless (default: the stack's).",
    ),
]
EpOverlapOption = Annotated[
    float | None,
    typer.Option(
        "--ep-overlap", help="Share 0-1 of expert-parallel all-to-alls hidden under compute (default: the stack's)."
    ),
]
ObjectiveOption = Annotated[str, typer.Option("--objective", help="time, cost or energy.")]
WorkersOption = Annotated[int | None, typer.Option("--workers", help="Processes (default: one per core).")]
BackendOption = Annotated[str, typer.Option("--backend", help="process (local pool) or ray.")]
RayAddressOption = Annotated[str | None, typer.Option("--ray-address", help="Ray cluster to join.")]


def stack_of(stack: str, kernels: str | None, *routing: float | None) -> "str | Stack":
    """The stack preset (or file) with `--kernels` replacing its kernel mode where given, and `routing`
    (`--moe-imbalance`, `--capacity-factor`, `--ep-overlap`) its MoE figures; without them, the name or path as
    given (checked here), so what is printed back (`search`'s simulate line) is what the user typed."""
    loaded = loaded_stack(stack, kernels, *routing)  # an unknown stack or mode fails here, before any work
    return stack if kernels is None and all(r is None for r in routing) else loaded


def loaded_stack(stack: str, kernels: str | None, *routing: float | None) -> "Stack":
    """The stack itself, `--kernels` and the MoE routing options applied: for a report that names it."""
    from dojosim.stack import load_stack, with_kernel_mode, with_moe_routing

    return with_moe_routing(with_kernel_mode(load_stack(stack), kernels), *routing)


def sequences_of(
    model: str | None, seq: int | None, tokens_per_seq: float | None, docs_per_row: float, loss_positions: float | None
) -> "Sequences":
    """The sequence options as the job's description of its data, checked before any work against the rows they
    fill (--seq, or the model's default)."""
    from dojosim.job import Sequences
    from dojosim.workload.zoo import check_request

    sequences = Sequences(tokens_per_seq, docs_per_row, loss_positions)
    if model is not None and not sequences.dense:
        spec, settled = check_request(model, 1, seq)
        sequences.check(settled or 1, spec.has_sequence)
    return sequences


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


def progress_bar(as_json: bool) -> "Progress":
    """A transient progress bar on stderr; off with --json and when stderr is not a terminal (a log, a pipe)."""
    from rich.progress import Progress

    console = Console(stderr=True)
    return Progress(console=console, transient=True, disable=as_json or not console.is_terminal)


def invocation() -> list[str]:
    """The arguments this command was run with (main() puts them on the context; else sys.argv)."""
    obj = get_current_context().find_root().obj
    return list(obj["argv"]) if isinstance(obj, dict) and "argv" in obj else sys.argv[1:]


def interrupted(kept: str, resume: bool = True) -> typer.Exit:
    """One stderr line after Ctrl-C: what was kept and the exact command that carries on; exit 130."""
    args = invocation()
    again = shlex.join(["dojosim", *args, *([] if "--resume" in args else ["--resume"])])
    tail = f"; resume with: {again}" if resume else ""
    Console(stderr=True).print(f"[bold]interrupted:[/] {kept}{tail}", highlight=False, soft_wrap=True)
    return typer.Exit(130)


def emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
