"""Streaming from far memory: the stall when state that near memory cannot hold moves over the far link."""

from dojosim.perf.context import PlanContext
from dojosim.perf.device import DeviceModel
from dojosim.perf.result import MemoryUse


def far_traffic_bytes(ctx: PlanContext, mem: MemoryUse, far: dict[str, float]) -> float:
    """Bytes one micro-batch moves to and from far memory."""
    # Per micro-batch pass, far-resident weights are read in forward and backward (and again by full
    # recompute), stashed activations written and read back, gradients read and written; a transient
    # working set that overflows near memory sends that share of every op's traffic far.
    op_bytes = ctx.block.bytes * ctx.stage + ctx.pre.bytes + ctx.post.bytes
    return (
        far["weights"] * (3 if ctx.plan.recompute == "full" else 2)
        + 2 * far["activations"]
        + 2 * far["gradients"]
        + op_bytes * far["buffers"] / max(mem.buffers, 1.0)
    )


def stream_stall_s(ctx: PlanContext, mem: MemoryUse, far: dict[str, float], device: DeviceModel) -> float:
    """Seconds per micro-batch the device waits for far memory. DMA overlaps the streaming with compute, so
    only the excess over compute shows."""
    if not far["total"] > 0:
        return 0.0
    return max(0.0, device.far_seconds(far_traffic_bytes(ctx, mem, far), far["total"]) - ctx.compute_s)
