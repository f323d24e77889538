"""A parallel plan, and the one set of rules that makes an impossible plan one clear error.

The rules are written once, dimension by dimension (`*_problem` functions returning the sentence that says
what is wrong, or None): `validate_plan` applies them all to one plan, and the plan search applies each at
the loop level that chooses that dimension, so enumeration never yields a plan that validation refuses.
"""

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from dojosim.errors import InputError


class Recompute(StrEnum):
    NONE = "none"
    SELECTIVE = "selective"  # the attention core is recomputed in backward (Korthikanti et al. 2022)
    FULL = "full"  # each block's forward is recomputed from its input


class Precision(StrEnum):
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"
    FP4 = "fp4"
    FP32 = "fp32"


RECOMPUTE = tuple(Recompute)
PRECISIONS = tuple(Precision)
ZERO_STAGES = (0, 1, 2, 3)
DEGREES = ("devices", "global_batch", "micro_batch", "seq", "tp", "pp", "vp", "cp", "ep", "spatial")


def _choice(enum: type[StrEnum], option: str, value: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise InputError(f"--{option}: must be one of {', '.join(enum)}, got {value!r}") from None


def precision_of(value: str) -> Precision:
    """--precision as typed: one InputError naming the allowed values otherwise."""
    return _choice(Precision, "precision", value)


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
    recompute: Recompute = Recompute.NONE
    sequence_parallel: bool = False
    precision: Precision = Precision.BF16
    # Spatial parallelism: each image's convolutional feature maps split into this many row bands, one per rank,
    # neighbours exchanging the halo rows each convolution reads across a band's edge.
    spatial: int = 1
    # What the software overlaps (gradient reduction, tensor-parallel collectives) is the job's stack's fact,
    # not the plan's: dojosim.stack.

    def __post_init__(self) -> None:
        # Options arrive as text from the CLI, tables and files: typed here, once, with the option named.
        if type(self.recompute) is not Recompute:
            object.__setattr__(self, "recompute", _choice(Recompute, "recompute", self.recompute))
        if type(self.precision) is not Precision:
            object.__setattr__(self, "precision", precision_of(self.precision))

    @property
    def dp(self) -> int:
        return self.devices // (self.tp * self.pp * self.cp * self.spatial)

    @property
    def replicas(self) -> int:
        """Ranks that hold the same weights: data-, context- and spatially parallel ones (ZeRO and FSDP shard over
        them, as Megatron's distributed optimizer and torchtitan's FSDP over dp x cp do)."""
        return self.dp * self.cp * self.spatial

    @property
    def grad_accumulation(self) -> int:
        """Micro-batches per optimizer step on each pipeline."""
        return self.global_batch // (self.dp * self.micro_batch)

    def with_(self, **changes: Any) -> "ParallelPlan":
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["recompute"], out["precision"] = str(self.recompute), str(self.precision)
        out["dp"] = self.dp
        out["grad_accumulation"] = self.grad_accumulation
        return out


@dataclass(frozen=True)
class ModelShape:
    """What of a model limits how it can be split."""

    layers: int = 0  # repeated blocks (0: none to split into pipeline stages)
    heads: int = 0
    kv_heads: int = 0
    experts: int = 0
    hidden: int = 0  # residual-stream width (0: no transformer to split over tp)
    has_sequence: bool = True
    split_units: int = 0  # what cp splits a sample into (tokens, a clip's images); 0: unknown
    map_rows: int = 0  # rows of the tallest convolutional feature map (what --spatial splits); 0: none
    modules: int = 0  # module segments a model without repeated blocks can be pipelined over (0: none)


# ------------------------------------------------------------------------------------------- the rules


def tp_problem(tp: int, shape: ModelShape) -> str | None:
    if tp == 1:
        return None
    if not shape.hidden:
        return (
            f"--tp {tp}: tensor parallelism needs a transformer (this model has no hidden width to split); "
            "use dp, cp or pp"
        )
    if shape.heads and shape.heads % tp:
        return f"--tp {tp} does not divide the model's {shape.heads} attention heads"
    kv = shape.kv_heads
    if kv and kv % tp and tp % kv:
        return f"--tp {tp} and the model's {kv} key/value heads do not divide each other"
    return None


def cp_problem(cp: int, seq: int, shape: ModelShape) -> str | None:
    if cp > 1 and shape.has_sequence and seq % (2 * cp):
        return f"--cp {cp}: --seq {seq} must be divisible by 2 x cp = {2 * cp} (load-balanced causal chunks)"
    if cp > 1 and not shape.has_sequence and shape.split_units and cp > shape.split_units:
        return f"--cp {cp}: each sample has {shape.split_units} images to split; cp can be at most that"
    return None


def spatial_problem(spatial: int, shape: ModelShape) -> str | None:
    if spatial == 1:
        return None
    if not shape.map_rows:
        return (
            f"--spatial {spatial}: the model has no convolutional feature maps to split into row bands; "
            "use dp, cp or pp"
        )
    if spatial > shape.map_rows:
        return f"--spatial {spatial} exceeds the {shape.map_rows} rows of the model's tallest feature map"
    return None


def recompute_problem(recompute: Recompute, shape: ModelShape) -> str | None:
    if recompute is Recompute.NONE or shape.layers:
        return None
    if recompute is Recompute.FULL and shape.modules:
        return None  # checkpointed at module boundaries
    if recompute is Recompute.FULL:
        return f"--recompute {recompute}: the model has no repeated blocks or modules to checkpoint"
    return (
        f"--recompute {recompute}: selective recompute repeats the attention of repeated blocks, which the model "
        "does not have; use --recompute full (checkpoints at module boundaries)"
    )


def devices_problem(devices: int, tp: int, pp: int, cp: int, spatial: int = 1) -> str | None:
    if devices % (tp * pp * cp * spatial):
        if spatial == 1:
            return f"--devices {devices} is not divisible by tp x pp x cp = {tp} x {pp} x {cp} = {tp * pp * cp}"
        return (
            f"--devices {devices} is not divisible by tp x pp x cp x spatial = {tp} x {pp} x {cp} x {spatial} = "
            f"{tp * pp * cp * spatial}"
        )
    return None


def pp_problem(pp: int, vp: int, shape: ModelShape) -> str | None:
    if pp == 1:
        return "--vp > 1 needs --pp > 1 (interleaving splits each pipeline rank's layers)" if vp > 1 else None
    if not shape.layers and shape.modules:
        if vp > 1:
            return f"--vp {vp}: interleaving needs repeated blocks; this model is pipelined over its modules"
        if pp > shape.modules:
            return f"--pp {pp} exceeds the {shape.modules} module segments this model can be pipelined over"
        return None
    if not shape.layers:
        return f"--pp {pp}: the model has no repeated blocks or modules to split into stages"
    if shape.layers < pp * vp:
        return f"--pp {pp} x --vp {vp} = {pp * vp} stages exceed the model's {shape.layers} layers"
    return None


def batch_problem(global_batch: int, dp: int, micro_batch: int) -> str | None:
    if global_batch % (dp * micro_batch):
        return (
            f"--global-batch {global_batch} is not divisible by dp x micro-batch = {dp} x {micro_batch} = "
            f"{dp * micro_batch}"
        )
    return None


def interleave_problem(pp: int, vp: int, grad_accumulation: int) -> str | None:
    if pp > 1 and vp > 1 and grad_accumulation % pp:
        return (
            f"interleaved pipelining needs the micro-batches per step ({grad_accumulation}) to be a multiple of "
            f"pp = {pp}"
        )
    return None


def ep_problem(ep: int, dp: int, shape: ModelShape) -> str | None:
    if ep == 1:
        return None
    if not shape.experts:
        return f"--ep {ep}: the model has no experts"
    if shape.experts % ep:
        return f"--ep {ep} does not divide the model's {shape.experts} experts"
    if dp % ep:
        return f"--ep {ep} must divide the data-parallel degree {dp} (experts are spread over data-parallel ranks)"
    return None


def precision_problem(precision: Precision, peaks: tuple[str, ...]) -> str | None:
    if peaks and precision not in peaks and not (precision == Precision.FP16 and "bf16" in peaks):
        return f"--precision {precision}: this device has no {precision} peak (it has {', '.join(peaks)})"
    return None


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"--{name.replace('_', '-')}: must be a whole number >= 1, got {value!r}")


def validate_plan(plan: ParallelPlan, shape: ModelShape = ModelShape(), peaks: tuple[str, ...] = ()) -> None:
    """Raise one InputError naming the first thing that makes the plan impossible."""
    for name in DEGREES:
        _positive(name, getattr(plan, name))
    if plan.zero not in ZERO_STAGES:
        raise InputError(f"--zero: must be one of 0, 1, 2, 3, got {plan.zero!r}")
    problems = (
        lambda: precision_problem(plan.precision, peaks),
        lambda: devices_problem(plan.devices, plan.tp, plan.pp, plan.cp, plan.spatial),
        lambda: spatial_problem(plan.spatial, shape),
        lambda: ep_problem(plan.ep, plan.dp, shape),
        lambda: tp_problem(plan.tp, shape),
        lambda: "--sequence-parallel needs --tp > 1" if plan.sequence_parallel and plan.tp == 1 else None,
        lambda: pp_problem(plan.pp, plan.vp, shape),
        lambda: recompute_problem(plan.recompute, shape),
        lambda: cp_problem(plan.cp, plan.seq, shape),
        lambda: batch_problem(plan.global_batch, plan.dp, plan.micro_batch),
        lambda: interleave_problem(plan.pp, plan.vp, plan.grad_accumulation),
    )
    for check in problems:
        problem = check()
        if problem:
            raise InputError(problem)
