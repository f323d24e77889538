"""The main job: Dojo generations against GPU clusters on one training workload, at the same budget.

For every system: how many devices the budget buys, the best plan a search finds, and what follows from
it: step time, samples/s, MFU, memory, energy and cost per million samples, days to train a campaign, and
the bottleneck. The public claims about Dojo are recomputed from the presets, never restated.
"""

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dojosim.errors import InputError
from dojosim.hardware import derive_totals, load_system, size_system
from dojosim.perf.search import SearchSpec, engine_for, plan_of, run_search

NORMALIZE = ("power", "devices", "cost")
# Musk, July 2024: Dojo 1 would be about "8,000 H100-equivalent" of training by the end of 2024
# (../shared/reference/hardware-specs.md, "Reported deployed scale"; basis of the equivalence unknown).
MUSK_H100_EQUIVALENTS = 8000.0


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


def _unit(system_name: str, devices: float | None = None) -> int:
    """The step a system of about `devices` grows in: the largest unit below the top level that it exceeds
    (a node, an NVL72 rack; for Dojo a tile, tray or cabinet), as size_system requires."""
    system = load_system(system_name)
    unit, size = int(system.levels[0].children.value), 1
    for level in system.levels[:-1]:
        size *= int(level.children.value)
        if devices is not None and devices > size:
            unit = size
    return unit


def _per_device(system_name: str) -> tuple[float, float]:
    """Facility watts and USD per hour that one device costs, level overheads included."""
    system = load_system(system_name)
    totals = derive_totals(size_system(system))
    watts = totals.facility_power_w.value / totals.devices
    cost = system.cost
    if cost.price_per_device_hour_usd:
        usd_h = cost.price_per_device_hour_usd.value
    else:
        usd_h = cost.capex_usd_per_device.value / (cost.lifetime_years.value * 8766.0)
        if cost.electricity_usd_per_kwh:
            usd_h += watts / 1000.0 * cost.electricity_usd_per_kwh.value
    return watts, usd_h


def default_budget(normalize: str) -> Budget:
    """One Dojo V1 ExaPOD's worth, in the unit of the normalization."""
    exapod = derive_totals(size_system(load_system("dojo-v1")))
    _, usd_h = _per_device("dojo-v1")
    value = {"power": exapod.facility_power_w.value, "devices": exapod.devices, "cost": exapod.devices * usd_h}
    return Budget(normalize, float(value[normalize]))


def devices_for(system_name: str, budget: Budget) -> int:
    watts, usd_h = _per_device(system_name)
    raw = {"power": budget.value / watts, "devices": budget.value, "cost": budget.value / usd_h}[budget.kind]
    unit = _unit(system_name, raw)
    n = int(raw // unit) * unit
    if n < unit:
        raise InputError(f"--budget buys less than one {unit}-device unit of {system_name}")
    return n


@dataclass
class SystemResult:
    system: str
    devices: int
    status: str
    best: dict[str, Any] | None
    error: str = ""
    costed: int = 0
    scaling: list[dict[str, Any]] | None = None
    roofline: dict[str, Any] | None = None
    capacity_bytes: float = 0.0  # memory per device of the system at the budget (near + far tiers)


def compare(
    model: str,
    systems: list[str],
    budget: Budget | None,
    global_batch_per_device: float,
    seq: int | None,
    scaling_points: int = 3,
    progress: Callable[[str], None] | None = None,
) -> list[SystemResult]:
    budget = budget or default_budget("power")
    out = []
    for name in systems:
        system = load_system(name)  # a clear error for an unknown name before any search
        try:
            n = devices_for(name, budget)
        except InputError as exc:
            out.append(SystemResult(name, 0, system.status, None, str(exc)))
            continue
        result = SystemResult(name, n, system.status, None, scaling=[])
        fractions = [2.0**-k for k in range(scaling_points - 1, -1, -1)]
        watts, usd_h = _per_device(name)
        per_device = {"power": watts, "devices": 1.0, "cost": usd_h}[budget.kind]
        sizes: dict[int, list[float]] = {}  # devices -> budget fractions; a small budget rounds points together
        for fraction in fractions:
            unit = _unit(name, n * fraction)
            sizes.setdefault(max(unit, int(n * fraction // unit) * unit), []).append(fraction)
        for devices, merged in sizes.items():
            fraction = max(merged)
            batch = max(1, int(round(devices * global_batch_per_device)))
            spec = SearchSpec(model, name, devices, batch, seq)
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    found = run_search(spec, Path(tmp), workers=None)
            except InputError as exc:
                if fraction == 1.0:
                    result.error = str(exc)
                found = None
            if progress:
                for _ in merged:
                    progress(name)
            if found is None:
                continue
            best = min(found["rows"], key=lambda r: r["step_time_s"])
            best.update(
                devices=devices,
                global_batch=batch,
                samples_per_s=batch / best["step_time_s"],
                budget=devices * per_device,
                power_w=devices * watts,
            )
            result.scaling.append(best)
            if fraction == 1.0:
                result.best, result.costed = best, found["costed"]
                engine = engine_for(spec, best["micro_batch"])
                result.roofline = engine.roofline(plan_of(spec, best))
                result.capacity_bytes = engine.device.capacity_bytes
        out.append(result)
    return out


def scale_out(model: str, system: str, row: dict[str, Any], devices: int, seq: int | None) -> dict[str, Any]:
    """The best plan's replica repeated over more devices: dp grows, tp/pp/cp and micro-batch stay, the global
    batch grows with it (each replica keeps its share). Re-estimated on the larger machine, so the wider
    data-parallel reduction over the top-level network is costed, not assumed."""
    step = math.lcm(row["devices"], _unit(system, devices))  # whole replicas in whole units of the machine
    devices = max(1, math.ceil(devices / step)) * step
    batch = row["global_batch"] * (devices // row["devices"])
    spec = SearchSpec(model, system, devices, batch, seq)
    e = engine_for(spec, row["micro_batch"]).estimate(plan_of(spec, row))
    return {
        "devices": devices,
        "global_batch": batch,
        "step_time_s": e.step_time_s,
        "samples_per_s": e.throughput["samples_per_s"],
        "mfu": e.mfu,
        "energy_j": e.energy_j,
        "cost_usd": e.cost_usd,
        "bottleneck": e.bottleneck,
    }


def _peak_per_device(system_name: str) -> float:
    return load_system(system_name).device.peak_flops_per_s["bf16"].value


def fleet(
    results: list[SystemResult], model: str, seq: int | None, eflops: float, dataset_samples: float, epochs: float
) -> list[dict[str, Any]]:
    """What a fleet of `eflops` dense BF16 peak (Tesla's stated 100 EFLOPS) of each system would do."""
    rows = []
    for r in results:
        if not r.best:
            continue
        needed = math.ceil(eflops * 1e18 / _peak_per_device(r.system))
        run = scale_out(model, r.system, r.best, needed, seq)
        watts, _ = _per_device(r.system)
        rows.append(
            {
                "system": r.system,
                "devices": run["devices"],
                "peak_eflops": run["devices"] * _peak_per_device(r.system) / 1e18,
                "power_mw": run["devices"] * watts / 1e6,
                "samples_per_s": run["samples_per_s"],
                "mfu": run["mfu"],
                "days": dataset_samples * epochs / run["samples_per_s"] / 86400.0,
                "global_batch": run["global_batch"],
                "bottleneck": run["bottleneck"],
            }
        )
    return rows


def training_share(
    results: list[SystemResult], model: str, seq: int | None, gpu: str, fleet_eflops: float
) -> list[dict[str, Any]]:
    """The share of a training workload each Dojo cluster (at the budget) carries, working beside a GPU fleet
    that makes up the rest of `fleet_eflops` of dense BF16 peak; and the Dojo size that carries 5% and 10%.
    The articles' "5-10% of training" is read as a share of work done (samples/s), not of peak FLOPs."""
    by = {r.system: r for r in results if r.best}
    if gpu not in by:
        return []
    g = by[gpu]
    rows = []
    for r in results:
        if not r.best or not r.system.startswith("dojo"):
            continue
        dojo_peak = r.devices * _peak_per_device(r.system)
        gpu_devices = max(0.0, fleet_eflops * 1e18 - dojo_peak) / _peak_per_device(gpu)
        gpu_run = scale_out(model, gpu, g.best, max(g.devices, int(gpu_devices)), seq)
        # The GPU fleet is grown in whole replicas of its best plan; its rate per device carries the rest.
        gpu_rate = gpu_run["samples_per_s"] / gpu_run["devices"] * gpu_devices
        dojo_rate = r.best["samples_per_s"]
        per_dojo_device = dojo_rate / r.devices
        row = {
            "system": r.system,
            "devices": r.devices,
            "gpu": gpu,
            "gpu_devices": gpu_devices,
            "share_of_peak": dojo_peak / (fleet_eflops * 1e18),
            "share_of_work": dojo_rate / (dojo_rate + gpu_rate),
        }
        for share in (0.05, 0.10):
            # Linear in Dojo devices (the scaling curve shows how far that holds).
            row[f"devices_for_{round(share * 100)}pct"] = share / (1 - share) * gpu_rate / per_dojo_device
        rows.append(row)
    return rows


def h100_equivalents(results: list[SystemResult], dojo: str, gpu: str, gpu_count: float) -> dict[str, Any] | None:
    """Musk's "8,000 H100-equivalents" of Dojo 1, read two ways: on peak FLOPs, and on this workload."""
    by = {r.system: r for r in results if r.best}
    if dojo not in by or gpu not in by:
        return None
    d, g = by[dojo], by[gpu]
    on_peak = gpu_count * _peak_per_device(gpu) / _peak_per_device(dojo)
    per_d = d.best["samples_per_s"] / d.devices
    per_g = g.best["samples_per_s"] / g.devices
    return {
        "gpu_count": gpu_count,
        "dojo_devices_on_peak": on_peak,
        "gpu_work_of_those_dojo_devices": on_peak * per_d / per_g,
        "dojo_devices_on_workload": gpu_count * per_g / per_d,
    }


def campaign(results: list[SystemResult], dataset_samples: float, epochs: float, target_days: float | None):
    rows = []
    for r in results:
        if not r.best:
            continue
        seconds = dataset_samples * epochs / r.best["samples_per_s"]
        days = seconds / 86400.0
        row = {
            "system": r.system,
            "devices": r.devices,
            "days": days,
            "energy_mwh": r.best["energy_j"] / r.best["global_batch"] * dataset_samples * epochs / 3.6e9,
            # At the preset's rental price where it has one, otherwise at cost; and always at cost (capex over
            # the lifetime plus electricity at the facility's PUE), so owning and renting can be compared.
            "cost_usd": r.best["cost_usd"] / r.best["global_batch"] * dataset_samples * epochs,
            "cost_at_cost_usd": r.best["cost_at_cost_usd"] / r.best["global_batch"] * dataset_samples * epochs,
            "rented": bool(load_system(r.system).cost.price_per_device_hour_usd),
        }
        if target_days:
            # Linear in devices: the scaling curve shows how far that holds.
            row["devices_for_target"] = math.ceil(r.devices * days / target_days)
        rows.append(row)
    return rows


def break_even_price(results: list[SystemResult], dojo: str, gpu: str) -> float | None:
    """The $/device-hour at which renting `dojo` costs the same per sample as renting `gpu`."""
    by = {r.system: r for r in results if r.best}
    if dojo not in by or gpu not in by:
        return None
    gpu_system = load_system(gpu)
    if not gpu_system.cost.price_per_device_hour_usd:
        return None
    g, d = by[gpu].best, by[dojo].best
    gpu_usd_per_sample = gpu_system.cost.price_per_device_hour_usd.value * by[gpu].devices / 3600 / g["samples_per_s"]
    return gpu_usd_per_sample * d["samples_per_s"] * 3600 / by[dojo].devices


def claims_check() -> list[dict[str, str]]:
    """The public claims about Dojo, recomputed from the presets."""
    d1 = load_system("dojo-v1")
    d2c, d2, d3 = load_system("dojo-2-claimed"), load_system("dojo-2"), load_system("dojo-3-projected")
    b200 = load_system("dgx-b200")
    bf16, fp8, fp4 = (b200.device.peak_flops_per_s[k].value / 1e12 for k in ("bf16", "fp8", "fp4"))
    claimed = d2c.device.peak_flops_per_s["bf16"].value / 1e12
    nvlink5 = 2 * b200.device.egress_bytes_per_s.value / 1e12  # TB/s, both directions
    claimed_link = 2 * d2c.device.egress_bytes_per_s.value / 1e12  # the preset reads 36 TB/s as both ways
    offtile = d1.level("tile").egress_bytes_per_s.value / 1e12
    exapod = derive_totals(size_system(d1))
    pod_flops = exapod.peak_flops_per_s["bf16"].value
    pods = 100e18 / pod_flops
    pod_mw = pods * exapod.facility_power_w.value / 1e6
    ratio = d3.device.peak_flops_per_s["bf16"].value / d2.device.peak_flops_per_s["bf16"].value
    d1_tf = d1.device.peak_flops_per_s["bf16"].value / 1e12
    return [
        {
            "claim": "Dojo 2 ~1,000 TOPS vs B200 ~900",
            "recomputed": f"claimed Dojo 2 chip {claimed:,.0f} TFLOPS; B200 dense BF16 {bf16:,.0f}, FP8 {fp8:,.0f}, "
            f"FP4 {fp4:,.0f} TFLOPS",
            "verdict": f"does not hold: no B200 precision is ~900; a 1,000 TOPS chip trails B200 {bf16 / claimed:.2f}x"
            " in dense BF16",
        },
        {
            "claim": "36 TB/s = 3.6x NVLink 5",
            "recomputed": f"NVLink 5 per GPU {nvlink5:.1f} TB/s both ways: {claimed_link:.0f} TB/s is "
            f"{claimed_link / nvlink5:.0f}x; 3.6x needs {claimed_link / 3.6:.0f} TB/s. A V1 training tile "
            f"already has {offtile:.0f} TB/s off-tile",
            "verdict": "does not hold as a per-chip ratio; 36 TB/s is the V1 training tile's off-tile bandwidth",
        },
        {
            "claim": "Dojo 3 = 40x Dojo 2",
            "recomputed": f"presets: {ratio:.0f}x per die position, by construction",
            "verdict": "a projection: 40x is TSMC's 2027 system-on-wafer claim, not a Tesla Dojo 3 spec",
        },
        {
            "claim": "100 EFLOPS by the end of 2024",
            "recomputed": f"{pods:.0f} V1 ExaPODs of {pod_flops / 1e18:.2f} EFLOPS; {pod_mw:,.0f} MW facility power",
            "verdict": f"holds only as ~{pods:.0f} ExaPODs (or mostly GPUs): no such Dojo deployment was reported",
        },
        {
            "claim": "ExaPOD 1.1 EFLOPS from 3,000 D1",
            "recomputed": f"3,000 x {d1_tf:.0f} TFLOPS = {pod_flops / 1e18:.3f} EFLOPS",
            "verdict": f"holds ({100 * (pod_flops / 1.1e18 - 1):+.1f}% from 1.1)",
        },
    ]
