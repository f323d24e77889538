"""What a budget buys: facility power, devices or rental cost per hour, turned into a device count in the
whole units a system grows in (a node, an NVL72 rack; for Dojo a tile, tray or cabinet)."""

from dataclasses import dataclass

from dojosim.errors import InputError
from dojosim.hardware import derive_totals, load_system, size_system
from dojosim.units import SECONDS_PER_HOUR

NORMALIZE = ("power", "devices", "cost")


@dataclass(frozen=True)
class Budget:
    kind: str  # power (W of facility power), devices, cost (USD per hour)
    value: float


def parse_budget(text: str | None, normalize: str) -> Budget | None:
    """'2MW', '500kW', '3000', '$20000/h'; None means: one Dojo ExaPOD's worth."""
    if normalize not in NORMALIZE:
        raise InputError(f"--normalize: must be one of {', '.join(NORMALIZE)}, got {normalize!r}")
    if text is None:
        return None
    t = text.strip().replace(",", "").replace("$", "").removesuffix("/h").removesuffix("/hour")
    scale = 1.0
    for suffix, factor in (("MW", 1e6), ("kW", 1e3), ("W", 1.0), ("k", 1e3), ("M", 1e6)):
        if t.endswith(suffix):
            t, scale = t[: -len(suffix)], factor
            break
    try:
        value = float(t) * scale
    except ValueError:
        raise InputError(f"--budget {text!r}: expected e.g. 2MW (power), 3000 (devices) or $20000/h (cost)") from None
    if value <= 0:
        raise InputError(f"--budget {text!r}: must be > 0")
    return Budget(normalize, value)


Overrides = tuple[str, ...]


def growth_unit(system_name: str, devices: float | None = None, overrides: Overrides = ()) -> int:
    """The step a system of about `devices` grows in: the largest unit below the top level that it exceeds
    (a node, an NVL72 rack; for Dojo a tile, tray or cabinet), as size_system requires."""
    system = load_system(system_name, overrides)
    unit, size = int(system.levels[0].children.value), 1
    for level in system.levels[:-1]:
        size *= int(level.children.value)
        if devices is not None and devices > size:
            unit = size
    return unit


@dataclass(frozen=True)
class PerDevice:
    """What one device of a system costs to run, level overheads and PUE included."""

    facility_w: float
    # Owned (capital, operations and energy) where the preset has a capex, else rented: one basis per system.
    usd_per_hour: float

    def of(self, kind: str) -> float:
        """One device's share of a budget of this kind."""
        return {"power": self.facility_w, "devices": 1.0, "cost": self.usd_per_hour}[kind]


def per_device(system_name: str, overrides: Overrides = ()) -> PerDevice:
    """One device's facility power and hourly cost, with the figures `overrides` (PART.FIELD=VALUE) change: a
    budget buys what the machine as modelled costs to run."""
    system = load_system(system_name, overrides)
    totals = derive_totals(size_system(system))
    watts = totals.facility_power_w.value / totals.devices
    cost = system.cost
    if cost.owned:  # owning a device for an hour: capital and operations plus the hour's facility energy
        energy_usd = cost.electricity_usd(watts * SECONDS_PER_HOUR)
        return PerDevice(watts, cost.owned_usd_per_device_hour + energy_usd)
    return PerDevice(watts, cost.price_per_device_hour_usd.value)


def default_budget(normalize: str) -> Budget:
    """One Dojo V1 ExaPOD's worth, in the unit of the normalization."""
    exapod = derive_totals(size_system(load_system("dojo-v1")))
    usd_h = per_device("dojo-v1").usd_per_hour
    value = {"power": exapod.facility_power_w.value, "devices": exapod.devices, "cost": exapod.devices * usd_h}
    return Budget(normalize, float(value[normalize]))


def devices_for(system_name: str, budget: Budget, overrides: Overrides = ()) -> int:
    raw = budget.value / per_device(system_name, overrides).of(budget.kind)
    unit = growth_unit(system_name, raw, overrides)
    n = int(raw // unit) * unit
    if n < unit:
        raise InputError(f"--budget buys less than one {unit}-device unit of {system_name}")
    return n
