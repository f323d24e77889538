"""Collectives in alpha-beta form over the levels a group spans.

Hierarchical algorithms: a collective over members that meet at several levels runs level by level,
innermost first; a reduce-scatter at one level shrinks the data the next level carries. On a level a ring
(or, on a 2-D mesh, a bidirectional ring over two of each die's four edges) takes 2(g-1)/g of the data for an
all-reduce and (g-1)/g for an all-gather or reduce-scatter, plus one latency per step.

An all-reduce on a level picks, as NCCL's tuner does (src/graph/tuning.cc), the fastest algorithm the level
has: the ring; where switches reduce (NVLink SHARP in an NVSwitch domain, InfiniBand SHARP where a preset's
fabric runs it) the in-network reduction, each member's data up once and the sum down once; and between nodes
(a fat tree) NCCL's double binary tree, whose latency grows with log2(g) rather than g but whose bandwidth is
lower: each node sends and receives twice the data (two trees, interior in one), at 0.92 of the ring's link.
"""

import math
from dataclasses import dataclass

from dojosim.hardware import SizedSystem
from dojosim.parallel.placement import GroupSpan

# On a mesh a ring uses two of a die's four edges (one each way); switched levels give a member its full share.
MESH_RING_EDGE_FRACTION = 0.5
# NCCL's tuner: a tree all-reduce's bus bandwidth is 0.92 of the graph's link bandwidth (`busBw * .92` for
# NCCL_ALGO_TREE), and a tree moves twice the data (algorithm bandwidth = bus bandwidth x 0.5); its latency is
# 2 x log2(nodes) network hops. NVIDIA/nccl src/graph/tuning.cc @5067397c (2026-06), ncclTopoTuneModel.
TREE_EMPIRICAL_FRACTION_OF_RING = 0.92
# Topologies whose levels join nodes through a switched network NCCL builds trees over (not NVLink, not a mesh).
TREE_TOPOLOGIES = ("fat_tree",)


@dataclass(frozen=True)
class LevelLink:
    bytes_per_s: float  # what one device gets at this level, after efficiency (and oversubscription, if any)
    latency_s: float
    in_network_bytes_per_s: float | None = None  # an in-network all-reduce's rate per device, where switches reduce
    tree: bool = False  # whether an all-reduce may run as NCCL's double binary tree here
    # A rail-optimised fat tree: members up to this many meet under one leaf (one rail) and get the full rate;
    # a group spread wider crosses the spine and shares it at `bytes_per_s / oversubscription`.
    full_rate_members: float = math.inf
    oversubscription: float = 1.0

    def bytes_per_s_for(self, members: float) -> float:
        """A member's rate in a group of `members` at this level."""
        return self.bytes_per_s / self.oversubscription if members > self.full_rate_members else self.bytes_per_s


def ring_all_reduce_s(data: float, g: float, link: LevelLink) -> float:
    """Reduce-scatter then all-gather around a ring of g members: 2(g-1)/g of the data, 2(g-1) steps."""
    return 2.0 * (g - 1) / g * data / link.bytes_per_s_for(g) + 2.0 * (g - 1) * link.latency_s


def tree_all_reduce_s(data: float, g: float, link: LevelLink) -> float:
    """NCCL's double binary tree over g members: twice the data at 0.92 of the link, 2 log2(g) hops."""
    rate = link.bytes_per_s_for(g) * TREE_EMPIRICAL_FRACTION_OF_RING
    return 2.0 * data / rate + 2.0 * math.log2(g) * link.latency_s


def in_network_all_reduce_s(data: float, link: LevelLink) -> float:
    """Switches reduce (NVLS, SHARP): each member's data up once and the sum down once, two crossings."""
    return data / link.in_network_bytes_per_s + 2.0 * link.latency_s


def level_all_reduce_s(data: float, g: float, link: LevelLink) -> float:
    """The fastest all-reduce this level runs, as NCCL's tuner picks per size and span."""
    t = ring_all_reduce_s(data, g, link)
    if link.in_network_bytes_per_s:
        t = min(t, in_network_all_reduce_s(data, link))
    if link.tree:
        t = min(t, tree_all_reduce_s(data, g, link))
    return t


def level_links(sized: SizedSystem) -> tuple[LevelLink, ...]:
    """Per-device effective bandwidth at each level, when every device's group crosses it at once."""
    links = []
    for lvl in sized.levels:
        devices_per_child = lvl.devices_per_unit // max(1, lvl.children)
        bw = lvl.child_egress_bytes_per_s.value / max(1, devices_per_child)
        topology = lvl.level.topology
        oversub, full_rate = 1.0, math.inf
        if topology == "mesh2d":
            bw *= MESH_RING_EDGE_FRACTION
        elif lvl.level.oversubscription is not None and lvl.level.oversubscription.value > 1:
            oversub = lvl.level.oversubscription.value
            # Rail-optimised: a device's NIC plugs into its rail's leaf, which has radix/2 ports down, so that
            # many members (one per child) meet without crossing the oversubscribed spine.
            full_rate = lvl.level.switch_radix.value / 2 if lvl.level.switch_radix else 1.0
        in_network = lvl.level.in_network_all_reduce_fraction_of_link
        in_network_bw = bw * in_network.value if in_network else None  # of the raw link: its own measured share
        bw *= lvl.level.collective_empirical_fraction_of_link.value
        links.append(
            LevelLink(
                bw,
                lvl.level.link_latency_s.value,
                in_network_bw,
                tree=topology in TREE_TOPOLOGIES,
                full_rate_members=full_rate,
                oversubscription=oversub,
            )
        )
    return tuple(links)


def all_reduce_s(nbytes: float, span: GroupSpan, links: tuple[LevelLink, ...]) -> float:
    """Level by level, innermost first: on each, the fastest of a ring, an in-network reduction and a tree
    (`level_all_reduce_s`); the next level carries the 1/g shard each member then holds."""
    t, data = 0.0, nbytes
    for g, link in zip(span.members_per_level, links, strict=False):
        if g > 1:
            t += level_all_reduce_s(data, g, link)
            data /= g
    return t


def all_gather_s(nbytes: float, span: GroupSpan, links: tuple[LevelLink, ...]) -> float:
    """All-gather (or reduce-scatter) of a tensor of `nbytes` in total."""
    t, data = 0.0, nbytes
    for g, link in zip(span.members_per_level, links, strict=False):
        if g > 1:
            t += (g - 1) / g * data / link.bytes_per_s_for(g) + (g - 1) * link.latency_s
            data /= g
    return t


reduce_scatter_s = all_gather_s


def all_to_all_s(nbytes: float, span: GroupSpan, links: tuple[LevelLink, ...]) -> float:
    """Each member sends `nbytes` spread evenly over all members; traffic to members met at level l uses it."""
    t, reached = 0.0, 1
    n = max(1, span.size)
    for g, link in zip(span.members_per_level, links, strict=False):
        if g > 1:
            newly = reached * (g - 1)
            t += nbytes * newly / n / link.bytes_per_s_for(g) + (g - 1) * link.latency_s
            reached *= g
    return t


def p2p_s(nbytes: float, span: GroupSpan, links: tuple[LevelLink, ...]) -> float:
    """A send between neighbouring members: over the lowest level where they meet."""
    for g, link in zip(span.members_per_level, links, strict=False):
        if g > 1:
            return nbytes / link.bytes_per_s + link.latency_s
    return 0.0
