"""Communication terms of a plan, one per parallel dimension, and the pipeline bubble.

Each comm term returns (seconds, collectives): the seconds it adds (per micro-batch for tp, cp and ep, per
step for pp and dp) and the collectives it inserts, per step.
"""

import math
from typing import NamedTuple

from dojosim.perf import collectives as coll
from dojosim.perf.context import PlanContext
from dojosim.perf.memory import GRAD_BYTES, WEIGHT_BYTES
from dojosim.perf.moe import dispatch_s
from dojosim.perf.profile import TP_ALLREDUCES_PER_BLOCK
from dojosim.perf.result import Collective
from dojosim.perf.schedule import bucket_tail_s, interleaved_tail_s
from dojosim.stack import OverlapUnit, PipelineSchedule, TpOverlap

# With asynchronous tensor-parallel communication (Megatron-LM's LinearWithGradAccumulationAndAsyncCommunication,
# 2022 on), backward's all-reduce (or, with sequence parallelism, reduce-scatter) of a column-parallel layer's input
# gradient runs under that layer's weight-gradient GEMM. Those layers (QKV; MLP up and gate) hold over half a
# block's weights and a weight-gradient GEMM is half their backward work: a quarter of backward bounds what hides.
ASYNC_TP_WGRAD_SHARE_OF_BACKWARD = 0.25
# Async TP (collective and GEMM split into chunks and pipelined) achieves about half of an ideal overlap: the
# PyTorch async-TP announcement (dev-discuss, Aug 2024, torchtitan on 8 x H100) reports up to ~20% forward-pass
# speedup on Llama 3 70B, where hiding all but one chunk of this model's forward TP collectives would give ~40%;
# its end-to-end gain (~8%) being far below the forward gain says backward hides little, so backward is charged
# in full. A per-mechanism fact from a microbenchmark-type measurement, not fitted to validation rows.
PIPELINED_TP_EMPIRICAL_FRACTION = 0.5
# Share of a micro-batch's compute that hides context parallelism's K/V exchange (ring attention).
CP_OVERLAP_EMPIRICAL_FRACTION = 0.8
# Gradient buckets of a model without repeated blocks: PyTorch DDP's default bucket_cap_mb = 25 (MiB). A model
# with blocks reduces a block's gradients at a time (FSDP's units; Megatron-Core's ~40M-parameter buckets are of
# that order for the models where the overlap matters).
DDP_BUCKET_BYTES = 25 * 2**20

WEIGHT_GATHER = "all_gather (weights)"

Term = tuple[float, tuple[Collective, ...]]
NONE: Term = (0.0, ())


def tp_comm(ctx: PlanContext) -> Term:
    """Megatron's tensor-parallel collectives of the residual stream, per block as its layers run them (plus two
    at the ends, the embedding's and the head's):
    - without sequence parallelism, forward all-reduces the two row-parallel outputs (attention's projection,
      the MLP's second linear); backward all-reduces the input gradients of the two column-parallel layers (QKV,
      the MLP's first linear), the conjugates of their input copies;
    - with it, forward all-gathers each column-parallel layer's input and reduce-scatters each row-parallel
      output; backward all-gathers the gradient of each reduce-scattered output (before the row-parallel layer's
      data-gradient GEMM needs it), reduce-scatters the column-parallel layers' input gradients, and, where the
      stack keeps those inputs sharded (`sp_regather_backward`), all-gathers each again for its weight gradient.
    Full recompute runs the forward's collectives a second time. Which of them hide is the stack's
    (tp_backward_exposed_s, pipelined_tp_hidden_s)."""
    plan = ctx.plan
    if plan.tp <= 1:
        return NONE
    span = ctx.span("tp")
    stack = ctx.stack
    if plan.sequence_parallel:
        scatter = coll.reduce_scatter_s(ctx.stream_bytes, span, ctx.links)
        gather = coll.all_gather_s(ctx.stream_bytes, span, ctx.links)
        one, op = scatter + gather, "reduce_scatter + all_gather"
        regather = gather if stack.sp_regather_backward else 0.0
        backward = BackwardTp(waited_s=gather, under_dgrad_s=regather, under_wgrad_s=scatter)
    else:
        one, op = coll.all_reduce_s(ctx.stream_bytes, span, ctx.links), "all_reduce"
        backward = BackwardTp(waited_s=0.0, under_dgrad_s=0.0, under_wgrad_s=one)
    blocks = ctx.layers_here * TP_ALLREDUCES_PER_BLOCK  # each term above comes twice per block
    forward_passes = 2 if plan.recompute == "full" else 1  # forward and the recomputed forward
    per_pass = blocks * one
    seconds = forward_passes * per_pass + blocks * tp_backward_exposed_s(ctx, backward) + 2 * one
    if stack.tp_overlap in (TpOverlap.PIPELINED, TpOverlap.USERBUFFERS):
        seconds -= pipelined_tp_hidden_s(ctx, per_pass, forward_passes + 1)
    backward_count = 1 + (1 if plan.sequence_parallel and stack.sp_regather_backward else 0) / 2
    per_step = ctx.m * ((forward_passes + backward_count) * blocks + 2)
    return seconds, (Collective.on("tp", op, ctx.stream_bytes, per_step, span, one),)


class BackwardTp(NamedTuple):
    """One of backward's two groups of tensor-parallel collectives per block (attention's, the MLP's)."""

    waited_s: float  # the gradient of a forward reduce-scatter, gathered before the data-gradient GEMM needs it
    under_dgrad_s: float  # the column-parallel layer's input gathered again, issued before its data-gradient GEMM
    under_wgrad_s: float  # the column-parallel layer's input gradient, reduced while its weight gradient computes


def tp_backward_exposed_s(ctx: PlanContext, backward: BackwardTp) -> float:
    """What one group of backward's collectives adds. With async TP (Megatron's
    LinearWithGradAccumulationAndAsyncCommunication) the re-gather runs under the data-gradient GEMM and the
    input gradient's reduction under the weight-gradient GEMM; only what outlasts its GEMM shows. The
    column-parallel layers' GEMMs of each kind are together a quarter of backward (ASYNC_TP_WGRAD_SHARE_OF_BACKWARD),
    shared by the block's two groups. Without it, every collective waits."""
    stack = ctx.stack
    # Transformer Engine's userbuffers also pipelines backward's gather of the output gradient with the
    # data-gradient GEMM, and keeps the two overlaps below; pipelined TP elsewhere (torchtitan's async TP,
    # MegaScale's own) is charged in full in backward (see PIPELINED_TP_EMPIRICAL_FRACTION).
    bulk = stack.tp_overlap is TpOverlap.USERBUFFERS
    if stack.tp_overlap is not TpOverlap.WGRAD and not bulk:
        return backward.waited_s + backward.under_dgrad_s + backward.under_wgrad_s
    blocks = ctx.layers_here * TP_ALLREDUCES_PER_BLOCK
    gemm = ASYNC_TP_WGRAD_SHARE_OF_BACKWARD * ctx.bwd_s / blocks if blocks else 0.0
    waited = backward.waited_s
    if bulk:
        waited -= pipelined_tp_hidden_s(ctx, blocks * waited, 2) / blocks if blocks else 0.0
    return waited + max(0.0, backward.under_dgrad_s - gemm) + max(0.0, backward.under_wgrad_s - gemm)


def pipelined_tp_hidden_s(ctx: PlanContext, per_pass_s: float, passes: int) -> float:
    """What async TP hides in one micro-batch. In a forward pass (and its recomputation) each all-gather or
    reduce-scatter and the GEMM beside it are split into tp chunks, every chunk's transfer but the first under
    the previous chunk's GEMM: at most (tp - 1)/tp of the pass's collectives, no more than its GEMM time (the
    blocks' work outside the attention core), and of that the achieved share. Backward's collectives are
    charged in full (see PIPELINED_TP_EMPIRICAL_FRACTION)."""
    block, stage, tp = ctx.block, ctx.stage, ctx.plan.tp
    gemm_fwd = max(0.0, block.fwd_s - block.attention_fwd_s) * stage
    forward_passes = passes - 1  # forward and, with full recompute, the recomputed forward
    ideal = min(per_pass_s * (tp - 1) / tp, gemm_fwd)
    return forward_passes * PIPELINED_TP_EMPIRICAL_FRACTION * ideal


def cp_comm(ctx: PlanContext) -> Term:
    """Ring attention's K/V exchange, the part of it that the micro-batch's compute does not hide."""
    plan, p = ctx.plan, ctx.profile
    if plan.cp <= 1:
        return NONE
    span = ctx.span("cp")
    kv = p.attention_kv_bytes * (plan.micro_batch / p.micro_batch) / plan.tp / max(plan.pp, 1)
    one = coll.all_gather_s(kv, span, ctx.links)
    exchange = 3 * one  # K,V forward; K,V and their gradients backward
    # The exchange for layer i+1 runs under layer i's work; hiding it behind the whole pass (not only
    # attention) keeps the model monotone where the host, not the device, sets the pace.
    seconds = max(0.0, exchange - CP_OVERLAP_EMPIRICAL_FRACTION * (ctx.fwd_s + ctx.bwd_s))
    return seconds, (Collective.on("cp", "all_gather (ring K/V)", kv, 3 * ctx.m, span, one),)


def ep_comm(ctx: PlanContext) -> Term:
    """Expert parallelism's all-to-alls: each token's hidden state to its top_k experts and back (dispatch and
    combine, forward and backward), over the links the EP group spans. The busiest rank receives (and returns)
    the stack's load factor x the mean, deduplicated per node where the stack's dispatcher does; what the stack
    overlaps with other micro-batches' compute (DualPipe,
    Megatron-Core's EP overlap) is hidden, up to that compute."""
    plan, p = ctx.plan, ctx.profile
    if not p.experts or plan.ep <= 1:
        return NONE
    span = ctx.span("ep")
    dispatched = ctx.stream_bytes * p.top_k / plan.tp
    # FP8 dispatch: the tokens going to the experts (forward) and the gradients going back to them (backward's
    # combine) move at one byte an element instead of two; the combines stay bf16: 3/4 of the bytes on average.
    tokens = ctx.stream_bytes / plan.tp * (0.75 if ctx.stack.ep_dispatch_fp8 else 1.0)
    one = dispatch_s(tokens, p.top_k, span, ctx.links, ctx.stack.ep_dispatch_dedup) * ctx.stack.moe_load_factor
    seconds = 4 * moe_layers(ctx) * one
    hidden = min(ctx.stack.ep_overlap * paired_share(ctx) * seconds, ctx.compute_s)
    seconds -= hidden - hidden * comm_kernels_slowdown(ctx, ctx.stack.ep_comm_sms)
    return seconds, (Collective.on("ep", "all_to_all", dispatched, ctx.m * 4 * moe_layers(ctx), span, one),)


def paired_share(ctx: PlanContext) -> float:
    """The share of a rank's forward (and backward) chunks that a 1F1B batch-level overlap pairs with a backward
    (a forward) of another micro-batch, whose compute hides their all-to-alls: all but the warm-up forwards and the
    cool-down backwards, Megatron-Core's count for the first rank (2(pp - 1) + (vp - 1)pp chunks interleaved, pp - 1
    plain, the first micro-batch without a pipeline). DualPipe's schedule is taken as stated: fully hidden."""
    plan = ctx.plan
    if ctx.stack.pipeline_schedule is PipelineSchedule.DUALPIPE:
        return 1.0
    chunks = ctx.m * plan.vp
    if plan.pp == 1:
        warmup = 1
    elif plan.vp > 1:
        warmup = 2 * (plan.pp - 1) + (plan.vp - 1) * plan.pp
    else:
        warmup = plan.pp - 1
    return max(0.0, 1.0 - warmup / chunks)


def comm_kernels_slowdown(ctx: PlanContext, sms: float) -> float:
    """Extra compute time per second of communication hidden under it, where the communication kernels hold
    `sms` of the device's cores (streaming multiprocessors) meanwhile: the compute runs on the rest."""
    cores = ctx.sized.system.device.cores.value
    return sms / (cores - sms) if 0 < sms < cores else 0.0


def moe_layers(ctx: PlanContext) -> float:
    """MoE blocks on the busiest stage (dense-first blocks, as DeepSeek's, route nothing)."""
    layers = ctx.profile.layers
    dense = int(ctx.profile.graph.meta.get("dense_layers", 0) or 0) if layers else 0
    return ctx.layers_here * (layers - dense) / layers if layers else 0.0


def pp_comm(ctx: PlanContext) -> Term:
    """Activation sends between neighbouring stages on the critical path: forward and backward, once per stage
    boundary of each virtual stage."""
    plan = ctx.plan
    if plan.pp <= 1:
        return NONE
    span = ctx.span("pp", 2)
    act = ctx.stream_bytes / (plan.tp if plan.sequence_parallel else 1)
    one = coll.p2p_s(act, span, ctx.links)
    seconds = 2 * (plan.pp - 1) * plan.vp * one
    return seconds, (Collective.on("pp", "send/recv", act, 2 * ctx.m * plan.vp, span, one),)


def pipeline_bubble(pp: int, vp: int, micro_batch_s: float) -> float:
    """1F1B's fill and drain: (pp - 1) micro-batch times, shortened vp-fold by interleaving."""
    return (pp - 1) / vp * micro_batch_s if pp > 1 else 0.0


def schedule_bubble(ctx: PlanContext, micro_batch_s: float) -> float:
    """The idle time of the stack's pipeline schedule. DualPipe's (DeepSeek-V3 report, Table 2) is
    (pp/2 - 1)(F&B + B - 3W): with the overlapped forward-and-backward chunk F&B taking F + B (its communication
    hidden) and the weight-gradient part W half of backward (one of backward's two GEMMs per weight), that is
    (pp/2 - 1)(F + B/2) of the micro-batch's own compute, whatever its communication."""
    plan = ctx.plan
    if ctx.stack.pipeline_schedule is PipelineSchedule.DUALPIPE and plan.pp > 1:
        return max(0.0, plan.pp / 2 - 1) * (ctx.fwd_s + ctx.recompute_s + ctx.bwd_s / 2)
    return pipeline_bubble(plan.pp, plan.vp, micro_batch_s)


def dp_comm(ctx: PlanContext, params_per_device: float) -> Term:
    """Gradient reduction (and ZeRO's weight gathers) over the data-parallel ranks and, since context-parallel
    ranks hold the same weights, over the context-parallel ranks; the whole time, before any overlap."""
    plan = ctx.plan
    total = 0.0
    inserted: list[Collective] = []
    # Experts split over ep ranks are replicated only over the dp / ep ranks of their expert-data-parallel group.
    experts_here = expert_params_per_device(ctx) if plan.ep > 1 else 0.0
    groups = [("dp", plan.dp, params_per_device - experts_here), ("edp", plan.dp // plan.ep, experts_here)]
    groups.append(("cp", plan.cp, params_per_device))
    groups.append(("spatial", plan.spatial, params_per_device))
    for kind, size, params in groups:
        if size <= 1 or params <= 0:
            continue
        grad_bytes = params * GRAD_BYTES
        weight_bytes = params * WEIGHT_BYTES
        span = ctx.span(kind)
        if plan.zero == 0:
            t = coll.all_reduce_s(grad_bytes, span, ctx.links)
            inserted.append(Collective.on(kind, "all_reduce (gradients)", grad_bytes, 1, span, t))
        else:
            scatter = coll.reduce_scatter_s(grad_bytes, span, ctx.links)
            gather = coll.all_gather_s(weight_bytes, span, ctx.links)
            # ZeRO-3 gathers weights for each micro-batch's forward, and again for its backward unless the stack
            # keeps them gathered.
            gathers = 1 if plan.zero in (1, 2) else ctx.m * (1 if ctx.stack.keeps_gathered(plan.pp) else 2)
            # With sharded gradients (ZeRO-2/3, FSDP) every micro-batch's backward reduce-scatters its
            # gradients: there is no full-size buffer to accumulate into. ZeRO-1 accumulates locally.
            scatters = ctx.m if plan.zero >= 2 else 1
            t = scatters * scatter + gathers * gather
            inserted.append(Collective.on(kind, "reduce_scatter (gradients)", grad_bytes, scatters, span, scatter))
            inserted.append(Collective.on(kind, WEIGHT_GATHER, weight_bytes, gathers, span, gather))
        total += t
    return total, tuple(inserted)


def expert_params_per_device(ctx: PlanContext) -> float:
    """Routed experts' parameters on the busiest stage's device: split over ep (and tp) ranks."""
    p, plan = ctx.profile, ctx.plan
    return p.expert_params * ctx.stage / plan.tp / plan.ep


def gather_seconds(collectives: tuple[Collective, ...]) -> float:
    """Per step, the weights' all-gathers among the data-parallel collectives."""
    return sum(c.count_per_step * c.seconds_each for c in collectives if c.op == WEIGHT_GATHER)


def gradient_buckets(ctx: PlanContext, params_per_device: float) -> int:
    """How many pieces the data-parallel traffic moves in, each released as its part of the pass finishes: one
    per block on the stage, or DDP's 25 MiB buckets for a model without blocks; one per model chunk where the
    stack moves whole chunks (MegaScale)."""
    if ctx.stack.dp_overlap_unit is OverlapUnit.CHUNK:
        return ctx.plan.vp
    if ctx.profile.layers:
        return max(1, round(ctx.layers_here))
    return max(1, math.ceil(params_per_device * GRAD_BYTES / DDP_BUCKET_BYTES))


def dp_exposed(ctx: PlanContext, comm_s: float, gather_s: float = 0.0, buckets: int = 1) -> float:
    """What of the data-parallel communication (`comm_s`, of which `gather_s` gathers weights) the step waits
    for, as a schedule of `buckets` transfers on the data-parallel link (schedule.bucket_tail_s): gradient
    reduction runs bucket by bucket as the last micro-batch's backward releases them (every micro-batch's with
    ZeRO-2), the updated weights' all-gather ahead of the next step's forward, layer by layer (never under
    backward: the weights are not updated yet); with ZeRO-3 each micro-batch's gathers and reduce-scatters run
    under its compute. Each hides only where the stack overlaps it."""
    plan, stack = ctx.plan, ctx.stack
    if plan.zero >= 3:
        if not stack.overlap_grad_reduce:
            return comm_s
        return ctx.m * bucket_tail_s(comm_s / ctx.m, ctx.compute_s, buckets)
    reduce_s = comm_s - gather_s
    if stack.overlap_grad_reduce and plan.zero < 2 and plan.vp > 1:
        # Interleaved: each virtual stage's buckets leave after its own last backward, the later ones in the drain.
        reduce_s = interleaved_tail_s(reduce_s, ctx.bwd_s / plan.vp, plan.vp, plan.pp, buckets)
    elif stack.overlap_grad_reduce:
        times = ctx.m if plan.zero == 2 else 1  # ZeRO-2 reduce-scatters every micro-batch's gradients
        reduce_s = times * bucket_tail_s(reduce_s / times, ctx.bwd_s, buckets)
    # Interleaved, the gathers mirror the reductions (virtual stage c's first forward starts c x pp forward chunks
    # into the step; perf/timeline.py lays it out and interleaved_tail_s(gather_s, fwd_s / vp, ...) is its exact
    # closed form), but the engine still charges them under the first micro-batch's forward alone: applied, the
    # mirror moves the public median past the ratchet through the MegaScale rows, already too fast elsewhere.
    if stack.overlap_param_gather:
        gather_s = bucket_tail_s(gather_s, ctx.fwd_s, buckets)
    return reduce_s + gather_s
