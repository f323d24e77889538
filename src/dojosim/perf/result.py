"""What the engine returns: typed, frozen results with their units in their names. No prose here: the
sentences that explain a result live in dojosim.report."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dojosim.parallel.placement import GroupSpan
from dojosim.parallel.plan import ParallelPlan

# Below this MFU a compute-dominated step is not limited by arithmetic but by what surrounds it: per-op launch
# and dispatch costs, and matmuls too small to fill the device.
OVERHEAD_BOUND_MFU = 0.1
COMPUTE_PARTS = ("compute_fwd", "compute_bwd")


@dataclass(frozen=True, slots=True)
class Collective:
    """One collective the plan inserts: its group, its size per call and how often it runs per step."""

    group: str  # tp | cp | ep | pp | dp
    op: str
    bytes: float
    count_per_step: float
    group_size: int
    members_per_level: tuple[float, ...]
    seconds_each: float

    @classmethod
    def on(cls, group: str, op: str, nbytes: float, per_step: float, span: GroupSpan, seconds: float) -> "Collective":
        return cls(group, op, nbytes, per_step, span.size, span.members_per_level, seconds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "op": self.op,
            "bytes": self.bytes,
            "count_per_step": self.count_per_step,
            "group_size": self.group_size,
            "members_per_level": list(self.members_per_level),
            "seconds_each": self.seconds_each,
        }


@dataclass(frozen=True, slots=True)
class MemoryUse:
    """Bytes per device of each kind of training state, on the busiest pipeline stage."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    buffers: float  # the transient working set of the running ops (and ZeRO-3's prefetched weights)
    params_per_device: float  # parameters held on the busiest stage before ZeRO sharding

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.buffers

    def as_dict(self) -> dict[str, float]:
        return {
            "weights": self.weights,
            "gradients": self.gradients,
            "optimizer": self.optimizer,
            "activations": self.activations,
            "buffers": self.buffers,
            "total": self.total,
        }


@dataclass(frozen=True, slots=True)
class TierUse:
    """One memory tier of a device: capacity, bandwidth, and what the plan's state occupies of it."""

    name: str
    bytes: float
    bytes_per_s: float
    used: float

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bytes": self.bytes, "bytes_per_s": self.bytes_per_s, "used": self.used}


def on_one_basis(owned_usd: float | None, rental_usd: float | None) -> float:
    """The cost a cost objective minimises: owned where the system has an owned cost, else rental; one basis per
    system, never a mix."""
    value = owned_usd if owned_usd is not None else rental_usd
    assert value is not None  # the system loader requires a rental price or an owned cost
    return value


@dataclass(frozen=True, slots=True)
class Cost:
    """USD per step on each basis, never mixed: renting the devices (None without a rental price) and owning
    them (equipment and NRE share over the lifetime, operations, electricity; None without a capex)."""

    rental_usd: float | None
    owned_usd: float | None

    @property
    def basis(self) -> str:
        """The basis a search minimises cost on: owned where the system has an owned cost, else rental."""
        return "owned" if self.owned_usd is not None else "rental"

    @property
    def usd(self) -> float:
        return on_one_basis(self.owned_usd, self.rental_usd)


class BottleneckKind(StrEnum):
    DOES_NOT_FIT = "does_not_fit"
    MEMORY_STREAM = "memory_stream"  # stalls while state streams from far memory
    OVERHEAD = "overhead"  # compute dominates but at low MFU
    COMPUTE = "compute"
    OTHER = "other"  # communication, bubble or optimizer dominates


@dataclass(frozen=True, slots=True)
class Bottleneck:
    kind: BottleneckKind
    part: str  # the breakdown_s key with the largest time
    share: float  # its fraction of the step

    @classmethod
    def of(cls, breakdown_s: dict[str, float], step_s: float, fits: bool, mfu: float, far: bool) -> "Bottleneck":
        """What limits a step: `far` says whether the device has a far memory tier to stream from."""
        part = max(breakdown_s, key=breakdown_s.__getitem__)  # the first of equal largest parts
        share = breakdown_s[part] / step_s if step_s else 0.0
        if not fits:
            kind = BottleneckKind.DOES_NOT_FIT
        elif part == "memory_stream" and far:
            kind = BottleneckKind.MEMORY_STREAM
        elif part in COMPUTE_PARTS:
            kind = BottleneckKind.OVERHEAD if mfu < OVERHEAD_BOUND_MFU else BottleneckKind.COMPUTE
        else:
            kind = BottleneckKind.OTHER
        return cls(kind, part, share)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "part": self.part, "share": self.share}


@dataclass(frozen=True, slots=True)
class Estimate:
    step_time_s: float
    breakdown_s: dict[str, float]
    mfu: float
    hfu: float
    throughput: dict[str, float]
    memory: MemoryUse
    tiers: tuple[TierUse, ...]  # near first, then far where the device has one
    fits: bool
    energy_j: float
    cost: Cost
    bottleneck: Bottleneck
    plan: ParallelPlan
    collectives: tuple[Collective, ...]
    device_busy_fraction: float
    micro_batch_time_s: float
    model_flops_per_step: float

    @property
    def cost_usd(self) -> float:
        """The step's cost on the system's basis (`cost.basis`): what a cost objective minimises."""
        return self.cost.usd

    @property
    def capacity_bytes(self) -> float:
        return sum(t.bytes for t in self.tiers)

    @property
    def memory_bytes_per_device(self) -> dict[str, float]:
        return self.memory.as_dict()

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of an estimate."""
        return {
            "step_time_s": self.step_time_s,
            "breakdown_s": dict(self.breakdown_s),
            "mfu": self.mfu,
            "hfu": self.hfu,
            "throughput": dict(self.throughput),
            "memory_bytes_per_device": self.memory.as_dict(),
            "memory_tiers": [t.as_dict() for t in self.tiers],
            "fits": self.fits,
            "energy_j": self.energy_j,
            "cost_owned_usd": self.cost.owned_usd,
            "cost_rental_usd": self.cost.rental_usd,
            "bottleneck": self.bottleneck.as_dict(),
            "plan": self.plan.as_dict(),
            "details": {
                "params_per_device": self.memory.params_per_device,
                "device_busy_fraction": self.device_busy_fraction,
                "micro_batch_time_s": self.micro_batch_time_s,
                "model_flops_per_step": self.model_flops_per_step,
                "collectives": [c.as_dict() for c in self.collectives],
            },
        }
