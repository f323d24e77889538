"""The answer of a comparison in figures: who wins on time and on cost (owning and renting kept apart), by how
much, what the winner and the best Dojo system hinge on, and how far to trust the systems named. The words are
written in report/ (`verdict_view.py`); the figures are decided here, once."""

from dataclasses import dataclass

from dojosim.perf.counterfactual import Counterfactual
from dojosim.perf.result import Estimate
from dojosim.study.campaign import DOJO_MAKER
from dojosim.study.compare import SystemResult


@dataclass(frozen=True)
class Lead:
    """The best system on one measure and its margin over the next best (a ratio >= 1: how many times faster,
    or how many times cheaper); no runner-up when only one system has the measure."""

    system: str
    value: float  # samples/s for time; USD per sample for costs
    runner_up: str | None
    runner_up_value: float | None

    @property
    def margin(self) -> float | None:
        if self.runner_up_value is None:
            return None
        return max(self.value, self.runner_up_value) / min(self.value, self.runner_up_value)


@dataclass(frozen=True)
class Hinge:
    """What a system's best plan would gain from each resource made free, largest first."""

    system: str
    estimate: Estimate
    counterfactuals: tuple[Counterfactual, ...]


@dataclass(frozen=True)
class Verdict:
    time: Lead  # throughput at the same budget, higher is better
    owned: Lead  # USD per sample owned (capital over the lifetime plus energy), lower is better
    rented: Lead | None  # USD per sample at the preset rental price, among systems that have one
    unrented: tuple[str, ...]  # the systems with a plan but no rental price
    hinges: tuple[Hinge, ...]  # the winner on time, then the best Dojo system when it is another
    best_dojo: str | None  # the fastest Dojo system, if any was compared
    statuses: dict[str, str]  # each system's preset status, in the order compared


def _lead(values: dict[str, float], higher_is_better: bool) -> Lead | None:
    ranked = sorted(values, key=lambda name: -values[name] if higher_is_better else values[name])
    if not ranked:
        return None
    second = ranked[1] if len(ranked) > 1 else None
    return Lead(ranked[0], values[ranked[0]], second, values[second] if second else None)


def verdict(results: list[SystemResult]) -> Verdict | None:
    """The verdict over the systems that have a plan at the budget; None when none has."""
    ran = [r for r in results if r.best and r.estimate]
    if not ran:
        return None
    time = _lead({r.system: r.best.samples_per_s for r in ran}, higher_is_better=True)
    owned = _lead(
        {r.system: r.estimate.cost.owned_usd / r.best.global_batch for r in ran if r.estimate.cost.owned_usd}, False
    )
    rental = {r.system: r.estimate.cost.rental_usd / r.best.global_batch for r in ran if r.estimate.cost.rental_usd}
    dojo = [r for r in ran if r.maker == DOJO_MAKER]
    best_dojo = max(dojo, key=lambda r: r.best.samples_per_s) if dojo else None
    winner = next(r for r in ran if r.system == time.system)
    named = [winner] + ([best_dojo] if best_dojo and best_dojo is not winner else [])
    hinges = tuple(Hinge(r.system, r.estimate, tuple(r.counterfactuals)) for r in named if r.estimate)
    return Verdict(
        time=time,
        owned=owned,
        rented=_lead(rental, False),
        unrented=tuple(r.system for r in ran if r.system not in rental),
        hinges=hinges,
        best_dojo=best_dojo.system if best_dojo else None,
        statuses={r.system: r.status for r in results},
    )
