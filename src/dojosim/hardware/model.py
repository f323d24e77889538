"""Typed description of a machine: one device type, then levels that group the level below.

SI units throughout: bytes, bytes_per_s, flops_per_s, seconds, watts, USD.
"""

from dataclasses import dataclass, field

from dojosim.hardware.figure import Figure
from dojosim.units import HOURS_PER_YEAR, kwh

# Matmul precisions a device can have a peak for. fp16 runs at the bf16 rate on every preset here.
DTYPES = ("fp32", "bf16", "fp8", "fp4")
DTYPE_ALIASES = {"fp16": "bf16"}

TOPOLOGIES = {
    "mesh2d": "2-D mesh of children; each child's egress splits over its 4 edges (Dojo tile, tray)",
    "switch": "all-to-all switch domain; each child reaches any other at its full egress (NVLink/NVSwitch)",
    "fat_tree": "rail-optimized fat tree of children's NICs, with tiers and oversubscription (InfiniBand)",
    "ethernet": "switched Ethernet between children (Dojo's Z-plane over TTPoE)",
}


@dataclass(frozen=True)
class Device:
    """The unit that runs one rank: a D1 die, a GPU."""

    name: str
    cores: Figure
    peak_flops_per_s: dict[str, Figure]
    egress_bytes_per_s: Figure  # per direction, to its siblings at the first level (NVLink, D1 edges)
    tdp_w: Figure
    idle_w: Figure
    matmul_empirical_fraction_of_peak: Figure
    clock_hz: Figure | None = None
    sram_bytes_per_core: Figure | None = None
    sram_bytes_per_s_per_core: Figure | None = None
    hbm_bytes: Figure | None = None
    hbm_bytes_per_s: Figure | None = None
    memory_empirical_fraction_of_peak: Figure | None = None
    kernel_overhead_s: Figure | None = None  # device-side gap per kernel (launch latency)
    host_overhead_s: Figure | None = None  # host-side dispatch per op; overlaps with device work
    attention_empirical_fraction_of_peak: Figure | None = None  # fused attention kernels; default: matmul's
    # Low-precision GEMMs of large shapes, as fractions of that precision's peak; default: matmul's (bf16).
    fp8_matmul_empirical_fraction_of_peak: Figure | None = None
    fp4_matmul_empirical_fraction_of_peak: Figure | None = None
    # An FP8 GEMM that promotes its partial sums to FP32 as it goes (cuBLAS "split accumulator", fast accumulation
    # off, as recipes run backward's GEMMs) against one that does not; default 1 (no such mode, or no cost).
    fp8_split_accumulation_fraction_of_fast: Figure | None = None
    matmul_ramp_s: Figure | None = None  # fill and drain of one matmul: small matmuls reach less of the peak
    conv_empirical_fraction_of_peak: Figure | None = None  # convolutions; default: matmul's
    conv_ramp_s: Figure | None = None  # fill and drain of one convolution; default: matmul's
    optimizer_op_overhead_s: Figure | None = None  # per op of an unfused (per-tensor) optimizer step, host included
    transcendental_per_s: Figure | None = None  # elements/s of exp, erf, tanh-class ops; default: the vector rate
    random_per_s: Figure | None = None  # random numbers/s (dropout masks); default: the vector rate
    # Operating a fleet (`dojosim rent`): interruptions that stop a job, per device-hour of service, whatever the
    # part at fault (the device, its host, its links); and the storage write bandwidth a device's share of a
    # checkpoint gets.
    failures_per_hour: Figure | None = None
    checkpoint_bytes_per_s: Figure | None = None
    # An SRAM machine whose cores hold only their own slice of each operand and trade slices over an on-chip
    # fabric in exchange phases between compute phases (Graphcore's bulk-synchronous IPU-Exchange): the fabric's
    # total bandwidth per device. Matrix ops then pay the exchange of their operand blocks (perf/exchange.py).
    exchange_bytes_per_s: Figure | None = None
    # Silicon that one device's compute sits on (all its compute dies; not HBM or interposer), for the
    # plausibility checks of hardware/plausibility.py: W/mm^2, FLOP/s per mm^2, SRAM bytes per mm^2.
    die_area_mm2: Figure | None = None
    summary: str = ""

    def peak(self, dtype: str) -> Figure | None:
        return self.peak_flops_per_s.get(DTYPE_ALIASES.get(dtype, dtype))


@dataclass(frozen=True)
class MemoryPool:
    """Memory on cards attached to a level, reached over a link (Dojo's DIP HBM at tile edges)."""

    name: str
    cards: Figure  # per unit of the level
    bytes_per_card: Figure
    bytes_per_s_per_card: Figure
    link_bytes_per_s_per_card: Figure  # the link between card and compute; may limit the memory bandwidth


@dataclass(frozen=True)
class Level:
    """A unit made of `children` units of the level below (the first level's children are devices)."""

    name: str
    children: Figure
    topology: str
    link_latency_s: Figure
    collective_empirical_fraction_of_link: Figure
    mesh_dims: tuple[int, int] | None = None
    egress_bytes_per_s: Figure | None = None  # per direction, out of one unit of this level
    nic_bytes_per_s_per_device: Figure | None = None  # alternative to egress: one NIC per device
    oversubscription: Figure | None = None
    switch_radix: Figure | None = None
    overhead_power_w: Figure | None = None  # power of one unit beyond its children (VRMs, CPUs, switches)
    host_dram_bytes: Figure | None = None
    # Switches that reduce in the network (NVLink SHARP): an all-reduce moves each device's data once each way,
    # at this fraction of the per-device link, instead of a ring's 2(g-1)/g.
    in_network_all_reduce_fraction_of_link: Figure | None = None
    memory: tuple[MemoryPool, ...] = ()
    summary: str = ""


@dataclass(frozen=True)
class CostPart:
    """Equipment owned beside the devices (interface cards, hosts, fabric), bought per unit of something."""

    name: str
    per: str  # "device", a level's name (one per unit of it) or "memory:POOL" (one per card of that pool)
    usd_each: Figure
    units_per_device: float  # derived from the hierarchy when the system is built

    @property
    def usd_per_device(self) -> float:
        return self.usd_each.value * self.units_per_device


@dataclass(frozen=True)
class Cost:
    """How a device-hour is priced. Rented: a price per device-hour. Owned: the device and the equipment around it
    written off over a lifetime, a stated share of the programme's development cost (NRE), operations as a
    fraction of the equipment per year, and electricity (charged by the caller from the step's energy)."""

    price_per_device_hour_usd: Figure | None = None
    capex_usd_per_device: Figure | None = None
    lifetime_years: Figure | None = None
    electricity_usd_per_kwh: Figure | None = None
    opex_fraction_of_capex_per_year: Figure | None = None
    nre_usd: Figure | None = None  # the development cost charged to the machines of this design
    nre_devices: Figure | None = None  # how many devices of this design share it
    parts: tuple[CostPart, ...] = ()

    @property
    def owned(self) -> bool:
        return bool(self.capex_usd_per_device and self.lifetime_years)

    @property
    def equipment_usd_per_device(self) -> float:
        """The device's price plus its share of every part around it."""
        device = self.capex_usd_per_device.value if self.capex_usd_per_device else 0.0
        return device + sum(p.usd_per_device for p in self.parts)

    @property
    def nre_usd_per_device(self) -> float:
        if not (self.nre_usd and self.nre_devices):
            return 0.0
        return self.nre_usd.value / self.nre_devices.value

    @property
    def owned_usd_per_device_hour(self) -> float:
        """Owning one device for an hour, electricity aside: equipment and NRE share over the lifetime, plus
        operations; 0 for a system that is only rented."""
        if not self.owned:
            return 0.0
        lifetime_h = self.lifetime_years.value * HOURS_PER_YEAR
        opex = self.opex_fraction_of_capex_per_year.value if self.opex_fraction_of_capex_per_year else 0.0
        equipment = self.equipment_usd_per_device
        return (equipment + self.nre_usd_per_device) / lifetime_h + equipment * opex / HOURS_PER_YEAR

    def electricity_usd(self, joules: float) -> float:
        """What `joules` of facility energy cost; 0 without an electricity price."""
        return kwh(joules) * self.electricity_usd_per_kwh.value if self.electricity_usd_per_kwh else 0.0


@dataclass(frozen=True)
class PublishedCheck:
    """A total the vendor or press published, to compare the derived total against."""

    total: str  # a key of Totals.as_dict(), e.g. "peak_flops_per_s.bf16"
    devices: int
    published: Figure


@dataclass(frozen=True)
class System:
    name: str
    summary: str
    status: str
    device: Device
    levels: tuple[Level, ...]  # bottom-up; the last one scales with the device count
    pue: Figure
    cost: Cost
    default_devices: int
    checks: tuple[PublishedCheck, ...] = ()
    notes: tuple[str, ...] = field(default=())
    origin: str = ""  # the preset name or file path it was loaded from
    maker: str = ""  # who builds the device ("Tesla", "NVIDIA"): studies tell Dojo systems from GPU clusters by it

    def level(self, name: str) -> Level:
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(name)
