"""From a Job to a costed engine: the one cached path that every command takes.

Caches, each keyed by what determines its value: a workload profile per captured graph (shared by every
machine and plan, and kept on disk: perf/profile_store.py), that profile charged for the job's sequences
(perf/sequences.py), a sized machine per (system, overrides, devices), and an engine per (workload, sequences,
machine, stack). An engine keeps its per-sharding stage costs, so further plans on it are arithmetic.
"""

from functools import lru_cache

from dojosim.hardware import SizedSystem, load_system, size_system
from dojosim.job import Job, Sequences, SystemKey, WorkloadKey
from dojosim.perf.engine import Engine
from dojosim.perf.profile import WorkloadProfile
from dojosim.perf.profile_store import stored_profile
from dojosim.perf.result import Estimate
from dojosim.perf.sequences import sequenced
from dojosim.stack import Attention, KernelMode, Stack


@lru_cache(maxsize=64)
def profile_for(key: WorkloadKey, kernels: KernelMode = KernelMode.EAGER) -> WorkloadProfile:
    """The captured step's profile with its ops fused as the stack's kernel mode runs them."""
    return stored_profile(key.model, key.micro_batch, key.seq, key.optimizer, key.dtype, kernels)


@lru_cache(maxsize=64)
def sequenced_profile(
    key: WorkloadKey, sequences: Sequences, kernels: KernelMode = KernelMode.EAGER, padded_keys: bool = False
) -> WorkloadProfile:
    """The captured profile charged as the job's sequences are trained (the captured one where they are dense);
    `padded_keys`: the stack's attention kernel is built for a fixed key length."""
    return sequenced(profile_for(key, kernels), sequences, padded_keys)


def _sequenced_for(workload: WorkloadKey, sequences: Sequences, stack: Stack) -> WorkloadProfile:
    return sequenced_profile(workload, sequences, stack.kernels, stack.attention is Attention.FIXED_LENGTH)


@lru_cache(maxsize=256)
def sized_for(key: SystemKey) -> SizedSystem:
    return size_system(load_system(key.system, key.overrides), key.devices)


def new_engine(job: Job) -> Engine:
    """An engine of its own (not shared), for work that changes an engine's device (the host-cost fit)."""
    return Engine(_sequenced_for(job.workload, job.sequences, job.stack), sized_for(job.machine), job.stack)


@lru_cache(maxsize=512)
def _shared_engine(workload: WorkloadKey, sequences: Sequences, machine: SystemKey, stack: Stack) -> Engine:
    return Engine(_sequenced_for(workload, sequences, stack), sized_for(machine), stack)


def engine_for(job: Job) -> Engine:
    """The costed engine of the job's graph and sequences on the job's machine and stack; shared by every job
    with the same four."""
    return _shared_engine(job.workload, job.sequences, job.machine, job.stack)


def estimate(job: Job) -> Estimate:
    """The job's plan costed, after the plan is checked against the model and the machine."""
    return engine_for(job).estimate(job.plan)
