"""A system at a given device count: which levels exist, how many children each has, how units connect."""

import math
from dataclasses import dataclass

from dojosim.errors import InputError
from dojosim.hardware.figure import Figure, derived
from dojosim.hardware.model import Level, System

# A job that is not a whole number of switched domains (NVL72 racks, GPU nodes) spreads evenly over a few more
# of them where each then holds at least this share of its devices: 10,240 or 1,024 GPUs run as racks of 64 of
# 72, the powers of two parallel degrees come in, so no group straddles two racks unevenly. Below that share
# (1,000 GPUs: no divisor in 63..72) the domains fill in order and the last is partly used.
EVEN_SPREAD_MIN_FILL = 0.875


@dataclass(frozen=True)
class SizedLevel:
    level: Level
    children: int  # children per unit at this size
    units: int  # how many units of this level the system holds
    devices_per_unit: int
    mesh_dims: tuple[int, int] | None
    child_egress_bytes_per_s: Figure  # what one child can send (per direction) into this level
    egress_bytes_per_s: Figure | None  # what one unit can send to its siblings; None at the top
    fat_tree_tiers: int | None

    @property
    def name(self) -> str:
        return self.level.name

    @property
    def neighbour_link_bytes_per_s(self) -> Figure:
        """Per direction between two adjacent children. A mesh child splits its egress over 4 edges."""
        if self.level.topology == "mesh2d":
            return self.child_egress_bytes_per_s.scaled(0.25)
        oversub = self.level.oversubscription.value if self.level.oversubscription else 1.0
        return self.child_egress_bytes_per_s.scaled(1.0 / oversub)

    @property
    def bisection_bytes_per_s(self) -> Figure:
        link = self.neighbour_link_bytes_per_s
        if self.level.topology == "mesh2d":
            dims = self.mesh_dims or (1, self.children)
            cut = min(dims) if max(dims) > 1 else 0
            return derived(cut * link.value, f"{cut} links x {link.value:.3g} B/s across the mesh's middle", link)
        half = self.children // 2
        return derived(half * link.value, f"{half} children x {link.value:.3g} B/s", link)


@dataclass(frozen=True)
class SizedSystem:
    system: System
    devices: int
    levels: tuple[SizedLevel, ...]


def _near_square(n: int) -> tuple[int, int]:
    rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return (rows, n // rows)


def _tiers(endpoints: int, radix: int) -> int:
    """Fat-tree tiers for this many endpoints: t tiers of radix-k switches serve k^t / 2^(t-1) ports."""
    tiers = 1
    while radix**tiers / 2 ** (tiers - 1) < endpoints:
        tiers += 1
    return tiers


def _even_domain(system: System, n: int) -> int | None:
    """Devices per switched domain when `n` spreads evenly over domains each at least EVEN_SPREAD_MIN_FILL
    full; None where the shipped domain size stands (a whole number of them, one domain or less, no even
    spread, or a domain that is not a switch)."""
    first = system.levels[0]
    full = int(first.children.value)
    if first.topology != "switch" or n <= full or n % full == 0 or len(system.levels) < 2:
        return None
    least = math.ceil(EVEN_SPREAD_MIN_FILL * full)
    return next((c for c in range(full - 1, least - 1, -1) if n % c == 0), None)


def size_system(system: System, devices: int | None = None) -> SizedSystem:
    """Fill the hierarchy from the bottom with `devices` devices (default: the preset's size).

    Below the top, levels keep their shipped size; the top level scales. A system smaller than one
    unit of a level stops at that level, with fewer children. A count that is not a whole number of switched
    domains (GPU nodes, NVLink racks) spreads evenly over a few more where it can (EVEN_SPREAD_MIN_FILL), or
    else holds one more, partly used; other units (Dojo's tiles, trays and cabinets) must be whole.
    """
    n = system.default_devices if devices is None else devices
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"--devices: must be a whole number >= 1, got {devices!r}")
    sized: list[SizedLevel] = []
    domain = _even_domain(system, n)
    below_devices = 1
    child_name = system.device.name
    child_egress = system.device.egress_bytes_per_s
    for i, level in enumerate(system.levels):
        full = domain if i == 0 and domain else int(level.children.value)
        is_last = i == len(system.levels) - 1 or n <= below_devices * full
        children = n // below_devices if is_last else full
        per_unit = below_devices * children
        if is_last and per_unit != n:
            if i == 0 or system.levels[i - 1].topology != "switch":
                raise InputError(
                    f"--devices {n}: {system.name} grows in whole {child_name}s of {below_devices} devices "
                    f"each; try {max(below_devices, n // below_devices * below_devices)} "
                    f"or {(n // below_devices + 1) * below_devices}"
                )
            # A switched domain (a GPU node, an NVLink rack) works with any subset of its devices: the job
            # holds one more of them, partly used (real jobs take any GPU count; racks are often shared).
            children, per_unit = math.ceil(n / below_devices), n
        dims = level.mesh_dims
        if level.topology == "mesh2d" and children != full:
            dims = _near_square(children)
        egress = None
        if not is_last:
            if level.egress_bytes_per_s is not None:
                egress = level.egress_bytes_per_s
            elif level.nic_bytes_per_s_per_device is not None:
                nic = level.nic_bytes_per_s_per_device
                egress = derived(per_unit * nic.value, f"{per_unit} devices x {nic.value:.3g} B/s NIC", nic)
            else:
                egress = derived(children * child_egress.value, f"{children} x child egress", child_egress)
        tiers = None
        if level.topology == "fat_tree":
            radix = int(level.switch_radix.value) if level.switch_radix else 64
            # Rail-optimized: every device's NIC is a fat-tree endpoint when the children have one per device.
            child_nics = i > 0 and system.levels[i - 1].nic_bytes_per_s_per_device is not None
            tiers = _tiers(per_unit if child_nics else children, radix)
        # Units the job holds: a partly used one counts whole (its switches, hosts and fans run).
        sized.append(SizedLevel(level, children, math.ceil(n / per_unit), per_unit, dims, child_egress, egress, tiers))
        if is_last:
            break
        below_devices, child_name, child_egress = per_unit, level.name, egress
    return SizedSystem(system, n, tuple(sized))
