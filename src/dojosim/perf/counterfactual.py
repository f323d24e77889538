"""What limits a step, found by freeing each resource in turn and costing the plan again: the resource whose
removal speeds the step most is the bottleneck, with the speed-up as its measure. No threshold decides it.
"""

import dataclasses
from dataclasses import dataclass

from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.collectives import LevelLink
from dojosim.perf.device import DeviceModel, MemoryTier
from dojosim.perf.engine import Engine
from dojosim.perf.result import Estimate

UNLIMITED = 1e9  # a factor that makes a rate free for any realistic plan


@dataclass(frozen=True)
class Counterfactual:
    resource: str  # what was made free
    speedup_if_free: float  # this plan's step time over its step time with the resource free

    def as_dict(self) -> dict[str, object]:
        return {"resource": self.resource, "speedup_if_free": self.speedup_if_free}


def _faster(tier: MemoryTier) -> MemoryTier:
    return dataclasses.replace(tier, bytes_per_s=tier.bytes_per_s * UNLIMITED)


def _variants(device: DeviceModel) -> dict[str, DeviceModel]:
    peaks = {k: v * UNLIMITED for k, v in device.peaks_flops_per_s.items()}
    out = {
        "compute": dataclasses.replace(device, peaks_flops_per_s=peaks),
        f"{device.near.name} bandwidth": dataclasses.replace(device, near=_faster(device.near)),
        "per-op overhead": dataclasses.replace(
            device, kernel_overhead_s=0.0, host_overhead_s=0.0, matmul_ramp_s=0.0, conv_ramp_s=0.0,
            optimizer_op_overhead_s=0.0,
        ),
    }  # fmt: skip
    if device.exchange_bytes_per_s > 0:  # a bulk-synchronous SRAM machine's on-chip exchange (perf/exchange.py)
        out["on-chip exchange"] = dataclasses.replace(
            device, exchange_bytes_per_s=device.exchange_bytes_per_s * UNLIMITED
        )
    if device.far_tiers:
        far = tuple(_faster(t) for t in device.far_tiers)
        out[" + ".join(t.name for t in device.far_tiers) + " bandwidth"] = dataclasses.replace(device, far_tiers=far)
    return out


def _trial(engine: Engine) -> Engine:
    """A fresh engine for the same graph, machine and stack, so the one given is left as it was."""
    return Engine(engine.profile, engine.sized, engine.stack)


def counterfactuals(engine: Engine, plan: ParallelPlan, estimate: Estimate | None = None) -> list[Counterfactual]:
    """Every resource freed in turn, the largest speed-up first; `estimate`: the plan's, when the caller has it."""
    estimate = estimate if estimate is not None else engine.estimate(plan)
    base = estimate.step_time_s
    out = []
    for resource, device in _variants(engine.device).items():
        trial = _trial(engine)
        trial.set_device(device)
        out.append(Counterfactual(resource, base / trial.estimate(plan).step_time_s))
    free_links = _trial(engine)
    free_links.links = tuple(LevelLink(link.bytes_per_s * UNLIMITED, 0.0, None) for link in free_links.links)
    out.append(Counterfactual("links", base / free_links.estimate(plan).step_time_s))
    bubble = estimate.breakdown_s["bubble"]
    if bubble > 0:
        out.append(Counterfactual("pipeline bubble", base / (base - bubble)))
    return sorted(out, key=lambda c: -c.speedup_if_free)
