"""A parallel plan and the checks that make an impossible plan one clear error."""

from dataclasses import dataclass, replace
from typing import Any

from dojosim.errors import InputError

RECOMPUTE = ("none", "selective", "full")
PRECISIONS = ("bf16", "fp16", "fp8", "fp4", "fp32")
ZERO_STAGES = (0, 1, 2, 3)


@dataclass(frozen=True)
class ParallelPlan:
    devices: int
    global_batch: int  # samples per optimizer step
    micro_batch: int = 1  # samples per micro-batch per data-parallel rank
    seq: int = 1  # tokens per sample (1 for models without a token axis)
    tp: int = 1  # tensor parallel
    pp: int = 1  # pipeline stages
    vp: int = 1  # virtual stages per pipeline rank (interleaved 1F1B)
    cp: int = 1  # context parallel: each sample's tokens (or images) split over cp ranks
    ep: int = 1  # expert parallel, carved out of data parallel
    zero: int = 0  # 0 none, 1 optimizer state, 2 + gradients, 3 + weights (FSDP)
    recompute: str = "none"
    sequence_parallel: bool = False
    precision: str = "bf16"
    # Gradient reduction bucketed under the backward pass (PyTorch DDP/FSDP, Megatron --overlap-grad-reduce);
    # False: it starts after the last backward (Megatron's pre-2023 local DDP, DeepSpeed without ZeRO).
    overlap_grad_reduce: bool = True
    # Backward's tensor-parallel collectives run under the weight-gradient GEMMs (Megatron-LM 2022 on, NeMo);
    # False: each waits for its collective (PyTorch DTensor tensor parallelism without async TP).
    overlap_tp_comm: bool = False

    @property
    def dp(self) -> int:
        return self.devices // (self.tp * self.pp * self.cp)

    @property
    def grad_accumulation(self) -> int:
        """Micro-batches per optimizer step on each pipeline."""
        return self.global_batch // (self.dp * self.micro_batch)

    def with_(self, **changes: Any) -> "ParallelPlan":
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["dp"] = self.dp
        out["grad_accumulation"] = self.grad_accumulation
        return out


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"--{name.replace('_', '-')}: must be a whole number >= 1, got {value!r}")


def validate_plan(
    plan: ParallelPlan,
    *,
    layers: int = 0,
    heads: int = 0,
    kv_heads: int = 0,
    experts: int = 0,
    hidden: int = 0,
    has_sequence: bool = True,
    peaks: tuple[str, ...] = (),
) -> None:
    """Raise one InputError naming the first thing that makes the plan impossible."""
    for name in ("devices", "global_batch", "micro_batch", "seq", "tp", "pp", "vp", "cp", "ep"):
        _positive(name, getattr(plan, name))
    if plan.zero not in ZERO_STAGES:
        raise InputError(f"--zero: must be one of 0, 1, 2, 3, got {plan.zero!r}")
    if plan.recompute not in RECOMPUTE:
        raise InputError(f"--recompute: must be one of {', '.join(RECOMPUTE)}, got {plan.recompute!r}")
    if plan.precision not in PRECISIONS:
        raise InputError(f"--precision: must be one of {', '.join(PRECISIONS)}, got {plan.precision!r}")
    if peaks and plan.precision not in peaks and not (plan.precision == "fp16" and "bf16" in peaks):
        raise InputError(
            f"--precision {plan.precision}: this device has no {plan.precision} peak (it has {', '.join(peaks)})"
        )
    model_parallel = plan.tp * plan.pp * plan.cp
    if plan.devices % model_parallel:
        raise InputError(
            f"--devices {plan.devices} is not divisible by tp x pp x cp = {plan.tp} x {plan.pp} x "
            f"{plan.cp} = {model_parallel}"
        )
    dp = plan.dp
    if plan.ep > 1:
        if not experts:
            raise InputError(f"--ep {plan.ep}: the model has no experts")
        if experts % plan.ep:
            raise InputError(f"--ep {plan.ep} does not divide the model's {experts} experts")
        if dp % plan.ep:
            raise InputError(
                f"--ep {plan.ep} must divide the data-parallel degree {dp} (experts are spread over "
                "data-parallel ranks)"
            )
    if plan.tp > 1:
        if not hidden:
            raise InputError(
                f"--tp {plan.tp}: tensor parallelism needs a transformer (this model has no hidden "
                "width to split); use dp, cp or pp"
            )
        if heads and heads % plan.tp:
            raise InputError(f"--tp {plan.tp} does not divide the model's {heads} attention heads")
        if kv_heads and kv_heads % plan.tp and plan.tp % kv_heads:
            raise InputError(f"--tp {plan.tp} and the model's {kv_heads} key/value heads do not divide each other")
    if plan.sequence_parallel and plan.tp == 1:
        raise InputError("--sequence-parallel needs --tp > 1")
    if plan.pp > 1:
        if not layers:
            raise InputError(f"--pp {plan.pp}: the model has no repeated blocks to split into stages")
        if layers < plan.pp * plan.vp:
            raise InputError(
                f"--pp {plan.pp} x --vp {plan.vp} = {plan.pp * plan.vp} stages exceed the model's {layers} layers"
            )
    elif plan.vp > 1:
        raise InputError("--vp > 1 needs --pp > 1 (interleaving splits each pipeline rank's layers)")
    if plan.cp > 1 and has_sequence and plan.seq % (2 * plan.cp):
        raise InputError(
            f"--cp {plan.cp}: --seq {plan.seq} must be divisible by 2 x cp = {2 * plan.cp} "
            "(load-balanced causal chunks)"
        )
    if plan.global_batch % (dp * plan.micro_batch):
        raise InputError(
            f"--global-batch {plan.global_batch} is not divisible by dp x micro-batch = {dp} x "
            f"{plan.micro_batch} = {dp * plan.micro_batch}"
        )
    if plan.pp > 1 and plan.vp > 1 and plan.grad_accumulation % plan.pp:
        raise InputError(
            f"interleaved pipelining needs the micro-batches per step ({plan.grad_accumulation}) to be "
            f"a multiple of pp = {plan.pp}"
        )
