"""What every cost term of one plan reads, computed once per plan from the cached stage costs."""

from typing import NamedTuple

from dojosim.hardware import SizedSystem
from dojosim.parallel.placement import GroupSpan, group_span
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.collectives import LevelLink
from dojosim.perf.compute import StageCosts, pipeline_ends, recompute_s
from dojosim.perf.memory import residual_stream_bytes
from dojosim.perf.profile import WorkloadProfile
from dojosim.stack import Stack

# (kind, size, tp, cp, pp, devices, ep, spatial): what places a communicator group on the machine.
SpanKey = tuple[str, int | None, int, int, int, int, int, int]


class PlanContext(NamedTuple):
    """One plan on the busiest pipeline stage; times are for one micro-batch. Immutable; a NamedTuple rather
    than a frozen dataclass because every estimate builds one and a tuple is built several times faster."""

    plan: ParallelPlan
    stack: Stack
    profile: WorkloadProfile
    sized: SizedSystem
    links: tuple[LevelLink, ...]
    block: StageCosts  # every block, before the stage's share is taken
    pre: StageCosts
    post: StageCosts
    stage: float  # share of the blocks on the busiest stage
    layers_here: float  # blocks on the busiest stage
    m: int  # micro-batches per step
    fwd_s: float
    bwd_s: float
    recompute_s: float
    compute_s: float  # forward + backward + recompute
    stream_bytes: float  # the residual stream of one micro-batch on one context-parallel rank (its real tokens)
    spans: dict[SpanKey, GroupSpan]  # the engine's, across plans

    def span(self, kind: str, size: int | None = None) -> GroupSpan:
        """How a `kind` group spreads over the machine; a group's span depends only on the degrees that
        place it, so it is computed once per engine for each."""
        plan = self.plan
        key = (kind, size, plan.tp, plan.cp, plan.pp, plan.devices, plan.ep, plan.spatial)
        span = self.spans.get(key)
        if span is None:
            span = self.spans[key] = group_span(self.sized, plan, kind, size)
        return span


def plan_context(
    plan: ParallelPlan,
    profile: WorkloadProfile,
    sized: SizedSystem,
    links: tuple[LevelLink, ...],
    costs: tuple[StageCosts, StageCosts, StageCosts],
    stage: float,
    spans: dict[SpanKey, GroupSpan],
    stack: Stack,
) -> PlanContext:
    block, pre, post = costs
    fwd = block.fwd_s * stage + pipeline_ends(pre.fwd_s, post.fwd_s, plan.pp)
    bwd = block.bwd_s * stage + pipeline_ends(pre.bwd_s, post.bwd_s, plan.pp)
    recompute = recompute_s(plan.recompute, block, stage)
    if not profile.layers and plan.recompute == "full":  # checkpointed at module boundaries: forward again
        recompute = fwd
    return PlanContext(
        plan=plan,
        stack=stack,
        profile=profile,
        sized=sized,
        links=links,
        block=block,
        pre=pre,
        post=post,
        stage=stage,
        layers_here=profile.layers * stage,
        m=plan.grad_accumulation,
        fwd_s=fwd,
        bwd_s=bwd,
        recompute_s=recompute,
        compute_s=fwd + bwd + recompute,
        stream_bytes=residual_stream_bytes(plan, max(profile.hidden, 1), profile.token_share),
        spans=spans,
    )
