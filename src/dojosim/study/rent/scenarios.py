"""Sweeps of rental scenarios: the same cluster simulation over a grid of schedulers, cluster sizes, mixes, prices
and seeds, each scenario on a worker of the process pool or a Ray cluster (`study/backends.py`), so a sweep that
outgrows one machine runs across many. Results are the same whichever backend runs them."""

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from dojosim.errors import InputError, allowed, closest
from dojosim.study.backends import map_chunks
from dojosim.study.rent.run import RentSpec, run_rent

# What a scenario may vary: the RentSpec field and how a value is read from the command line.
VARIABLES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "scheduler": ("scheduler", str),
    "devices": ("devices", int),
    "mix": ("mixes", str),
    "price": ("price_usd_per_device_hour", float),
    "seed": ("seed", int),
    "days": ("days", float),
}


@dataclass(frozen=True)
class ScenarioRow:
    """One scenario's headline figures (the full result is `dojosim rent` with the scenario's options)."""

    point: dict[str, Any]  # the varied values, by variable name
    utilisation: float
    goodput: float
    fragmentation: float
    finished: int
    jobs: int
    wait_p90_h: float  # the worst tenant's p90 wait
    break_even_usd_per_device_hour: float | None
    revenue_usd: float | None

    def as_dict(self) -> dict[str, Any]:
        return {**self.point, **{k: v for k, v in vars(self).items() if k != "point"}}


def parse_vary(texts: list[str]) -> list[tuple[str, list[str]]]:
    """`--vary NAME=V1,V2,...` (repeatable; every combination runs); a mix list uses '+' between mixes."""
    out = []
    for text in texts:
        name, sep, values = text.partition("=")
        name = name.strip()
        if not sep or not values.strip():
            raise InputError(f"--vary {text!r}: expected NAME=V1,V2,... with NAME in {allowed(VARIABLES)}")
        if name not in VARIABLES:
            raise InputError(f"--vary {text!r}: unknown{closest(name, VARIABLES)} (allowed: {allowed(VARIABLES)})")
        if name in (n for n, _ in out):
            raise InputError(f"--vary {name}: given twice; list every value in one --vary")
        items = [v.strip().replace("+", ",") for v in values.split(",") if v.strip()]
        for item in items:
            try:
                VARIABLES[name][1](item)
            except ValueError:
                raise InputError(f"--vary {name}: {item!r} is not a valid value") from None
        out.append((name, items))
    return out


def scenarios(base: RentSpec, varies: list[tuple[str, list[str]]]) -> list[tuple[dict[str, Any], RentSpec]]:
    """Every combination of the varied values on top of `base`, each checked before any runs."""
    out = []
    names = [name for name, _ in varies]
    for combo in itertools.product(*(values for _, values in varies)):
        point = {name: VARIABLES[name][1](value) for name, value in zip(names, combo, strict=True)}
        spec = replace(base, **{VARIABLES[name][0]: value for name, value in point.items()})
        spec.check()  # a bad scenario is one clear error before hours of simulation
        out.append((point, spec))
    return out


def _run_one(context: None, index: int, items: list[tuple[dict[str, Any], RentSpec]]) -> list[tuple[int, ScenarioRow]]:
    """A worker's share: run each scenario whole (runtimes come from the shared on-disk table)."""
    rows = []
    for offset, (point, spec) in enumerate(items):
        r = run_rent(spec)
        worst = max((t.wait_h.get(90, 0.0) for t in r.tenants), default=0.0)
        rows.append(
            (
                index + offset,
                ScenarioRow(
                    point, r.utilisation, r.goodput, r.fragmentation, r.finished, r.jobs, worst,
                    r.break_even_usd_per_device_hour, r.revenue_usd,
                ),  # fmt: skip
            )
        )
    return rows


def run_scenarios(
    grid: list[tuple[dict[str, Any], RentSpec]],
    backend: str = "process",
    workers: int | None = None,
    ray_address: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[ScenarioRow]:
    """Every scenario, in grid order whatever order the workers finish in."""
    chunks = [(i, [scenario]) for i, scenario in enumerate(grid)]
    done: dict[int, ScenarioRow] = {}
    for rows, n in map_chunks(_run_one, None, chunks, backend, workers, ray_address):
        done.update(rows)
        if progress:
            progress(n)
    return [done[i] for i in range(len(grid))]
