"""Plan search: enumerate every valid plan, prune what cannot fit before costing it, cost the rest.

Plans are enumerated with the rules `validate_plan` applies (`dojosim.parallel.plan`, one set), costed in chunks
that share a micro-batch (one captured graph each) on a process pool or Ray, and returned as typed results.
Writing them down (JSON lines to resume from, Parquet to analyse) is an optional sink, not the interface.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from dojosim.errors import InputError
from dojosim.job import DENSE, Job, Sequences
from dojosim.parallel.plan import (
    ModelShape,
    ParallelPlan,
    Precision,
    Recompute,
    batch_problem,
    cp_problem,
    ep_problem,
    interleave_problem,
    pp_problem,
    precision_of,
    recompute_problem,
    tp_problem,
)
from dojosim.perf.engine import Engine
from dojosim.perf.jobs import engine_for
from dojosim.perf.result import Bottleneck, BottleneckKind, Estimate, on_one_basis
from dojosim.stack import DEFAULT_STACK, Stack, load_stack
from dojosim.study.backends import map_chunks
from dojosim.workload.spec import ModelSpec, parse_model

OBJECTIVES = {"time": "step_time_s", "cost": "cost_usd", "energy": "energy_j"}
MICRO_BATCHES = (1, 2, 4, 8)
CP_DEGREES = (1, 2, 4, 8, 16, 32)
VP_DEGREES = (1, 2, 4)
CHUNK_PLANS = 2000
PLAN_FIELDS = ("tp", "pp", "vp", "cp", "ep", "zero", "recompute", "sequence_parallel", "micro_batch")
FIGURES = ("step_time_s", "mfu", "cost_owned_usd", "cost_rental_usd", "energy_j", "memory_bytes")


@dataclass(frozen=True)
class SearchSpec:
    """The question: the best way to train `model` on `devices` of `system` at this global batch."""

    model: ModelSpec | str
    system: str
    devices: int
    global_batch: int
    seq: int | None = None
    precision: Precision | str = Precision.BF16
    overrides: tuple[str, ...] = ()
    max_memory_fraction: float = 0.9
    stack: str | Stack = DEFAULT_STACK  # a stack preset name or .toml file, or a loaded one (--kernels)
    sequences: Sequences = DENSE  # how samples fill their padded length

    def __post_init__(self) -> None:
        if not isinstance(self.stack, Stack):
            load_stack(self.stack)  # a clear error for an unknown stack before any work
        object.__setattr__(self, "model", parse_model(self.model))
        object.__setattr__(self, "overrides", tuple(self.overrides))
        object.__setattr__(self, "precision", precision_of(self.precision))
        if not 0 < self.max_memory_fraction <= 1:
            raise InputError(f"--max-memory-fraction: must be in (0, 1], got {self.max_memory_fraction}")

    def job(self, plan: ParallelPlan) -> Job:
        return Job.of(self.model, self.system, plan, self.overrides, stack=self.stack, sequences=self.sequences)

    def question(self) -> dict[str, Any]:
        """What the search answers, field by field as JSON values: a resumed search must ask the same question."""
        stack = self.stack if isinstance(self.stack, Stack) else load_stack(self.stack)
        return {
            "model": self.model.text,  # type: ignore[union-attr]
            "system": self.system,
            "devices": self.devices,
            "global_batch": self.global_batch,
            "seq": self.seq,
            "precision": str(self.precision),
            "overrides": sorted(self.overrides),
            "max_memory_fraction": self.max_memory_fraction,
            "stack": f"{stack.name} (kernels {stack.kernels})",
            "sequences": repr(self.sequences),
        }

    def probe(self, micro_batch: int = 1) -> Job:
        """A one-plan job at this micro-batch: its engine tells the model's shape and the device."""
        plan = ParallelPlan(self.devices, self.devices * micro_batch, micro_batch, seq=self.seq or 1)
        return self.job(plan.with_(precision=self.precision))


@dataclass(frozen=True)
class PlanResult:
    """One costed plan: the figures a search ranks by, and the bottleneck's data."""

    plan: ParallelPlan
    step_time_s: float
    mfu: float
    cost_owned_usd: float | None
    cost_rental_usd: float | None
    energy_j: float
    memory_bytes: float
    breakdown_s: dict[str, float] = field(compare=False)
    bottleneck: Bottleneck = field(compare=False)

    @classmethod
    def of(cls, e: Estimate) -> "PlanResult":
        return cls(
            e.plan, e.step_time_s, e.mfu, e.cost.owned_usd, e.cost.rental_usd, e.energy_j, e.memory.total,
            e.breakdown_s, e.bottleneck,
        )  # fmt: skip

    @property
    def cost_usd(self) -> float:
        return on_one_basis(self.cost_owned_usd, self.cost_rental_usd)

    def objective(self, name: str) -> float:
        return getattr(self, OBJECTIVES[name])

    def to_row(self) -> dict[str, Any]:
        """A flat record for a table (JSON lines, Parquet): plan degrees, figures, `t_<term>` seconds."""
        row: dict[str, Any] = {k: getattr(self.plan, k) for k in PLAN_FIELDS}
        row["recompute"] = str(self.plan.recompute)
        row["dp"] = self.plan.dp
        row.update({k: getattr(self, k) for k in FIGURES})
        b = self.bottleneck
        row.update(bottleneck_kind=str(b.kind), bottleneck_part=b.part, bottleneck_share=b.share)
        row.update({f"t_{k}": v for k, v in self.breakdown_s.items()})
        return row

    @classmethod
    def from_row(cls, spec: SearchSpec, row: dict[str, Any]) -> "PlanResult":
        plan = spec.probe(row["micro_batch"]).plan.with_(
            global_batch=spec.global_batch, **{k: row[k] for k in PLAN_FIELDS}
        )
        bottleneck = Bottleneck(BottleneckKind(row["bottleneck_kind"]), row["bottleneck_part"], row["bottleneck_share"])
        figures = {k: row[k] for k in FIGURES}
        breakdown = {k[2:]: v for k, v in row.items() if k.startswith("t_")}
        return cls(plan, **figures, breakdown_s=breakdown, bottleneck=bottleneck)


def plan_key(plan: ParallelPlan) -> ParallelPlan:
    """What identifies a plan across runs: the plan itself (frozen, its options typed, so a plan read back
    from a sink equals the one enumerated)."""
    return plan


@dataclass
class SearchResult:
    enumerated: int
    pruned_on_memory: int
    results: list[PlanResult]

    def best(self, objective: str = "time", top: int = 1) -> list[PlanResult]:
        return sorted(self.results, key=lambda r: r.objective(objective))[:top]


def shape_of(engine: Engine) -> ModelShape:
    """What of the captured model limits how it can be split (the engine's own, which its validation uses)."""
    return engine.shape


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _degrees(spec: SearchSpec, shape: ModelShape, seq: int) -> Iterator[tuple[int, int, int]]:
    """(tp, cp, pp) that the model and machine allow."""
    n = spec.devices
    for tp in _divisors(n) if shape.hidden else [1]:
        if tp_problem(tp, shape):
            continue
        # Sequence models split tokens in powers of two; others split each sample's images over any divisor.
        cps = CP_DEGREES if shape.has_sequence else [d for d in _divisors(n // tp) if d <= shape.split_units]
        for cp in cps:
            if n % (tp * cp) or cp_problem(cp, seq, shape):
                continue
            for pp in _divisors(n // (tp * cp)) if shape.layers else [1]:
                if not pp_problem(pp, 1, shape):
                    yield tp, cp, pp


def enumerate_plans(spec: SearchSpec, shape: ModelShape, seq: int) -> Iterator[ParallelPlan]:
    """Every plan the model and machine allow: each rule applied at the loop that chooses its dimension."""
    precision = precision_of(spec.precision)
    for tp, cp, pp in _degrees(spec, shape, seq):
        dp = spec.devices // (tp * cp * pp)
        for mb in MICRO_BATCHES:
            if batch_problem(spec.global_batch, dp, mb):
                continue
            m = spec.global_batch // (dp * mb)
            for vp in VP_DEGREES if pp > 1 else (1,):
                if pp_problem(pp, vp, shape) or interleave_problem(pp, vp, m):
                    continue
                for ep in _divisors(shape.experts) if shape.experts else [1]:
                    if ep_problem(ep, dp, shape):
                        continue
                    for zero in (0, 1, 2, 3):
                        for recompute in Recompute:
                            if recompute_problem(recompute, shape):
                                continue
                            for sp in (False, True) if tp > 1 else (False,):
                                yield ParallelPlan(
                                    spec.devices, spec.global_batch, mb, seq, tp, pp, vp, cp, ep, zero, recompute, sp,
                                    precision,
                                )  # fmt: skip


def cost_chunk(spec: SearchSpec, micro_batch: int, plans: list[ParallelPlan]) -> tuple[list[PlanResult], int]:
    """Cost plans that share a micro-batch; returns the costed results and how many were pruned on memory."""
    engine = engine_for(spec.probe(micro_batch))
    capacity = engine.device.capacity_bytes * spec.max_memory_fraction
    results, pruned = [], 0
    for plan in plans:
        memory = engine.memory(plan)
        if memory.total > capacity:
            pruned += 1
            continue
        results.append(PlanResult.of(engine.estimate(plan, check=False, memory=memory)))
    return results, pruned


def pareto_front(results: list[PlanResult]) -> list[PlanResult]:
    """Plans no other plan beats on both step time and cost (lower is better)."""
    front, best_cost = [], float("inf")
    for r in sorted(results, key=lambda r: (r.step_time_s, r.cost_usd)):
        if r.cost_usd < best_cost:
            front.append(r)
            best_cost = r.cost_usd
    return front


class SearchSink(Protocol):
    """Where finished results go as they finish (and where a resumed search finds what was done)."""

    def done(self, spec: SearchSpec) -> list[PlanResult]: ...
    def write(self, results: list[PlanResult]) -> None: ...
    def close(self, results: list[PlanResult]) -> None: ...


def search(
    spec: SearchSpec,
    sink: SearchSink | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    backend: str = "process",
    ray_address: str | None = None,
) -> SearchResult:
    """Enumerate, prune and cost every plan; results also stream to `sink` when one is given."""
    probe = engine_for(spec.probe())
    all_plans = list(enumerate_plans(spec, shape_of(probe), spec.probe().plan.seq))
    finished = {plan_key(r.plan): r for r in (sink.done(spec) if sink else [])}
    todo: dict[int, list[ParallelPlan]] = {}
    for plan in all_plans:
        if plan_key(plan) not in finished:
            todo.setdefault(plan.micro_batch, []).append(plan)
    for mb in todo:  # capture each micro-batch's graph once, here, before workers read it from the cache
        engine_for(spec.probe(mb))
    chunks = [(mb, p[i : i + CHUNK_PLANS]) for mb, p in todo.items() for i in range(0, len(p), CHUNK_PLANS)]
    pruned = 0
    for (results, n_pruned), n in map_chunks(cost_chunk, spec, chunks, backend, workers, ray_address):
        pruned += n_pruned
        finished.update((plan_key(r.plan), r) for r in results)
        if sink:
            sink.write(results)
        if progress:
            progress(n, len(all_plans))
    if not finished:
        raise InputError(
            f"no plan of {spec.model.name} fits on {spec.devices} x {spec.system} within "
            f"{100 * spec.max_memory_fraction:.0f}% of memory ({len(all_plans)} plans enumerated)"
        )
    results = list(finished.values())
    if sink:
        sink.close(results)
    return SearchResult(len(all_plans), pruned, results)
