"""Each cost term of the engine on its own, against a hand computation; and the estimate as their sum."""

import dataclasses
import subprocess
import sys

import pytest

from dojosim.errors import InputError
from dojosim.hardware import load_system, size_system
from dojosim.parallel.placement import group_span
from dojosim.parallel.plan import ModelShape, ParallelPlan, validate_plan
from dojosim.perf import collectives as coll
from dojosim.perf import comm, compute
from dojosim.perf.energy import Facility, device_busy_fraction, energy_j, step_cost
from dojosim.perf.engine import Engine
from dojosim.perf.memory import far_resident, memory_use, tiers
from dojosim.perf.optimizer import optimizer_s
from dojosim.perf.profile import OpClass, build_profile
from dojosim.perf.result import Bottleneck, BottleneckKind, MemoryUse, TierUse
from dojosim.perf.schedule import bucket_tail_s
from dojosim.perf.streaming import far_traffic_bytes, stream_stall_s
from dojosim.report.bottleneck import sentence
from dojosim.stack import OverlapUnit, Reshard, TpOverlap, load_stack
from dojosim.workload.cache import get_graph

MODEL = "llama(layers=8,hidden=512,heads=8,kv_heads=4,ffn=1536,vocab=4096)"
SEQ = 512
LAYERS, HIDDEN = 8, 512
STREAM_BYTES = 1 * SEQ * HIDDEN * 2  # micro-batch x seq x hidden x bf16


@pytest.fixture(scope="module")
def profile():
    return build_profile(get_graph(MODEL, 1, SEQ))


# The default stack with tensor-parallel collectives that wait for their GEMMs: each overlap is tested on its own.
WAITED_TP = dataclasses.replace(load_stack(), tp_overlap=TpOverlap.NONE)


def engine(profile, system="dgx-h100", devices=64, stack=WAITED_TP):
    return Engine(profile, size_system(load_system(system), devices), stack)


def plan(devices=64, **kw):
    base = dict(devices=devices, global_batch=64, micro_batch=1, seq=SEQ)
    base.update(kw)
    return ParallelPlan(**base)


def test_a_matmul_class_costs_its_roofline_time_plus_ramp_and_launch(profile):
    eng = engine(profile, devices=8)
    dev = eng.device
    mm = OpClass("fwd", "block", "matmul", "tp", False, "", "bf16", 8e12, 4e9, 5)
    peaks = compute.peaks(dev, "bf16")
    assert peaks["matrix"] == dev.peak("bf16") * dev.matmul_fraction
    t, flops, nbytes = compute.class_seconds(dev, mm, 2, 1, False, "bf16", peaks)  # tp 2 halves each matmul
    one = max(4e12 / peaks["matrix"] + dev.matmul_ramp_s, 2e9 / dev.near.bytes_per_s) + dev.kernel_overhead_s
    assert t == pytest.approx(5 * one) and flops == 5 * 4e12 and nbytes == 5 * 2e9
    # fp8: the same matmul at the fp8 peak, plus its recipe's casts. Of each op's 2e9 bytes 1.5e9 are over tokens
    # (input and output: the input is half) and 0.5e9 are the weight.
    mm = dataclasses.replace(mm, over_tokens=True, token_bytes=3e9)
    fp8_matrix = dev.peak("fp8") * dev.matmul_fraction_at("fp8")  # its own measured share, where the preset has one
    one8 = max(4e12 / fp8_matrix + dev.matmul_ramp_s, 2e9 / dev.near.bytes_per_s) + dev.kernel_overhead_s
    bw, launch = dev.near.bytes_per_s, dev.kernel_overhead_s
    expected = {
        # delayed: one cast-transpose of the input (2.0 per bf16 byte), the weight cast once per step
        "delayed": 2.0 * 0.75e9 / bw + launch,
        # tensorwise: amax + cast of the input (3.0), amax + cast of the weight (2.5), four kernels
        "tensorwise": (3.0 * 0.75e9 + 2.5 * 0.5e9) / bw + 4 * launch,
    }
    for recipe, cast in expected.items():
        casts = compute.recipe_casts("fp8", recipe)
        t8, _, _ = compute.class_seconds(dev, mm, 2, 1, False, "fp8", compute.peaks(dev, "fp8"), casts)
        assert t8 == pytest.approx(5 * (one8 + cast)), recipe


def test_a_pass_takes_the_longer_of_device_time_and_host_dispatch(profile):
    eng = engine(profile, devices=8)
    block, pre, post = eng.stage_costs(1, 1, False, "bf16")
    peaks = compute.peaks(eng.device, "bf16")
    device_s = sum(
        compute.class_seconds(eng.device, c, 1, 1, False, "bf16", peaks)[0]
        for c in profile.classes
        if c.region == "block" and c.phase == "bwd"
    )
    ops = sum(c.count for c in profile.classes if c.region == "block" and c.phase == "bwd")
    views = sum(n for (region, phase), n in profile.view_ops if (region, phase) == ("block", "bwd"))
    assert block.bwd_s == pytest.approx(max(device_s, (ops + views) * eng.device.host_overhead_s))
    assert eng.stage_costs(1, 1, False, "bf16") is eng.stage_costs(1, 1, False, "bf16")  # cached per sharding


def test_the_context_adds_the_stage_share_of_the_blocks_to_the_ends(profile):
    eng = engine(profile)
    block, pre, post = eng.stage_costs(1, 1, False, "bf16")
    one = eng.context(plan(recompute="selective"))
    assert one.fwd_s == pytest.approx(block.fwd_s + pre.fwd_s + post.fwd_s)
    assert one.recompute_s == pytest.approx(block.attention_fwd_s)
    assert one.compute_s == pytest.approx(one.fwd_s + one.bwd_s + one.recompute_s)
    piped = eng.context(plan(pp=4, recompute="full"))  # 2 of 8 blocks; the busier end
    assert piped.stage == 0.25
    assert piped.bwd_s == pytest.approx(block.bwd_s / 4 + max(pre.bwd_s, post.bwd_s))
    assert piped.recompute_s == pytest.approx(block.fwd_s / 4)
    assert eng.context(plan()).recompute_s == 0.0
    assert compute.pipeline_ends(1.0, 3.0, 1) == 4.0 and compute.pipeline_ends(1.0, 3.0, 2) == 3.0


@pytest.mark.parametrize("recompute, passes", [("none", 2), ("full", 3)])
def test_tp_comm_is_two_all_reduces_per_block_per_pass_plus_two(profile, recompute, passes):
    eng = engine(profile, devices=8)
    p = plan(devices=8, global_batch=8, tp=8, recompute=recompute)  # 8 micro-batches
    seconds, (c,) = comm.tp_comm(eng.context(p))
    one = coll.all_reduce_s(STREAM_BYTES, group_span(eng.sized, p, "tp"), eng.links)
    assert seconds == pytest.approx(passes * LAYERS * 2 * one + 2 * one)
    assert (c.group, c.op, c.bytes, c.group_size) == ("tp", "all_reduce", STREAM_BYTES, 8)
    assert c.count_per_step == 8 * (passes * LAYERS * 2 + 2) and c.seconds_each == pytest.approx(one)
    assert comm.tp_comm(eng.context(p.with_(tp=1, devices=1, global_batch=1))) == (0.0, ())


def test_async_tp_hides_backward_all_reduces_up_to_a_quarter_of_backward(profile):
    eng = engine(profile, devices=8)
    p = plan(devices=8, global_batch=1, tp=8)
    waited, _ = comm.tp_comm(eng.context(p))
    ctx = eng.context(p)._replace(stack=dataclasses.replace(WAITED_TP, tp_overlap=TpOverlap.WGRAD))
    overlapped, _ = comm.tp_comm(ctx)
    one = coll.all_reduce_s(STREAM_BYTES, group_span(eng.sized, p, "tp"), eng.links)
    assert overlapped == pytest.approx(waited - min(LAYERS * 2 * one, 0.25 * ctx.bwd_s))
    backward_tp = LAYERS * 2 * one
    short_bwd, _ = comm.tp_comm(ctx._replace(bwd_s=2 * backward_tp))  # a quarter of it hides half of them
    assert short_bwd == pytest.approx(waited - 0.5 * backward_tp)


@pytest.mark.parametrize("recompute, forward_passes", [("none", 1), ("full", 2)])
def test_pipelined_tp_hides_half_of_each_forward_pass_ideal_and_nothing_in_backward(profile, recompute, forward_passes):
    eng = engine(profile, devices=8)
    p = plan(devices=8, global_batch=1, tp=8, recompute=recompute)
    waited, _ = comm.tp_comm(eng.context(p))
    ctx = eng.context(p)._replace(stack=dataclasses.replace(WAITED_TP, tp_overlap=TpOverlap.PIPELINED))
    pipelined, _ = comm.tp_comm(ctx)
    one = coll.all_reduce_s(STREAM_BYTES, group_span(eng.sized, p, "tp"), eng.links)
    per_pass = LAYERS * 2 * one
    gemm_fwd = ctx.block.fwd_s - ctx.block.attention_fwd_s  # one stage: every block
    ideal = min(per_pass * 7 / 8, gemm_fwd)
    assert pipelined == pytest.approx(waited - forward_passes * 0.5 * ideal)
    # A GEMM shorter than the collectives bounds what hides.
    short = ctx._replace(block=ctx.block.__class__(per_pass / 10, ctx.block.bwd_s, 0.0, ctx.block.bytes))
    assert comm.tp_comm(short)[0] == pytest.approx(waited - forward_passes * 0.5 * per_pass / 10)


def test_cp_comm_is_the_k_v_exchange_compute_does_not_hide(profile):
    eng = engine(profile)
    p = plan(tp=2, cp=2)
    ctx = eng.context(p)
    one = coll.all_gather_s(profile.attention_kv_bytes / 2, group_span(eng.sized, p, "cp"), eng.links)
    seconds, (c,) = comm.cp_comm(ctx)
    assert seconds == pytest.approx(max(0.0, 3 * one - 0.8 * (ctx.fwd_s + ctx.bwd_s)))
    exposed, _ = comm.cp_comm(ctx._replace(fwd_s=0.0, bwd_s=0.0))
    assert exposed == pytest.approx(3 * one) and c.count_per_step == 3 * ctx.m
    assert comm.cp_comm(eng.context(plan())) == (0.0, ())


def test_ep_comm_is_four_all_to_alls_of_top_k_copies_per_block(profile):
    moe = dataclasses.replace(profile, experts=4, top_k=2)
    eng = engine(moe)
    p = plan(tp=2, ep=4)
    ctx = eng.context(p)
    dispatched = STREAM_BYTES * 2 / 2  # top_k copies, split over tp
    one = coll.all_to_all_s(dispatched, group_span(eng.sized, p, "ep"), eng.links)
    seconds, (c,) = comm.ep_comm(ctx)
    assert seconds == pytest.approx(4 * LAYERS * one)
    assert c.bytes == dispatched and c.group_size == 4 and c.count_per_step == ctx.m * 4 * LAYERS
    assert comm.ep_comm(engine(profile).context(p)) == (0.0, ())  # a dense model inserts none


def test_pp_comm_sends_the_stream_both_ways_across_each_stage_boundary(profile):
    eng = engine(profile)
    p = plan(tp=2, pp=4, vp=2, sequence_parallel=True)
    ctx = eng.context(p)
    act = STREAM_BYTES / 2  # sequence parallelism splits the stream over tp
    one = coll.p2p_s(act, group_span(eng.sized, p, "pp", size=2), eng.links)
    seconds, (c,) = comm.pp_comm(ctx)
    assert seconds == pytest.approx(2 * 3 * 2 * one)
    assert c.bytes == act and c.count_per_step == 2 * ctx.m * 2


def test_pipeline_bubble_is_pp_minus_one_over_vp_micro_batches():
    assert comm.pipeline_bubble(4, 1, 0.5) == pytest.approx(1.5)
    assert comm.pipeline_bubble(4, 2, 0.5) == pytest.approx(0.75)
    assert comm.pipeline_bubble(1, 1, 0.5) == 0.0


@pytest.mark.parametrize("zero, scatters, gathers", [(1, 1, 1), (2, 8, 1), (3, 8, 16)])
def test_dp_comm_reduces_gradients_and_zero_gathers_weights(profile, zero, scatters, gathers):
    eng = engine(profile)
    p = plan(tp=8, zero=zero)  # dp 8, 8 micro-batches
    params = eng.memory(p).params_per_device
    span = group_span(eng.sized, p, "dp")
    seconds, colls = comm.dp_comm(eng.context(p), params)
    scatter = coll.reduce_scatter_s(params * 4, span, eng.links)
    gather = coll.all_gather_s(params * 2, span, eng.links)
    assert seconds == pytest.approx(scatters * scatter + gathers * gather)
    assert [(c.op, c.count_per_step) for c in colls] == [
        ("reduce_scatter (gradients)", scatters),
        ("all_gather (weights)", gathers),
    ]
    plain = p.with_(zero=0)
    seconds, (c,) = comm.dp_comm(eng.context(plain), params)
    assert seconds == pytest.approx(coll.all_reduce_s(params * 4, span, eng.links)) and c.bytes == params * 4


def test_context_parallel_ranks_also_reduce_gradients(profile):
    eng = engine(profile)
    p = plan(tp=4, cp=2)
    params = eng.memory(p).params_per_device
    seconds, colls = comm.dp_comm(eng.context(p), params)
    assert [c.group for c in colls] == ["dp", "cp"]
    expected = sum(coll.all_reduce_s(params * 4, group_span(eng.sized, p, k), eng.links) for k in ("dp", "cp"))
    assert seconds == pytest.approx(expected)


def test_weight_gathers_hide_under_the_next_forward_only_where_the_stack_overlaps_them(profile):
    eng = engine(profile)
    ctx = eng.context(plan(zero=1))
    n = LAYERS  # one bucket per block
    reduce_s, gather_s = 10 * ctx.bwd_s, 10 * ctx.fwd_s
    total = reduce_s + gather_s
    expected = (reduce_s - ctx.bwd_s * (n - 1) / n) + (gather_s - ctx.fwd_s * (n - 1) / n)
    assert comm.dp_exposed(ctx, total, gather_s, n) == pytest.approx(expected)
    waits = ctx._replace(stack=dataclasses.replace(WAITED_TP, overlap_param_gather=False))
    assert comm.dp_exposed(waits, total, gather_s, n) == pytest.approx(reduce_s - ctx.bwd_s * (n - 1) / n + gather_s)
    # Backward's spare time never hides the gather: the weights are not updated yet.
    small = 0.1 * ctx.bwd_s
    assert comm.dp_exposed(waits, small + gather_s, gather_s, n) == pytest.approx(small / n + gather_s)
    # The engine passes the gathers it inserted, and one bucket per block.
    params = eng.memory(plan(zero=1)).params_per_device
    _, colls = comm.dp_comm(ctx, params)
    gather = next(c for c in colls if c.op == "all_gather (weights)")
    assert gather.seconds_each > 0
    assert comm.gather_seconds(colls) == pytest.approx(gather.count_per_step * gather.seconds_each)
    assert comm.gradient_buckets(ctx, params) == LAYERS


def test_dp_exposed_is_the_tail_after_the_last_backward_bucket(profile):
    eng = engine(profile)
    ctx = eng.context(plan())
    n = LAYERS
    big, small = 10 * ctx.bwd_s, 0.1 * ctx.bwd_s
    assert comm.dp_exposed(ctx, big, 0.0, n) == pytest.approx(big - ctx.bwd_s * (n - 1) / n)
    # A link that keeps up shows only the last block's bucket, reduced after the backward ends.
    assert comm.dp_exposed(ctx, small, 0.0, n) == pytest.approx(small / n)
    after = ctx._replace(stack=dataclasses.replace(WAITED_TP, overlap_grad_reduce=False))
    assert comm.dp_exposed(after, small, 0.0, n) == small
    zero3 = eng.context(plan(zero=3, global_batch=128))  # two micro-batches: gathers run under all compute
    busy = zero3.compute_s
    per_micro_batch = 10 * busy / 2
    assert comm.dp_exposed(zero3, 10 * busy, 0.0, n) == pytest.approx(2 * (per_micro_batch - busy * (n - 1) / n))


def test_interleaved_overlap_hides_all_but_the_last_virtual_stages_reduction_and_first_gather(profile):
    """With 2 virtual stages on each of 4 stages, the second virtual stage's gradients leave 4 backward chunks
    before the stage's end: a link that keeps up shows only the last bucket of the first virtual stage. The
    weights' gathers are still charged under the first micro-batch's forward (see comm.dp_exposed). A stack that
    moves whole chunks (MegaScale) has one bucket per virtual stage."""
    eng = engine(profile)
    ctx = eng.context(plan(pp=4, vp=2, zero=1))
    n = comm.gradient_buckets(ctx, 1e6)
    assert n == 2  # 8 blocks over 4 stages
    small = 0.1 * ctx.bwd_s
    assert comm.dp_exposed(ctx, small, 0.0, n) == pytest.approx(small / n)
    gather = 0.1 * ctx.fwd_s
    assert comm.dp_exposed(ctx, small + gather, gather, n) == pytest.approx(
        small / n + bucket_tail_s(gather, ctx.fwd_s, n)
    )
    chunks = ctx._replace(stack=dataclasses.replace(ctx.stack, dp_overlap_unit=OverlapUnit.CHUNK))
    assert comm.gradient_buckets(chunks, 1e6) == 2  # one per virtual stage
    # A reduction longer than the drain shows what the drain cannot hold: the second virtual stage's half starts
    # 4 chunks (of bwd_s / 2) before the end, the first's at the end.
    big = 10 * ctx.bwd_s
    assert comm.dp_exposed(ctx, big, 0.0, n) == pytest.approx(big - 4 * ctx.bwd_s / 2)


def test_memory_is_state_per_parameter_sharded_by_tp_and_zero(profile):
    p = plan(tp=2, zero=3)
    mem = memory_use(profile, p, 1.0)
    params = (profile.block_params + profile.pre_params + profile.post_params) / 2
    assert mem.params_per_device == pytest.approx(params)
    assert mem.weights == pytest.approx(params * 2 / 32)
    assert mem.gradients == pytest.approx(params * 4 / 32) and mem.optimizer == pytest.approx(params * 12 / 32)
    assert mem.total == pytest.approx(mem.weights + mem.gradients + mem.optimizer + mem.activations + mem.buffers)
    full = memory_use(profile, plan(recompute="full"), 1.0)
    ends = sum(b for _, b in profile.activation_pre) + sum(b for _, b in profile.activation_post)
    assert full.activations == pytest.approx(LAYERS * STREAM_BYTES + ends)  # each block's input, plus the ends
    assert set(mem.as_dict()) == {"weights", "gradients", "optimizer", "activations", "buffers", "total"}


def test_tiers_fill_near_memory_first(profile):
    dojo = engine(profile, system="dojo-v1", devices=150).device
    near, far = tiers(dojo, dojo.near.bytes + 1e9)
    assert near == TierUse("SRAM", dojo.near.bytes, dojo.near.bytes_per_s, dojo.near.bytes)
    assert far.name == "edge HBM" and far.used == pytest.approx(1e9)
    (hbm,) = tiers(engine(profile).device, 1e9)
    assert hbm.name == "HBM" and hbm.used == 1e9


def test_streaming_stall_is_far_traffic_over_far_bandwidth_beyond_compute(profile):
    eng = engine(profile, system="dojo-v1", devices=150)
    ctx = eng.context(plan(devices=150, global_batch=150))
    near = eng.device.near.bytes
    mem = MemoryUse(weights=2e9, gradients=1e9, optimizer=3e9, activations=near, buffers=1e8, params_per_device=1e9)
    far = far_resident(mem, eng.device)  # buffers and part of the activations stay near
    assert far["buffers"] == 0 and far["activations"] == pytest.approx(1e8) and far["weights"] == 2e9
    traffic = 2 * 2e9 + 2 * 1e8 + 2 * 1e9  # weights read twice, activations and gradients written and read
    assert far_traffic_bytes(ctx, mem, far) == pytest.approx(traffic)
    dev = eng.device
    far_bw = dev.far.bytes_per_s
    assert stream_stall_s(ctx, mem, far, dev) == pytest.approx(max(0.0, traffic / far_bw - ctx.compute_s))
    assert stream_stall_s(ctx, mem, far, dev) > 0
    assert stream_stall_s(ctx._replace(compute_s=1e6), mem, far, dev) == 0.0
    gpu = engine(profile).device  # no far memory: nothing streams
    assert stream_stall_s(ctx, mem, dict.fromkeys(far, 0.0), gpu) == 0.0


def test_a_device_with_sram_and_hbm_keeps_both_tiers_and_streams_the_fastest_first(profile):
    """Dojo 3 (projected) has SRAM, on-package HBM and interface-card HBM: ops work in SRAM, state beyond it
    fills the HBM first and the edge memory last, each carrying the traffic of what it holds."""
    dev = engine(profile, system="dojo-3-projected", devices=240).device
    assert dev.near.name == "SRAM" and [t.name for t in dev.far_tiers] == ["HBM", "edge HBM"]
    hbm, edge = dev.far_tiers
    assert dev.capacity_bytes == pytest.approx(dev.near.bytes + hbm.bytes + edge.bytes)
    assert hbm.bytes_per_s > edge.bytes_per_s
    assert dev.far_seconds(10e9, hbm.bytes / 2) == pytest.approx(10e9 / hbm.bytes_per_s)
    resident = hbm.bytes + 10e9
    expected = 40e9 * hbm.bytes / resident / hbm.bytes_per_s + 40e9 * 10e9 / resident / edge.bytes_per_s
    assert dev.far_seconds(40e9, resident) == pytest.approx(expected)
    used = [t.used for t in tiers(dev, dev.near.bytes + hbm.bytes + 1e9)]
    assert used == pytest.approx([dev.near.bytes, hbm.bytes, 1e9])


def test_fused_optimizer_moves_30_bytes_per_owned_parameter(profile):
    eng = engine(profile)
    for zero, owned in ((0, 1), (1, 64)):
        p = plan(zero=zero)
        mem = eng.memory(p)
        seconds = optimizer_s(profile, eng.device, p, mem, eng.far_resident(mem), fused=True)
        assert seconds == pytest.approx(mem.params_per_device / owned * 30 / eng.device.near.bytes_per_s)


def test_far_optimizer_state_updates_at_far_bandwidth(profile):
    eng = engine(profile, system="dojo-v1", devices=150)
    p = plan(devices=150, global_batch=150)
    mem = MemoryUse(weights=0, gradients=0, optimizer=1e9, activations=0, buffers=0, params_per_device=1e8)
    far = {"optimizer": 0.25e9, "total": 0.25e9}
    traffic = 1e8 * 30
    expected = traffic * 0.75 / eng.device.near.bytes_per_s + traffic * 0.25 / eng.device.far.bytes_per_s
    assert optimizer_s(profile, eng.device, p, mem, far, fused=True) == pytest.approx(expected)


def test_energy_is_device_power_by_busy_share_plus_overhead_times_pue(profile):
    eng = engine(profile)
    dev, facility = eng.device, Facility.of(eng.sized)
    assert facility.overhead_power_w == 8 * 4600 and facility.pue == 1.3  # eight DGX nodes' own power
    assert device_busy_fraction(1.0, 4.0) == 0.25 and device_busy_fraction(5.0, 4.0) == 1.0
    assert device_busy_fraction(1.0, 0.0) == 0.0
    expected = (64 * (dev.idle_w + (dev.tdp_w - dev.idle_w) * 0.25) + 8 * 4600) * 2.0 * 1.3
    assert energy_j(dev, 64, 0.25, 2.0, facility) == pytest.approx(expected)


def test_cost_is_rental_or_equipment_over_lifetime_plus_operations_plus_electricity(profile):
    gpu = Facility.of(engine(profile).sized).pricing
    rented = step_cost(gpu, 7200.0, 64, 3.6e6)
    assert rented.rental_usd == pytest.approx(2.5 * 64 * 2)
    # DGX H100: $40,000 per GPU plus $5,000 of fabric, over 4 years, plus 5% of it a year for operations
    gpu_hour = 45000 / (4 * 8766) + 45000 * 0.05 / 8766
    assert rented.owned_usd == pytest.approx(gpu_hour * 64 * 2 + 1 * 0.08)
    assert rented.basis == "owned" and rented.usd == rented.owned_usd  # a cost objective counts what is owned
    dojo = Facility.of(engine(profile, system="dojo-v1", devices=150).sized).pricing
    owned = step_cost(dojo, 7200.0, 10, 7.2e6)
    assert owned.rental_usd is None and owned.basis == "owned"
    # a D1 ($7,960) with its share of DIP cards (20 x $3,000), host interface ($150,000) and Z-plane ports
    # ($30,000) per 150-D1 tray, operations on that equipment, and $500M of NRE over 30,000 D1
    equipment = 7960 + (20 * 3000 + 150000 + 30000) / 150
    d1_hour = (equipment + 5e8 / 30000) / (4 * 8766) + equipment * 0.05 / 8766
    assert owned.usd == owned.owned_usd == pytest.approx(d1_hour * 10 * 2 + 2 * 0.08)


def test_cost_parts_are_counted_from_the_hierarchy_and_checked(tmp_path):
    from dojosim.errors import InputError
    from dojosim.hardware import load_system

    dojo = load_system("dojo-v1")
    shares = {p.per: p.units_per_device for p in dojo.cost.parts}
    assert shares == {"memory:dip": pytest.approx(20 / 150), "tray": pytest.approx(1 / 150)}
    cheaper_nre = load_system("dojo-v1", ["cost.nre_devices=276000"]).cost
    assert cheaper_nre.nre_usd_per_device == pytest.approx(5e8 / 276000)
    with pytest.raises(InputError, match="cost parts are set in a system file"):
        load_system("dojo-v1", ["cost.parts=1"])
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "dojo-v1"\nname = "x"\n[[cost.parts]]\nname = "racks"\nper = "rack"\nusd_each = 1\n')
    with pytest.raises(InputError, match=r"cost.parts\[0\].per: unknown unit 'rack'.*allowed: .*memory:dip"):
        load_system(str(bad))


def test_the_estimate_is_the_sum_of_its_terms(profile):
    eng = engine(profile)
    p = plan(tp=2, pp=2, cp=2, zero=1, recompute="selective", global_batch=128)
    e, ctx = eng.estimate(p), eng.context(p)
    m = ctx.m
    tp, _ = comm.tp_comm(ctx)
    cp, _ = comm.cp_comm(ctx)
    t_mb = ctx.compute_s + tp + cp
    dp, _ = comm.dp_comm(ctx, e.memory.params_per_device)
    assert e.micro_batch_time_s == pytest.approx(t_mb)
    assert e.breakdown_s["tp_comm"] == pytest.approx(m * tp) and e.breakdown_s["bubble"] == pytest.approx(t_mb)
    dp, colls = comm.dp_comm(ctx, e.memory.params_per_device)
    buckets = comm.gradient_buckets(ctx, e.memory.params_per_device)
    assert e.breakdown_s["dp_comm"] == pytest.approx(comm.dp_exposed(ctx, dp, comm.gather_seconds(colls), buckets))
    assert e.breakdown_s["recompute"] == pytest.approx(m * ctx.recompute_s)
    assert e.step_time_s == pytest.approx(sum(e.breakdown_s.values()))
    assert [c.group for c in e.collectives] == ["tp", "cp", "pp", "dp", "dp", "cp", "cp"]
    assert e.cost == step_cost(Facility.of(eng.sized).pricing, e.step_time_s, 64, e.energy_j)


def test_the_estimate_document_keeps_its_shape(profile):
    doc = engine(profile).estimate(plan(tp=2)).as_dict()
    keys = (
        "step_time_s breakdown_s mfu hfu throughput memory_bytes_per_device memory_tiers fits energy_j "
        "cost_owned_usd cost_rental_usd bottleneck plan details"
    )
    assert list(doc) == keys.split()
    details = "params_per_device device_busy_fraction micro_batch_time_s model_flops_per_step collectives"
    assert list(doc["details"]) == details.split()
    assert set(doc["bottleneck"]) == {"kind", "part", "share"} and doc["plan"]["recompute"] == "none"
    assert doc["details"]["collectives"][0]["members_per_level"] == [2, 1]
    assert set(doc["memory_tiers"][0]) == {"name", "bytes", "bytes_per_s", "used"}


def test_the_bottleneck_is_the_largest_part_classified():
    parts = {"compute_fwd": 1.0, "compute_bwd": 2.0, "dp_comm": 0.5, "memory_stream": 0.0}
    assert Bottleneck.of(parts, 4.0, True, 0.4, False) == Bottleneck(BottleneckKind.COMPUTE, "compute_bwd", 0.5)
    assert Bottleneck.of(parts, 4.0, True, 0.05, False).kind == BottleneckKind.OVERHEAD
    assert Bottleneck.of(parts, 4.0, False, 0.4, False).kind == BottleneckKind.DOES_NOT_FIT
    assert Bottleneck.of({**parts, "dp_comm": 3.0}, 4.0, True, 0.4, False).kind == BottleneckKind.OTHER
    streaming = {**parts, "memory_stream": 3.0}
    expected = Bottleneck(BottleneckKind.MEMORY_STREAM, "memory_stream", 0.75)
    assert Bottleneck.of(streaming, 4.0, True, 0.4, True) == expected
    assert Bottleneck.of(streaming, 4.0, True, 0.4, False).kind == BottleneckKind.OTHER  # no far tier


def _estimate(profile, **changes):
    base = engine(profile).estimate(plan(tp=2))
    return dataclasses.replace(base, **changes)


def test_sentence_for_a_plan_that_does_not_fit(profile):
    e = _estimate(
        profile,
        memory=MemoryUse(weights=60e9, gradients=30e9, optimizer=0, activations=10e9, buffers=0, params_per_device=1),
        fits=False,
        bottleneck=Bottleneck(BottleneckKind.DOES_NOT_FIT, "compute_bwd", 0.5),
    )
    hbm = e.tiers[0].bytes / 1e9
    assert sentence(e) == f"does not fit: needs 100.0 GB per device, the device has {hbm:.1f} GB (HBM)"


def test_sentence_for_a_step_that_streams_from_far_memory(profile):
    e = _estimate(
        profile,
        memory=MemoryUse(weights=1e9, gradients=1e9, optimizer=2.5e9, activations=0, buffers=0, params_per_device=1),
        tiers=(TierUse("SRAM", 442e6, 1e13, 442e6), TierUse("edge HBM", 4.27e9, 80e9, 4e9)),
        bottleneck=Bottleneck(BottleneckKind.MEMORY_STREAM, "memory_stream", 0.44),
    )
    assert sentence(e) == (
        "the working set (4.50 GB per device) does not fit in 442 MB of SRAM: streaming from edge HBM at 80 GB/s "
        "per device takes 44% of the step"
    )
    assert e.capacity_bytes == pytest.approx(442e6 + 4.27e9)
    assert "(SRAM + edge HBM)" in sentence(
        dataclasses.replace(e, fits=False, bottleneck=Bottleneck(BottleneckKind.DOES_NOT_FIT, "memory_stream", 0.4))
    )


def test_sentences_for_compute_overhead_and_other_parts(profile):
    e = _estimate(profile, mfu=0.42, bottleneck=Bottleneck(BottleneckKind.COMPUTE, "compute_bwd", 0.5))
    assert sentence(e) == "compute-bound: backward compute is 50% of the step at 42% MFU"
    e = _estimate(profile, mfu=0.03, bottleneck=Bottleneck(BottleneckKind.OVERHEAD, "compute_fwd", 0.3))
    # without counterfactuals the sentence names no cause: a slow part may be bandwidth- or overhead-limited
    assert sentence(e) == "low-MFU compute: forward compute is 30% of the step at only 3% MFU"
    e = _estimate(profile, bottleneck=Bottleneck(BottleneckKind.OTHER, "dp_comm", 0.6))
    assert sentence(e) == "exposed data-parallel gradient reduction takes 60% of the step"


def test_a_model_with_experts_must_say_how_many_each_token_uses(profile):
    graph = profile.graph
    without = dataclasses.replace(graph, meta={**graph.meta, "experts": 4})
    with pytest.raises(InputError, match="4 experts but no top_k"):
        build_profile(without)
    assert build_profile(dataclasses.replace(graph, meta={**graph.meta, "experts": 4, "top_k": 2})).top_k == 2


def test_importing_the_engine_does_not_import_torch():
    code = "import sys, dojosim.perf, dojosim.report.bottleneck; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_stack_that_keeps_zero3_weights_gathered_when_pipelined_holds_them_and_gathers_once(profile):
    keeps = dataclasses.replace(WAITED_TP, reshard_after_forward=Reshard.UNLESS_PIPELINED)
    frees = dataclasses.replace(WAITED_TP, reshard_after_forward=Reshard.ALWAYS)
    p = plan(zero=3, pp=2, global_batch=256)  # dp 32: eight micro-batches
    held, freed = engine(profile, stack=keeps), engine(profile, stack=frees)
    assert held.memory(p).weights == pytest.approx(freed.memory(p).weights * p.replicas)
    gathers = {
        name: next(c for c in comm.dp_comm(e.context(p), 1e9)[1] if c.op == "all_gather (weights)").count_per_step
        for name, e in (("held", held), ("freed", freed))
    }
    assert gathers == {"held": 8, "freed": 16}
    # Without a pipeline the same stack frees them, as FSDP does.
    q = plan(zero=3, global_batch=256)
    assert held.memory(q).weights == pytest.approx(freed.memory(q).weights)
    assert load_stack("torchtitan-compile-2024").keeps_gathered(2) and not load_stack().keeps_gathered(2)


def test_an_nvls_all_reduce_on_one_nvlink_domain_moves_the_data_once_each_way():
    """DGX H100's NVSwitch reduces in the network: an all-reduce over the 8 GPUs of a node takes the data over
    the link once at the measured NVLS share, plus two switch crossings; an A100 node has no NVLS and runs a
    ring; reduce-scatter and all-gather stay rings."""
    sized = size_system(load_system("dgx-h100"), 8)
    links = coll.level_links(sized)
    span = group_span(sized, ParallelPlan(8, 8, tp=8), "tp")
    node = sized.levels[0].level
    nvls_bw = 450e9 * node.in_network_all_reduce_fraction_of_link.value
    latency = node.link_latency_s.value
    nbytes = 256e6
    assert coll.all_reduce_s(nbytes, span, links) == pytest.approx(nbytes / nvls_bw + 2 * latency)
    ring_bw = 450e9 * node.collective_empirical_fraction_of_link.value
    assert coll.reduce_scatter_s(nbytes, span, links) == pytest.approx(7 / 8 * nbytes / ring_bw + 7 * latency)
    a100 = size_system(load_system("dgx-a100"), 8)
    a100_span = group_span(a100, ParallelPlan(8, 8, tp=8), "tp")
    a100_node = a100.levels[0].level
    ring = 2 * 7 / 8 * nbytes / (300e9 * a100_node.collective_empirical_fraction_of_link.value)
    expected = ring + 2 * 7 * a100_node.link_latency_s.value
    assert coll.all_reduce_s(nbytes, a100_span, coll.level_links(a100)) == pytest.approx(expected)


def test_sequence_parallel_tp_runs_a_reduce_scatter_and_an_all_gather(profile):
    eng = engine(profile, devices=8)
    p = plan(devices=8, global_batch=8, tp=8, sequence_parallel=True)
    seconds, (c,) = comm.tp_comm(eng.context(p))
    span = group_span(eng.sized, p, "tp")
    one = coll.reduce_scatter_s(STREAM_BYTES, span, eng.links) + coll.all_gather_s(STREAM_BYTES, span, eng.links)
    assert c.op == "reduce_scatter + all_gather" and c.seconds_each == pytest.approx(one)
    gather = coll.all_gather_s(STREAM_BYTES, span, eng.links)
    # Per block: forward 2 all-gathers + 2 reduce-scatters; backward the same and, as Megatron keeps the
    # column-parallel inputs sharded, their 2 all-gathers again; plus one pair at each end.
    assert seconds == pytest.approx(LAYERS * (2 * one + 2 * one + 2 * gather) + 2 * one)
    kept = eng.context(p)._replace(stack=dataclasses.replace(WAITED_TP, sp_regather_backward=False))
    assert comm.tp_comm(kept)[0] == pytest.approx(seconds - LAYERS * 2 * gather)


def test_async_tp_with_sequence_parallelism_leaves_the_gathered_output_gradients_exposed(profile):
    """Megatron's backward with sequence parallelism: the gradient of each forward reduce-scatter is all-gathered
    before the data-gradient GEMM needs it (waited for); the re-gather hides under the data-gradient GEMM and the
    input gradient's reduce-scatter under the weight-gradient GEMM, up to a quarter of backward each."""
    eng = engine(profile, devices=8)
    p = plan(devices=8, global_batch=1, tp=8, sequence_parallel=True)
    span = group_span(eng.sized, p, "tp")
    scatter = coll.reduce_scatter_s(STREAM_BYTES, span, eng.links)
    gather = coll.all_gather_s(STREAM_BYTES, span, eng.links)
    ctx = eng.context(p)._replace(stack=dataclasses.replace(WAITED_TP, tp_overlap=TpOverlap.WGRAD))
    forward_and_ends = LAYERS * 2 * (scatter + gather) + 2 * (scatter + gather)
    long_gemms = ctx._replace(bwd_s=1e3)  # every hidden collective fits under its GEMM
    assert comm.tp_comm(long_gemms)[0] == pytest.approx(forward_and_ends + LAYERS * 2 * gather)
    # GEMMs of half a gather each (a quarter of backward over 2 x LAYERS groups): half of each hidden one shows.
    half = ctx._replace(bwd_s=4 * 2 * LAYERS * gather / 2)
    shown = LAYERS * 2 * (gather + (gather - gather / 2) + max(0.0, scatter - gather / 2))
    assert comm.tp_comm(half)[0] == pytest.approx(forward_and_ends + shown)


def test_an_uneven_context_split_is_charged_at_the_busiest_rank():
    """128 images over 125 ranks: some rank holds 2, so the step takes what 64 ranks would, not 125."""
    from dojosim.perf.profile import busiest_share

    assert busiest_share(128, 125) == pytest.approx(2 / 128)
    assert busiest_share(128, 64) == pytest.approx(1 / 64) and busiest_share(128, 60) == pytest.approx(3 / 128)
    assert busiest_share(4096, 8) == pytest.approx(1 / 8)  # tokens split evenly, as the cp rule requires
    assert busiest_share(1, 1) == 1.0


def test_the_engine_costs_an_uneven_image_split_as_its_busiest_rank(profile):
    images = dataclasses.replace(profile, split_units=128, seq=1)
    dev = engine(profile).device
    uneven = compute.stage_costs(images, dev, 1, 125, False, "bf16")
    even = compute.stage_costs(images, dev, 1, 64, False, "bf16")
    assert uneven == even  # 2 images on the busiest rank either way
    assert compute.stage_costs(images, dev, 1, 128, False, "bf16")[0].bytes == pytest.approx(uneven[0].bytes / 2)
    as_plan = ParallelPlan(125, 125, 1, 1, cp=125)
    assert memory_use(images, as_plan, 1.0).activations == pytest.approx(
        memory_use(images, ParallelPlan(64, 64, 1, 1, cp=64), 1.0).activations
    )
    with pytest.raises(InputError, match="each sample has 128 images to split; cp can be at most that"):
        validate_plan(ParallelPlan(256, 256, 1, 1, cp=256), ModelShape(has_sequence=False, split_units=128))


def test_recompute_without_blocks_checkpoints_at_module_boundaries_or_is_refused():
    """A model without repeated blocks is checkpointed at its module segments (full recompute); one with neither
    blocks nor segments is refused, and selective recompute (the attention of blocks) always is."""
    no_blocks = ModelShape(has_sequence=False, split_units=128)
    with pytest.raises(InputError, match="--recompute full: the model has no repeated blocks or modules"):
        validate_plan(ParallelPlan(8, 8, 1, 1, recompute="full"), no_blocks)
    validate_plan(ParallelPlan(8, 8, 1, 1), no_blocks)  # without recompute it is a valid plan
    modules = dataclasses.replace(no_blocks, modules=12)
    validate_plan(ParallelPlan(8, 8, 1, 1, recompute="full"), modules)
    with pytest.raises(InputError, match="--recompute selective: selective recompute repeats the attention"):
        validate_plan(ParallelPlan(8, 8, 1, 1, recompute="selective"), modules)
    from dojosim.study.search import SearchSpec, enumerate_plans

    plans = list(enumerate_plans(SearchSpec("fsd-video", "dgx-h100", 8, 8), no_blocks, seq=1))
    assert plans and {p.recompute for p in plans} == {"none"}
    plans = list(enumerate_plans(SearchSpec("fsd-video", "dgx-h100", 8, 8), modules, seq=1))
    assert {p.recompute for p in plans} == {"none", "full"} and {p.pp for p in plans} == {1, 2, 4, 8}


def test_the_bottleneck_is_the_resource_whose_freeing_speeds_the_step_most(profile):
    from dojosim.perf.counterfactual import counterfactuals
    from dojosim.report.bottleneck import counterfactual_sentence

    slow_memory = Engine(profile, size_system(load_system("dgx-h100", ["h100.hbm_bytes_per_s=1e10"]), 64), WAITED_TP)
    p = plan(global_batch=64)
    found = counterfactuals(slow_memory, p)
    assert found[0].resource == "HBM bandwidth" and found[0].speedup_if_free > 5
    assert all(c.speedup_if_free >= 1 - 1e-9 for c in found)  # freeing a resource never slows a step
    assert [c.speedup_if_free for c in found] == sorted((c.speedup_if_free for c in found), reverse=True)
    text = counterfactual_sentence(slow_memory.estimate(p), found)
    assert text.startswith(f"memory-bound: {found[0].speedup_if_free:.2f}x faster with unlimited HBM bandwidth")
    before = slow_memory.estimate(p).step_time_s
    assert slow_memory.estimate(p).step_time_s == before  # the engine given is left as it was
    slow_compute = Engine(profile, size_system(load_system("dgx-h100", ["h100.peak_flops_per_s.bf16=1e12"]), 64))
    assert counterfactuals(slow_compute, p)[0].resource == "compute"


def test_userbuffers_pipelines_the_output_gradient_gather_and_hides_the_bulk_overlaps(profile):
    """TE userbuffers with sequence parallelism: forward's collectives and backward's gather of the output gradient
    are pipelined with their GEMMs (the pipelined share hides), the re-gather and the input gradient's
    reduce-scatter hide under their GEMMs; async TP alone leaves that gather waited for."""
    eng = engine(profile, devices=8)
    p = plan(devices=8, global_batch=1, tp=8, sequence_parallel=True)
    span = group_span(eng.sized, p, "tp")
    gather = coll.all_gather_s(STREAM_BYTES, span, eng.links)
    base = eng.context(p)._replace(bwd_s=1e3)  # long GEMMs: the bulk overlaps hide whole
    wgrad = comm.tp_comm(base._replace(stack=dataclasses.replace(WAITED_TP, tp_overlap=TpOverlap.WGRAD)))[0]
    ub_ctx = base._replace(stack=dataclasses.replace(WAITED_TP, tp_overlap=TpOverlap.USERBUFFERS))
    userbuffers = comm.tp_comm(ub_ctx)[0]
    per_pass = LAYERS * 2 * (gather + coll.reduce_scatter_s(STREAM_BYTES, span, eng.links))
    hidden_forward = comm.pipelined_tp_hidden_s(ub_ctx, per_pass, 2)
    hidden_gather = comm.pipelined_tp_hidden_s(ub_ctx, LAYERS * 2 * gather, 2)
    assert hidden_forward > 0 and hidden_gather > 0
    assert userbuffers == pytest.approx(wgrad - hidden_forward - hidden_gather)


def test_full_recompute_checkpoints_at_module_boundaries_that_free_more_than_they_keep():
    from dojosim.perf.memory import checkpointed_bytes

    # Four equal segments, each one's input as large as its activations: two runs of two keep one input (4) and
    # rebuild one run (8) at a time = 12; a checkpoint at every segment would keep 12 and rebuild 4 = 16.
    assert checkpointed_bytes((4.0, 4.0, 4.0, 4.0), (0.0, 4.0, 4.0, 4.0), 1.0, 1) == 12.0
    # A checkpoint that keeps more than it frees is not taken: with 3 micro-batches in flight, one run from the
    # stage's input rebuilds 2 at a time and keeps nothing more (not 3 x 2 held, nor 3 x 50 of kept inputs).
    assert checkpointed_bytes((1.0, 1.0), (0.0, 50.0), 1.0, 3) == 2.0


def test_full_recompute_of_a_conv_net_without_blocks_holds_less_than_none():
    from dojosim.job import Job
    from dojosim.perf.jobs import engine_for

    plan = ParallelPlan(devices=8, global_batch=160, micro_batch=20, seq=1)
    eng = engine_for(Job.of("resnet(depth=50)", "dgx-a100", plan))
    none = eng.memory(plan).activations
    full = eng.memory(plan.with_(recompute="full")).activations
    assert full < 0.5 * none
