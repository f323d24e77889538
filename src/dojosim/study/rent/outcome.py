"""What a rented cluster's run comes to: utilisation and queues over time, waits per tenant, goodput,
fragmentation, energy, revenue, the break-even price, and each tenant's bill against GPU clouds.

Costs stay on their bases: the operator's cost is the system's owned cost (hardware written off, operations and
electricity, `hardware.Cost`), a tenant's cloud bill is the cloud preset's rental price; they are never summed.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dojosim.hardware import load_system
from dojosim.study.rent.sim import Sample, SimJob, Simulation
from dojosim.units import SECONDS_PER_HOUR

if TYPE_CHECKING:
    from dojosim.study.rent.mix import JobRequest
    from dojosim.study.rent.run import Prepared

PERCENTILES = (50, 90, 99)
UTILISATIONS = tuple(round(0.05 * i, 2) for i in range(2, 21))  # the break-even curve's points, 10%-100%


@dataclass(frozen=True)
class TenantRow:
    tenant: str
    jobs: int
    finished: int
    wait_h: dict[int, float]  # percentile -> hours, over jobs that started
    paid_device_h: float  # on this system, finished jobs only
    bill_usd: float | None  # those device-hours at the price (None without one)
    cloud_usd: dict[str, float]  # cloud -> the same finished jobs rented there, run at once (no queue)


@dataclass
class RentResult:
    system: str
    devices: int
    days: float
    scheduler: str
    seed: int
    price_usd_per_device_hour: float | None
    simulated_s: float
    jobs: int
    finished: int
    rejected: int  # no plan runs them at their allocation
    utilisation: float
    mean_queue: float
    goodput: float
    fragmentation: float  # time-averaged
    blocked_by_fragmentation: int
    failures: int
    preemptions: int
    energy_j: float
    paid_device_h: float
    revenue_usd: float | None
    owned_cost_usd: float | None  # None for a system with no owned cost
    break_even_usd_per_device_hour: float | None
    break_even_curve: list[tuple[float, float]]  # (utilisation, USD per device-hour)
    tenants: list[TenantRow]
    timeline: list[tuple[float, float, float]]  # (hour, utilisation, queued jobs), hourly means
    waits_h: dict[str, list[float]] = field(repr=False)  # tenant -> each started job's wait
    sim_wall_s: float = 0.0
    interrupted: bool = False

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _quantiles(values: list[float]) -> dict[int, float]:
    if not values:
        return {}
    ordered = sorted(values)
    out = {}
    for p in PERCENTILES:  # linear interpolation between order statistics, as numpy's default
        k = (len(ordered) - 1) * p / 100
        lo = int(k)
        hi = min(lo + 1, len(ordered) - 1)
        out[p] = ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
    return out


def _integrals(samples: list[Sample], end_s: float) -> tuple[float, float, float]:
    """Time integrals of busy devices, queued jobs and fragmentation (each sample holds until the next)."""
    busy = queued = frag = 0.0
    for a, b in zip(samples, [*samples[1:], None], strict=True):
        dt = (b.t_s if b else end_s) - a.t_s
        busy += a.busy_devices * dt
        queued += a.queued * dt
        frag += a.fragmentation * dt
    return busy, queued, frag


def _timeline(samples: list[Sample], devices: int, end_s: float) -> list[tuple[float, float, float]]:
    """Hourly means of utilisation and queue length."""
    hours = max(1, int(end_s // SECONDS_PER_HOUR))
    busy, queued = [0.0] * hours, [0.0] * hours
    for a, b in zip(samples, [*samples[1:], None], strict=True):
        t0, t1 = a.t_s, min(b.t_s if b else end_s, end_s)
        while t0 < t1:
            h = min(int(t0 // SECONDS_PER_HOUR), hours - 1)
            edge = min(t1, (h + 1) * SECONDS_PER_HOUR) if h < hours - 1 else t1
            busy[h] += a.busy_devices * (edge - t0)
            queued[h] += a.queued * (edge - t0)
            t0 = edge
    return [(h, busy[h] / SECONDS_PER_HOUR / devices, queued[h] / SECONDS_PER_HOUR) for h in range(hours)]


def _useful_device_s(job: SimJob) -> float:
    return (job.work_s - job.remaining_s) * job.devices


def _tenants(prepared: "Prepared", jobs: list[SimJob], rejected: list["JobRequest"], price: float | None):
    by_id = {r.id: r for r in prepared.requests}
    names = sorted({r.job_class.tenant for r in prepared.requests})
    rows, waits = [], {}
    for tenant in names:
        mine = [j for j in jobs if j.tenant == tenant]
        done = [j for j in mine if j.end_s is not None]
        waits[tenant] = [j.wait_s / SECONDS_PER_HOUR for j in mine if j.wait_s is not None]
        paid_h = sum(j.paid_device_s for j in done) / SECONDS_PER_HOUR
        clouds = {}
        for cloud in prepared.spec.clouds:
            rate = load_system(cloud).cost.price_per_device_hour_usd.value  # type: ignore[union-attr]
            usd = 0.0
            for j in done:
                request = by_id[j.id]
                runtime = prepared.runtime(request, cloud)
                if runtime is None:  # no plan there: that cloud cannot run this tenant's jobs as asked
                    usd = float("nan")
                    break
                hours = runtime.sample_time_s * request.samples / SECONDS_PER_HOUR
                usd += hours * prepared.cloud_sizes[cloud][j.id] * rate
            clouds[cloud] = usd
        n_rejected = sum(1 for r in rejected if r.job_class.tenant == tenant)
        rows.append(TenantRow(tenant, len(mine) + n_rejected, len(done), _quantiles(waits[tenant]), paid_h,
                              None if price is None else paid_h * price, clouds))  # fmt: skip
    return rows, waits


def _energy_j(system_name: str, jobs: list[SimJob], watts: dict[int, float], devices: int, end_s: float) -> float:
    """Running jobs at their plan's facility power; idle devices at the device's idle power times the PUE."""
    system = load_system(system_name)
    busy_j = sum(j.paid_device_s * watts[j.id] for j in jobs)
    busy_device_s = sum(j.paid_device_s for j in jobs)
    idle_w = system.device.idle_w.value * system.pue.value
    return busy_j + max(0.0, devices * end_s - busy_device_s) * idle_w


def _break_even(system_name: str, devices: int, end_s: float, energy_j: float, paid_device_h: float, busy_j: float):
    """The operator's owned cost over the run, the price per paid device-hour that covers it, and that price at
    other utilisations (the same running and idle power per device)."""
    cost = load_system(system_name).cost
    if not cost.owned:
        return None, None, []
    hours = end_s / SECONDS_PER_HOUR
    fixed = devices * hours * cost.owned_usd_per_device_hour
    owned = fixed + cost.electricity_usd(energy_j)
    price = owned / paid_device_h if paid_device_h else None
    busy_w = busy_j / (paid_device_h * SECONDS_PER_HOUR) if paid_device_h else 0.0
    idle_device_h = devices * hours - paid_device_h
    idle_j_per_h = (energy_j - busy_j) / idle_device_h if idle_device_h > 0 else 0.0  # per idle device-hour
    curve = []
    for u in UTILISATIONS:
        paid = u * devices * hours
        energy = paid * busy_w * SECONDS_PER_HOUR + (devices * hours - paid) * idle_j_per_h
        curve.append((u, (fixed + cost.electricity_usd(energy)) / paid))
    return owned, price, curve


def summarize(
    prepared: "Prepared",
    sim: Simulation,
    jobs: list[SimJob],
    watts: dict[int, float],
    rejected: list["JobRequest"],
    wall_s: float,
    interrupted: bool,
) -> RentResult:
    spec = prepared.spec
    devices, end_s = prepared.allocator.total_devices, sim.env.now
    busy, queued, frag = _integrals(sim.samples, end_s)
    paid_s = sum(j.paid_device_s for j in jobs)
    busy_j = sum(j.paid_device_s * watts[j.id] for j in jobs)
    energy = _energy_j(spec.system, jobs, watts, devices, end_s)
    price = spec.price_usd_per_device_hour
    owned, break_even, curve = _break_even(spec.system, devices, end_s, energy, paid_s / SECONDS_PER_HOUR, busy_j)
    tenants, waits = _tenants(prepared, jobs, rejected, price)
    return RentResult(
        spec.system, devices, spec.days, spec.scheduler, spec.seed, price, end_s,
        jobs=len(jobs) + len(rejected),
        finished=sum(1 for j in jobs if j.end_s is not None),
        rejected=len(rejected),
        utilisation=busy / (devices * end_s) if end_s else 0.0,
        mean_queue=queued / end_s if end_s else 0.0,
        goodput=sum(_useful_device_s(j) for j in jobs) / paid_s if paid_s else 0.0,
        fragmentation=frag / end_s if end_s else 0.0,
        blocked_by_fragmentation=sim.blocked_by_fragmentation,
        failures=sum(j.failures for j in jobs),
        preemptions=sum(j.preemptions for j in jobs),
        energy_j=energy,
        paid_device_h=paid_s / SECONDS_PER_HOUR,
        revenue_usd=None if price is None else paid_s / SECONDS_PER_HOUR * price,
        owned_cost_usd=owned,
        break_even_usd_per_device_hour=break_even,
        break_even_curve=curve,
        tenants=tenants,
        timeline=_timeline(sim.samples, devices, end_s),
        waits_h=waits,
        sim_wall_s=wall_s,
        interrupted=interrupted,
    )  # fmt: skip
