"""Read a machine from TOML (a shipped preset or the user's file), apply --set overrides, validate.

Every problem becomes one InputError naming the file, the field path and what is allowed.
"""

import copy
import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from dojosim.errors import InputError, allowed, closest
from dojosim.hardware.figure import STATUSES, Figure
from dojosim.hardware.model import (
    DTYPE_ALIASES,
    DTYPES,
    TOPOLOGIES,
    Cost,
    Device,
    Level,
    MemoryPool,
    PublishedCheck,
    System,
)

PRESET_PACKAGE = "dojosim.hardware.presets"

# Field kinds: how a value is checked. Figures are numbers or {value, source, status[, note]} tables.
POSITIVE, NONNEGATIVE, FRACTION, COUNT, AT_LEAST_ONE = "positive", "nonnegative", "fraction", "count", ">=1"
_FIGURE_KINDS = {
    POSITIVE: ("a number > 0", lambda v: v > 0),
    NONNEGATIVE: ("a number >= 0", lambda v: v >= 0),
    FRACTION: ("a number in (0, 1]", lambda v: 0 < v <= 1),
    COUNT: ("a whole number >= 1", lambda v: v >= 1 and float(v).is_integer()),
    AT_LEAST_ONE: ("a number >= 1", lambda v: v >= 1),
}

# (kind, required). Kinds beyond figures: "str", "dims", "dtypes", "pools", "topology", "strs".
DEVICE_FIELDS: dict[str, tuple[str, bool]] = {
    "name": ("str", True),
    "summary": ("str", False),
    "cores": (COUNT, True),
    "clock_hz": (POSITIVE, False),
    "peak_flops_per_s": ("dtypes", True),
    "egress_bytes_per_s": (POSITIVE, True),
    "sram_bytes_per_core": (NONNEGATIVE, False),
    "sram_bytes_per_s_per_core": (POSITIVE, False),
    "hbm_bytes": (POSITIVE, False),
    "hbm_bytes_per_s": (POSITIVE, False),
    "tdp_w": (POSITIVE, True),
    "idle_w": (NONNEGATIVE, True),
    "matmul_empirical_fraction_of_peak": (FRACTION, True),
    "memory_empirical_fraction_of_peak": (FRACTION, False),
    "kernel_overhead_s": (NONNEGATIVE, False),
    "host_overhead_s": (NONNEGATIVE, False),
    "matmul_ramp_s": (NONNEGATIVE, False),
    "attention_empirical_fraction_of_peak": (FRACTION, False),
    "conv_empirical_fraction_of_peak": (FRACTION, False),
    "conv_ramp_s": (NONNEGATIVE, False),
    "optimizer_op_overhead_s": (NONNEGATIVE, False),
    "transcendental_per_s": (POSITIVE, False),
    "random_per_s": (POSITIVE, False),
}
LEVEL_FIELDS: dict[str, tuple[str, bool]] = {
    "name": ("str", True),
    "summary": ("str", False),
    "children": (COUNT, True),
    "topology": ("topology", True),
    "mesh_dims": ("dims", False),
    "link_latency_s": (NONNEGATIVE, True),
    "collective_empirical_fraction_of_link": (FRACTION, True),
    "egress_bytes_per_s": (POSITIVE, False),
    "nic_bytes_per_s_per_device": (POSITIVE, False),
    "oversubscription": (AT_LEAST_ONE, False),
    "switch_radix": (COUNT, False),
    "overhead_power_w": (NONNEGATIVE, False),
    "host_dram_bytes": (POSITIVE, False),
    "memory": ("pools", False),
}
POOL_FIELDS: dict[str, tuple[str, bool]] = {
    "name": ("str", True),
    "cards": (COUNT, True),
    "bytes_per_card": (POSITIVE, True),
    "bytes_per_s_per_card": (POSITIVE, True),
    "link_bytes_per_s_per_card": (POSITIVE, True),
}
COST_FIELDS: dict[str, tuple[str, bool]] = {
    "price_per_device_hour_usd": (POSITIVE, False),
    "capex_usd_per_device": (POSITIVE, False),
    "lifetime_years": (POSITIVE, False),
    "electricity_usd_per_kwh": (NONNEGATIVE, False),
}
CHECK_FIELDS: dict[str, tuple[str, bool]] = {
    "total": ("str", True),
    "devices": ("int", True),
    "value": ("number", True),
    "source": ("str", True),
    "status": ("str", True),
}
SYSTEM_FIELDS: dict[str, tuple[str, bool]] = {
    "name": ("str", True),
    "summary": ("str", True),
    "status": ("str", True),
    "extends": ("str", False),
    "default_devices": (COUNT, True),
    "pue": (AT_LEAST_ONE, True),
    "notes": ("strs", False),
    "device": ("table", True),
    "levels": ("levels", True),
    "cost": ("table", True),
    "checks": ("checks", False),
}
# Other names a user may know a field by (Dojo calls a tile's egress its off-tile bandwidth).
FIELD_ALIASES = {"offtile_bytes_per_s": "egress_bytes_per_s"}


def list_presets() -> list[str]:
    files = resources.files(PRESET_PACKAGE).iterdir()
    return sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml"))


def _read_toml(name_or_path: str) -> tuple[dict[str, Any], str, bool]:
    """The raw table, where it came from, and whether it is a shipped preset."""
    presets = list_presets()
    if name_or_path in presets:
        text = resources.files(PRESET_PACKAGE).joinpath(f"{name_or_path}.toml").read_text()
        origin, is_preset = f"{name_or_path}.toml", True
    else:
        path = Path(name_or_path)
        if not (path.suffix == ".toml" or path.exists()):
            raise InputError(
                f"unknown system '{name_or_path}'{closest(name_or_path, presets)} "
                f"(presets: {allowed(presets)}; or pass the path of a .toml file)"
            )
        if not path.is_file():
            raise InputError(f"system file '{name_or_path}' does not exist")
        text, origin, is_preset = path.read_text(), str(path), False
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{origin}: not valid TOML: {exc}") from None
    return raw, origin, is_preset


def _merge(base: dict[str, Any], child: dict[str, Any], where: str) -> dict[str, Any]:
    """Deep-merge child over base; levels merge by name."""
    out = copy.deepcopy(base)
    for key, value in child.items():
        if key == "levels" and isinstance(value, list):
            by_name = {lvl.get("name"): lvl for lvl in out.get("levels", [])}
            for lvl in value:
                name = lvl.get("name") if isinstance(lvl, dict) else None
                if name not in by_name:
                    raise InputError(
                        f"{where}: levels: '{name}' is not a level of the system it extends "
                        f"(levels: {allowed(str(n) for n in by_name)})"
                    )
                by_name[name].update(_merge(by_name[name], lvl, where))
        elif key == "checks":
            out[key] = copy.deepcopy(value)  # a derived system's published figures replace its parent's
        elif isinstance(value, dict) and isinstance(out.get(key), dict) and "value" not in value:
            out[key] = _merge(out[key], value, where)  # a sub-table; a figure table replaces whole
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve(name_or_path: str, seen: tuple[str, ...] = ()) -> tuple[dict[str, Any], str, bool]:
    raw, origin, is_preset = _read_toml(name_or_path)
    parent = raw.get("extends")
    if parent is None:
        return raw, origin, is_preset
    if not isinstance(parent, str):
        raise InputError(f"{origin}: extends: must be a preset name or file path")
    if parent in seen:
        raise InputError(f"{origin}: extends: '{parent}' extends itself in a loop ({' -> '.join(seen)})")
    base, _, _ = _resolve(parent, (*seen, name_or_path))
    merged = _merge(base, {k: v for k, v in raw.items() if k != "extends"}, origin)
    return merged, origin, is_preset


# ---------------------------------------------------------------------------------------- overrides


def _parse_override(text: str) -> tuple[list[str], str]:
    if "=" not in text:
        raise InputError(f"--set '{text}': expected PART.FIELD=VALUE, e.g. tile.offtile_bytes_per_s=72e12")
    path, value = text.split("=", 1)
    return [p.strip() for p in path.split(".") if p.strip()], value.strip()


def _override_value(field: str, value: str, kind: str) -> Any:
    if kind == "dims":
        parts = value.replace("x", ",").split(",")
        try:
            return [int(p) for p in parts]
        except ValueError:
            raise InputError(f"--set {field}={value}: mesh_dims takes two whole numbers, e.g. 5x5") from None
    if kind in ("str", "topology"):
        return value
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"--set {field}={value}: '{value}' is not a number") from None
    return {"value": number, "source": f"--set {field}={value}", "status": "user"}


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    device = raw.get("device", {})
    levels = {lvl.get("name"): lvl for lvl in raw.get("levels", []) if isinstance(lvl, dict)}
    parts = ["device", str(device.get("name")), *levels, "cost", "system"]
    for text in overrides:
        path, value = _parse_override(text)
        if not path:
            raise InputError(f"--set '{text}': missing the PART.FIELD before '='")
        head, rest = path[0], path[1:]
        if head == "system" or (not rest and head in SYSTEM_FIELDS):
            table, fields, rest = raw, SYSTEM_FIELDS, rest or [head]
        elif head in ("device", device.get("name")):
            table, fields = device, DEVICE_FIELDS
        elif head in levels:
            table, fields = levels[head], LEVEL_FIELDS
        elif head == "cost":
            table, fields = raw.setdefault("cost", {}), COST_FIELDS
        else:
            raise InputError(f"--set {text}: unknown part '{head}'{closest(head, parts)} (parts: {allowed(parts)})")
        if not rest:
            raise InputError(f"--set {text}: name a field of '{head}' (fields: {allowed(fields)})")
        field = FIELD_ALIASES.get(rest[0], rest[0])
        if field not in fields:
            known = [*fields, *(alias for alias, target in FIELD_ALIASES.items() if target in fields)]
            raise InputError(
                f"--set {text}: '{rest[0]}' is not a field of '{head}'{closest(rest[0], known)} "
                f"(fields: {allowed(fields)})"
            )
        kind = fields[field][0]
        if kind == "dtypes":
            if len(rest) != 2:
                raise InputError(f"--set {text}: name the dtype, e.g. {head}.{field}.bf16=1e15")
            table.setdefault(field, {})[DTYPE_ALIASES.get(rest[1], rest[1])] = _override_value(text, value, POSITIVE)
        elif kind == "pools":
            pools = {p.get("name"): p for p in table.get(field, [])}
            if len(rest) != 3 or rest[1] not in pools or rest[2] not in POOL_FIELDS:
                raise InputError(
                    f"--set {text}: expected {head}.memory.POOL.FIELD with POOL in {allowed(map(str, pools))} "
                    f"and FIELD in {allowed(POOL_FIELDS)}"
                )
            pools[rest[1]][rest[2]] = _override_value(text, value, POOL_FIELDS[rest[2]][0])
        elif len(rest) != 1:
            raise InputError(f"--set {text}: '{field}' has no sub-fields")
        else:
            table[field] = _override_value(text, value, kind)
    return raw


# ---------------------------------------------------------------------------------------- validation


class _Reader:
    """Checks one table against a field spec, building error messages with the full field path."""

    def __init__(self, origin: str, is_preset: bool):
        self.origin = origin
        self.is_preset = is_preset

    def fail(self, where: str, message: str) -> InputError:
        return InputError(f"{self.origin}: {where}: {message}")

    def table(self, raw: Any, spec: dict[str, tuple[str, bool]], where: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(where, f"must be a table, got {type(raw).__name__}")
        for key in raw:
            if key not in spec:
                raise self.fail(
                    f"{where}.{key}" if where else key,
                    f"unknown key{closest(key, spec)} (allowed: {allowed(spec)})",
                )
        out: dict[str, Any] = {}
        for key, (kind, required) in spec.items():
            path = f"{where}.{key}" if where else key
            if key not in raw:
                if required:
                    raise self.fail(path, f"missing (expected {self._describe(kind)})")
                continue
            out[key] = self.value(raw[key], kind, path)
        return out

    @staticmethod
    def _describe(kind: str) -> str:
        if kind in _FIGURE_KINDS:
            return _FIGURE_KINDS[kind][0]
        return {
            "str": "a string",
            "int": "a whole number > 0",
            "number": "a number > 0",
            "strs": "a list of strings",
            "dims": "two whole numbers, e.g. [5, 5]",
            "dtypes": f"a table of peaks by dtype ({allowed(DTYPES)})",
            "topology": f"one of {allowed(TOPOLOGIES)}",
            "table": "a table",
            "pools": "an array of memory-pool tables",
            "levels": "an array of level tables",
            "checks": "an array of published-total tables",
        }[kind]

    def value(self, raw: Any, kind: str, path: str) -> Any:
        if kind in _FIGURE_KINDS:
            return self.figure(raw, kind, path)
        if kind in ("int", "number"):
            whole = kind == "int"
            if isinstance(raw, bool) or not isinstance(raw, int if whole else int | float) or raw <= 0:
                raise self.fail(path, f"must be a {'whole ' if whole else ''}number > 0, got {raw!r}")
            return raw
        if kind == "str":
            if not isinstance(raw, str):
                raise self.fail(path, f"must be a string, got {raw!r}")
            return raw
        if kind == "strs":
            if not (isinstance(raw, list) and all(isinstance(s, str) for s in raw)):
                raise self.fail(path, "must be a list of strings")
            return tuple(raw)
        if kind == "topology":
            if raw not in TOPOLOGIES:
                raise self.fail(
                    path, f"unknown topology {raw!r}{closest(str(raw), TOPOLOGIES)} (allowed: {allowed(TOPOLOGIES)})"
                )
            return raw
        if kind == "dims":
            ok = isinstance(raw, list) and len(raw) == 2 and all(type(d) is int and d >= 1 for d in raw)
            if not ok:
                raise self.fail(path, f"must be two whole numbers >= 1, e.g. [5, 5]; got {raw!r}")
            return (raw[0], raw[1])
        if kind == "dtypes":
            if not isinstance(raw, dict) or not raw:
                raise self.fail(path, f"must be a table with at least one of {allowed(DTYPES)}")
            peaks = {}
            for dtype, fig in raw.items():
                name = DTYPE_ALIASES.get(dtype, dtype)
                if name not in DTYPES:
                    raise self.fail(
                        f"{path}.{dtype}", f"unknown dtype{closest(dtype, DTYPES)} (allowed: {allowed(DTYPES)})"
                    )
                peaks[name] = self.figure(fig, POSITIVE, f"{path}.{dtype}")
            return peaks
        if kind in ("table", "pools", "levels", "checks"):
            return raw  # structured kinds are read by their own builders
        raise AssertionError(f"unhandled field kind {kind}")  # a bug in the spec tables, not bad input

    def figure(self, raw: Any, kind: str, path: str) -> Figure:
        what, ok = _FIGURE_KINDS[kind]
        if isinstance(raw, dict):
            unknown = set(raw) - {"value", "source", "status", "note"}
            if unknown:
                key = sorted(unknown)[0]
                raise self.fail(f"{path}.{key}", "unknown key (allowed: note, source, status, value)")
            if "value" not in raw:
                raise self.fail(path, "missing 'value'")
            source, status = raw.get("source"), raw.get("status")
            if self.is_preset and not (source and status):
                raise self.fail(path, "a preset figure needs both 'source' and 'status'")
            status = status or "user"
            if status not in STATUSES:
                raise self.fail(f"{path}.status", f"unknown status {status!r} (allowed: {allowed(STATUSES)})")
            value, source = raw["value"], source or self.origin
        else:
            if self.is_preset:
                raise self.fail(path, "a preset figure must be a table {value, source, status}")
            value, source, status = raw, self.origin, "user"
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.fail(path, f"must be {what}, got {value!r}")
        if not ok(value) or math.isinf(value):
            raise self.fail(path, f"must be {what}, got {value!r}")
        return Figure(float(value), source, status)


def _build_device(reader: _Reader, raw: Any) -> Device:
    f = reader.table(raw, DEVICE_FIELDS, "device")
    if ("hbm_bytes" in f) != ("hbm_bytes_per_s" in f):
        raise reader.fail("device", "hbm_bytes and hbm_bytes_per_s go together: give both or neither")
    if "sram_bytes_per_core" not in f and "hbm_bytes" not in f:
        raise reader.fail("device", "needs local memory: sram_bytes_per_core, or hbm_bytes with hbm_bytes_per_s")
    return Device(**f)


def _build_level(reader: _Reader, raw: Any, index: int, is_top: bool) -> Level:
    name = raw.get("name", index) if isinstance(raw, dict) else index
    where = f"levels[{name}]"
    if isinstance(raw, dict):
        raw = {FIELD_ALIASES.get(k, k): v for k, v in raw.items()}
    f = reader.table(raw, LEVEL_FIELDS, where)
    children = int(f["children"].value)
    if f["topology"] == "mesh2d":
        dims = f.get("mesh_dims")
        if dims is None:
            raise reader.fail(f"{where}.mesh_dims", "a mesh2d level needs mesh_dims, e.g. [5, 5]")
        if dims[0] * dims[1] != children:
            raise reader.fail(
                f"{where}.mesh_dims",
                f"{dims[0]} x {dims[1]} = {dims[0] * dims[1]} does not match children = {children}",
            )
    elif "mesh_dims" in f:
        raise reader.fail(f"{where}.mesh_dims", f"only a mesh2d level has mesh_dims (topology is {f['topology']})")
    if "egress_bytes_per_s" in f and "nic_bytes_per_s_per_device" in f:
        raise reader.fail(where, "give egress_bytes_per_s or nic_bytes_per_s_per_device, not both")
    if (
        not is_top
        and f["topology"] == "mesh2d"
        and not ("egress_bytes_per_s" in f or "nic_bytes_per_s_per_device" in f)
    ):
        raise reader.fail(where, "a mesh2d level below the top needs egress_bytes_per_s (its off-unit bandwidth)")
    pools = []
    for i, pool in enumerate(f.pop("memory", [])):
        pools.append(MemoryPool(**reader.table(pool, POOL_FIELDS, f"{where}.memory[{i}]")))
    return Level(**f, memory=tuple(pools))


def _build_checks(reader: _Reader, raw: Any) -> tuple[PublishedCheck, ...]:
    if not isinstance(raw, list):
        raise reader.fail("checks", "must be an array of tables")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise reader.fail(f"checks[{i}]", "must be a table")
        f = reader.table(item, CHECK_FIELDS, f"checks[{i}]")
        if f["status"] not in STATUSES:
            raise reader.fail(f"checks[{i}].status", f"unknown status (allowed: {allowed(STATUSES)})")
        published = Figure(float(f["value"]), f["source"], f["status"])
        out.append(PublishedCheck(f["total"], f["devices"], published))
    return tuple(out)


def build_system(raw: dict[str, Any], origin: str, is_preset: bool) -> System:
    reader = _Reader(origin, is_preset)
    f = reader.table(raw, SYSTEM_FIELDS, "")
    if f["status"] not in STATUSES:
        raise reader.fail("status", f"unknown status {f['status']!r} (allowed: {allowed(STATUSES)})")
    levels_raw = f["levels"]
    if not isinstance(levels_raw, list) or not levels_raw:
        raise reader.fail("levels", "must be a non-empty array of level tables ([[levels]])")
    levels = tuple(_build_level(reader, lvl, i, i == len(levels_raw) - 1) for i, lvl in enumerate(levels_raw))
    names = [lvl.name for lvl in levels]
    if len(set(names)) != len(names) or f["device"].get("name") in names:
        raise reader.fail("levels", f"level and device names must be unique, got {names}")
    cost = Cost(**reader.table(f["cost"], COST_FIELDS, "cost"))
    if cost.price_per_device_hour_usd is None and (cost.capex_usd_per_device is None or cost.lifetime_years is None):
        raise reader.fail("cost", "give price_per_device_hour_usd, or capex_usd_per_device with lifetime_years")
    return System(
        name=f["name"],
        summary=f["summary"],
        status=f["status"],
        device=_build_device(reader, f["device"]),
        levels=levels,
        pue=f["pue"],
        cost=cost,
        default_devices=int(f["default_devices"].value),
        checks=_build_checks(reader, f.get("checks", [])),
        notes=f.get("notes", ()),
        origin=origin,
    )


def load_system(name_or_path: str, overrides: list[str] | None = None) -> System:
    """A preset name or a TOML path, with optional PART.FIELD=VALUE overrides, as a validated System."""
    raw, origin, is_preset = _resolve(name_or_path)
    if overrides:
        raw = apply_overrides(raw, overrides)
    return build_system(raw, origin, is_preset)
