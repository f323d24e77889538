"""TOML job files: `dojosim simulate job.toml` reads its options from the file, flags on the command line win.

A job file's keys are the command's option names with '_' for '-' (`global_batch`, `micro_batch`, `set`, ...).
It is parsed here, once, against the options of the command that reads it, so a wrong key or type is one
line naming the key and what is allowed, never a traceback from deeper down.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from dojosim.errors import InputError, allowed, closest

JobValue = bool | int | float | str | list[str]
KIND_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list of strings"}


@dataclass(frozen=True)
class JobFile:
    """The settings a job file gives, keyed by the parameter they set, each of the type its option takes."""

    path: Path
    values: dict[str, JobValue]


def _typed(value: object, kind: type) -> JobValue | None:
    """`value` as `kind` (an int is a fine float), or None when it is not one."""
    if kind is bool:
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):  # TOML's true is not a number or a string here
        return None
    if kind is float and isinstance(value, int | float):
        return float(value)
    if kind is list:
        return list(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else None
    return value if isinstance(value, kind) else None


def read_job_file(path: str, options: dict[str, tuple[str, type]]) -> JobFile:
    """Read `path` against `options` (key -> (parameter name, bool/int/float/str/list))."""
    file = Path(path)
    if not file.exists():
        raise InputError(f"job file '{path}' does not exist (the first argument is a TOML job file)")
    if not file.is_file():
        raise InputError(f"job file '{path}' is a folder; give a .toml file")
    try:
        doc = tomllib.loads(file.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"job file '{path}': not valid TOML ({exc})") from None
    values: dict[str, JobValue] = {}
    for key, value in doc.items():
        if key not in options:
            hint = closest(key, options) or ";"
            raise InputError(f"job file '{path}': unknown key '{key}'{hint} allowed keys: {allowed(options)}")
        param, kind = options[key]
        typed = _typed(value, kind)
        if typed is None:
            raise InputError(f"job file '{path}': '{key}' must be {KIND_WORDS[kind]}, got {value!r}")
        values[param] = typed
    return JobFile(file, values)
