"""`--set PART.FIELD=VALUE`: what-if overrides applied to a system's raw table before it is validated."""

import copy
from typing import Any

from dojosim.errors import InputError, allowed, closest
from dojosim.hardware.model import DTYPE_ALIASES
from dojosim.hardware.schema import (
    COST_FIELDS,
    DEVICE_FIELDS,
    FIELD_ALIASES,
    LEVEL_FIELDS,
    POOL_FIELDS,
    POSITIVE,
    SYSTEM_FIELDS,
)


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
        elif kind == "parts":
            raise InputError(f"--set {text}: cost parts are set in a system file ([[cost.parts]]), not with --set")
        elif len(rest) != 1:
            raise InputError(f"--set {text}: '{field}' has no sub-fields")
        else:
            table[field] = _override_value(text, value, kind)
    return raw
