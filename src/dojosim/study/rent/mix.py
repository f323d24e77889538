"""Workload mixes: who sends which training jobs to the rented cluster, how often and how big.

A mix is a TOML file (shipped ones in `mixes/`, or a path): a name, a summary and `[[jobs]]` classes. Each class
names its tenant, a model (zoo name or spec), a priority, a Poisson arrival rate, the sizes it asks for as bf16
peak PFLOP/s (so one request means the same compute on any system: about 2,760 D1 or 1,010 H100 per EFLOP/s)
and a log-uniform range of samples to train. Jobs are drawn from the classes with a seed, once, before the
simulation runs.
"""

import math
import random
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from dojosim.errors import InputError, allowed, closest
from dojosim.units import SECONDS_PER_DAY
from dojosim.workload.spec import parse_model

MIX_PACKAGE = "dojosim.study.rent.mixes"
PRIORITIES = {"high": 0, "normal": 1, "low": 2}  # lower runs first; only the priority scheduler reads it
JOB_FIELDS = {
    "name": "a name",
    "tenant": "the tenant's name",
    "model": "a zoo name or FAMILY(key=value,...)",
    "priority": f"one of {', '.join(PRIORITIES)}",
    "arrivals_per_day": "a number > 0",
    "peak_pflops": "a list of numbers > 0 (sizes asked for, as bf16 peak PFLOP/s; drawn equally often)",
    "samples": "[low, high], 0 < low <= high (samples to train, drawn log-uniformly)",
    "global_batch": "a whole number >= 1",
    "seq": "a whole number >= 1 (tokens per sample; sequence models only)",
}
OPTIONAL = ("seq",)


@dataclass(frozen=True)
class JobClass:
    name: str
    tenant: str
    model: str  # canonical spec text
    priority: int
    arrivals_per_day: float
    peak_pflops: tuple[float, ...]
    samples: tuple[float, float]
    global_batch: int
    seq: int | None = None


@dataclass(frozen=True)
class Mix:
    name: str
    summary: str
    classes: tuple[JobClass, ...]


@dataclass(frozen=True)
class JobRequest:
    """One job as it arrives: what it trains, how much, and the compute it asks for."""

    id: int
    job_class: JobClass
    arrival_s: float
    peak_flops_per_s: float
    samples: float

    @property
    def steps(self) -> int:
        return max(1, math.ceil(self.samples / self.job_class.global_batch))


def shipped_mixes() -> list[str]:
    files = resources.files(MIX_PACKAGE).iterdir()
    return sorted(p.name.removesuffix(".toml") for p in files if p.name.endswith(".toml"))


def _read(name_or_path: str) -> tuple[dict[str, Any], str]:
    if name_or_path.endswith(".toml"):
        path = Path(name_or_path)
        if not path.is_file():
            raise InputError(f"--mix: file '{name_or_path}' not found")
        text, origin = path.read_text(), name_or_path
    else:
        names = shipped_mixes()
        if name_or_path not in names:
            raise InputError(
                f"--mix: unknown mix {name_or_path!r}{closest(name_or_path, names)} (shipped: {', '.join(names)}; "
                "or a .toml file)"
            )
        text, origin = (resources.files(MIX_PACKAGE) / f"{name_or_path}.toml").read_text(), name_or_path
    try:
        return tomllib.loads(text), origin
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"mix {origin}: not valid TOML ({exc})") from None


def _number(raw: Any) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw)


def _field(raw: dict[str, Any], key: str, where: str) -> Any:
    """One field of a job class, checked; returns the parsed value."""
    value, bad = raw.get(key), False
    if key in ("name", "tenant"):
        bad = not isinstance(value, str) or not value.strip()
    elif key == "model":
        if not isinstance(value, str):
            bad = True
        else:
            try:
                value = parse_model(value).text
            except InputError as exc:
                raise InputError(f"{where}.model: {exc}") from None
    elif key == "priority":
        bad = value not in PRIORITIES
        value = PRIORITIES.get(value, 0) if isinstance(value, str) else 0
    elif key == "arrivals_per_day":
        bad = not _number(value) or value <= 0
    elif key == "peak_pflops":
        bad = not isinstance(value, list) or not value or not all(_number(v) and v > 0 for v in value)
        value = tuple(float(v) for v in value) if not bad else ()
    elif key == "samples":
        ok = isinstance(value, list) and len(value) == 2 and all(_number(v) and v > 0 for v in value)
        bad = not ok or value[0] > value[1]
        value = (float(value[0]), float(value[1])) if not bad else ()
    elif key in ("global_batch", "seq"):
        bad = not isinstance(value, int) or isinstance(value, bool) or value < 1
    if bad:
        raise InputError(f"{where}.{key}: must be {JOB_FIELDS[key]}, got {raw.get(key)!r}")
    return value


def _job_class(raw: Any, where: str) -> JobClass:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: must be a table ([[jobs]])")
    for key in raw:
        if key not in JOB_FIELDS:
            raise InputError(f"{where}.{key}: unknown field{closest(key, JOB_FIELDS)} (allowed: {allowed(JOB_FIELDS)})")
    for key in JOB_FIELDS:
        if key not in raw and key not in OPTIONAL:
            raise InputError(f"{where}.{key}: missing; must be {JOB_FIELDS[key]}")
    values = {key: _field(raw, key, where) for key in JOB_FIELDS if key in raw}
    if values.get("seq") is not None and not parse_model(values["model"]).has_sequence:
        raise InputError(f"{where}.seq: model {raw['model']!r} has no token sequence; leave seq out")
    return JobClass(**values)


def load_mix(name_or_path: str) -> Mix:
    raw, origin = _read(name_or_path)
    for key in raw:
        if key not in ("name", "summary", "jobs"):
            raise InputError(f"mix {origin}: unknown field {key!r} (allowed: jobs, name, summary)")
    jobs = raw.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        raise InputError(f"mix {origin}: jobs: must be one or more [[jobs]] tables")
    classes = tuple(_job_class(item, f"mix {origin}: jobs[{i}]") for i, item in enumerate(jobs))
    return Mix(str(raw.get("name", origin)), str(raw.get("summary", "")), classes)


def load_mixes(names: str) -> tuple[Mix, ...]:
    """'tesla-internal,external-tenants': the mixes whose jobs arrive together."""
    parts = [n.strip() for n in names.split(",") if n.strip()]
    if not parts:
        raise InputError(f"--mix: give one or more mix names or .toml files, comma-separated (shipped: "
                         f"{', '.join(shipped_mixes())})")
    return tuple(load_mix(p) for p in parts)


def draw_jobs(mixes: tuple[Mix, ...], days: float, seed: int) -> list[JobRequest]:
    """Every job that arrives within `days`, in arrival order: each class a Poisson stream, one seeded generator
    per class so adding a class leaves the others' jobs unchanged."""
    horizon_s = days * SECONDS_PER_DAY
    drawn: list[tuple[float, JobClass, float, float]] = []
    for m, mix in enumerate(mixes):
        for c, cls in enumerate(mix.classes):
            rng = random.Random(f"{seed}/{m}/{c}/{cls.name}")
            t = rng.expovariate(cls.arrivals_per_day / SECONDS_PER_DAY)
            while t < horizon_s:
                size = rng.choice(cls.peak_pflops) * 1e15
                low, high = cls.samples
                samples = math.exp(rng.uniform(math.log(low), math.log(high)))
                drawn.append((t, cls, size, samples))
                t += rng.expovariate(cls.arrivals_per_day / SECONDS_PER_DAY)
    drawn.sort(key=lambda d: d[0])
    return [JobRequest(i, cls, t, size, samples) for i, (t, cls, size, samples) in enumerate(drawn)]
