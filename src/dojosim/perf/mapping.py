"""Mappings a wafer-scale machine runs, for any captured model, not only transformers with repeated blocks.

- A module pipeline: a model without repeated blocks cut into `pp` stages over its module segments in forward
  order (workload profile `segments`), the cuts placed to balance the stages' cost on the device (each op on the
  roofline: compute or memory traffic, whichever is longer); activations cross each cut over the links the
  pipeline group spans, and 1F1B's bubble is charged at the busiest stage, as every uneven pipeline runs.
- A spatial split: each image's convolutional feature maps cut into `spatial` row bands, one per rank; each
  convolution reads rows across a band's edge (its halo) from its neighbours in forward and sends their input
  gradients back in backward, over the lowest level where two neighbouring ranks meet. Uneven bands (rows not
  divisible) are charged at the busiest band (perf/profile.band_share).
"""

from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from dojosim.perf import collectives as coll
from dojosim.perf.compute import cast_kernels, class_seconds, peaks, recipe_casts, split_divisor
from dojosim.perf.context import PlanContext
from dojosim.perf.device import DeviceModel
from dojosim.perf.maps import ConvHalo, band_share
from dojosim.perf.profile import Segment, WorkloadProfile, busiest_share
from dojosim.perf.result import Collective

Term = tuple[float, tuple[Collective, ...]]
BALANCE_ITERATIONS = 40  # bisection steps on the busiest stage's time, each halving the gap; stops at 1e-7 of it


@dataclass(frozen=True, slots=True)
class SegmentCosts:
    """One micro-batch of each module segment on the busiest rank, for one sharding."""

    fwd_s: tuple[float, ...]
    bwd_s: tuple[float, ...]
    bytes: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ModuleStage:
    """A module pipeline's cuts and what its busiest stage carries (per micro-batch, on the busiest rank)."""

    starts: tuple[int, ...]  # first segment of each stage
    stage_s: tuple[float, ...]  # forward + backward of each stage
    busiest: int
    fwd_s: float
    bwd_s: float
    bytes: float
    segments: tuple[Segment, ...]  # every segment of the model

    def stage_segments(self, stage: int) -> range:
        end = self.starts[stage + 1] if stage + 1 < len(self.starts) else len(self.segments)
        return range(self.starts[stage], end)

    @property
    def imbalance(self) -> float:
        """The busiest stage over the mean stage: what uneven stages cost a pipeline."""
        mean = sum(self.stage_s) / len(self.stage_s)
        return self.stage_s[self.busiest] / mean if mean else 1.0


def segment_costs(
    profile: WorkloadProfile,
    device: DeviceModel,
    tp: int,
    cp: int,
    sp: bool,
    precision: str,
    spatial: int,
    fp8_recipe: str | None = None,
) -> SegmentCosts:
    """Each segment's forward and backward seconds on the device (a pass takes the longer of the device's work
    and the host's issuing of it, as compute.stage_costs charges a region)."""
    host_s, peak_of = device.host_overhead_s, peaks(device, precision)
    casts = recipe_casts(precision, fp8_recipe)
    images = 1.0 / busiest_share(profile.split_units, cp)
    fwd, bwd, nbytes = [], [], []
    for seg in profile.segments:
        acc = {"fwd": 0.0, "bwd": 0.0, "fwd_host": 0.0, "bwd_host": 0.0, "bytes": 0.0}
        for c in seg.classes:
            t, _, b = class_seconds(device, c, tp, split_divisor(c, images, spatial), sp, precision, peak_of, casts)
            acc[c.phase] += t
            acc[c.phase + "_host"] += host_s * c.count * (1 + cast_kernels(casts, c))
            acc["bytes"] += b
        acc["fwd_host"] += host_s * seg.view_ops  # the segment's view ops (both passes'), dispatched by the host
        fwd.append(max(acc["fwd"], acc["fwd_host"]))
        bwd.append(max(acc["bwd"], acc["bwd_host"]))
        nbytes.append(acc["bytes"])
    return SegmentCosts(tuple(fwd), tuple(bwd), tuple(nbytes))


def balanced_starts(costs: list[float], stages: int) -> tuple[int, ...]:
    """Cut `costs` (in order) into `stages` contiguous non-empty runs so that the largest run is as small as it
    can be: bisection on that largest run, each trial packed greedily (the classic linear partition), each run's
    end found by bisection on the prefix sums."""
    n = len(costs)
    stages = max(1, min(stages, n))
    prefix = list(accumulate(costs, initial=0.0))
    hi = prefix[-1]
    lo = max(max(costs, default=0.0), hi / stages)  # no cut does better than the largest piece or the mean
    for _ in range(BALANCE_ITERATIONS):
        if hi - lo <= 1e-7 * max(hi, 1e-30):
            break
        mid = (lo + hi) / 2
        if len(_pack(prefix, mid, stages + 1)) <= stages:
            hi = mid
        else:
            lo = mid
    starts = _pack(prefix, hi, n)
    # Fewer runs than stages: split runs (never raising the largest) until there are `stages`.
    while len(starts) < stages:
        ends = [*starts[1:], n]
        k = next(i for i, (a, b) in enumerate(zip(starts, ends, strict=True)) if b - a > 1)
        starts.insert(k + 1, starts[k] + 1)
    return tuple(starts)


def _pack(prefix: list[float], limit: float, most: int) -> list[int]:
    """Greedy runs of at most `limit` each (a piece larger than it alone), stopping once there are `most`."""
    n = len(prefix) - 1
    starts, i = [0], 0
    while len(starts) < most:
        j = bisect_right(prefix, prefix[i] + limit * (1 + 1e-12)) - 1  # the furthest end within the limit
        j = max(j, i + 1)
        if j >= n:
            break
        starts.append(j)
        i = j
    return starts


def module_stage(costs: SegmentCosts, segments: tuple[Segment, ...], pp: int) -> ModuleStage:
    """The pipeline of `pp` stages over the segments, balanced by their cost, and its busiest stage."""
    total = [f + b for f, b in zip(costs.fwd_s, costs.bwd_s, strict=True)]
    starts = balanced_starts(total, pp)
    ends = [*starts[1:], len(total)]
    stage_s = tuple(sum(total[a:b]) for a, b in zip(starts, ends, strict=True))
    busiest = max(range(len(stage_s)), key=stage_s.__getitem__)
    a, b = starts[busiest], ends[busiest]
    return ModuleStage(
        starts, stage_s, busiest, sum(costs.fwd_s[a:b]), sum(costs.bwd_s[a:b]), sum(costs.bytes[a:b]), segments
    )


def boundary_bytes(ctx: PlanContext, stage: ModuleStage) -> tuple[float, ...]:
    """What each cut hands the next stage for one micro-batch on the busiest rank: the last forward output of the
    segment before it (its images' share; a feature map's busiest band)."""
    plan, p = ctx.plan, ctx.profile
    images = busiest_share(p.split_units, plan.cp) * plan.micro_batch / p.micro_batch
    out = []
    for start in stage.starts[1:]:
        seg = stage.segments[start - 1]
        out.append(seg.out_bytes * images * band_share(seg.out_rows, plan.spatial))
    return tuple(out)


def module_pp_comm(ctx: PlanContext, stage: ModuleStage) -> Term:
    """The sends between a module pipeline's stages on the critical path: each cut's activation forward and its
    gradient backward, once each in the fill and the drain (the steady state overlaps them with compute)."""
    if ctx.plan.pp <= 1:
        return 0.0, ()
    span = ctx.span("pp", 2)
    sizes = boundary_bytes(ctx, stage)
    each = [coll.p2p_s(b, span, ctx.links) for b in sizes]
    seconds = 2 * sum(each)
    mean_bytes = sum(sizes) / len(sizes)
    collective = Collective.on("pp", "send/recv (module cuts)", mean_bytes, 2 * ctx.m, span, seconds / 2 / len(each))
    return seconds, (collective,)


def halos_here(profile: WorkloadProfile, stage: ModuleStage | None) -> tuple[ConvHalo, ...]:
    """The convolutions of the busiest stage (all of them without a module pipeline)."""
    if stage is None:
        return profile.halos
    here = stage.stage_segments(stage.busiest)
    return tuple(h for h in profile.halos if h.segment in here)


def halo_bytes(halo: ConvHalo, spatial: int, images_share: float) -> float:
    """Bytes one rank receives (and sends) for one convolution in one pass: its halo rows from its neighbours,
    for the images it holds. A band thinner than the halo still needs all of it (from further neighbours)."""
    if spatial <= 1 or halo.map_rows <= 1:
        return 0.0
    return halo.rows * halo.row_bytes * images_share


def halo_comm(ctx: PlanContext, stage: ModuleStage | None = None) -> Term:
    """Seconds per micro-batch the busiest rank spends in a spatial split's exchanges: every convolution's halo in
    forward (and in a recomputed forward) and their input gradients in backward, point to point with its
    neighbours; each batch norm's statistics all-reduced over the bands in both passes (the norm of the whole
    image, as a synchronised batch norm keeps it); each map handed whole to an op on no map (a transformer) all-
    gathered in forward. Charged in full: each is on the path to the next op's output (an implementation may
    hide part of a halo under the band's interior rows)."""
    plan, p = ctx.plan, ctx.profile
    if plan.spatial <= 1 or not (p.halos or p.map_exchanges):
        return 0.0, ()
    neighbours, group = ctx.span("spatial", 2), ctx.span("spatial")
    images = busiest_share(p.split_units, plan.cp) * plan.micro_batch / p.micro_batch
    forwards = 2 if plan.recompute == "full" else 1
    seconds, inserted = 0.0, []
    per_pass, count, total_bytes = 0.0, 0, 0.0
    for h in halos_here(p, stage):
        nbytes = halo_bytes(h, plan.spatial, images)
        if nbytes:
            per_pass += h.count * coll.p2p_s(nbytes, neighbours, ctx.links)
            count += h.count
            total_bytes += h.count * nbytes
    if count:
        passes = forwards + 1
        seconds += passes * per_pass
        inserted.append(
            Collective.on("spatial", "halo exchange", total_bytes / count, passes * count * ctx.m, neighbours,
                          per_pass / count)  # fmt: skip
        )
    here = stage.stage_segments(stage.busiest) if stage is not None else None
    words = {"stats": "all_reduce (norm statistics)", "gather": "all_gather (map to a whole-map op)"}
    for kind, op in words.items():
        per_pass, count, total_bytes = 0.0, 0, 0.0
        for x in p.map_exchanges:
            if x.kind != kind or x.map_rows <= 1 or (here is not None and x.segment not in here):
                continue
            if kind == "stats":
                nbytes = x.bytes
                per_pass += x.count * coll.all_reduce_s(nbytes, group, ctx.links)
            else:
                nbytes = x.bytes * images
                per_pass += x.count * coll.all_gather_s(nbytes, group, ctx.links)
            count += x.count
            total_bytes += x.count * nbytes
        if count:
            passes = forwards + 1 if kind == "stats" else forwards
            seconds += passes * per_pass
            inserted.append(
                Collective.on("spatial", op, total_bytes / count, passes * count * ctx.m, group, per_pass / count)
            )
    return seconds, tuple(inserted)
