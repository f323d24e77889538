"""Read a machine from TOML (a shipped preset or the user's file), apply --set overrides, validate.

Every problem becomes one InputError naming the file, the field path and what is allowed.
"""

import copy
import math
import tomllib
from functools import lru_cache
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
    CostPart,
    Device,
    Level,
    MemoryPool,
    PublishedCheck,
    System,
)
from dojosim.hardware.overrides import apply_overrides
from dojosim.hardware.schema import (
    CHECK_FIELDS,
    COST_FIELDS,
    COST_PART_FIELDS,
    DEVICE_FIELDS,
    FIELD_ALIASES,
    FIGURE_KINDS,
    LEVEL_FIELDS,
    POOL_FIELDS,
    POSITIVE,
    PRESET_PACKAGE,
    SYSTEM_FIELDS,
)


@lru_cache(maxsize=1)
def _preset_names() -> tuple[str, ...]:
    files = resources.files(PRESET_PACKAGE).iterdir()
    return tuple(sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml")))


def list_presets() -> list[str]:
    return list(_preset_names())


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
        if kind in FIGURE_KINDS:
            return FIGURE_KINDS[kind][0]
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
            "parts": "an array of cost-part tables ([[cost.parts]])",
        }[kind]

    def value(self, raw: Any, kind: str, path: str) -> Any:
        if kind in FIGURE_KINDS:
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
        if kind in ("table", "pools", "levels", "checks", "parts"):
            return raw  # structured kinds are read by their own builders
        raise AssertionError(f"unhandled field kind {kind}")  # a bug in the spec tables, not bad input

    def figure(self, raw: Any, kind: str, path: str) -> Figure:
        what, ok = FIGURE_KINDS[kind]
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


def _units_per_device(reader: _Reader, per: str, levels: tuple[Level, ...], where: str) -> float:
    """How many of `per` (a device, a level's unit, or a card of a level's memory pool) each device owns a share of,
    in a fully built hierarchy."""
    if per == "device":
        return 1.0
    devices_per_unit = 1.0
    pool = per.removeprefix("memory:") if per.startswith("memory:") else None
    for level in levels:
        devices_per_unit *= level.children.value
        if pool is None and level.name == per:
            return 1.0 / devices_per_unit
        cards = next((p.cards.value for p in level.memory if p.name == pool), None)
        if cards is not None:
            return cards / devices_per_unit
    known = ["device", *(lvl.name for lvl in levels), *(f"memory:{p.name}" for lvl in levels for p in lvl.memory)]
    raise reader.fail(f"{where}.per", f"unknown unit {per!r}{closest(per, known)} (allowed: {allowed(known)})")


def _build_cost(reader: _Reader, raw: Any, levels: tuple[Level, ...]) -> Cost:
    f = reader.table(raw, COST_FIELDS, "cost")
    parts_raw = f.pop("parts", [])
    if not isinstance(parts_raw, list):
        raise reader.fail("cost.parts", "must be an array of tables ([[cost.parts]])")
    parts = []
    for i, item in enumerate(parts_raw):
        p = reader.table(item, COST_PART_FIELDS, f"cost.parts[{i}]")
        units = _units_per_device(reader, p["per"], levels, f"cost.parts[{i}]")
        parts.append(CostPart(p["name"], p["per"], p["usd_each"], units))
    cost = Cost(**f, parts=tuple(parts))
    if cost.price_per_device_hour_usd is None and not cost.owned:
        raise reader.fail("cost", "give price_per_device_hour_usd, or capex_usd_per_device with lifetime_years")
    if (cost.nre_usd is None) != (cost.nre_devices is None):
        raise reader.fail("cost", "nre_usd and nre_devices go together: give both or neither")
    return cost


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
    cost = _build_cost(reader, f["cost"], levels)
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
        maker=f.get("maker", ""),
    )


def load_system(name_or_path: str, overrides: list[str] | tuple[str, ...] | None = None) -> System:
    """A preset name or a TOML path, with optional PART.FIELD=VALUE overrides, as a validated System.

    Systems are immutable, so a study that names one system many times reads and validates it once; a user
    file is read again when it changes."""
    path = Path(name_or_path)
    stamp = path.stat().st_mtime_ns if name_or_path not in list_presets() and path.is_file() else 0
    return _load_system(name_or_path, tuple(overrides or ()), stamp)


@lru_cache(maxsize=128)
def _load_system(name_or_path: str, overrides: tuple[str, ...], stamp: int) -> System:
    raw, origin, is_preset = _resolve(name_or_path)
    if overrides:
        raw = apply_overrides(raw, list(overrides))
    return build_system(raw, origin, is_preset)
