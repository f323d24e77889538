"""The device as the engine sees it: peaks, memory tiers, and the named empirical efficiencies."""

from dataclasses import dataclass

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
    kernel_overhead_s: float
    host_overhead_s: float
    matmul_ramp_s: float
    attention_fraction: float
    conv_fraction: float
    conv_ramp_s: float
    optimizer_op_overhead_s: float  # per op of an unfused optimizer step
    vector_unit_per_s: dict[str, float]  # measured per-element rates of "transcendental" and "random" ops
    near: MemoryTier  # where ops read and write: SRAM on a D1, HBM on a GPU
    far: MemoryTier | None  # memory reached over a link (Dojo's DIP HBM share), None on a GPU
    tdp_w: float
    idle_w: float

    def peak(self, dtype: str) -> float:
        dtype = "bf16" if dtype == "fp16" else dtype
        return self.peaks_flops_per_s.get(dtype) or self.peaks_flops_per_s.get("bf16", 0.0)

    @property
    def capacity_bytes(self) -> float:
        return self.near.bytes + (self.far.bytes if self.far else 0.0)

    @property
    def far_bytes_per_s(self) -> float:
        """Bandwidth to far memory; 0 where there is none."""
        return self.far.bytes_per_s if self.far else 0.0


def _value(figure: Figure | None, default: float = 0.0) -> float:
    return figure.value if figure is not None else default


def device_model(sized: SizedSystem) -> DeviceModel:
    dev = sized.system.device
    mem_fraction = dev.memory_empirical_fraction_of_peak.value if dev.memory_empirical_fraction_of_peak else 1.0
    if dev.hbm_bytes is not None and dev.hbm_bytes_per_s is not None:
        near = MemoryTier("HBM", dev.hbm_bytes.value, dev.hbm_bytes_per_s.value * mem_fraction)
    else:
        cores = dev.cores.value
        per_core_bw = dev.sram_bytes_per_s_per_core.value if dev.sram_bytes_per_s_per_core else 0.0
        near = MemoryTier("SRAM", cores * dev.sram_bytes_per_core.value, cores * per_core_bw * mem_fraction)
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
    far = MemoryTier("edge HBM", far_bytes, far_bw * mem_fraction) if far_bytes else None
    kernel_s, host_s = _value(dev.kernel_overhead_s), _value(dev.host_overhead_s)
    matmul_ramp_s = _value(dev.matmul_ramp_s)
    return DeviceModel(
        name=dev.name,
        peaks_flops_per_s={k: v.value for k, v in dev.peak_flops_per_s.items()},
        matmul_fraction=dev.matmul_empirical_fraction_of_peak.value,
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
        far=far,
        tdp_w=dev.tdp_w.value,
        idle_w=dev.idle_w.value,
    )
