"""Memory per device: training state on the busiest stage, which tier holds it, and what spills to far memory."""

from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.compute import pipeline_ends
from dojosim.perf.device import DeviceModel
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


def _activations(profile: WorkloadProfile, plan: ParallelPlan, stage: float, scale: float) -> float:
    """Stashed activations: the busiest stage's blocks for every micro-batch in flight, plus the ends.
    `scale`: the plan's micro-batch tokens over the captured ones."""
    p = profile
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


def memory_use(
    profile: WorkloadProfile, plan: ParallelPlan, stage: float, keeps_gathered: bool = False, *, no_master: bool = False
) -> MemoryUse:
    """Bytes per device on the busiest pipeline stage (`stage`: its share of the blocks). `keeps_gathered`: the
    stack keeps ZeRO-3's gathered weights from forward to backward, so the stage's whole bf16 copy is held.
    `no_master`: the stack keeps no fp32 master copy of the weights (NO_MASTER_STATE_BYTES)."""
    p = profile
    params = _stage_params(p, plan, stage)
    shard = plan.replicas  # ZeRO shards over the ranks that hold the same weights
    w_bytes, g_bytes, o_bytes = NO_MASTER_STATE_BYTES if no_master else (WEIGHT_BYTES, GRAD_BYTES, OPTIMIZER_BYTES)
    weights = params * w_bytes / (shard if plan.zero >= 3 and not keeps_gathered else 1)
    grads = params * g_bytes / (shard if plan.zero >= 2 else 1)
    opt = params * o_bytes[p.graph.optimizer] / (shard if plan.zero >= 1 else 1)
    scale = plan.micro_batch / p.micro_batch * (plan.seq / p.seq if p.seq else 1.0)
    buffers = p.max_op_bytes * scale * busiest_share(p.split_units, plan.cp) / plan.tp
    if plan.zero >= 3 and p.layers:
        buffers += 2 * (p.block_params / p.layers) / plan.tp * WEIGHT_BYTES  # prefetched layer weights
    return MemoryUse(weights, grads, opt, _activations(p, plan, stage, scale), buffers, params)


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
