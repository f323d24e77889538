"""Read a stack preset (or the user's TOML file): every field {value, source}, `extends` for variants."""

import tomllib
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from dojosim.errors import InputError, allowed, closest
from dojosim.stack.model import (
    Attention,
    Fp8Recipe,
    KernelMode,
    Kernels,
    OverlapUnit,
    PipelineSchedule,
    Reshard,
    Stack,
    TpOverlap,
    TrainingState,
)

PRESET_PACKAGE = "dojosim.stack.presets"
# Current best practice for a new run: Megatron-Core as NeMo and Megatron-LM ship it (see the preset).
DEFAULT_STACK = "megatron-core-2024"
FIELDS: dict[str, Any] = {
    "attention": Attention,
    "pointwise": Kernels,
    "optimizer": Kernels,
    "overlap_grad_reduce": bool,
    "overlap_param_gather": bool,
    "tp_overlap": TpOverlap,
    "reshard_after_forward": Reshard,
    "kernels": KernelMode,
    "sp_regather_backward": bool,
    "dp_overlap_unit": OverlapUnit,
    "fp8_recipe": Fp8Recipe,
    "cuda_graphs": bool,
    "training_state": TrainingState,
    "moe_load_imbalance": float,
    "moe_capacity_factor": float,
    "ep_overlap": float,
    "ep_dispatch_dedup": bool,
    "ep_comm_sms": float,
    "ep_dispatch_fp8": bool,
    "pipeline_schedule": PipelineSchedule,
}
# Fields a preset may leave out, with the value it then has and the source said for it.
DEFAULTS: dict[str, tuple[str, str]] = {
    "training_state": ("mixed", "default: mixed-precision state (fp32 master weights, gradients and moments)"),
}
# Where each MoE figure must lie, checked when a preset or an option sets it.
MOE_RANGES = {
    "moe_load_imbalance": (1.0, 64.0, "--moe-imbalance", ">= 1 (1: balanced)"),
    "moe_capacity_factor": (0.0, 64.0, "--capacity-factor", "0 (dropless) or > 0"),
    "ep_overlap": (0.0, 1.0, "--ep-overlap", "from 0 to 1"),
    "ep_comm_sms": (0.0, 1024.0, "ep_comm_sms", "a count of cores >= 0"),
}
TOP = {"name", "summary", "extends"}


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    files = resources.files(PRESET_PACKAGE).iterdir()
    return tuple(sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml")))


def list_stacks() -> list[str]:
    return list(_names())


def _read(name_or_path: str) -> tuple[dict[str, Any], str]:
    if name_or_path in _names():
        text = resources.files(PRESET_PACKAGE).joinpath(f"{name_or_path}.toml").read_text()
        origin = f"{name_or_path}.toml"
    elif name_or_path.endswith(".toml"):
        try:
            text = Path(name_or_path).read_text()
        except OSError as exc:
            raise InputError(f"--stack: cannot read '{name_or_path}': {exc.strerror}") from None
        origin = name_or_path
    else:
        raise InputError(
            f"--stack: unknown stack '{name_or_path}'{closest(name_or_path, _names())} "
            f"(allowed: {allowed(_names())}, or a .toml file)"
        )
    try:
        return tomllib.loads(text), origin
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{origin}: not valid TOML: {exc}") from None


def _field(origin: str, key: str, raw: Any) -> tuple[Any, str]:
    if not isinstance(raw, dict) or set(raw) != {"value", "source"}:
        raise InputError(f'{origin}: {key} must be {{ value = ..., source = "..." }}')
    kind, value = FIELDS[key], raw["value"]
    if kind is bool:
        if not isinstance(value, bool):
            raise InputError(f"{origin}: {key} = {value!r} must be true or false")
        return value, str(raw["source"])
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{origin}: {key} = {value!r} must be a number")
        _check_range(key, float(value), f"{origin}: {key}")
        return float(value), str(raw["source"])
    try:
        return kind(value), str(raw["source"])
    except ValueError:
        raise InputError(f"{origin}: {key} = {value!r} is not one of {allowed(m.value for m in kind)}") from None


def _resolve(name_or_path: str, seen: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    if name_or_path in seen:
        raise InputError(f"stack '{name_or_path}' extends itself (through {' -> '.join(seen)})")
    raw, origin = _read(name_or_path)
    unknown = set(raw) - TOP - set(FIELDS)
    if unknown:
        raise InputError(f"{origin}: unknown field(s) {allowed(unknown)} (allowed: {allowed(TOP | set(FIELDS))})")
    if "extends" not in raw:
        return raw, origin
    base, _ = _resolve(str(raw["extends"]), (*seen, name_or_path))
    return {**base, **{k: v for k, v in raw.items() if k != "extends"}}, origin


@lru_cache(maxsize=64)
def load_stack(name_or_path: str = DEFAULT_STACK) -> Stack:
    raw, origin = _resolve(name_or_path)
    missing = [k for k in ("name", "summary", *FIELDS) if k not in raw and k not in DEFAULTS]
    if missing:
        raise InputError(f"{origin}: missing field(s) {', '.join(missing)}")
    values, sources = {}, {}
    for key in FIELDS:
        if key not in raw:
            value, source = DEFAULTS[key]
            raw = {**raw, key: {"value": value, "source": source}}
        values[key], sources[key] = _field(origin, key, raw[key])
    return Stack(name=str(raw["name"]), summary=str(raw["summary"]), sources=sources, **values)


def with_kernel_mode(stack: Stack, kernels: str | None) -> Stack:
    """The stack with its kernel mode replaced (`--kernels`); None keeps the preset's."""
    if kernels is None or kernels == stack.kernels:
        return stack
    try:
        mode = KernelMode(kernels)
    except ValueError:
        raise InputError(f"--kernels: '{kernels}' is not one of {allowed(m.value for m in KernelMode)}") from None
    return replace(stack, kernels=mode, sources={**stack.sources, "kernels": "--kernels on the command line"})


def _check_range(key: str, value: float, where: str) -> None:
    low, high, _option, allowed_text = MOE_RANGES[key]
    if not (low <= value <= high) or value != value:
        raise InputError(f"{where} = {value!r}: must be {allowed_text}, at most {high:g}")


def with_moe_routing(
    stack: Stack, imbalance: float | None = None, capacity: float | None = None, ep_overlap: float | None = None
) -> Stack:
    """The stack with its MoE routing figures replaced (`--moe-imbalance`, `--capacity-factor`, `--ep-overlap`);
    None keeps the preset's."""
    changes: dict[str, float] = {}
    given = (("moe_load_imbalance", imbalance), ("moe_capacity_factor", capacity), ("ep_overlap", ep_overlap))
    for key, value in given:
        if value is not None:
            _check_range(key, float(value), MOE_RANGES[key][2])
            changes[key] = float(value)
    if not changes or all(getattr(stack, k) == v for k, v in changes.items()):
        return stack
    sources = {**stack.sources, **{k: f"{MOE_RANGES[k][2]} on the command line" for k in changes}}
    return replace(stack, sources=sources, **changes)
