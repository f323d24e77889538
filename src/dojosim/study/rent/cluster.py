"""Allocators: how a machine can be handed out, as its hardware allows.

- Dojo: whole training tiles, in one contiguous run of the mesh. Tiles are numbered along a serpentine path
  through the mesh (tile rows within a tray, trays within a cabinet, cabinets along the Z-plane), so a run of
  consecutive tiles is a connected region whose neighbours talk over tile-to-tile links. Free space splits into
  runs as jobs come and go: fragmentation is real, and measured (1 - largest free run / free tiles).
- NVL72: a job below one rack gets compute trays (4 GPUs) inside one rack, its NVLink domain; a job of a rack or
  more gets whole racks.
- DGX: whole nodes, anywhere on the fat tree.
Every allocator answers the same questions (can this size be placed, place it, release it, a copy for what-if
planning) so the schedulers never ask which machine they run on.
"""

import bisect
from dataclasses import dataclass
from typing import Any, Protocol

from dojosim.errors import InputError
from dojosim.hardware import load_system

NVL72_TRAY_GPUS = 4  # GB200 NVL72: 18 compute trays of 4 GPUs (2 Grace-Blackwell superchips) per rack


class Allocator(Protocol):
    unit_devices: int
    total_devices: int

    def sizes(self) -> list[int]: ...
    def can_place(self, devices: int) -> bool: ...
    def place(self, devices: int) -> Any: ...
    def release(self, handle: Any) -> None: ...
    def free_devices(self) -> int: ...
    def largest_devices(self) -> int: ...
    def clone(self) -> "Allocator": ...


def _doubling(unit: int, total: int) -> list[int]:
    sizes, n = [], unit
    while n <= total:
        sizes.append(n)
        n *= 2
    return sizes


def fragmentation(allocator: Allocator) -> float:
    """0 when every free device can go to one job; near 1 when free devices are scattered in small pieces."""
    free = allocator.free_devices()
    return 0.0 if free == 0 else 1.0 - allocator.largest_devices() / free


@dataclass
class UnitPool:
    """Whole units (DGX nodes; or tiles taken anywhere, as a non-contiguous Dojo allocator would)."""

    unit_devices: int
    units: int
    free_units: int = -1

    def __post_init__(self) -> None:
        if self.free_units < 0:
            self.free_units = self.units

    @property
    def total_devices(self) -> int:
        return self.units * self.unit_devices

    def sizes(self) -> list[int]:
        return _doubling(self.unit_devices, self.total_devices)

    def can_place(self, devices: int) -> bool:
        return -(-devices // self.unit_devices) <= self.free_units

    def place(self, devices: int) -> int | None:
        n = -(-devices // self.unit_devices)
        if n > self.free_units:
            return None
        self.free_units -= n
        return n

    def release(self, handle: int) -> None:
        self.free_units += handle

    def free_devices(self) -> int:
        return self.free_units * self.unit_devices

    def largest_devices(self) -> int:
        return self.free_devices()

    def clone(self) -> "UnitPool":
        return UnitPool(self.unit_devices, self.units, self.free_units)


@dataclass
class ContiguousTiles:
    """Dojo: runs of consecutive tiles along the mesh's serpentine order; first fit, neighbours merged on release."""

    unit_devices: int  # D1 per tile
    units: int
    starts: list[int] | None = None  # free runs, sorted by start
    lengths: list[int] | None = None
    group_units: tuple[int, ...] = ()  # tiles in each grouping above a tile (tray 6, cabinet 12), bottom up

    def __post_init__(self) -> None:
        if self.starts is None:
            self.starts, self.lengths = [0], [self.units]

    @property
    def total_devices(self) -> int:
        return self.units * self.unit_devices

    def sizes(self) -> list[int]:
        """Tiles doubling up to a tray, a tray, a cabinet, then cabinets doubling: the sizes a Dojo system is
        built in (a run past a cabinet is whole cabinets, as the machine itself grows)."""
        tiles, step = [], 1
        for group in self.group_units:
            tiles += [n for n in _doubling(step, group) if n % step == 0 and n < group] + [group]
            step = group
        tiles += _doubling(step, self.units)
        return sorted({t * self.unit_devices for t in tiles if t <= self.units})

    def _tiles(self, devices: int) -> int:
        return -(-devices // self.unit_devices)

    def can_place(self, devices: int) -> bool:
        need = self._tiles(devices)
        return any(length >= need for length in self.lengths)

    def place(self, devices: int) -> tuple[int, int] | None:
        need = self._tiles(devices)
        for i, length in enumerate(self.lengths):
            if length >= need:
                start = self.starts[i]
                if length == need:
                    del self.starts[i], self.lengths[i]
                else:
                    self.starts[i] += need
                    self.lengths[i] -= need
                return start, need
        return None

    def release(self, handle: tuple[int, int]) -> None:
        start, length = handle
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.lengths.insert(i, length)
        if i + 1 < len(self.starts) and self.starts[i] + self.lengths[i] == self.starts[i + 1]:  # merge right
            self.lengths[i] += self.lengths.pop(i + 1)
            self.starts.pop(i + 1)
        if i > 0 and self.starts[i - 1] + self.lengths[i - 1] == self.starts[i]:  # merge left
            self.lengths[i - 1] += self.lengths.pop(i)
            self.starts.pop(i)

    def free_devices(self) -> int:
        return sum(self.lengths) * self.unit_devices

    def largest_devices(self) -> int:
        return max(self.lengths, default=0) * self.unit_devices

    def clone(self) -> "ContiguousTiles":
        return ContiguousTiles(self.unit_devices, self.units, list(self.starts), list(self.lengths), self.group_units)


@dataclass
class Racks:
    """NVL72: partial racks (compute trays inside one rack, best fit) below a rack, whole racks from one up."""

    rack_devices: int
    tray_devices: int
    racks: int
    free_trays: list[int] | None = None

    def __post_init__(self) -> None:
        if self.free_trays is None:
            self.free_trays = [self.trays_per_rack] * self.racks

    @property
    def trays_per_rack(self) -> int:
        return self.rack_devices // self.tray_devices

    @property
    def unit_devices(self) -> int:
        return self.tray_devices

    @property
    def total_devices(self) -> int:
        return self.racks * self.rack_devices

    def sizes(self) -> list[int]:
        partial = [s for s in _doubling(self.tray_devices, self.rack_devices) if s < self.rack_devices]
        return partial + _doubling(self.rack_devices, self.total_devices)

    def _whole(self) -> list[int]:
        return [r for r, free in enumerate(self.free_trays) if free == self.trays_per_rack]

    def can_place(self, devices: int) -> bool:
        if devices >= self.rack_devices:
            return len(self._whole()) >= -(-devices // self.rack_devices)
        return max(self.free_trays) * self.tray_devices >= devices

    def place(self, devices: int) -> list[tuple[int, int]] | None:
        if devices >= self.rack_devices:
            whole, need = self._whole(), -(-devices // self.rack_devices)
            if len(whole) < need:
                return None
            taken = [(r, self.trays_per_rack) for r in whole[:need]]
        else:
            trays = -(-devices // self.tray_devices)
            fits = [(free, r) for r, free in enumerate(self.free_trays) if free >= trays]
            if not fits:
                return None
            taken = [(min(fits)[1], trays)]  # best fit: the fullest rack it fits in keeps whole racks whole
        for r, trays in taken:
            self.free_trays[r] -= trays
        return taken

    def release(self, handle: list[tuple[int, int]]) -> None:
        for r, trays in handle:
            self.free_trays[r] += trays

    def free_devices(self) -> int:
        return sum(self.free_trays) * self.tray_devices

    def largest_devices(self) -> int:
        whole = len(self._whole()) * self.rack_devices
        return max(whole, max(self.free_trays, default=0) * self.tray_devices)

    def clone(self) -> "Racks":
        return Racks(self.rack_devices, self.tray_devices, self.racks, list(self.free_trays))


def allocator_for(system_name: str, devices: int) -> Allocator:
    """The allocator a system's hardware implies, for `devices` (rounded down to whole allocation units)."""
    system = load_system(system_name)
    first = system.levels[0]
    unit = int(first.children.value)
    if system.maker == "Tesla":
        groups, size = [], 1
        for level in system.levels[1:-1]:
            size *= int(level.children.value)
            groups.append(size)
        allocator: Allocator = ContiguousTiles(unit, devices // unit, group_units=tuple(groups))
    elif first.topology == "switch" and unit > 8:  # a rack-scale NVLink domain
        allocator = Racks(unit, NVL72_TRAY_GPUS, devices // unit)
    else:
        allocator = UnitPool(unit, devices // unit)
    if allocator.total_devices < unit:
        raise InputError(f"--devices: {system_name} is allocated in units of {unit} devices; got {devices}")
    return allocator


def snap(allocator: Allocator, devices: float) -> int:
    """The allocation size a request gets: the smallest allowed size at or above it, at most the machine."""
    sizes = allocator.sizes()
    return next((s for s in sizes if s >= devices), sizes[-1])


__all__ = ["Allocator", "ContiguousTiles", "Racks", "UnitPool", "allocator_for", "fragmentation", "snap"]
