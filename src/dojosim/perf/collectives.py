"""Collectives in alpha-beta form over the levels a group spans.

Hierarchical algorithms: a collective over members that meet at several levels runs level by level,
innermost first; a reduce-scatter at one level shrinks the data the next level carries. On a level a ring
(or, on a 2-D mesh, a bidirectional ring over two of each die's four edges) takes 2(g-1)/g of the data for an
all-reduce and (g-1)/g for an all-gather or reduce-scatter, plus one latency per step.
"""

from dataclasses import dataclass

from dojosim.hardware import SizedSystem
from dojosim.parallel.placement import GroupSpan

# On a mesh a ring uses two of a die's four edges (one each way); switched levels give a member its full share.
MESH_RING_EDGE_FRACTION = 0.5


@dataclass(frozen=True)
class LevelLink:
    bytes_per_s: float  # what one device gets at this level, after efficiency
    latency_s: float
    in_network_bytes_per_s: float | None = None  # an in-network all-reduce's rate per device, where switches reduce


def level_links(sized: SizedSystem) -> tuple[LevelLink, ...]:
    """Per-device effective bandwidth at each level, when every device's group crosses it at once."""
    links = []
    for lvl in sized.levels:
        devices_per_child = lvl.devices_per_unit // max(1, lvl.children)
        bw = lvl.child_egress_bytes_per_s.value / max(1, devices_per_child)
        topology = lvl.level.topology
        if topology == "mesh2d":
            bw *= MESH_RING_EDGE_FRACTION
        elif lvl.level.oversubscription is not None:
            bw /= lvl.level.oversubscription.value
        in_network = lvl.level.in_network_all_reduce_fraction_of_link
        in_network_bw = bw * in_network.value if in_network else None  # of the raw link: its own measured share
        bw *= lvl.level.collective_empirical_fraction_of_link.value
        links.append(LevelLink(bw, lvl.level.link_latency_s.value, in_network_bw))
    return tuple(links)


def all_reduce_s(nbytes: float, span: GroupSpan, links: tuple[LevelLink, ...]) -> float:
    """Level by level: a ring's reduce-scatter and all-gather, or, where the switches reduce (NVLS), each
    device's data sent up once and the sum received once, two switch crossings of latency."""
    t, data = 0.0, nbytes
    for g, link in zip(span.members_per_level, links, strict=False):
        if g > 1:
            if link.in_network_bytes_per_s:
                t += data / link.in_network_bytes_per_s + 2.0 * link.latency_s
            else:
                t += 2.0 * (g - 1) / g * data / link.bytes_per_s + 2.0 * (g - 1) * link.latency_s
            data /= g
    return t


def all_gather_s(nbytes: float, span: GroupSpan, links: tuple[LevelLink, ...]) -> float:
    """All-gather (or reduce-scatter) of a tensor of `nbytes` in total."""
    t, data = 0.0, nbytes
    for g, link in zip(span.members_per_level, links, strict=False):
        if g > 1:
            t += (g - 1) / g * data / link.bytes_per_s + (g - 1) * link.latency_s
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
            t += nbytes * newly / n / link.bytes_per_s + (g - 1) * link.latency_s
            reached *= g
    return t


def p2p_s(nbytes: float, span: GroupSpan, links: tuple[LevelLink, ...]) -> float:
    """A send between neighbouring members: over the lowest level where they meet."""
    for g, link in zip(span.members_per_level, links, strict=False):
        if g > 1:
            return nbytes / link.bytes_per_s + link.latency_s
    return 0.0
