"""Is a device physically plausible? Its power, compute and SRAM per mm^2 of silicon, against bounds set from
shipping parts and process facts, each bound with its argument.

A preset built from claims can multiply figures no silicon carries (145 PFLOP/s and 20 kW on one reticle-sized
die position); `dojosim system show` prints a warning for every density over its bound. Needs the device's
`die_area_mm2`; a device without one is not checked.
"""

from dataclasses import dataclass

from dojosim.hardware.model import System

MB = 1e6


@dataclass(frozen=True)
class Bound:
    """The most a device can plausibly reach per mm^2 of compute silicon, and why."""

    key: str
    label: str
    unit: str  # the unit of `scale`, for messages
    scale: float  # SI value of one `unit`
    limit: float  # SI, per mm^2
    argument: str


BOUNDS = (
    Bound(
        "w_per_mm2",
        "power density",
        "W/mm^2",
        1.0,
        1.5,
        "1.75x the densest sourced training die here (H100: 700 W on 814 mm^2 = 0.86 W/mm^2; D1 0.62, "
        "A100 0.48); whole-wafer Cerebras WSE-3 runs ~23 kW on 46,225 mm^2 = 0.5 W/mm^2. Heat leaves a die "
        "through one face: above ~1.5 W/mm^2 averaged over a large die no shipping cooling keeps it in limits",
    ),
    Bound(
        "bf16_flops_per_s_per_mm2",
        "dense BF16 compute density",
        "TFLOP/s per mm^2",
        1e12,
        3.0e12,
        "2.5x H100's 1.21 TFLOP/s per mm^2 (989 TFLOP/s dense on 814 mm^2, TSMC 4N); the next nodes add "
        "~1.3x (N3E vs N5 chip density) and ~1.15x (N2 vs N3E), TSMC's figures via Tom's Hardware, and the "
        "matrix units of a GPU already fill most of its area",
    ),
    Bound(
        "sram_bytes_per_mm2",
        "SRAM density",
        "MB/mm^2",
        MB,
        4.75e6,
        "a die of nothing but TSMC N2's densest SRAM macros: 38 Mb/mm^2 = 4.75 MB/mm^2 (IEDM 2024 via Tom's "
        "Hardware; N5/N3E: 31.8 Mib/mm^2 = 4.2 MB/mm^2). Real dies hold far less: D1 0.69, Cerebras WSE-3 "
        "0.95 MB/mm^2 (44 GB on 46,225 mm^2)",
    ),
)


@dataclass(frozen=True)
class Density:
    """One density of a device beside its bound."""

    bound: Bound
    value: float  # SI per mm^2

    @property
    def plausible(self) -> bool:
        return self.value <= self.bound.limit

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.bound.key,
            "label": self.bound.label,
            "value_per_mm2": self.value,
            "limit_per_mm2": self.bound.limit,
            "unit": self.bound.unit,
            "unit_scale": self.bound.scale,
            "plausible": self.plausible,
            "argument": self.bound.argument,
        }

    def warning(self) -> str:
        b = self.bound
        return (
            f"{b.label} {self.value / b.scale:.3g} {b.unit} is over the plausible {b.limit / b.scale:.3g} "
            f"({self.value / b.limit:.1f}x): {b.argument}"
        )


def densities(system: System) -> list[Density]:
    """The device's power, dense BF16 compute and SRAM per mm^2 of its compute silicon; empty without a die
    area."""
    device = system.device
    if device.die_area_mm2 is None:
        return []
    area = device.die_area_mm2.value
    values = {"w_per_mm2": device.tdp_w.value / area}
    bf16 = device.peak("bf16")
    if bf16 is not None:
        values["bf16_flops_per_s_per_mm2"] = bf16.value / area
    if device.sram_bytes_per_core is not None and device.sram_bytes_per_core.value > 0:
        values["sram_bytes_per_mm2"] = device.sram_bytes_per_core.value * device.cores.value / area
    return [Density(b, values[b.key]) for b in BOUNDS if b.key in values]


def plausibility_warnings(system: System) -> list[str]:
    """One sentence per density over its bound, with the argument; empty when all are plausible."""
    return [d.warning() for d in densities(system) if not d.plausible]
