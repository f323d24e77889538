"""Mixture-of-experts as it runs: the routed experts' grouped GEMMs on the busiest expert-parallel rank.

The capture routes tokens evenly over every expert on one device (fake tensors carry no values). With `ep`
expert-parallel ranks, a rank holds experts / ep of them and computes the tokens its EP group routes to them:
balanced, the same rows in all as captured (top_k per token), over ep x as many rows per expert; its busiest
rank computes `load` x the mean (the stack's imbalance, capped by a capacity factor that drops the rest) and
every rank reads only its own experts' weights. A grouped GEMM runs each expert's rows in tiles of
GROUPED_GEMM_TILE_ROWS, so an expert with few tokens pays for a whole tile: narrow, many experts on few tokens
lose efficiency, wide ones do not.
"""

import math
from typing import NamedTuple

from dojosim.parallel.placement import GroupSpan
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.collectives import LevelLink
from dojosim.perf.profile import WorkloadProfile
from dojosim.stack import Stack

# Rows of one tile of a Hopper grouped GEMM: CUTLASS 3.x's grouped-GEMM kernels for SM90 tile M at 128 (64 for
# small problems), and DeepGEMM (deepseek-ai/DeepGEMM README, "grouped GEMMs, contiguous layout") requires each
# expert's segment of the M axis to be aligned to its 128-row block (get_m_alignment_for_contiguous_layout()).
GROUPED_GEMM_TILE_ROWS = 128


class Routing(NamedTuple):
    """What the cost of a routed-expert op depends on, for one plan: hashable (the engine caches per value)."""

    ep: int
    load: float  # the busiest expert-parallel rank's routed tokens over the mean
    rows_per_expert: float  # token rows each of the busiest rank's experts computes per micro-batch

    @property
    def tile_padding(self) -> float:
        """Rows computed over rows routed: each expert's rows rounded up to whole tiles."""
        rows = self.rows_per_expert
        if rows <= 0:
            return 1.0
        return math.ceil(rows / GROUPED_GEMM_TILE_ROWS) * GROUPED_GEMM_TILE_ROWS / rows


BALANCED = Routing(1, 1.0, 0.0)


def routing(profile: WorkloadProfile, plan: ParallelPlan, stack: Stack) -> Routing:
    """The plan's routing on its busiest expert-parallel rank; BALANCED for a dense model."""
    if not profile.experts:
        return BALANCED
    load = stack.moe_load_factor if plan.ep > 1 else 1.0  # with every expert on each rank nothing is uneven
    tokens = plan.micro_batch * plan.seq * profile.token_share / plan.cp
    rows = tokens * profile.top_k / profile.experts * plan.ep * load
    return Routing(plan.ep, load, rows)


def routed_work(flops: float, nbytes: float, expert_bytes: float, route: Routing) -> tuple[float, float]:
    """(FLOPs, bytes) of a routed-expert op on the busiest rank, from its captured ones (all experts on one rank,
    tokens balanced): token work and traffic scale with the load (and the tiles' padding), the expert weights'
    traffic (`expert_bytes` of `nbytes`) with the experts the rank holds."""
    tokens_bytes = max(0.0, nbytes - expert_bytes)
    return flops * route.load * route.tile_padding, tokens_bytes * route.load + expert_bytes / route.ep


def dispatch_s(
    token_bytes: float, top_k: int, span: GroupSpan, links: tuple[LevelLink, ...], dedup: bool = False
) -> float:
    """One all-to-all of a dispatch (or combine): `token_bytes` of hidden states on each member, every token sent
    to the members holding its top_k experts (spread evenly over the group). Level by level, as the collectives
    run: the members first met at a level get their share of the k copies over that level's link. With `dedup`
    (DeepEP, DeepSeek's kernels) a token crosses a level above the innermost once per remote unit that holds any
    of its experts, and is forwarded inside that unit over its faster links: of the g - 1 remote units, each
    holding 1/g of the experts met so far, (g - 1)(1 - (1 - units' share)^k) are hit on average."""
    t, reached = 0.0, 1
    n = max(1, span.size)
    for i, (g, link) in enumerate(zip(span.members_per_level, links, strict=False)):
        if g > 1:
            copies = top_k * reached * (g - 1) / n
            if dedup and i > 0:
                copies = min(copies, (g - 1) * (1.0 - (1.0 - reached / n) ** top_k))
            t += token_bytes * copies / link.bytes_per_s + (g - 1) * link.latency_s
            reached *= g
    return t
