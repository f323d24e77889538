"""The main job: Dojo generations against GPU clusters on one training workload, at the same budget.

For every system: how many devices the budget buys, the best plan a search finds at that size (and at
smaller fractions of the budget, for the scaling curves), and the full estimate of that plan. Campaigns,
fleets and shares of training are derived from these results (`study/campaign.py`).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dojosim.errors import InputError
from dojosim.hardware import load_system
from dojosim.job import DENSE, Sequences
from dojosim.perf.counterfactual import Counterfactual, counterfactuals
from dojosim.perf.jobs import engine_for
from dojosim.perf.result import Estimate
from dojosim.stack import DEFAULT_STACK, Stack
from dojosim.study.budget import Budget, default_budget, devices_for, growth_unit, per_device
from dojosim.study.search import PlanResult, SearchSpec, search
from dojosim.workload.spec import ModelSpec, parse_model


@dataclass(frozen=True)
class ScalePoint:
    """The best plan at one size of a system."""

    spec: SearchSpec  # the search at this size
    best: PlanResult
    budget: float  # what this size costs, in the budget's unit
    power_w: float  # facility power
    estimate: Estimate  # the best plan's full estimate
    counterfactuals: tuple[Counterfactual, ...]  # the best plan, each resource freed, largest speed-up first

    @property
    def devices(self) -> int:
        return self.spec.devices

    @property
    def global_batch(self) -> int:
        return self.spec.global_batch

    @property
    def samples_per_s(self) -> float:
        return self.global_batch / self.best.step_time_s


@dataclass
class SystemResult:
    system: str
    devices: int
    status: str
    maker: str
    best: ScalePoint | None = None
    error: str = ""
    costed: int = 0
    scaling: list[ScalePoint] = field(default_factory=list)
    estimate: Estimate | None = None  # the best plan's full estimate
    counterfactuals: list[Counterfactual] = field(default_factory=list)  # the best plan, each resource freed
    roofline: dict[str, Any] | None = None
    capacity_bytes: float = 0.0  # memory per device (near + far tiers)


def _sizes(system: str, devices: int, points: int, overrides: tuple[str, ...] = ()) -> dict[int, list[float]]:
    """Device counts at 1, 1/2, 1/4 ... of the budget in whole units; a small budget rounds points together."""
    sizes: dict[int, list[float]] = {}
    for fraction in (2.0**-k for k in range(points - 1, -1, -1)):
        unit = growth_unit(system, devices * fraction, overrides)
        sizes.setdefault(max(unit, int(devices * fraction // unit) * unit), []).append(fraction)
    return sizes


def _point(spec: SearchSpec, best: PlanResult, budget: float, power_w: float) -> ScalePoint:
    """The best plan at one size with its full estimate and what would speed it (arithmetic on a cached
    engine), so that every point's bottleneck is told by counterfactual."""
    engine = engine_for(spec.job(best.plan))
    estimate = engine.estimate(best.plan)
    return ScalePoint(spec, best, budget, power_w, estimate, tuple(counterfactuals(engine, best.plan, estimate)))


def _at_full_budget(result: SystemResult, point: ScalePoint, costed: int) -> None:
    engine = engine_for(point.spec.job(point.best.plan))
    result.best, result.costed = point, costed
    result.estimate = point.estimate
    result.roofline = engine.roofline(point.best.plan)
    result.counterfactuals = list(point.counterfactuals)
    result.capacity_bytes = engine.device.capacity_bytes


def compare_system(
    model: ModelSpec, name: str, budget: Budget, batch_per_device: float, seq: int | None, points: int,
    progress: Callable[[str], None] | None = None, stack: str | Stack = DEFAULT_STACK, precision: str = "bf16",
    overrides: tuple[str, ...] = (), sequences: Sequences = DENSE,
) -> SystemResult:  # fmt: skip
    system = load_system(name, overrides)  # a clear error for an unknown name or override before any search
    try:
        n = devices_for(name, budget, overrides)
    except InputError as exc:
        return SystemResult(name, 0, system.status, system.maker, error=str(exc))
    result = SystemResult(name, n, system.status, system.maker)
    cost = per_device(name, overrides)
    for devices, merged in _sizes(name, n, points, overrides).items():
        batch = max(1, int(round(devices * batch_per_device)))
        spec = SearchSpec(model, name, devices, batch, seq, precision, overrides, stack=stack, sequences=sequences)
        try:
            found = search(spec)
        except InputError as exc:
            if max(merged) == 1.0:
                result.error = str(exc)
            found = None
        if progress:
            for _ in merged:
                progress(name)
        if found is None:
            continue
        point = _point(spec, found.best()[0], devices * cost.of(budget.kind), devices * cost.facility_w)
        result.scaling.append(point)
        if max(merged) == 1.0:
            _at_full_budget(result, point, len(found.results))
    return result


def compare(
    model: str | ModelSpec,
    systems: list[str],
    budget: Budget | None,
    global_batch_per_device: float,
    seq: int | None,
    scaling_points: int = 3,
    progress: Callable[[str], None] | None = None,
    stack: str | Stack = DEFAULT_STACK,
    precision: str = "bf16",
    overrides: tuple[str, ...] = (),
    sequences: Sequences = DENSE,
) -> list[SystemResult]:
    """Every system at the same budget: its size, its best plan there and at smaller fractions of the budget.
    `overrides` (PART.FIELD=VALUE) apply to every system: its plans, and what the budget buys of it (a figure
    that changes a device's power or price changes how many devices the budget buys)."""
    spec, budget = parse_model(model), budget or default_budget("power")
    return [
        compare_system(
            spec, name, budget, global_batch_per_device, seq, scaling_points, progress, stack, precision, overrides,
            sequences,
        )
        for name in systems
    ]
