"""Where ranks sit: tp innermost (fastest links), then cp, pp, and dp outermost.

Each communicator group then spans the hierarchy levels that its members really occupy. All groups of one
kind run at once (every device is in one), so a device's share of a level's bandwidth is its child's
egress divided among the child's devices.
"""

from dataclasses import dataclass

from dojosim.hardware import SizedSystem
from dojosim.parallel.plan import ParallelPlan

# Innermost first. EP groups are carved from DP ranks next to cp (Megatron's expert-data layout).
RANK_ORDER = ("tp", "cp", "pp", "dp")
# Expert groups are placed as Megatron-Core places them (parallel_state order "tp-cp-ep-dp-pp"; torchtitan's ep
# mesh is inside its dp_shard dimension too): an EP group's members right after tp and cp, so up to a node's worth
# of EP ranks share its NVLink; the ranks holding the same experts (expert data parallel) one EP group apart.


@dataclass(frozen=True)
class GroupSpan:
    size: int
    stride: int  # device-id distance between neighbouring members
    members_per_level: tuple[int, ...]  # g_l: members that meet at level l (product over levels = size)


def _stride(plan: ParallelPlan, kind: str) -> int:
    stride = 1
    for inner in RANK_ORDER:
        if inner == kind:
            return stride
        stride *= getattr(plan, inner)
    raise ValueError(kind)


def group_span(sized: SizedSystem, plan: ParallelPlan, kind: str, size: int | None = None) -> GroupSpan:
    """How a `kind` group (tp, cp, pp, dp; ep inside dp, and edp: the ranks of dp that hold the same experts, one
    in each ep group) spreads over the levels of the machine."""
    if kind == "ep":
        stride, n = plan.tp * plan.cp, plan.ep
    elif kind == "edp":
        stride, n = plan.tp * plan.cp * plan.ep, plan.dp // plan.ep
    else:
        stride, n = _stride(plan, kind), getattr(plan, kind)
    if size is not None:
        n = size
    members = []
    below = 1
    for level in sized.levels:
        inside = min(n, max(1, level.devices_per_unit // stride))  # members of one group within one unit
        members.append(max(1, inside // below))
        below = max(below, inside)
    if below < n:  # a group larger than the machine's hierarchy describes: the top level carries the rest
        members[-1] *= n // below
    return GroupSpan(n, stride, tuple(members))
