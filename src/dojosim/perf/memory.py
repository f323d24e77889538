"""Memory per device: training state on the busiest stage, which tier holds it, and what spills to far memory."""

from dataclasses import dataclass, replace
from functools import lru_cache

from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.compute import pipeline_ends
from dojosim.perf.device import DeviceModel
from dojosim.perf.maps import band_share
from dojosim.perf.profile import WorkloadProfile, busiest_share
from dojosim.perf.result import MemoryUse, TierUse

# Mixed-precision training state per parameter (Megatron-style): bf16 weights, fp32 main gradients,
# fp32 master weights and two fp32 Adam moments (SGD: one momentum).
WEIGHT_BYTES = 2.0
GRAD_BYTES = 4.0
OPTIMIZER_BYTES = {"adamw": 12.0, "sgd": 8.0}
# The state of a stack that keeps no fp32 master copy (training_state "fp16-weights"): fp16 weights updated with
# stochastic rounding, gradient accumulators of the weights' type, fp32 moments (two for Adam/LAMB, one for SGD).
NO_MASTER_STATE_BYTES = (WEIGHT_BYTES, WEIGHT_BYTES, {"adamw": 8.0, "sgd": 4.0})
ACTIVATION_BYTES = 2.0  # bf16 activations cross pipeline stages and tensor-parallel all-reduces
# Near memory is filled by how often a byte is touched, most often first (see far_resident).
NEAR_FIRST = ("buffers", "activations", "weights", "gradients", "optimizer")
FAR_KINDS = (*NEAR_FIRST, "total")
Rows = tuple[tuple[int, float], ...]  # saved activation bytes by last dim


def _stage_params(profile: WorkloadProfile, plan: ParallelPlan, stage: float) -> float:
    """Parameters on the busiest stage's device: its blocks (experts split over ep) and the ends it holds."""
    p = profile
    dense_block = p.block_params - p.expert_params
    params = (dense_block + p.expert_params / plan.ep) * stage / plan.tp
    params += pipeline_ends(p.pre_params, p.post_params, plan.pp) / plan.tp
    return params


def residual_stream_bytes(plan: ParallelPlan, width: int, token_share: float = 1.0) -> float:
    """One micro-batch's residual stream (bf16) on one context-parallel rank, `width` wide; unpadded, it holds
    only the real tokens (`token_share` of the positions)."""
    return plan.micro_batch * plan.seq * token_share / plan.cp * width * ACTIVATION_BYTES


def _sharded(rows: tuple[tuple[int, float], ...], hidden: int, tp: int, sp: bool, scale: float, cp: float) -> float:
    """Bytes per device of saved activations by last dim: tensors of the residual stream (last dim = hidden) split
    over tensor-parallel ranks only with sequence parallelism, all others always; every one over cp ranks."""
    total = 0.0
    for last_dim, nbytes in rows:
        stream = hidden and last_dim == hidden
        total += nbytes / (tp if (not stream or sp) else 1)
    return total * scale / cp


def banded(rows: Rows, profile: WorkloadProfile, spatial: int) -> Rows:
    """Saved activations by last dim with a spatial split: a tensor as wide as a feature map keeps its busiest row
    band; the others stay whole on every rank."""
    if spatial <= 1 or not profile.map_widths:
        return rows
    widths = dict(profile.map_widths)
    return tuple((d, b * band_share(widths[d], spatial) if d in widths else b) for d, b in rows)


def segment_activation_bytes(profile: WorkloadProfile, plan: ParallelPlan) -> tuple[float, ...]:
    """Each module segment's saved activations on the busiest rank at the captured micro-batch: its images' share,
    a feature map's busiest row band."""
    p = profile
    shard = (p.hidden, plan.tp, plan.sequence_parallel, 1.0, 1.0 / busiest_share(p.split_units, plan.cp))
    return tuple(_sharded(banded(seg.activations, p, plan.spatial), *shard) for seg in p.segments)


def module_activations(plan: ParallelPlan, modules: "ModuleMemory", scale: float) -> float:
    """A module pipeline's stage (or the whole model at pp = 1, as one stage): its segments' saved activations for
    each micro-batch in flight; with full recompute, checkpointed at module boundaries (checkpointed_bytes)."""
    per_segment = modules.segment_bytes
    if plan.recompute == "full":
        split = sum(per_segment) / modules.raw_bytes if modules.raw_bytes else 1.0
        return scale * checkpointed_bytes(per_segment, modules.input_bytes, split, modules.in_flight)
    return scale * sum(per_segment) * modules.in_flight


@lru_cache(maxsize=4096)
def checkpointed_bytes(
    segment_bytes: tuple[float, ...], input_bytes: tuple[float, ...], split: float, in_flight: int
) -> float:
    """Saved activations with checkpoints at module boundaries: consecutive segments run as one checkpointed
    run; each run's input is kept for every micro-batch in flight and one run's activations are rebuilt at a
    time in backward. Checkpointing every leaf module would keep more inputs than it frees (a conv's input is
    as large as its output), so the runs are chosen: for each cap on a run's activations, segments are packed
    greedily under it, and the cap with the least total is taken. One run over everything (nothing kept but the
    model's input) is among the choices, so checkpointing never holds more than not checkpointing."""
    if not segment_bytes:
        return 0.0
    total, largest = sum(segment_bytes), max(segment_bytes)
    n = len(segment_bytes)
    caps = {total, largest, *(total / k for k in range(1, n + 1) if total / k >= largest)}
    best = total * in_flight
    for cap in caps:
        kept, run, peak = 0.0, 0.0, 0.0
        for i, b in enumerate(segment_bytes):
            if run and run + b > cap:
                peak, run = max(peak, run), 0.0
                kept += input_bytes[i] * split
            run += b
        best = min(best, kept * in_flight + max(peak, run))
    return best


def _activations(profile: WorkloadProfile, plan: ParallelPlan, stage: float, scale: float) -> float:
    """Stashed activations: the busiest stage's blocks for every micro-batch in flight, plus the ends.
    `scale`: the plan's micro-batch tokens over the captured ones."""
    p = profile
    if plan.spatial > 1:
        p = replace(
            p,
            activation_block=banded(p.activation_block, p, plan.spatial),
            activation_block_without_scores=banded(p.activation_block_without_scores, p, plan.spatial),
            activation_pre=banded(p.activation_pre, p, plan.spatial),
            activation_post=banded(p.activation_post, p, plan.spatial),
        )
    shard = (p.hidden, plan.tp, plan.sequence_parallel, scale, 1.0 / busiest_share(p.split_units, plan.cp))
    if plan.recompute == "full" and p.layers:
        # Only each layer's input is kept; the rest is rebuilt in backward.
        stream = residual_stream_bytes(plan, p.hidden, p.token_share)
        block = p.layers * stage * stream / (plan.tp if plan.sequence_parallel else 1)
    elif plan.recompute == "selective":
        # Attention scores (tensors whose last dim is the sequence) are recomputed, not kept.
        block = _sharded(p.activation_block_without_scores, *shard) * stage
    else:
        block = _sharded(p.activation_block, *shard) * stage
    in_flight = min(plan.pp, plan.grad_accumulation) if plan.pp > 1 else 1
    if plan.vp > 1:
        in_flight *= 1 + (plan.pp - 1) / (plan.pp * plan.vp)
    ends = pipeline_ends(_sharded(p.activation_pre, *shard), _sharded(p.activation_post, *shard), plan.pp)
    return block * in_flight + ends


@dataclass(frozen=True, slots=True)
class ModuleMemory:
    """What one stage of a module pipeline holds (or a whole model without blocks, checkpointed at its segments):
    parameters, each segment's saved activations on the busiest rank (segment_activation_bytes) and their bytes as
    captured, each segment's input bytes (what full recompute keeps at a checkpoint), the micro-batches in flight."""

    params: float
    segment_bytes: tuple[float, ...]
    raw_bytes: float
    input_bytes: tuple[float, ...]  # each segment's input as captured: what a checkpoint at its start keeps
    in_flight: int


def state_bytes_per_param(
    profile: WorkloadProfile,
    plan: ParallelPlan,
    keeps_gathered: bool = False,
    no_master: bool = False,
    shard: int | None = None,
) -> tuple[float, float, float]:
    """Bytes per parameter held on a device of weights, gradients and optimizer state, after ZeRO's sharding over
    `shard` ranks (default: all that hold the same weights). `no_master`: the stack keeps no fp32 master copy of
    the weights (NO_MASTER_STATE_BYTES)."""
    shard = plan.replicas if shard is None else shard
    w_bytes, g_bytes, o_bytes = NO_MASTER_STATE_BYTES if no_master else (WEIGHT_BYTES, GRAD_BYTES, OPTIMIZER_BYTES)
    return (
        w_bytes / (shard if plan.zero >= 3 and not keeps_gathered else 1),
        g_bytes / (shard if plan.zero >= 2 else 1),
        o_bytes[profile.graph.optimizer] / (shard if plan.zero >= 1 else 1),
    )


def activation_scale(profile: WorkloadProfile, plan: ParallelPlan) -> float:
    """The plan's micro-batch tokens over the captured ones."""
    p = profile
    return plan.micro_batch / p.micro_batch * (plan.seq / p.seq if p.seq else 1.0)


def memory_use(
    profile: WorkloadProfile,
    plan: ParallelPlan,
    stage: float,
    keeps_gathered: bool = False,
    *,
    no_master: bool = False,
    modules: ModuleMemory | None = None,
) -> MemoryUse:
    """Bytes per device on the busiest pipeline stage (`stage`: its share of the blocks). `keeps_gathered`: the
    stack keeps ZeRO-3's gathered weights from forward to backward, so the stage's whole bf16 copy is held.
    `no_master`: the stack keeps no fp32 master copy of the weights (NO_MASTER_STATE_BYTES). `modules`: a model
    without blocks, pipelined over (or checkpointed at) its module segments."""
    p = profile
    params = modules.params if modules is not None else _stage_params(p, plan, stage)
    # ZeRO shards over the ranks that hold the same weights: every data- and context-parallel rank for the dense
    # weights, only dp x cp / ep of them for experts split over ep ranks (their expert-data-parallel group).
    experts = p.expert_params / plan.ep * stage / plan.tp if plan.ep > 1 else 0.0
    parts = ((params - experts, plan.replicas), (experts, max(1, plan.replicas // plan.ep)))
    per_param = [state_bytes_per_param(p, plan, keeps_gathered, no_master, shard) for _, shard in parts]
    weights, grads, opt = (sum(n * b[kind] for (n, _), b in zip(parts, per_param, strict=True)) for kind in range(3))
    scale = activation_scale(p, plan)
    buffers = p.max_op_bytes * scale * busiest_share(p.split_units, plan.cp) / plan.tp
    buffers *= band_share(p.max_op_rows, plan.spatial)
    if plan.zero >= 3 and p.layers:
        buffers += 2 * (p.block_params / p.layers) / plan.tp * WEIGHT_BYTES  # prefetched layer weights
    if modules is not None:
        activations = module_activations(plan, modules, scale)
    else:
        activations = _activations(p, plan, stage, scale)
    return MemoryUse(weights, grads, opt, activations, buffers, params)


def far_resident(mem: MemoryUse, device: DeviceModel) -> dict[str, float]:
    """Bytes per device of each kind of state that live in far memory (Dojo's interface-card HBM) because
    near memory (SRAM) is full. Near memory is filled by how often a byte is touched: the transient working
    set of the running ops first, then stashed activations, weights, gradients, and last the optimizer
    state, which is touched once per step rather than once per micro-batch."""
    if not device.far:  # everything fits where it is or does not fit at all: nothing streams
        return dict.fromkeys(FAR_KINDS, 0.0)
    free = device.near.bytes
    out = {}
    for kind in NEAR_FIRST:
        held = getattr(mem, kind)
        here = min(held, free)
        free -= here
        out[kind] = held - here
    out["total"] = sum(out.values())
    return out


def tiers(device: DeviceModel, total_bytes: float) -> tuple[TierUse, ...]:
    """Every tier of the device with what `total_bytes` of state occupies of it, the fastest filled first."""
    out, left = [], total_bytes
    for tier in (device.near, *device.far_tiers):
        used = min(max(0.0, left), tier.bytes)
        out.append(TierUse(tier.name, tier.bytes, tier.bytes_per_s, used))
        left -= used
    return tuple(out)
