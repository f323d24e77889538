"""The rented cluster as a discrete-event simulation on SimPy: jobs arrive, queue, get an allocation the hardware
allows, run (checkpointing, failing back to their last checkpoint), may be preempted, and leave.

Schedulers:
- `fifo`: jobs start in arrival order; a job that does not fit holds everyone behind it.
- `backfill`: EASY backfilling. The head of the queue gets a reservation at the earliest time it can start (running
  jobs released in order of their expected end until it can be placed); a later job starts now when it fits and
  either ends by then or leaves the head placeable at that time. Expected ends assume no failure, as a real
  scheduler's walltime estimates do.
- `priority`: jobs start in (priority, arrival) order; a blocked head preempts running jobs of lower priority
  (lowest first, most recently started first) just until it can be placed. A victim writes a checkpoint while it
  still holds its devices, then goes back to the queue and reads it when it restarts.

Failures: each running job fails at rate (failures per device-second x its devices), exponentially distributed;
it loses the work since its last checkpoint and reads the checkpoint back. Jobs checkpoint at Young's interval,
sqrt(2 x write time x the job's mean time between failures).
"""

import bisect
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import simpy

from dojosim.errors import InputError
from dojosim.study.rent.cluster import Allocator, fragmentation

SCHEDULERS = ("fifo", "backfill", "priority")
BACKFILL_DEPTH = 64  # queued jobs a backfill pass looks at, as batch schedulers bound it (Slurm's bf_max_job_test)


@dataclass
class SimJob:
    """A job as the cluster sees it: its allocation and its work at that allocation, and what happened to it."""

    id: int
    tenant: str
    priority: int
    arrival_s: float
    devices: int
    work_s: float  # useful running time at this allocation
    checkpoint_s: float  # writing or reading one checkpoint
    remaining_s: float = -1.0
    first_start_s: float | None = None
    end_s: float | None = None
    paid_device_s: float = 0.0
    failures: int = 0
    preemptions: int = 0
    lost_s: float = 0.0  # running time lost to failures
    handle: Any = field(default=None, repr=False)
    process: Any = field(default=None, repr=False)
    held_since_s: float = 0.0
    expected_end_s: float = 0.0
    restore: bool = False  # a checkpoint to read before running

    def __post_init__(self) -> None:
        if self.remaining_s < 0:
            self.remaining_s = self.work_s

    @property
    def wait_s(self) -> float | None:
        return None if self.first_start_s is None else self.first_start_s - self.arrival_s


@dataclass(frozen=True)
class Sample:
    t_s: float
    busy_devices: int
    queued: int
    fragmentation: float


class Simulation:
    def __init__(
        self,
        jobs: list[SimJob],
        allocator: Allocator,
        scheduler: str,
        failures_per_device_s: float,
        seed: int,
        horizon_s: float,
        backfill_depth: int = BACKFILL_DEPTH,
    ):
        if scheduler not in SCHEDULERS:
            raise InputError(f"--scheduler: must be one of {', '.join(SCHEDULERS)}, got {scheduler!r}")
        self.env = simpy.Environment()
        self.jobs, self.alloc, self.scheduler = jobs, allocator, scheduler
        self.rate, self.seed, self.horizon_s, self.depth = failures_per_device_s, seed, horizon_s, backfill_depth
        self.queue: list[tuple[tuple, SimJob]] = []
        self.running: dict[int, SimJob] = {}
        self.draining: set[int] = set()
        self.samples: list[Sample] = []
        self.busy = 0
        self.reservations: dict[int, float] = {}  # the first start time backfill promised each head
        self.blocked_by_fragmentation = 0  # passes where the head had enough free devices but no place to go
        self.rngs = {j.id: random.Random(f"{seed}/failures/{j.id}") for j in jobs}

    # --- the run -----------------------------------------------------------------------------------------------
    def run(self, step_s: float | None = None, progress: Callable[[float], None] | None = None) -> "Simulation":
        """Simulate to the horizon, `step_s` at a time (reporting the simulated time after each), then close."""
        self.env.process(self._arrivals())
        step_s = step_s or self.horizon_s
        while self.env.now < self.horizon_s:
            self.env.run(until=min(self.horizon_s, self.env.now + step_s))
            if progress:
                progress(self.env.now)
        return self.close()

    def close(self) -> "Simulation":
        """End the books where the simulation stands: jobs still holding devices are paid up to now."""
        for job in self.running.values():
            job.paid_device_s += (self.env.now - job.held_since_s) * job.devices
            job.held_since_s = self.env.now
        self._sample()
        return self

    def _arrivals(self):  # noqa: ANN202  (a SimPy process)
        for job in sorted(self.jobs, key=lambda j: (j.arrival_s, j.id)):
            if job.arrival_s > self.env.now:
                yield self.env.timeout(job.arrival_s - self.env.now)
            self._enqueue(job)
            self._schedule()

    def _key(self, job: SimJob) -> tuple:
        first = job.priority if self.scheduler == "priority" else 0
        return (first, job.arrival_s, job.id)

    def _enqueue(self, job: SimJob) -> None:
        bisect.insort(self.queue, (self._key(job), job), key=lambda e: e[0])

    def _sample(self) -> None:
        self.samples.append(Sample(self.env.now, self.busy, len(self.queue), fragmentation(self.alloc)))

    # --- jobs --------------------------------------------------------------------------------------------------
    def _interval_s(self, job: SimJob) -> float:
        """Young's checkpoint interval for this job; infinite when nothing fails."""
        if self.rate <= 0 or job.checkpoint_s <= 0:
            return math.inf
        return math.sqrt(2 * job.checkpoint_s / (self.rate * job.devices))

    def _wall_s(self, job: SimJob, work_s: float) -> float:
        """Time to do `work_s` of running with checkpoints written along the way, if nothing fails."""
        interval = self._interval_s(job)
        return work_s if math.isinf(interval) else work_s * (interval + job.checkpoint_s) / interval

    def _start(self, job: SimJob) -> None:
        job.handle = self.alloc.place(job.devices)
        assert job.handle is not None  # callers check can_place first
        now = self.env.now
        job.first_start_s = now if job.first_start_s is None else job.first_start_s
        job.held_since_s = now
        job.expected_end_s = now + (job.checkpoint_s if job.restore else 0.0) + self._wall_s(job, job.remaining_s)
        self.running[job.id] = job
        self.busy += job.devices
        job.process = self.env.process(self._execute(job))

    def _release(self, job: SimJob) -> None:
        self.alloc.release(job.handle)
        job.paid_device_s += (self.env.now - job.held_since_s) * job.devices
        job.handle = None
        self.busy -= job.devices
        del self.running[job.id]
        self.draining.discard(job.id)

    def _execute(self, job: SimJob):  # noqa: ANN202  (a SimPy process)
        env, rng, interval = self.env, self.rngs[job.id], self._interval_s(job)
        period = interval + job.checkpoint_s
        try:
            if job.restore:
                yield env.timeout(job.checkpoint_s)
            while job.remaining_s > 0:
                wall = self._wall_s(job, job.remaining_s)
                ttf = rng.expovariate(self.rate * job.devices) if self.rate > 0 else math.inf
                began = env.now
                try:
                    yield env.timeout(min(wall, ttf))
                except simpy.Interrupt:  # preempted while running: the checkpoint it now writes saves all
                    ran = env.now - began
                    done = ran if math.isinf(interval) else ran * interval / period
                    job.remaining_s = max(0.0, job.remaining_s - done)
                    raise
                if ttf >= wall:
                    job.remaining_s = 0.0
                    break
                periods = 0 if math.isinf(interval) else math.floor(ttf / period)  # checkpoints written
                job.lost_s += ttf - periods * period  # running since the last checkpoint, redone
                job.remaining_s -= periods * interval
                job.failures += 1
                job.expected_end_s = env.now + job.checkpoint_s + self._wall_s(job, job.remaining_s)
                yield env.timeout(job.checkpoint_s)  # read the last checkpoint back
        except simpy.Interrupt:
            yield env.timeout(job.checkpoint_s)  # write the preemption checkpoint on the devices it holds
            job.preemptions += 1
            job.restore = True
            self._release(job)
            self._enqueue(job)
            self._schedule()
            return
        job.end_s = env.now
        self._release(job)
        self._schedule()

    # --- scheduling --------------------------------------------------------------------------------------------
    def _schedule(self) -> None:
        while self.queue and self.alloc.can_place(self.queue[0][1].devices):
            self._start(self.queue.pop(0)[1])
        if self.queue:
            head = self.queue[0][1]
            if self.alloc.free_devices() >= head.devices:
                self.blocked_by_fragmentation += 1
            if self.scheduler == "backfill":
                self._backfill(head)
            elif self.scheduler == "priority":
                self._preempt_for(head)
        self._sample()

    def _shadow(self, head: SimJob) -> tuple[float, list[SimJob]]:
        """When the head can start if running jobs end as expected, and the jobs that end by then."""
        trial, ending = self.alloc.clone(), []
        for job in sorted(self.running.values(), key=lambda j: (j.expected_end_s, j.id)):
            trial.release(job.handle)
            ending.append(job)
            if trial.can_place(head.devices):
                return job.expected_end_s, ending
        return math.inf, ending

    def _backfill(self, head: SimJob) -> None:
        shadow, ending = self._shadow(head)
        self.reservations.setdefault(head.id, shadow)
        for entry in list(self.queue[1 : 1 + self.depth]):
            job = entry[1]
            if not self.alloc.can_place(job.devices):
                continue
            ends = self.env.now + (job.checkpoint_s if job.restore else 0.0) + self._wall_s(job, job.remaining_s)
            if ends > shadow:  # runs past the reservation: only if the head still fits beside it then
                trial = self.alloc.clone()
                trial.place(job.devices)
                for done in ending:
                    trial.release(done.handle)
                if not trial.can_place(head.devices):
                    continue
            self.queue.remove(entry)
            self._start(job)

    def _preempt_for(self, head: SimJob) -> None:
        trial = self.alloc.clone()
        for job_id in self.draining:
            trial.release(self.running[job_id].handle)
        if trial.can_place(head.devices):
            return  # victims already writing their checkpoints free enough
        candidates = [j for j in self.running.values() if j.priority > head.priority and j.id not in self.draining]
        chosen = []
        for job in sorted(candidates, key=lambda j: (-j.priority, -j.held_since_s, -j.id)):
            trial.release(job.handle)
            chosen.append(job)
            if trial.can_place(head.devices):
                break
        else:
            return
        for job in chosen:
            self.draining.add(job.id)
            job.process.interrupt("preempted")
