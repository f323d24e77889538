"""A job: what runs (a model spec), where (a system preset or file, with what-if overrides), how it is split
(a parallel plan) and with which software (a stack preset: fused kernels, overlaps). A frozen, hashable value:
every command builds one and gets its costed engine from `dojosim.perf.engine_for(job)`, so the wiring from
names to an engine is written once.

Each input form has one parser: `Job.of` for names and a plan (the CLI, searches, studies); validation
tables build theirs from a row (`dojosim.validation.run.job_of`).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from dojosim.parallel.plan import ParallelPlan
from dojosim.stack import DEFAULT_STACK, Attention, Kernels, Stack, load_stack
from dojosim.workload.spec import ModelSpec
from dojosim.workload.zoo import check_request


def with_kernels(spec: ModelSpec, stack: Stack) -> ModelSpec:
    """The model as the stack's kernels run it: attention scores materialised where its attention is unfused
    (GPT specs), norms and RoPE op by op where its pointwise kernels are eager (Llama and MoE specs). A family
    without the switch is unchanged."""
    switched = spec
    if stack.attention is Attention.UNFUSED:
        switched = switched.with_switch("unfused_attention")
    if stack.pointwise is Kernels.EAGER:
        switched = switched.with_switch("unfused_kernels")
    return spec if switched == spec else replace(switched, name=spec.name)  # the name the user gave


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
    stack: Stack = field(default_factory=load_stack)  # the software that runs it

    @classmethod
    def of(
        cls,
        model: str | ModelSpec,
        system: str,
        plan: ParallelPlan,
        overrides: Iterable[str] = (),
        optimizer: str = "adamw",
        dtype: str = "bf16",
        stack: str | Stack = DEFAULT_STACK,
    ) -> "Job":
        """Check the request, settle the plan's sequence (the family's default when the plan leaves it at 1,
        and 1 for models without a token axis) and give the model the kernels its stack runs."""
        stack = stack if isinstance(stack, Stack) else load_stack(stack)
        spec, seq = check_request(model, plan.micro_batch, plan.seq if plan.seq > 1 else None)
        tokens = seq if spec.has_sequence and seq else 1
        if plan.seq != tokens:
            plan = plan.with_(seq=tokens)
        return cls(with_kernels(spec, stack), system, plan, tuple(overrides), optimizer, dtype, stack)

    def with_plan(self, plan: ParallelPlan) -> "Job":
        """The same model, machine and options with another plan (its sequence kept as this job's)."""
        return Job.of(self.model, self.system, plan, self.overrides, self.optimizer, self.dtype, self.stack)

    @property
    def workload(self) -> WorkloadKey:
        seq = self.plan.seq if self.model.has_sequence else None
        return WorkloadKey(self.model, self.plan.micro_batch, seq, self.optimizer, self.dtype)

    @property
    def machine(self) -> SystemKey:
        return SystemKey(self.system, self.overrides, self.plan.devices)
