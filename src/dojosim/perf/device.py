"""The device as the engine sees it: peaks, memory tiers, and the named empirical efficiencies."""

from dataclasses import dataclass

from dojosim.errors import InputError
from dojosim.hardware import Figure, SizedSystem


@dataclass(frozen=True)
class MemoryTier:
    name: str
    bytes: float  # capacity per device
    bytes_per_s: float  # effective bandwidth per device


@dataclass(frozen=True)
class DeviceModel:
    name: str
    peaks_flops_per_s: dict[str, float]
    matmul_fraction: float
    low_precision_fraction: dict[str, float]  # fp8 / fp4 GEMMs' fraction of their own peak, where measured
    split_accumulation_fraction: float  # an FP8 GEMM with split (FP32-promoted) accumulation against fast
    kernel_overhead_s: float
    host_overhead_s: float
    matmul_ramp_s: float
    attention_fraction: float
    conv_fraction: float
    conv_ramp_s: float
    optimizer_op_overhead_s: float  # per op of an unfused optimizer step
    vector_unit_per_s: dict[str, float]  # measured per-element rates of "transcendental" and "random" ops
    near: MemoryTier  # where ops read and write: SRAM on an SRAM machine, HBM on a GPU
    # Memory beyond the near tier, fastest first: on-package HBM of an SRAM machine that has it, then memory
    # reached over a link (Dojo's interface-card HBM share); none on a GPU. No tier is dropped.
    far_tiers: tuple[MemoryTier, ...]
    tdp_w: float
    idle_w: float
    # The on-chip fabric over which the cores trade operand blocks between compute phases (perf/exchange.py);
    # 0: none charged (a GPU's SMs read shared HBM and L2; no bulk-synchronous exchange phase).
    exchange_bytes_per_s: float = 0.0
    cores: int = 1

    @property
    def far(self) -> MemoryTier | None:
        """The far tiers as one (their capacity together, the fastest one's name and bandwidth first)."""
        if not self.far_tiers:
            return None
        if len(self.far_tiers) == 1:
            return self.far_tiers[0]
        names = " + ".join(t.name for t in self.far_tiers)
        return MemoryTier(names, sum(t.bytes for t in self.far_tiers), self.far_tiers[0].bytes_per_s)

    def far_seconds(self, traffic_bytes: float, resident_bytes: float) -> float:
        """Seconds to move `traffic_bytes` to and from far state of `resident_bytes`: the state fills the fastest
        far tier first, and each tier carries the traffic of the state it holds, one after another."""
        if traffic_bytes <= 0 or resident_bytes <= 0 or not self.far_tiers:
            return 0.0
        seconds, left = 0.0, resident_bytes
        for tier in self.far_tiers:
            held = min(left, tier.bytes) if tier is not self.far_tiers[-1] else left
            seconds += traffic_bytes * held / resident_bytes / tier.bytes_per_s
            left -= held
            if left <= 0:
                break
        return seconds

    def matmul_fraction_at(self, precision: str) -> float:
        """What large GEMMs reach of the peak at `precision`: its own measured fraction, else the bf16 one."""
        return self.low_precision_fraction.get(precision, self.matmul_fraction)

    def peak(self, dtype: str) -> float:
        dtype = "bf16" if dtype == "fp16" else dtype
        return self.peaks_flops_per_s.get(dtype) or self.peaks_flops_per_s.get("bf16", 0.0)

    @property
    def capacity_bytes(self) -> float:
        return self.near.bytes + sum(t.bytes for t in self.far_tiers)


def _value(figure: Figure | None, default: float = 0.0) -> float:
    return figure.value if figure is not None else default


def device_model(sized: SizedSystem) -> DeviceModel:
    dev = sized.system.device
    mem_fraction = dev.memory_empirical_fraction_of_peak.value if dev.memory_empirical_fraction_of_peak else 1.0
    hbm = None
    if dev.hbm_bytes is not None and dev.hbm_bytes_per_s is not None:
        hbm = MemoryTier("HBM", dev.hbm_bytes.value, dev.hbm_bytes_per_s.value * mem_fraction)
    far_tiers: list[MemoryTier] = []
    if dev.sram_bytes_per_core is not None:  # an SRAM machine: ops work in SRAM, on-package HBM is beyond it
        cores = dev.cores.value
        per_core_bw = dev.sram_bytes_per_s_per_core.value if dev.sram_bytes_per_s_per_core else 0.0
        near = MemoryTier("SRAM", cores * dev.sram_bytes_per_core.value, cores * per_core_bw * mem_fraction)
        if hbm is not None:
            far_tiers.append(hbm)
    elif hbm is not None:
        near = hbm
    else:
        raise InputError(f"device {dev.name}: give hbm_bytes and hbm_bytes_per_s, or sram_bytes_per_core")
    far_bytes = far_bw = 0.0
    for lvl in sized.levels:
        for pool in lvl.level.memory:
            cards = pool.cards.value
            far_bytes += cards * pool.bytes_per_card.value / lvl.devices_per_unit
            # A card delivers the lesser of its memory and its link to the tile.
            far_bw += (
                cards
                * min(pool.bytes_per_s_per_card.value, pool.link_bytes_per_s_per_card.value)
                / lvl.devices_per_unit
            )
    if far_bytes:
        far_tiers.append(MemoryTier("edge HBM", far_bytes, far_bw * mem_fraction))
    kernel_s, host_s = _value(dev.kernel_overhead_s), _value(dev.host_overhead_s)
    matmul_ramp_s = _value(dev.matmul_ramp_s)
    return DeviceModel(
        name=dev.name,
        peaks_flops_per_s={k: v.value for k, v in dev.peak_flops_per_s.items()},
        matmul_fraction=dev.matmul_empirical_fraction_of_peak.value,
        low_precision_fraction={
            dtype: figure.value
            for dtype, figure in (
                ("fp8", dev.fp8_matmul_empirical_fraction_of_peak),
                ("fp4", dev.fp4_matmul_empirical_fraction_of_peak),
            )
            if figure is not None
        },
        split_accumulation_fraction=_value(dev.fp8_split_accumulation_fraction_of_fast, 1.0),
        kernel_overhead_s=kernel_s,
        host_overhead_s=host_s,
        matmul_ramp_s=matmul_ramp_s,
        attention_fraction=(dev.attention_empirical_fraction_of_peak or dev.matmul_empirical_fraction_of_peak).value,
        conv_fraction=(dev.conv_empirical_fraction_of_peak or dev.matmul_empirical_fraction_of_peak).value,
        conv_ramp_s=_value(dev.conv_ramp_s, matmul_ramp_s),
        # An unfused optimizer's op costs at least what any op costs to launch.
        optimizer_op_overhead_s=max(_value(dev.optimizer_op_overhead_s), kernel_s, host_s),
        vector_unit_per_s={
            unit: figure.value
            for unit, figure in (("transcendental", dev.transcendental_per_s), ("random", dev.random_per_s))
            if figure is not None
        },
        near=near,
        far_tiers=tuple(far_tiers),
        tdp_w=dev.tdp_w.value,
        idle_w=dev.idle_w.value,
        exchange_bytes_per_s=_value(dev.exchange_bytes_per_s),
        cores=int(dev.cores.value),
    )
