"""Totals of a sized system, derived from its parts: never typed in."""

from dataclasses import dataclass

from dojosim.hardware.figure import Figure, derived
from dojosim.hardware.sizing import SizedSystem


@dataclass(frozen=True)
class Totals:
    devices: int
    peak_flops_per_s: dict[str, Figure]
    sram_bytes: Figure
    hbm_bytes: Figure
    hbm_bytes_per_s: Figure
    power_w: Figure  # IT power at full load: devices plus each level's overhead
    idle_power_w: Figure
    facility_power_w: Figure  # power_w x PUE
    bisection_bytes_per_s: Figure

    def as_dict(self) -> dict[str, Figure]:
        """Flat view keyed as in PublishedCheck.total, e.g. 'peak_flops_per_s.bf16'."""
        flat = {f"peak_flops_per_s.{k}": v for k, v in self.peak_flops_per_s.items()}
        for key in (
            "sram_bytes",
            "hbm_bytes",
            "hbm_bytes_per_s",
            "power_w",
            "idle_power_w",
            "facility_power_w",
            "bisection_bytes_per_s",
        ):
            flat[key] = getattr(self, key)
        return flat


def _zero(what: str) -> Figure:
    return Figure(0.0, f"derived: no {what}", "sourced")


def derive_totals(sized: SizedSystem) -> Totals:
    device, n = sized.system.device, sized.devices
    peaks = {
        dtype: derived(n * fig.value, f"{n} x {device.name} {fig.value:.4g} FLOP/s", fig)
        for dtype, fig in device.peak_flops_per_s.items()
    }
    if device.sram_bytes_per_core is not None:
        per_device = device.cores.value * device.sram_bytes_per_core.value
        sram = derived(
            n * per_device,
            f"{n} x {device.cores.value:.0f} cores x {device.sram_bytes_per_core.value:.4g} B",
            device.cores,
            device.sram_bytes_per_core,
        )
    else:
        sram = _zero("SRAM figure for this device")

    hbm_parts: list[tuple[float, float, list[Figure | None], str]] = []
    if device.hbm_bytes is not None and device.hbm_bytes_per_s is not None:
        hbm_parts.append(
            (
                n * device.hbm_bytes.value,
                n * device.hbm_bytes_per_s.value,
                [device.hbm_bytes, device.hbm_bytes_per_s],
                f"{n} x {device.name} HBM",
            )
        )
    for lvl in sized.levels:
        for pool in lvl.level.memory:
            cards = lvl.units * pool.cards.value
            # A card delivers the lesser of its memory bandwidth and its link to the compute.
            per_card_bw = min(pool.bytes_per_s_per_card.value, pool.link_bytes_per_s_per_card.value)
            hbm_parts.append(
                (
                    cards * pool.bytes_per_card.value,
                    cards * per_card_bw,
                    [pool.cards, pool.bytes_per_card, pool.bytes_per_s_per_card],
                    f"{cards:.0f} {pool.name} cards",
                )
            )
    if hbm_parts:
        inputs = [f for _, _, figs, _ in hbm_parts for f in figs]
        how = " + ".join(h for _, _, _, h in hbm_parts)
        hbm = derived(sum(p[0] for p in hbm_parts), how, *inputs)
        hbm_bw = derived(sum(p[1] for p in hbm_parts), how, *inputs)
    else:
        hbm, hbm_bw = _zero("HBM"), _zero("HBM")

    power_inputs: list[Figure | None] = [device.tdp_w]
    power, idle = n * device.tdp_w.value, n * device.idle_w.value
    how = [f"{n} x {device.tdp_w.value:.0f} W"]
    for lvl in sized.levels:
        overhead = lvl.level.overhead_power_w
        if overhead is not None:
            # Overheads (VRMs, CPUs, switches) are counted at full draw whether the devices work or idle.
            power += lvl.units * overhead.value
            idle += lvl.units * overhead.value
            power_inputs.append(overhead)
            how.append(f"{lvl.units} {lvl.name} x {overhead.value:.0f} W")
    power_fig = derived(power, " + ".join(how), *power_inputs)
    idle_fig = derived(idle, "idle devices + level overheads", device.idle_w, *power_inputs[1:])
    pue = sized.system.pue
    facility = derived(power * pue.value, f"IT power x PUE {pue.value:g}", power_fig, pue)
    top = sized.levels[-1]
    bisection = top.bisection_bytes_per_s if top.children > 1 else _zero("bisection in a one-child system")
    return Totals(n, peaks, sram, hbm, hbm_bw, power_fig, idle_fig, facility, bisection)
