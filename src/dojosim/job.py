"""A job: what runs (a model spec), where (a system preset or file, with what-if overrides), how it is split
(a parallel plan) and with which software (a stack preset: fused kernels, overlaps). A frozen, hashable value:
every command builds one and gets its costed engine from `dojosim.perf.engine_for(job)`, so the wiring from
names to an engine is written once.

Each input form has one parser: `Job.of` for names and a plan (the CLI, searches, studies); validation
tables build theirs from a row (`dojosim.validation.run.job_of`).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from dojosim.errors import InputError
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
class Sequences:
    """How the job's samples fill their padded length (the plan's `seq`), as the training data and its kernels
    have it: a property of the data, not of the graph, so one capture at the padded length serves every choice.

    - `tokens_per_seq`: mean real (non-padding) tokens per row; unpadded kernels work on these only. None: every
      position is a real token (dense pre-training, or a padded run whose kernels compute the padding too).
    - `docs_per_row`: documents packed into one row, attention masked per document (each document attends to
      itself only, as variable-length fused attention runs it). 1: attention over the whole row (a row of
      concatenated documents without a per-document mask is 1 here too).
    - `loss_positions`: positions per row whose output reaches the head and the loss (masked-LM's masked
      positions, gathered before the head). None: every real token.
    - `lengths`: the real tokens of each row of a micro-batch where they are known (variable-length samples);
      their mean is `tokens_per_seq` and their squares set the attention work.
    """

    tokens_per_seq: float | None = None
    docs_per_row: float = 1.0
    loss_positions: float | None = None
    lengths: tuple[int, ...] = ()

    @property
    def dense(self) -> bool:
        """Every position a real token of one document, the loss on all of them: the captured graph as it is."""
        return self == DENSE

    def real_tokens(self, seq: int) -> float:
        """Mean real tokens per row of `seq` positions."""
        if self.lengths:
            return sum(self.lengths) / len(self.lengths)
        return seq if self.tokens_per_seq is None else self.tokens_per_seq

    def token_share(self, seq: int) -> float:
        """Real tokens per padded position: what ops over tokens (matmuls, norms, the embedding) are charged."""
        return self.real_tokens(seq) / seq

    def attention_share(self, seq: int) -> float:
        """Attention work per row over that of one document filling the row: each document's own square.
        A row of L real tokens in d equal documents costs d (L/d)^2 = L^2 / d of the full row's seq^2 (causal or
        not alike: a causal kernel skips half of either)."""
        squares = [float(n) ** 2 for n in self.lengths] or [self.real_tokens(seq) ** 2]
        return sum(squares) / len(squares) / self.docs_per_row / seq**2

    def loss_share(self, seq: int) -> float:
        """Positions that reach the head and the loss, per padded position."""
        positions = self.real_tokens(seq) if self.loss_positions is None else self.loss_positions
        return positions / seq

    def check(self, seq: int, has_sequence: bool = True) -> None:
        """Refuse what no row of `seq` positions can hold: one line naming the option and its range."""
        if self.dense:
            return
        if not has_sequence:
            raise InputError("--tokens-per-seq, --docs-per-row, --loss-positions: the model has no token axis")
        for n in self.lengths:
            if not 1 <= n <= seq:
                raise InputError(f"lengths: each must be between 1 and --seq {seq}, got {n}")
        tokens = self.real_tokens(seq)
        if not 1 <= tokens <= seq:
            raise InputError(f"--tokens-per-seq: must be between 1 and --seq {seq}, got {tokens:g}")
        if not 1 <= self.docs_per_row <= tokens:
            raise InputError(f"--docs-per-row: must be between 1 and the real tokens per row {tokens:g}, "
                             f"got {self.docs_per_row:g}")
        if self.loss_positions is not None and not 1 <= self.loss_positions <= tokens:
            raise InputError(f"--loss-positions: must be between 1 and the real tokens per row {tokens:g}, "
                             f"got {self.loss_positions:g}")

    def as_dict(self, seq: int) -> dict[str, float]:
        """The description with its defaults settled for rows of `seq` positions."""
        return {
            "seq": seq,
            "tokens_per_seq": self.real_tokens(seq),
            "docs_per_row": self.docs_per_row,
            "loss_positions": self.loss_share(seq) * seq,
        }


DENSE = Sequences()  # every position a real token of one document, the loss on all of them


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
    sequences: Sequences = DENSE  # how samples fill their padded length

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
        sequences: Sequences = DENSE,
    ) -> "Job":
        """Check the request, settle the plan's sequence (the family's default when the plan leaves it at 1,
        and 1 for models without a token axis), check the sequences against it and give the model the kernels
        its stack runs."""
        stack = stack if isinstance(stack, Stack) else load_stack(stack)
        spec, seq = check_request(model, plan.micro_batch, plan.seq if plan.seq > 1 else None)
        tokens = seq if spec.has_sequence and seq else 1
        if plan.seq != tokens:
            plan = plan.with_(seq=tokens)
        sequences.check(tokens, spec.has_sequence)
        return cls(with_kernels(spec, stack), system, plan, tuple(overrides), optimizer, dtype, stack, sequences)

    def with_plan(self, plan: ParallelPlan) -> "Job":
        """The same model, machine and options with another plan (its sequence kept as this job's)."""
        return Job.of(
            self.model, self.system, plan, self.overrides, self.optimizer, self.dtype, self.stack, self.sequences
        )

    @property
    def workload(self) -> WorkloadKey:
        seq = self.plan.seq if self.model.has_sequence else None
        return WorkloadKey(self.model, self.plan.micro_batch, seq, self.optimizer, self.dtype)

    @property
    def machine(self) -> SystemKey:
        return SystemKey(self.system, self.overrides, self.plan.devices)
