"""Where ranks sit: tp innermost (fastest links), then cp, pp, and dp outermost.

Each communicator group then spans the hierarchy levels that its members really occupy. All groups of one
kind run at once (every device is in one), so a device's share of a level's bandwidth is its child's
egress divided among the child's devices, and the step waits for the slowest group.

Rank r sits on device r, units filled in order. Where a unit's device count is not a multiple of a group's
extent (72-GPU racks holding 16-GPU groups, a partly used last rack), some groups straddle units unevenly;
the slowest is the one with the fewest members in one unit, since those few devices' links carry what
crosses the unit's boundary for the whole group. Its split is what the span records.
"""

import math
from collections import Counter
from dataclasses import dataclass

from dojosim.hardware import SizedSystem
from dojosim.parallel.plan import ParallelPlan

# Innermost first. EP groups are carved from DP ranks next to cp (Megatron's expert-data layout).
RANK_ORDER = ("tp", "cp", "pp", "dp")
# Above this many devices an irregular layout is checked on the groups of its first and last periods only.
ENUMERATE_ALL_GROUPS_UP_TO = 1 << 16


@dataclass(frozen=True)
class GroupSpan:
    size: int
    stride: int  # device-id distance between neighbouring members
    # g_l: members that meet at level l (product over levels = size). Where groups straddle units unevenly, the
    # slowest group's: g_0 its fewest members in one level-0 unit, g_l the ratio of its fewest at l to l-1
    # (then not whole).
    members_per_level: tuple[float, ...]

    @property
    def even(self) -> bool:
        """Whether every group meets the same whole number of members at each level."""
        return all(float(g).is_integer() for g in self.members_per_level)


def _stride(plan: ParallelPlan, kind: str) -> int:
    stride = 1
    for inner in RANK_ORDER:
        if inner == kind:
            return stride
        stride *= getattr(plan, inner)
    raise ValueError(kind)


def _regular_fewest(unit: int, stride: int, n: int) -> int | None:
    """Members of every group in one unit of `unit` devices, where the layout makes it the same for all
    groups; None where groups straddle units unevenly."""
    extent = stride * n
    if unit % extent == 0:
        return n  # whole groups fit in a unit
    if unit % stride == 0 and extent % unit == 0:
        return unit // stride  # each unit holds the same slice of each group it touches
    if stride % unit == 0:
        return 1  # members further apart than a unit
    return None


def _fewest_in_a_unit(devices: int, unit: int, stride: int, n: int) -> int:
    """The smallest number of one group's members sharing a unit, over every group of the job: groups of `n`
    members `stride` apart, packed `stride * n` devices to a block."""
    extent = stride * n
    period = math.lcm(unit, extent)
    if devices <= ENUMERATE_ALL_GROUPS_UP_TO or devices <= 2 * period:
        starts = range(0, devices, extent)
    else:  # the pattern repeats every period; the last one also covers a partly used last unit
        tail = (devices - period) // extent * extent
        starts = [*range(0, period, extent), *range(tail, devices, extent)]
    fewest = n
    for block in starts:
        for first in range(block, block + stride):
            pieces = Counter((first + k * stride) // unit for k in range(n))
            fewest = min(fewest, min(pieces.values()))
            if fewest == 1:
                return 1
    return fewest


def group_span(sized: SizedSystem, plan: ParallelPlan, kind: str, size: int | None = None) -> GroupSpan:
    """How a `kind` group (tp, cp, pp, dp, or ep inside dp) spreads over the levels of the machine."""
    if kind == "ep":
        stride, n = _stride(plan, "dp"), plan.ep
    else:
        stride, n = _stride(plan, kind), getattr(plan, kind)
    if size is not None:
        n = size
    members: list[float] = []
    below = 1
    for i, level in enumerate(sized.levels):
        unit = level.devices_per_unit if i < len(sized.levels) - 1 else max(level.devices_per_unit, stride * n)
        fewest = _regular_fewest(unit, stride, n)
        if fewest is None:
            fewest = _fewest_in_a_unit(sized.devices, unit, stride, n)
        fewest = max(fewest, below)
        ratio = fewest / below
        members.append(int(ratio) if ratio.is_integer() else ratio)
        below = fewest
    if below < n:  # a group larger than the machine's hierarchy describes: the top level carries the rest
        ratio = members[-1] * n / below
        members[-1] = int(ratio) if float(ratio).is_integer() else ratio
    return GroupSpan(n, stride, tuple(members))
