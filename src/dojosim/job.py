"""A job: what runs (a model spec), where (a system preset or file, with what-if overrides), how it is split
(a parallel plan) and with which software options. A frozen, hashable value: every command builds one and
gets its costed engine from `dojosim.perf.engine_for(job)`, so the wiring from names to an engine is written
once.

Each input form has one parser: `Job.of` for names and a plan (the CLI, searches, studies); validation
tables build theirs from a row (`dojosim.validation.run.job_of`).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from dojosim.parallel.plan import ParallelPlan
from dojosim.workload.spec import ModelSpec
from dojosim.workload.zoo import check_request


@dataclass(frozen=True)
class WorkloadKey:
    """What determines a captured graph: one capture serves every job that shares it."""

    model: ModelSpec
    micro_batch: int
    seq: int | None  # None: the model has no token axis
    optimizer: str
    dtype: str


@dataclass(frozen=True)
class SystemKey:
    """What determines a sized machine."""

    system: str  # a preset name or a .toml path
    overrides: tuple[str, ...]
    devices: int


@dataclass(frozen=True)
class Job:
    model: ModelSpec
    system: str
    plan: ParallelPlan
    overrides: tuple[str, ...] = ()  # --set PART.FIELD=VALUE, applied in order
    optimizer: str = "adamw"  # adamw or sgd
    dtype: str = "bf16"  # the model's dtype in the capture
    # Accelerator stacks update every parameter in a few multi-tensor kernels; PyTorch's CPU default runs
    # several kernels per parameter (check-local runs that).
    fused_optimizer: bool = True

    @classmethod
    def of(
        cls,
        model: str | ModelSpec,
        system: str,
        plan: ParallelPlan,
        overrides: Iterable[str] = (),
        optimizer: str = "adamw",
        dtype: str = "bf16",
        fused_optimizer: bool = True,
    ) -> "Job":
        """Check the request and settle the plan's sequence: the family's default when the plan leaves it at 1,
        and 1 for models without a token axis."""
        spec, seq = check_request(model, plan.micro_batch, plan.seq if plan.seq > 1 else None)
        tokens = seq if spec.has_sequence and seq else 1
        if plan.seq != tokens:
            plan = plan.with_(seq=tokens)
        return cls(spec, system, plan, tuple(overrides), optimizer, dtype, fused_optimizer)

    def with_plan(self, plan: ParallelPlan) -> "Job":
        """The same model, machine and options with another plan (its sequence kept as this job's)."""
        return Job.of(self.model, self.system, plan, self.overrides, self.optimizer, self.dtype, self.fused_optimizer)

    @property
    def workload(self) -> WorkloadKey:
        seq = self.plan.seq if self.model.has_sequence else None
        return WorkloadKey(self.model, self.plan.micro_batch, seq, self.optimizer, self.dtype)

    @property
    def machine(self) -> SystemKey:
        return SystemKey(self.system, self.overrides, self.plan.devices)
