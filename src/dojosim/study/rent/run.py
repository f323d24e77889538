"""`dojosim rent` as a study: draw the jobs, size them to allocations, fill the runtime table, simulate, and
measure what an operator and its tenants would see (`outcome.py`)."""

import time
from collections.abc import Callable
from dataclasses import dataclass

from dojosim.errors import InputError
from dojosim.hardware import load_system
from dojosim.study.rent.cluster import Allocator, allocator_for, snap
from dojosim.study.rent.mix import JobRequest, Mix, load_mixes
from dojosim.study.rent.outcome import RentResult, summarize
from dojosim.study.rent.runtimes import Runtime, RuntimeTable, Shape
from dojosim.study.rent.sim import SCHEDULERS, SimJob, Simulation
from dojosim.units import SECONDS_PER_DAY, SECONDS_PER_HOUR

DEFAULT_CLOUDS = ("dgx-h100", "dgx-b200", "gb200-nvl72")
MAX_DAYS = 3650.0  # ten years: past a machine's lifetime


@dataclass(frozen=True)
class RentSpec:
    system: str
    devices: int
    mixes: str = "tesla-internal,external-tenants"
    days: float = 90.0
    scheduler: str = "fifo"
    seed: int = 0
    price_usd_per_device_hour: float | None = None
    clouds: tuple[str, ...] = DEFAULT_CLOUDS

    def check(self) -> tuple[Mix, ...]:
        if self.scheduler not in SCHEDULERS:
            raise InputError(f"--scheduler: must be one of {', '.join(SCHEDULERS)}, got {self.scheduler!r}")
        if not 0 < self.days <= MAX_DAYS:
            raise InputError(f"--days: must be in (0, {MAX_DAYS:.0f}], got {self.days}")
        if self.price_usd_per_device_hour is not None and not self.price_usd_per_device_hour > 0:
            raise InputError(f"--price: must be > 0 USD per device-hour, got {self.price_usd_per_device_hour}")
        for cloud in self.clouds:
            if load_system(cloud).cost.price_per_device_hour_usd is None:
                raise InputError(f"--clouds: {cloud} has no rental price (cost.price_per_device_hour_usd)")
        allocator_for(self.system, self.devices)
        return load_mixes(self.mixes)


@dataclass
class Prepared:
    """Everything the event loop needs, computed before it starts."""

    spec: RentSpec
    requests: list[JobRequest]
    allocator: Allocator
    sizes: dict[int, int]  # job id -> allocation on the system
    cloud_sizes: dict[str, dict[int, int]]  # cloud -> job id -> devices there
    table: RuntimeTable

    def shape(self, request: JobRequest, system: str, devices: int) -> Shape:
        c = request.job_class
        return Shape(c.model, c.global_batch, c.seq, system, devices)

    def runtime(self, request: JobRequest, system: str | None = None) -> Runtime | None:
        if system is None:
            return self.table.get(self.shape(request, self.spec.system, self.sizes[request.id]))
        return self.table.get(self.shape(request, system, self.cloud_sizes[system][request.id]))


def _device_peak(system_name: str) -> float:
    peak = load_system(system_name).device.peak("bf16")
    if peak is None:
        raise InputError(f"--system: {system_name} has no bf16 peak; a job's size is asked for in bf16 PFLOP/s")
    return peak.value


def _sizes(requests: list[JobRequest], system: str, devices: int) -> tuple[Allocator, dict[int, int]]:
    allocator, peak = allocator_for(system, devices), _device_peak(system)
    return allocator, {r.id: snap(allocator, r.peak_flops_per_s / peak) for r in requests}


def prepare(
    spec: RentSpec, table: RuntimeTable | None = None, progress: Callable[[int, int], None] | None = None
) -> Prepared:
    """Draw the jobs, size them on the system and on each cloud (a cloud as large as the system's peak), and
    fill the runtime table for every shape they need."""
    from dojosim.study.rent.mix import draw_jobs

    mixes = spec.check()
    requests = draw_jobs(mixes, spec.days, spec.seed)
    allocator, sizes = _sizes(requests, spec.system, spec.devices)
    cloud_sizes = {}
    system_peak = spec.devices * _device_peak(spec.system)
    for cloud in spec.clouds:
        _, cloud_sizes[cloud] = _sizes(requests, cloud, int(system_peak / _device_peak(cloud)))
    prepared = Prepared(spec, requests, allocator, sizes, cloud_sizes, table or RuntimeTable())
    shapes = [prepared.shape(r, spec.system, sizes[r.id]) for r in requests]
    shapes += [prepared.shape(r, c, cloud_sizes[c][r.id]) for c in spec.clouds for r in requests]
    prepared.table.fill(shapes, progress)
    return prepared


def sim_jobs(prepared: Prepared) -> tuple[list[SimJob], dict[int, float], list[JobRequest]]:
    """The jobs the cluster can run, their running power per device, and the jobs no plan runs (rejected)."""
    device = load_system(prepared.spec.system).device
    if device.checkpoint_bytes_per_s is None:
        raise InputError(f"--system: {prepared.spec.system} has no device.checkpoint_bytes_per_s figure")
    write_bps = device.checkpoint_bytes_per_s.value
    jobs, watts, rejected = [], {}, []
    for r in prepared.requests:
        runtime = prepared.runtime(r)
        if runtime is None:
            rejected.append(r)
            continue
        c = r.job_class
        checkpoint_s = runtime.checkpoint_bytes / (write_bps * runtime.devices_used)
        work_s = runtime.sample_time_s * r.samples
        jobs.append(SimJob(r.id, c.tenant, c.priority, r.arrival_s, prepared.sizes[r.id], work_s, checkpoint_s))
        watts[r.id] = runtime.facility_w_per_device
    return jobs, watts, rejected


def simulate(
    prepared: Prepared, progress: Callable[[float], None] | None = None
) -> tuple[Simulation, list[SimJob], dict[int, float], list[JobRequest], float, bool]:
    """Run the event loop a simulated day at a time; Ctrl-C stops it and keeps what was simulated so far."""
    spec = prepared.spec
    jobs, watts, rejected = sim_jobs(prepared)
    device = load_system(spec.system).device
    rate = (device.failures_per_hour.value if device.failures_per_hour else 0.0) / SECONDS_PER_HOUR
    sim = Simulation(jobs, prepared.allocator, spec.scheduler, rate, spec.seed, spec.days * SECONDS_PER_DAY)
    started, interrupted = time.perf_counter(), False
    try:
        sim.run(step_s=SECONDS_PER_DAY, progress=progress)
    except KeyboardInterrupt:
        sim.close()
        interrupted = True
    return sim, jobs, watts, rejected, time.perf_counter() - started, interrupted


def run_rent(
    spec: RentSpec,
    table: RuntimeTable | None = None,
    table_progress: Callable[[int, int], None] | None = None,
    sim_progress: Callable[[float], None] | None = None,
) -> RentResult:
    prepared = prepare(spec, table, table_progress)
    sim, jobs, watts, rejected, wall_s, interrupted = simulate(prepared, sim_progress)
    return summarize(prepared, sim, jobs, watts, rejected, wall_s, interrupted)
