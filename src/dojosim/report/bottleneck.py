"""The bottleneck of an estimate in one sentence: by counterfactuals (what freeing each resource would gain) where
they were run; from the estimate alone, without naming a cause it cannot know, where they were not."""

from dojosim.perf.counterfactual import Counterfactual
from dojosim.perf.result import BottleneckKind, Estimate

PARTS = {
    "compute_fwd": "forward compute",
    "compute_bwd": "backward compute",
    "recompute": "activation recompute",
    "tp_comm": "tensor-parallel all-reduces",
    "cp_comm": "context-parallel K/V exchange",
    "ep_comm": "expert all-to-alls",
    "halo_comm": "halo exchange between row bands",
    "memory_stream": "streaming from far memory",
    "pp_comm": "pipeline sends",
    "bubble": "the pipeline bubble",
    "dp_comm": "exposed data-parallel gradient reduction",
    "optimizer": "the optimizer update",
}


RESOURCE_WORDS = {"compute": "compute-bound", "per-op overhead": "overhead-bound", "links": "communication-bound"}


def counterfactual_sentence(e: Estimate, found: list[Counterfactual]) -> str:
    """The bottleneck as what freeing each resource would gain: the top two, with their speed-ups. A plan that
    does not fit says so first; a step no resource limits much says that."""
    if not e.fits:
        return sentence(e)
    top = found[:2]
    if not top or top[0].speedup_if_free < 1.05:
        return "balanced: no single resource, freed, speeds the step by 5% or more"
    first = top[0]
    kind = RESOURCE_WORDS.get(first.resource) or (
        "pipeline-bound" if first.resource == "pipeline bubble" else "memory-bound"
    )
    text = f"{kind}: {first.speedup_if_free:.2f}x faster with {_free(first.resource)}"
    if len(top) > 1 and top[1].speedup_if_free >= 1.01:
        text += f"; {top[1].speedup_if_free:.2f}x with {_free(top[1].resource)}"
    mapped = mapping_phrase(e)
    return f"{text}; {mapped}" if mapped else text


def mapping_phrase(e: Estimate) -> str:
    """How a model without a token axis is laid over the machine, where it is more than data parallelism: its
    module pipeline (and how even its stages are), its images split over ranks, its feature maps in row bands
    with the halo's share of the step. Empty for other plans."""
    plan, parts = e.plan, []
    if e.module_stages_s:
        stages = e.module_stages_s
        mean = sum(stages) / len(stages)
        parts.append(f"pipelined over {len(stages)} module stages (busiest {max(stages) / mean:.2f}x the mean)")
    if plan.cp > 1 and plan.seq <= 1:
        parts.append(f"each sample's images split over {plan.cp} ranks")
    if plan.spatial > 1:
        halo = e.breakdown_s.get("halo_comm", 0.0) / e.step_time_s if e.step_time_s else 0.0
        parts.append(f"feature maps in {plan.spatial} row bands, halo {halo:.1%} of the step")
    return ("mapped as: " + ", ".join(parts)) if parts else ""


def _free(resource: str) -> str:
    if resource == "per-op overhead":
        return "no per-op overhead"
    if resource == "pipeline bubble":
        return "no pipeline bubble"
    if resource == "links":
        return "free links"
    if resource == "compute":
        return "unlimited compute"
    return f"unlimited {resource}"


def sentence(e: Estimate) -> str:
    """Where the step's time goes, from the estimate alone: whether it fits, how much far-memory streaming takes,
    else the largest part. The cause of a slow part (bandwidth, per-op cost) is the counterfactuals' to say."""
    b = e.bottleneck
    mem = e.memory.total
    near, fars = e.tiers[0], [t for t in e.tiers[1:] if t.used > 0] or list(e.tiers[1:2])
    if b.kind == BottleneckKind.DOES_NOT_FIT:
        names = " + ".join(t.name for t in e.tiers)
        return (
            f"does not fit: needs {mem / 1e9:.1f} GB per device, the device has {e.capacity_bytes / 1e9:.1f} GB "
            f"({names})"
        )
    if b.kind == BottleneckKind.MEMORY_STREAM and fars:
        rates = " and ".join(f"{t.name} at {t.bytes_per_s / 1e9:.0f} GB/s" for t in fars)
        return (
            f"the working set ({mem / 1e9:.2f} GB per device) does not fit in {near.bytes / 1e6:.0f} MB of "
            f"{near.name}: streaming from {rates} per device takes {100 * b.share:.0f}% of the step"
        )
    if b.kind == BottleneckKind.OVERHEAD:
        return f"low-MFU compute: {PARTS[b.part]} is {100 * b.share:.0f}% of the step at only {100 * e.mfu:.0f}% MFU"
    if b.kind == BottleneckKind.COMPUTE:
        return f"compute-bound: {PARTS[b.part]} is {100 * b.share:.0f}% of the step at {100 * e.mfu:.0f}% MFU"
    return f"{PARTS[b.part]} takes {100 * b.share:.0f}% of the step"
