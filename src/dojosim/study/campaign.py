"""What follows from the best plan per system: a training campaign, a fleet of a given peak, Dojo's share of
training beside a GPU fleet, "H100-equivalents", and the break-even rental price."""

import math
from dataclasses import dataclass

from dojosim.errors import InputError
from dojosim.hardware import load_system
from dojosim.job import Job
from dojosim.perf.counterfactual import Counterfactual, counterfactuals
from dojosim.perf.jobs import engine_for
from dojosim.perf.result import Estimate
from dojosim.study.budget import growth_unit, per_device
from dojosim.study.compare import SystemResult
from dojosim.units import SECONDS_PER_HOUR, days, mwh

# Musk, July 2024: Dojo 1 would be about "8,000 H100-equivalent" of training by the end of 2024
# (docs/reference/hardware-specs.md, "Reported deployed scale"; basis of the equivalence unknown).
MUSK_H100_EQUIVALENTS = 8000.0
DOJO_MAKER = "Tesla"


@dataclass(frozen=True)
class CampaignSize:
    """How much one training campaign sees: samples in the training set (clips, for a video model) times epochs,
    with where that size comes from and how far to trust it (a status as a preset figure's)."""

    samples: float
    epochs: float
    basis: str
    status: str  # "assumption" where no public figure backs it, "user" where the command line set it

    @property
    def samples_seen(self) -> float:
        return self.samples * self.epochs

    def as_dict(self) -> dict[str, float | str]:
        return {"dataset_samples": self.samples, "epochs": self.epochs, "basis": self.basis, "status": self.status}


# Tesla has published no size for its training set. Public statements speak of millions of clips from a fleet
# of millions of cars; 100M clips seen 10 times is our order-of-magnitude reading of "Tesla-scale", chosen so
# that a campaign takes days to weeks on an ExaPOD-sized budget rather than minutes.
DEFAULT_CAMPAIGN = CampaignSize(
    samples=1e8,
    epochs=10.0,
    basis="no public figure for Tesla's training set was found; 100M clips x 10 epochs is our order-of-magnitude "
    "assumption for a fleet-scale video model (millions of cars, each contributing clips)",
    status="assumption",
)


def campaign_size(samples: float | None, epochs: float | None) -> CampaignSize:
    """The default campaign with what the command line set in its place; what the user set is theirs to trust."""
    if samples is not None and samples <= 0:
        raise InputError(f"--samples: must be > 0, got {samples:g}")
    if samples is None and epochs is None:
        return DEFAULT_CAMPAIGN
    if samples is not None and epochs is not None:
        return CampaignSize(samples, epochs, "set on the command line", "user")
    given = "the sample count" if samples is not None else "the epochs"
    return CampaignSize(
        samples or DEFAULT_CAMPAIGN.samples,
        epochs or DEFAULT_CAMPAIGN.epochs,
        f"{given} set on the command line, the rest as assumed by default ({DEFAULT_CAMPAIGN.basis})",
        "assumption",
    )


def _peak_per_device(system_name: str) -> float:
    return load_system(system_name).device.peak_flops_per_s["bf16"].value


def _by_system(results: list[SystemResult]) -> dict[str, SystemResult]:
    return {r.system: r for r in results if r.best}


@dataclass(frozen=True)
class ScaledRun:
    devices: int
    global_batch: int
    job: Job
    estimate: Estimate

    @property
    def samples_per_s(self) -> float:
        return self.estimate.throughput["samples_per_s"]


def scale_out(r: SystemResult, devices: int) -> ScaledRun:
    """The best plan's replica repeated over more devices: dp grows, tp/pp/cp and micro-batch stay, the global
    batch grows with it (each replica keeps its share). Re-estimated on the larger machine, so the wider
    data-parallel reduction over the top-level network is costed, not assumed."""
    step = math.lcm(r.best.devices, growth_unit(r.system, devices))  # whole replicas in whole units of the machine
    devices = max(1, math.ceil(devices / step)) * step
    batch = r.best.global_batch * (devices // r.best.devices)
    job = r.best.spec.job(r.best.best.plan.with_(devices=devices, global_batch=batch))
    return ScaledRun(devices, batch, job, engine_for(job).estimate(job.plan))


@dataclass(frozen=True)
class FleetRow:
    system: str
    devices: int
    peak_eflops: float
    power_mw: float
    samples_per_s: float
    mfu: float
    days: float
    global_batch: int
    estimate: Estimate
    counterfactuals: tuple[Counterfactual, ...]  # the fleet's step, each resource freed, largest speed-up first


def fleet(results: list[SystemResult], eflops: float, dataset_samples: float, epochs: float) -> list[FleetRow]:
    """What a fleet of `eflops` dense BF16 peak (Tesla's stated 100 EFLOPS) of each system would do."""
    rows = []
    for r in results:
        if not r.best:
            continue
        run = scale_out(r, math.ceil(eflops * 1e18 / _peak_per_device(r.system)))
        freed = tuple(counterfactuals(engine_for(run.job), run.job.plan, run.estimate))
        rows.append(
            FleetRow(
                system=r.system,
                devices=run.devices,
                peak_eflops=run.devices * _peak_per_device(r.system) / 1e18,
                power_mw=run.devices * per_device(r.system).facility_w / 1e6,
                samples_per_s=run.samples_per_s,
                mfu=run.estimate.mfu,
                days=days(dataset_samples * epochs / run.samples_per_s),
                global_batch=run.global_batch,
                estimate=run.estimate,
                counterfactuals=freed,
            )
        )
    return rows


@dataclass(frozen=True)
class ShareRow:
    system: str
    devices: int
    gpu: str
    gpu_devices: float
    share_of_peak: float  # at most 1: a cluster larger than the fleet is the whole fleet (exceeds_fleet)
    share_of_work: float
    devices_for_5pct: float
    devices_for_10pct: float
    exceeds_fleet: bool = False  # the Dojo cluster at the budget alone has more peak than the fleet


def _devices_for_share(share: float, fleet_flops: float, dojo_rate: float, dojo_peak: float, gpu_rate: float) -> float:
    """Dojo devices that carry `share` of the work of a fleet of `fleet_flops` peak whose rest is GPUs: each Dojo
    device does `dojo_rate` samples/s on `dojo_peak` FLOP/s, and the GPUs do `gpu_rate` samples/s per FLOP/s of
    peak. Linear in both (the scaling curves show how far that holds); the GPU part shrinks as Dojo grows."""
    odds = share / (1 - share)
    return odds * gpu_rate * fleet_flops / (dojo_rate + odds * gpu_rate * dojo_peak)


def training_share(results: list[SystemResult], gpu: str, fleet_eflops: float) -> list[ShareRow]:
    """The share of a training workload each Dojo cluster (at the budget) carries, working beside a GPU fleet
    that makes up the rest of `fleet_eflops` of dense BF16 peak; and the Dojo size that carries 5% and 10%.
    The articles' "5-10% of training" is read as a share of work done (samples/s), not of peak FLOPs."""
    by = _by_system(results)
    if gpu not in by:
        return []
    fleet_flops, gpu_peak = fleet_eflops * 1e18, _peak_per_device(gpu)
    # The GPU fleet grows in whole replicas of its best plan; its rate per FLOP/s of peak at the fleet's size
    # carries the GPU part of every mix.
    gpu_run = scale_out(by[gpu], max(by[gpu].devices, int(fleet_flops / gpu_peak)))
    gpu_rate = gpu_run.samples_per_s / (gpu_run.devices * gpu_peak)
    rows = []
    for r in results:
        if not r.best or r.maker != DOJO_MAKER:
            continue
        dojo_peak = _peak_per_device(r.system)
        cluster_flops = r.devices * dojo_peak
        gpu_devices = max(0.0, fleet_flops - cluster_flops) / gpu_peak
        dojo_rate = r.best.samples_per_s
        needed = [_devices_for_share(s, fleet_flops, dojo_rate / r.devices, dojo_peak, gpu_rate) for s in (0.05, 0.10)]
        rows.append(
            ShareRow(
                r.system, r.devices, gpu, gpu_devices, min(1.0, cluster_flops / fleet_flops),
                dojo_rate / (dojo_rate + gpu_rate * gpu_devices * gpu_peak), *needed,
                exceeds_fleet=cluster_flops > fleet_flops,
            )
        )  # fmt: skip
    return rows


@dataclass(frozen=True)
class H100Equivalents:
    gpu_count: float
    dojo_devices_on_peak: float
    gpu_work_of_those_dojo_devices: float
    dojo_devices_on_workload: float


def h100_equivalents(results: list[SystemResult], dojo: str, gpu: str, gpu_count: float) -> H100Equivalents | None:
    """Musk's "8,000 H100-equivalents" of Dojo 1, read two ways: on peak FLOPs, and on this workload."""
    by = _by_system(results)
    if dojo not in by or gpu not in by:
        return None
    d, g = by[dojo], by[gpu]
    on_peak = gpu_count * _peak_per_device(gpu) / _peak_per_device(dojo)
    per_d = d.best.samples_per_s / d.devices
    per_g = g.best.samples_per_s / g.devices
    return H100Equivalents(gpu_count, on_peak, on_peak * per_d / per_g, gpu_count * per_g / per_d)


@dataclass(frozen=True)
class CampaignRow:
    system: str
    devices: int
    days: float
    energy_mwh: float
    # Each basis under its own name, never mixed: renting at the preset's price (None without one) and owning
    # (equipment and NRE share over the lifetime, operations, electricity at the PUE; None without a capex).
    cost_rental_usd: float | None
    cost_owned_usd: float | None
    devices_for_target: int | None = None


def _over(step_usd: float | None, global_batch: int, samples: float) -> float | None:
    """A step's cost spread over `samples`; None stays None (the system has no figure on that basis)."""
    return None if step_usd is None else step_usd / global_batch * samples


def campaign(
    results: list[SystemResult], dataset_samples: float, epochs: float, target_days: float | None
) -> list[CampaignRow]:
    rows = []
    for r in results:
        if not r.best:
            continue
        b, samples = r.best, dataset_samples * epochs
        train_days = days(samples / b.samples_per_s)
        rows.append(
            CampaignRow(
                system=r.system,
                devices=r.devices,
                days=train_days,
                energy_mwh=mwh(b.best.energy_j / b.global_batch * samples),
                cost_rental_usd=_over(b.best.cost_rental_usd, b.global_batch, samples),
                cost_owned_usd=_over(b.best.cost_owned_usd, b.global_batch, samples),
                # Linear in devices: the scaling curve shows how far that holds.
                devices_for_target=math.ceil(r.devices * train_days / target_days) if target_days else None,
            )
        )
    return rows


def break_even_price(results: list[SystemResult], dojo: str, gpu: str) -> float | None:
    """The $/device-hour at which renting `dojo` costs the same per sample as renting `gpu`."""
    by = _by_system(results)
    if dojo not in by or gpu not in by:
        return None
    price = load_system(gpu).cost.price_per_device_hour_usd
    if not price:
        return None
    gpu_usd_per_sample = price.value * by[gpu].devices / SECONDS_PER_HOUR / by[gpu].best.samples_per_s
    return gpu_usd_per_sample * by[dojo].best.samples_per_s * SECONDS_PER_HOUR / by[dojo].devices
