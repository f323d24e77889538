"""One vocabulary on every command: the same option name means the same thing wherever it is taken.

`@command(...)` registers a command function on a Typer app and gives it three things the function itself need
not know about:
- the old names of its options (`--gpus`, `--workload`, `--batch`, `--dtype`, capture's positional MODEL) as
  hidden aliases, kept for one release: they set the new option, and giving both is an error;
- with `job_file=True`, an optional first argument JOB.toml whose keys are the option names (`cli/jobfile.py`);
  options given on the command line win over the file, and list options (`--set`) add to the file's list;
- options that are required once the aliases and the file are taken into account, and the range checks every
  command shares (counts >= 1, a finite float, `--seq` within its stated maximum).
The function is then called with the merged values under the new names, as if they had all been typed.
"""

import copy
import inspect
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from dojosim.cli.app import get_current_context
from dojosim.cli.jobfile import read_job_file
from dojosim.errors import InputError

# The longest sequence accepted: 2^20 tokens per sample, above the longest contexts models are trained at (about
# one million tokens); past it a captured attention step is no longer a training job anyone runs, and time and
# memory figures would be reported in units nobody reads.
MAX_SEQ_TOKENS = 1 << 20
# The most devices accepted: 2^20, several times the largest training clusters built to date; a search past it
# would enumerate plans for minutes on a size nobody can buy.
MAX_DEVICES = 1 << 20
# Counts that must be at least this (a plan's degrees, batches, workers, rows shown).
AT_LEAST = {
    "devices": 1, "global_batch": 1, "micro_batch": 1, "tp": 1, "pp": 1, "vp": 1, "cp": 1, "ep": 1, "spatial": 1,
    "zero": 0, "workers": 1, "steps": 1, "top": 1, "rows": 0, "tokens_per_seq": 1, "docs_per_row": 1,
    "loss_positions": 1,
}  # fmt: skip


@dataclass(frozen=True)
class OldName:
    """An option's former name, accepted without being shown in --help."""

    decl: str  # as typed ("--gpus"), or an argument's metavar ("MODEL")
    new: str  # the parameter it sets now

    @property
    def param(self) -> str:
        return "old_" + self.decl.lstrip("-").lower().replace("-", "_")

    @property
    def flag(self) -> str:
        return self.decl if self.decl.startswith("-") else f"the positional {self.decl}"


OLD_NAMES = {
    old.decl: old
    for old in (
        OldName("--gpus", "devices"),
        OldName("--workload", "model"),
        OldName("--batch", "global_batch"),
        OldName("--dtype", "precision"),
        OldName("MODEL", "model"),
    )
}
JobArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="JOB.toml",
        help="A TOML job file: keys are the option names (flags typed here win).",
        show_default=False,
    ),
]


def _base_type(annotation: Any) -> type:
    """bool, int, float, str or list for an option's annotation (Annotated and `| None` unwrapped)."""
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return list if typing.get_origin(annotation) is list else annotation


def _option_of(annotation: Any) -> Any:
    return next((a for a in typing.get_args(annotation) if isinstance(a, typer.models.ParameterInfo)), None)


def option_name(param: str, hints: dict[str, Any]) -> str:
    """The option a parameter is set by, as typed: '--global-batch' for global_batch."""
    info = _option_of(hints.get(param))
    # In Annotated[..., typer.Option("--set")] the first name sits in `default` until Typer reads it
    names = (getattr(info, "default", None), *(getattr(info, "param_decls", None) or ()))
    decls = [d for d in names if isinstance(d, str) and d.startswith("--")]
    return decls[0].split("/")[0] if decls else "--" + param.replace("_", "-")


def _old_parameter(old: OldName, new_hint: Any) -> inspect.Parameter:
    kind = _base_type(new_hint)
    if old.decl.startswith("-"):
        info = typer.Option(old.decl, hidden=True)
    else:
        info = typer.Argument(hidden=True, metavar=old.decl, show_default=False)
    hint = Annotated[kind | None, info]  # type: ignore[valid-type]
    return inspect.Parameter(old.param, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint)


def _required(hint: Any, job_file: bool) -> Any:
    """The option as shown in --help with '[required]': click cannot require it, since a job file or an old name
    may give it."""
    info = copy.copy(_option_of(hint))
    info.help = f"{info.help} Required{' (here or in the job file)' if job_file else ''}."
    return Annotated[typing.get_args(hint)[0], info]


def check_ranges(values: dict[str, Any], hints: dict[str, Any]) -> None:
    """The checks every command shares, on the merged values (typed flags and job files alike)."""
    for param, value in values.items():
        name = option_name(param, hints)
        if param in AT_LEAST and value is not None and value < AT_LEAST[param]:
            raise InputError(f"{name}: must be >= {AT_LEAST[param]}, got {value}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{name}: must be a finite number, got {value}")
    devices = values.get("devices")
    if devices is not None and devices > MAX_DEVICES:
        raise InputError(f"--devices: must be at most {MAX_DEVICES:,} (the stated maximum), got {devices}")
    seq = values.get("seq")
    if seq is not None and not 1 <= seq <= MAX_SEQ_TOKENS:
        raise InputError(f"--seq: must be between 1 and {MAX_SEQ_TOKENS:,} tokens (the stated maximum), got {seq}")
    tokens = values.get("tokens_per_seq")
    if seq is not None and tokens is not None and tokens > seq:  # the rest once the job settles --seq (job.py)
        raise InputError(f"--tokens-per-seq: must be between 1 and --seq {seq}, got {tokens:g}")


def _given(ctx: Any, param: str) -> bool:
    """Typed on the command line (or set by the environment), not a default a job file may replace."""
    source = ctx.get_parameter_source(param)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT", "PROMPT")


# How to print is the command line's to say, not the job's.
OUTPUT_FORMATS = ("as_json", "as_csv")


def _merge(ctx: Any, kwargs: dict[str, Any], own: list[str], spec: "_Spec") -> dict[str, Any]:
    values = {name: kwargs[name] for name in own}
    given = {name for name in own if _given(ctx, name)}
    for old in spec.old:
        if kwargs[old.param] is None:
            continue
        if old.new in given:
            raise InputError(f"{old.flag} is the old name of {option_name(old.new, spec.hints)}; give only the new one")
        values[old.new] = kwargs[old.param]
        given.add(old.new)
    if kwargs.get("job"):
        keys = {
            option_name(p, spec.hints)[2:].replace("-", "_"): (p, _base_type(spec.hints[p]))
            for p in own
            if p not in OUTPUT_FORMATS
        }
        for param, value in read_job_file(kwargs["job"], keys).values.items():
            if isinstance(value, list):
                values[param] = [*value, *(values[param] or [])] if param in given else value
            elif param not in given:
                values[param] = value
    check_ranges(values, spec.hints)
    where = " or in the job file" if spec.job_file else ""
    for param in spec.required:
        if values[param] is None:
            raise InputError(f"{option_name(param, spec.hints)}: required (give it on the command line{where})")
    return values


@dataclass(frozen=True)
class _Spec:
    old: tuple[OldName, ...]
    job_file: bool
    required: tuple[str, ...]
    hints: dict[str, Any]


def command(
    group: typer.Typer, name: str, *, old: tuple[str, ...] = (), job_file: bool = False, required: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn` as `dojosim name` with the old names in `old`, a job file when asked, and `required`
    options checked after both (their help says so)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn, include_extras=True)
        own = list(inspect.signature(fn).parameters)
        spec = _Spec(tuple(OLD_NAMES[o] for o in old), job_file, required, hints)
        keyword = inspect.Parameter.KEYWORD_ONLY
        shown = {p: _required(hints[p], job_file) if p in required else hints[p] for p in own}
        params = [p.replace(kind=keyword, annotation=shown[p.name]) for p in inspect.signature(fn).parameters.values()]
        params += [_old_parameter(o, hints[o.new]) for o in spec.old]
        if job_file:
            params.insert(0, inspect.Parameter("job", keyword, default=None, annotation=JobArgument))

        def run(**kwargs: Any) -> Any:
            return fn(**_merge(get_current_context(), kwargs, own, spec))

        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        run.__doc__, run.__name__ = fn.__doc__, fn.__name__
        group.command(name)(run)
        return fn

    return register
