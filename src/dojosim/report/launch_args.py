"""How to run a plan: the `dojosim simulate` line that reproduces it, and the arguments that run it on Megatron-LM,
NeMo 2.0 and torchtitan.

Which flag each plan dimension becomes is data, one file per framework (`launch/*.toml`, every dimension with the
source it was read from); this module only reads and fills it in. A dimension a framework cannot express is said
("not expressible in torchtitan: zero=1: ..."), never dropped.
"""

import shlex
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from math import ceil
from typing import TYPE_CHECKING, Any

from dojosim.errors import InputError, closest
from dojosim.parallel.plan import ParallelPlan
from dojosim.workload.spec import ModelSpec

if TYPE_CHECKING:
    from dojosim.job import Sequences
    from dojosim.stack import Stack

DATA_PACKAGE = "dojosim.report.launch"
FRAMEWORKS = ("megatron_lm", "nemo", "torchtitan")
# Every field of a plan (and dp, which follows from them) is a dimension each framework's file must place, in
# this order: the parallel degrees, then what shards and what is recomputed, then batch, sequence and precision.
DIMENSIONS = (
    "devices", "dp", "tp", "pp", "vp", "cp", "ep", "spatial", "zero", "sequence_parallel", "recompute",
    "micro_batch", "global_batch", "seq", "precision",
)  # fmt: skip
TOP = {"name", "command", "source", "families", "families_source"}
ANY = "*"


@dataclass(frozen=True)
class Case:
    """What the plan's values (one per `by` name, or ANY) become: arguments, or why the framework cannot say it."""

    match: tuple[str, ...]
    args: tuple[str, ...] = ()
    note: str = ""
    unsupported: str = ""

    def matches(self, values: tuple[str, ...]) -> bool:
        return all(m in (ANY, v) for m, v in zip(self.match, values, strict=True))


@dataclass(frozen=True)
class Dimension:
    name: str
    by: tuple[str, ...]  # the plan values that choose the case
    cases: tuple[Case, ...]  # in file order; the first that matches wins
    source: str


@dataclass(frozen=True)
class Framework:
    key: str
    name: str
    command: str  # how it is launched; the arguments follow
    source: str
    families: tuple[str, ...]  # model families it trains
    families_source: str
    dimensions: tuple[Dimension, ...]


@dataclass(frozen=True)
class LaunchArgs:
    """One plan in one framework's words."""

    framework: Framework
    args: tuple[str, ...]
    not_expressible: tuple[str, ...]  # "dimension=value: why"
    notes: tuple[str, ...]


# ------------------------------------------------------------------------------------------------- the data


def _case(origin: str, key: str, width: int, value: Any) -> Case:
    match = tuple(part.strip() for part in key.split(","))
    if len(match) != width:
        raise InputError(f"{origin}: case '{key}' names {len(match)} values, `by` names {width}")
    if isinstance(value, list):
        return Case(match, tuple(value))
    unknown = set(value) - {"args", "note", "unsupported"}
    if unknown or ("args" in value) == ("unsupported" in value):
        raise InputError(f"{origin}: case '{key}' must be a list, {{ args, note }} or {{ unsupported }}")
    return Case(match, tuple(value.get("args", ())), value.get("note", ""), value.get("unsupported", ""))


def _dimension(origin: str, name: str, table: dict[str, Any]) -> Dimension:
    where = f"{origin}: [{name}]"
    if not table.get("source"):
        raise InputError(f"{where}: every dimension needs its `source`")
    if ("args" in table) == ("cases" in table):
        raise InputError(f"{where}: give `args` (always written) or `cases` (chosen by `by`), one of them")
    if "args" in table:
        case = Case((), tuple(table["args"]), table.get("note", ""))
        return Dimension(name, (), (case,), table["source"])
    by = tuple(table.get("by", (name,)))
    for value_name in by:
        if value_name not in DIMENSIONS:
            raise InputError(f"{where}: by = '{value_name}' is not a plan value{closest(value_name, DIMENSIONS)}")
    cases = tuple(_case(where, key, len(by), value) for key, value in table["cases"].items())
    return Dimension(name, by, cases, table["source"])


@cache
def load_framework(key: str) -> Framework:
    """A framework's mapping, checked: every plan dimension placed, each with its source."""
    if key not in FRAMEWORKS:
        raise InputError(f"framework '{key}': must be one of {', '.join(FRAMEWORKS)}{closest(key, FRAMEWORKS)}")
    origin = f"{key}.toml"
    data = tomllib.loads(resources.files(DATA_PACKAGE).joinpath(origin).read_text())
    missing = [name for name in (*TOP, *DIMENSIONS) if name not in data]
    if missing:
        raise InputError(f"{origin}: missing {', '.join(missing)} (every plan dimension must be placed)")
    extra = sorted(set(data) - TOP - set(DIMENSIONS))
    if extra:
        raise InputError(f"{origin}: '{extra[0]}' is not a plan dimension{closest(extra[0], DIMENSIONS)}")
    dimensions = tuple(_dimension(origin, name, data[name]) for name in DIMENSIONS)
    top = {name: data[name] for name in TOP}
    return Framework(key, **{**top, "families": tuple(top["families"])}, dimensions=dimensions)


# ----------------------------------------------------------------------------------------- a plan in words


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def plan_values(plan: ParallelPlan, layers: int) -> tuple[dict[str, str], dict[str, str]]:
    """The plan's values as text, with those derived from them; and, for a derived value that does not exist
    for this plan, why not."""
    values = {name: _text(getattr(plan, name)) for name in ParallelPlan.__dataclass_fields__}
    values["dp"] = str(plan.dp)
    values["samples_per_replica"] = str(plan.global_batch // plan.dp)
    stages = plan.pp * plan.vp
    per_stage = ceil(layers / stages) if layers else 0
    missing = {}
    if per_stage and ceil(layers / per_stage) == stages:
        values["layers_per_virtual_stage"] = str(per_stage)
    else:
        missing["layers_per_virtual_stage"] = (
            f"the model's {layers} layers do not make pp x vp = {stages} stages of a whole number of layers each"
        )
    return values, missing


def _fill(templates: tuple[str, ...], values: dict[str, str]) -> tuple[str, ...]:
    return tuple(t.format_map(values) for t in templates)


def launch_args(framework: Framework, plan: ParallelPlan, model: ModelSpec, layers: int) -> LaunchArgs:
    """The plan in the framework's arguments; what it cannot express, said."""
    if model.family not in framework.families:
        why = f"model {model.name} ({model.family} family): {framework.families_source}"
        return LaunchArgs(framework, (), (why,), ())
    values, missing = plan_values(plan, layers)
    args: list[str] = []
    unsaid: list[str] = []
    notes: list[str] = []
    for dim in framework.dimensions:
        chosen = tuple(values[name] for name in dim.by)
        label = f"{dim.name}={values[dim.name]}"
        case = next((c for c in dim.cases if c.matches(chosen)), None)
        if case is None:
            raise InputError(f"{framework.key}.toml: [{dim.name}] has no case for {', '.join(chosen)}")
        if case.unsupported:
            unsaid.append(f"{label}: {case.unsupported}")
            continue
        try:
            args.extend(_fill(case.args, values))
        except KeyError as e:
            unsaid.append(f"{label}: {missing.get(e.args[0], f'needs {e.args[0]}')}")
            continue
        if case.note:
            notes.append(case.note.format_map(values))
    return LaunchArgs(framework, tuple(args), tuple(unsaid), tuple(notes))


def simulate_line(
    model: ModelSpec,
    system: str,
    plan: ParallelPlan,
    overrides: tuple[str, ...],
    stack: "str | Stack",
    sequences: "Sequences | None" = None,
) -> str:
    """The `dojosim simulate` command line that costs this plan again, every option spelled out: a stack given
    with `--kernels` is its preset name and that mode; sequence options where the rows are not dense."""
    words: list[Any] = ["dojosim", "simulate", "--model", model.name, "--system", system]
    words += ["--devices", plan.devices, "--global-batch", plan.global_batch]
    if model.has_sequence:
        words += ["--seq", plan.seq]
    words += ["--micro-batch", plan.micro_batch]
    for name in ("tp", "pp", "vp", "cp", "ep", "zero"):
        words += [f"--{name}", getattr(plan, name)]
    if plan.spatial > 1:
        words += ["--spatial", plan.spatial]
    words += ["--recompute", plan.recompute]
    if plan.sequence_parallel:
        words.append("--sequence-parallel")
    if isinstance(stack, str):
        words += ["--precision", plan.precision, "--stack", stack]
    else:
        words += ["--precision", plan.precision, "--stack", stack.name, "--kernels", stack.kernels.value]
    if sequences is not None and not sequences.dense:
        if sequences.tokens_per_seq is not None:
            words += ["--tokens-per-seq", f"{sequences.tokens_per_seq:g}"]
        words += ["--docs-per-row", f"{sequences.docs_per_row:g}"]
        if sequences.loss_positions is not None:
            words += ["--loss-positions", f"{sequences.loss_positions:g}"]
    for override in overrides:
        words += ["--set", override]
    return shlex.join(str(w) for w in words)


def run_document(
    model: ModelSpec,
    system: str,
    plan: ParallelPlan,
    overrides: tuple[str, ...],
    stack: "str | Stack",
    layers: int,
    sequences: "Sequences | None" = None,
) -> dict[str, Any]:
    """How to run the plan: `dojosim` (the simulate line), and per framework its arguments, what it cannot
    express, notes, and the command the arguments follow."""
    doc: dict[str, Any] = {"dojosim": simulate_line(model, system, plan, overrides, stack, sequences)}
    said = [launch_args(load_framework(key), plan, model, layers) for key in FRAMEWORKS]
    doc.update({a.framework.key: list(a.args) for a in said})
    doc["not_expressible"] = {a.framework.key: list(a.not_expressible) for a in said if a.not_expressible}
    doc["notes"] = {a.framework.key: list(a.notes) for a in said if a.notes}
    doc["commands"] = {a.framework.key: a.framework.command for a in said}
    return doc
