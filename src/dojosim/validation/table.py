"""Read a validation table (format v2, docs/validation-schema.md; v1 files read as v2 with the v2 columns
blank) into typed rows, with clear errors."""

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from dojosim.errors import InputError, allowed

REQUIRED = ("id", "source", "model", "system", "gpus", "precision", "global_batch", "seq_len", "metric", "measured")
OPTIONAL = ("micro_batch", "tp", "pp", "cp", "ep", "vp", "dp", "zero", "recompute", "sequence_parallel", "notes")
OPTIONAL_V2 = ("stack", "tokens_per_seq", "docs_per_row", "loss_positions")
METRICS = ("step_time_s", "tokens_per_s_per_gpu", "peak_memory_bytes")
PUBLIC = "public.csv"


@dataclass(frozen=True)
class Row:
    id: str
    source: str
    model: str
    system: str
    gpus: int
    precision: str
    global_batch: int
    micro_batch: int
    seq_len: int
    tp: int
    pp: int
    cp: int
    ep: int
    vp: int
    dp: int | None
    zero: int
    recompute: str
    sequence_parallel: bool
    metric: str
    measured: float
    notes: str = ""
    table: str = ""
    stack: str = ""  # a stack preset name; blank: the tool's default
    tokens_per_seq: int | None = None  # mean real tokens per sequence; None: seq_len
    docs_per_row: float | None = None  # documents packed per row; None: 1
    loss_positions: int | None = None  # positions carrying a loss; None: all

    @property
    def source_key(self) -> str:
        """The repository or paper a row comes from, for grouping."""
        return self.source.split(" ")[0].rstrip(",")


def _int(value: str, field: str, where: str, default: int | None = None) -> int | None:
    if value is None or value.strip() == "":
        if default is None and field in REQUIRED:
            raise InputError(f"{where}: {field} is empty")
        return default
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"{where}: {field}={value!r} is not a number") from None
    if not number.is_integer() or number < 0:
        raise InputError(f"{where}: {field}={value!r} must be a whole number >= 0")
    return int(number)


def _float(value: str | None, field: str, where: str) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"{where}: {field}={value!r} is not a number") from None
    if number <= 0:
        raise InputError(f"{where}: {field}={value!r} must be > 0")
    return number


def read_table(path: str | Path) -> list[Row]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"--data: '{path}' does not exist") from None
    except IsADirectoryError:
        raise InputError(f"--data: '{path}' is a folder; give a CSV file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--data: cannot read '{path}': {exc}") from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (format: docs/validation-schema.md)")
    known = REQUIRED + OPTIONAL + OPTIONAL_V2
    unknown = [c for c in header if c not in known]
    if unknown:
        raise InputError(f"{path}: unknown column(s) {', '.join(unknown)} (allowed: {allowed(known)})")
    rows, seen = [], set()
    for line, raw in enumerate(reader, start=2):
        where = f"{path.name}:{line}"
        if raw["id"] in seen:
            raise InputError(f"{where}: duplicate id {raw['id']!r}")
        seen.add(raw["id"])
        if raw["metric"] not in METRICS:
            raise InputError(f"{where}: metric {raw['metric']!r} is not one of {', '.join(METRICS)}")
        try:
            measured = float(raw["measured"])
        except ValueError:
            raise InputError(f"{where}: measured={raw['measured']!r} is not a number") from None
        rows.append(
            Row(
                id=raw["id"],
                source=raw["source"],
                model=raw["model"],
                system=raw["system"],
                gpus=_int(raw["gpus"], "gpus", where),
                precision=raw["precision"],
                global_batch=_int(raw["global_batch"], "global_batch", where),
                micro_batch=_int(raw.get("micro_batch"), "micro_batch", where, 1),
                seq_len=_int(raw["seq_len"], "seq_len", where),
                tp=_int(raw.get("tp"), "tp", where, 1),
                pp=_int(raw.get("pp"), "pp", where, 1),
                cp=_int(raw.get("cp"), "cp", where, 1),
                ep=_int(raw.get("ep"), "ep", where, 1),
                vp=_int(raw.get("vp"), "vp", where, 1),
                dp=_int(raw.get("dp"), "dp", where, 0) or None,
                zero=_int(raw.get("zero"), "zero", where, 0),
                recompute=(raw.get("recompute") or "none").strip(),
                sequence_parallel=bool(_int(raw.get("sequence_parallel"), "sequence_parallel", where, 0)),
                metric=raw["metric"],
                measured=measured,
                notes=raw.get("notes") or "",
                table=path.name,
                stack=(raw.get("stack") or "").strip(),
                tokens_per_seq=_int(raw.get("tokens_per_seq"), "tokens_per_seq", where),
                docs_per_row=_float(raw.get("docs_per_row"), "docs_per_row", where),
                loss_positions=_int(raw.get("loss_positions"), "loss_positions", where),
            )
        )
    return rows


def public_table_path() -> Path:
    return Path(str(resources.files("dojosim.validation").joinpath("data", PUBLIC)))
