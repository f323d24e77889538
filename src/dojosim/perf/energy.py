"""Energy and cost of a step: device power between idle and TDP by how busy it is, the levels' own overhead
power, the facility's PUE; rental price, or capital over the lifetime plus electricity."""

from dataclasses import dataclass

from dojosim.hardware import Cost as Pricing
from dojosim.hardware import SizedSystem
from dojosim.perf.device import DeviceModel
from dojosim.perf.result import Cost
from dojosim.units import hours


@dataclass(frozen=True, slots=True)
class Facility:
    """What the machine around the devices adds: power of its levels, cooling overhead, and prices."""

    overhead_power_w: float  # every level unit's power beyond its children (CPUs, switches, VRMs)
    pue: float
    pricing: Pricing

    @classmethod
    def of(cls, sized: SizedSystem) -> "Facility":
        overhead_w = sum(
            lvl.units * lvl.level.overhead_power_w.value for lvl in sized.levels if lvl.level.overhead_power_w
        )
        return cls(overhead_w, sized.system.pue.value, sized.system.cost)


def device_busy_fraction(busy_s: float, step_s: float) -> float:
    """Share of the step the devices compute or update (communication and waiting draw idle power)."""
    return min(1.0, busy_s / step_s) if step_s > 0 else 0.0


def energy_j(device: DeviceModel, devices: int, busy: float, step_s: float, facility: Facility) -> float:
    """Facility energy of one step: devices at idle power plus their busy share of the way to TDP, plus the
    levels' overhead, times the PUE."""
    device_w = device.idle_w + (device.tdp_w - device.idle_w) * busy
    return (devices * device_w + facility.overhead_power_w) * step_s * facility.pue


def step_cost(pricing: Pricing, step_s: float, devices: int, energy: float) -> Cost:
    """What one step costs: renting `devices` for `step_s`, and owning them (capital plus `energy` joules)."""
    step_hours = hours(step_s)
    price = pricing.price_per_device_hour_usd
    rental = price.value * devices * step_hours if price else None
    owned = (
        pricing.owned_usd_per_device_hour * devices * step_hours + pricing.electricity_usd(energy)
        if pricing.owned
        else None
    )
    return Cost(rental, owned)
