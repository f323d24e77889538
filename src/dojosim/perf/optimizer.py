"""The optimizer update: memory-bound passes over the optimizer state held on the device."""

from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.device import DeviceModel
from dojosim.perf.profile import WorkloadProfile
from dojosim.perf.result import MemoryUse

# An Adam update reads gradient, master, m, v (16 B) and writes master, m, v, bf16 weight (14 B).
OPTIMIZER_TRAFFIC_BYTES = {"adamw": 30.0, "sgd": 22.0}


def optimizer_s(
    profile: WorkloadProfile,
    device: DeviceModel,
    plan: ParallelPlan,
    mem: MemoryUse,
    far: dict[str, float],
    fused: bool,
) -> float:
    """Seconds of one update of the parameters this device owns (after ZeRO-1 sharding); the share of the
    state that lives in far memory moves at far memory's bandwidth."""
    p = profile
    opt_params = mem.params_per_device / (plan.replicas if plan.zero >= 1 else 1)
    opt_share = opt_params / max(p.params, 1.0)  # of the captured update, which covers every parameter
    if fused:
        traffic = opt_params * OPTIMIZER_TRAFFIC_BYTES[p.graph.optimizer]
    else:  # each op of the captured single-tensor update reads and writes whole tensors on its own
        traffic = p.opt_bytes * opt_share
    far_share = far["optimizer"] / mem.optimizer if device.far_tiers and mem.optimizer else 0.0
    seconds = traffic * (1 - far_share) / device.near.bytes_per_s
    if far_share:
        # Over the far tiers in proportion to what each holds of the far-resident state.
        seconds += device.far_seconds(traffic * far_share, far["total"])
    if not fused:  # one kernel per op of the captured single-tensor update, in sequence
        seconds += p.opt_ops * opt_share * device.optimizer_op_overhead_s
    return seconds
