"""Compute time of one micro-batch: each op class on the device's roofline, summed per region and pass.

The sum over op classes depends only on the sharding (tp, cp, sequence parallelism, precision); the engine
caches it per sharding, so every other plan with that sharding costs arithmetic over three StageCosts.
"""

import math
from dataclasses import dataclass
from typing import Any

from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.device import DeviceModel
from dojosim.perf.exchange import MATRIX_OPS, exchange_s
from dojosim.perf.profile import OpClass, WorkloadProfile, busiest_share
from dojosim.stack import DEFAULT_STACK, CastCosts, cast_costs, load_stack
from dojosim.stack.recipes import FP4_RECIPE

LOW_PRECISIONS = ("fp8", "fp4")
# Where low-precision GEMMs run: the linears of the repeated blocks. The embedding and the output layer stay in
# bf16 in every stack here: torchtitan converts all linears but "output" (float8.py: module_filter_fn=lambda mod,
# fqn: fqn != "output"); Megatron-Core's output layer is a plain ColumnParallelLinear outside Transformer Engine,
# which alone runs FP8; llm-foundry swaps only the blocks' fc_type "te" layers, its lm_head stays nn.Linear.
LOW_PRECISION_REGIONS = ("block",)
REGIONS = ("block", "pre", "post")


@dataclass(frozen=True, slots=True)
class StageCosts:
    """One micro-batch of one region (the blocks, or what runs before or after them), for one sharding."""

    fwd_s: float
    bwd_s: float
    attention_fwd_s: float  # what selective recompute repeats (full recompute repeats fwd_s)
    bytes: float


def pipeline_ends(pre: float, post: float, pp: int) -> float:
    """What the busiest stage carries of the regions before and after the blocks: with a pipeline they sit on
    different stages (the first and the last), so the busier of the two; without one, both."""
    return max(pre, post) if pp > 1 else pre + post


def recompute_s(recompute: str, block: StageCosts, stage: float) -> float:
    """What activation recompute repeats in backward: the attention core (selective) or the whole forward
    of the blocks (full); the ends before and after the blocks are never recomputed."""
    if recompute == "full":
        return block.fwd_s * stage
    if recompute == "selective":
        return block.attention_fwd_s * stage
    return 0.0


def stage_share(profile: WorkloadProfile, plan: ParallelPlan) -> float:
    """Fraction of the blocks on the busiest pipeline stage: ceil(L / (pp x vp)) x vp of L, as frameworks
    that allow uneven stages (torchtitan) place them; equal to 1/pp when pp x vp divides L."""
    layers = profile.layers
    if not layers or plan.pp == 1:
        return 1.0
    return math.ceil(layers / (plan.pp * plan.vp)) * plan.vp / layers


def peaks(device: DeviceModel, precision: str) -> dict[str, float]:
    """Achievable FLOP/s per op family at a precision."""
    return {
        "matrix": device.peak(precision) * device.matmul_fraction_at(precision),
        # Attention stays in bf16 under fp8/fp4 recipes; an fp32 run does it in fp32.
        "attention": device.peak("fp32" if precision == "fp32" else "bf16") * device.attention_fraction,
        "conv": device.peak(precision) * device.conv_fraction,
        "vector": device.peak("fp32") or device.peak("bf16"),
    }


def recipe_casts(precision: str, fp8_recipe: str | None = None) -> CastCosts | None:
    """The cast costs a run at `precision` pays: its stack's FP8 recipe (default: the default stack's), the
    block-scaled 4-bit recipe for fp4, none at higher precisions."""
    if precision == "fp8":
        return cast_costs(fp8_recipe or load_stack(DEFAULT_STACK).fp8_recipe)
    if precision == "fp4":
        return cast_costs(FP4_RECIPE)
    return None


def cast_seconds(casts: CastCosts, phase: str, nbytes: float, token_bytes: float, device: DeviceModel) -> float:
    """What one low-precision matmul's casts take, from its own traffic: in forward it reads the input x (about
    half of its bytes over tokens; the output is the rest) and the weight (its bytes not over tokens); a
    backward matmul is one of a linear's two (data and weight gradient), which between them read dy, x and W
    once each, about a quarter of their bytes over tokens for each of dy and x and half the rest for W."""
    weight_bytes = max(0.0, nbytes - token_bytes)
    if phase == "fwd":
        moved = casts.input_fwd * token_bytes / 2 + casts.weight_fwd * weight_bytes
        kernels = casts.kernels_fwd
    else:
        moved = (casts.input_bwd + casts.grad_output_bwd) * token_bytes / 4 + casts.weight_bwd * weight_bytes / 2
        kernels = casts.kernels_bwd / 2
    return moved / device.near.bytes_per_s + kernels * device.kernel_overhead_s


def cast_kernels(casts: CastCosts | None, c: OpClass) -> float:
    """Cast kernels the host launches beside one op of this class (a low-precision block matmul), each one more
    dispatch for the host to issue."""
    if casts is None or c.kind != "matmul" or c.region not in LOW_PRECISION_REGIONS:
        return 0.0
    return casts.kernels_fwd if c.phase == "fwd" else casts.kernels_bwd / 2


def class_seconds(
    device: DeviceModel,
    c: OpClass,
    tp: int,
    cp: float,
    sp: bool,
    precision: str,
    peak_of: dict[str, float],
    casts: CastCosts | None = None,
) -> tuple[float, float, float]:
    """(seconds, FLOPs, bytes) of every op of one class on one device, for one micro-batch; `cp` divides each
    sample's work (the busiest context-parallel rank's divisor); `casts`: the low-precision recipe's casts
    (recipe_casts), for a matmul of an fp8 or fp4 run."""
    if precision in LOW_PRECISIONS and c.region not in LOW_PRECISION_REGIONS:
        return class_seconds(device, c, tp, cp, sp, "bf16", peaks(device, "bf16"))
    bw = device.near.bytes_per_s
    share = 1.0 / cp
    if c.tp_rule == "tp" or sp:
        share /= tp
    flops, nbytes = c.flops * share, c.bytes * share
    ramp = 0.0
    if casts is None and precision in LOW_PRECISIONS:
        casts = recipe_casts(precision)
    if c.kind == "attention":
        peak, ramp = peak_of["attention"], device.matmul_ramp_s
    elif c.kind == "conv":
        peak, ramp = peak_of["conv"], device.conv_ramp_s
    elif c.kind == "matmul":
        peak, ramp = peak_of["matrix"], device.matmul_ramp_s
        if casts is not None and c.phase == "bwd" and casts.split_accumulation_bwd and precision == "fp8":
            peak *= device.split_accumulation_fraction  # backward's FP8 GEMMs promote partial sums to FP32
    elif c.kind == "embedding":
        peak = peak_of["matrix"]
    else:  # one FLOP per element: a measured per-element rate of its unit, where the device has one
        peak = device.vector_unit_per_s.get(c.unit) or peak_of["vector"]
    # The empirical fraction is what large matmuls reach; a matmul also pays a fixed fill-and-drain
    # time, so its achieved fraction grows with its size: F / (F + peak x fraction x ramp).
    compute = flops / peak + ramp if peak and flops else 0.0
    # A bulk-synchronous SRAM machine trades the op's operand blocks between its cores before computing.
    trade = exchange_s(device, flops, precision) if c.kind in MATRIX_OPS else 0.0
    t = (max(compute, nbytes / bw) + trade + device.kernel_overhead_s) * c.count
    if precision in LOW_PRECISIONS and c.kind == "matmul":
        # The recipe's casts of the bf16 operands (and, where it scales dynamically, their amax) by
        # memory-bound kernels beside each low-precision matmul.
        t += cast_seconds(casts, c.phase, nbytes, c.token_bytes * share, device) * c.count
    return t, flops * c.count, nbytes * c.count


def stage_costs(
    profile: WorkloadProfile,
    device: DeviceModel,
    tp: int,
    cp: int,
    sp: bool,
    precision: str,
    fp8_recipe: str | None = None,
) -> tuple[StageCosts, StageCosts, StageCosts]:
    """(block, pre, post) costs of one micro-batch; block covers every block (the engine scales it to a stage).
    With context parallelism, the busiest rank's: its share of each sample's tokens or images. `fp8_recipe`:
    the stack's (default: the default stack's)."""
    host_s, peak_of = device.host_overhead_s, peaks(device, precision)
    casts = recipe_casts(precision, fp8_recipe)
    cp = 1.0 / busiest_share(profile.split_units, cp)
    names = ("fwd", "bwd", "fwd_host", "bwd_host", "att_fwd", "bytes")
    acc = {r: dict.fromkeys(names, 0.0) for r in REGIONS}
    for c in profile.classes:
        t, _, nbytes = class_seconds(device, c, tp, cp, sp, precision, peak_of, casts)
        a = acc[c.region]
        a[c.phase] += t
        a[c.phase + "_host"] += host_s * c.count * (1 + cast_kernels(casts, c))
        a["bytes"] += nbytes
        if c.attention_core and c.phase == "fwd":
            a["att_fwd"] += t
    for (region, phase), n in profile.view_ops:
        acc[region][phase + "_host"] += host_s * n
    # The host issues ops while the device runs earlier ones: a pass takes the longer of the two.
    block, pre, post = (
        StageCosts(max(a["fwd"], a["fwd_host"]), max(a["bwd"], a["bwd_host"]), a["att_fwd"], a["bytes"])
        for a in (acc[r] for r in REGIONS)
    )
    return block, pre, post


def roofline(
    profile: WorkloadProfile, device: DeviceModel, plan: ParallelPlan, fp8_recipe: str | None = None
) -> dict[str, Any]:
    """The plan's ops on the device's roofline: per op kind and phase, FLOPs, bytes and modelled seconds on the
    busiest stage for one micro-batch, with the ceilings they sit under."""
    groups: dict[tuple[str, str], list[float]] = {}
    stage, peak_of = stage_share(profile, plan), peaks(device, plan.precision)
    casts = recipe_casts(plan.precision, fp8_recipe)
    cp = 1.0 / busiest_share(profile.split_units, plan.cp)
    for c in profile.classes:
        t, flops, nbytes = class_seconds(device, c, plan.tp, cp, plan.sequence_parallel, plan.precision, peak_of, casts)
        weight = stage if c.region == "block" else 1.0
        g = groups.setdefault((str(c.kind), str(c.phase)), [0.0, 0.0, 0.0])
        g[0] += t * weight
        g[1] += flops * weight
        g[2] += nbytes * weight
    total_s = sum(g[0] for g in groups.values()) or 1.0
    points = [
        {"kind": kind, "phase": phase, "seconds": s, "flops": f, "bytes": b, "time_share": s / total_s}
        for (kind, phase), (s, f, b) in sorted(groups.items())
    ]
    roofs = {
        "peak_flops_per_s": device.peak(plan.precision),
        "matrix_flops_per_s": peak_of["matrix"],
        "near_bytes_per_s": device.near.bytes_per_s,
        "near_name": device.near.name,
    }
    if device.far:
        roofs.update(far_bytes_per_s=device.far.bytes_per_s, far_name=device.far.name)
    return {"device": device.name, "roofs": roofs, "points": points}
