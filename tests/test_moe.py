"""Mixture-of-experts as it runs: dispatch over the links an EP group spans, the busiest rank's routed tokens,
grouped-GEMM tiles, the experts' own data-parallel group, their memory, DualPipe; each against a hand count."""

import dataclasses

import pytest

from dojosim.errors import InputError
from dojosim.hardware import load_system, size_system
from dojosim.parallel.placement import group_span
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf import collectives as coll
from dojosim.perf import comm, compute, moe
from dojosim.perf.engine import Engine
from dojosim.perf.memory import GRAD_BYTES, OPTIMIZER_BYTES, WEIGHT_BYTES
from dojosim.perf.profile import build_profile
from dojosim.stack import PipelineSchedule, load_stack, with_moe_routing
from dojosim.validation.run import predict_row
from dojosim.validation.table import public_table_path, read_table
from dojosim.workload.cache import get_graph

# 8 experts, 2 routed per token; seq x top_k / experts = 64 rows per expert as captured.
MODEL = "moe(layers=4,hidden=256,heads=4,kv_heads=4,ffn=512,vocab=1000,experts=8,top_k=2)"
SEQ = 256
HIDDEN, LAYERS, EXPERTS, TOP_K = 256, 4, 8, 2
BALANCED = load_stack()


@pytest.fixture(scope="module")
def profile():
    return build_profile(get_graph(MODEL, 1, SEQ))


def engine(profile, devices=16, stack=BALANCED, system="dgx-h100"):
    return Engine(profile, size_system(load_system(system), devices), stack)


def plan(devices=16, **kw):
    return ParallelPlan(**{"devices": devices, "global_batch": devices, "seq": SEQ, **kw})


def test_dispatch_over_an_ep_group_spanning_two_nodes_by_hand():
    sized = size_system(load_system("dgx-h100"), 16)
    p = ParallelPlan(devices=16, global_batch=16, seq=SEQ, ep=16)
    span = group_span(sized, p, "ep")
    assert span.members_per_level == (8, 2)  # 8 members on each node's NVLink, 2 nodes over InfiniBand
    links = coll.level_links(sized)
    nvlink = 450e9 * 0.8  # per direction, at nccl-tests' all-to-all share (the preset's figures)
    ib = 50e9 * 0.9
    assert links[0].bytes_per_s == pytest.approx(nvlink) and links[1].bytes_per_s == pytest.approx(ib)
    tokens = 1e8  # bytes of hidden states on each rank
    # 8 copies of each token spread over 16 ranks: 7/16 of them to the node's other GPUs, 8/16 to the other node.
    by_hand = tokens * 8 * 7 / 16 / nvlink + 7 * 2.3e-6 + tokens * 8 * 8 / 16 / ib + 5e-6
    assert moe.dispatch_s(tokens, 8, span, links) == pytest.approx(by_hand)
    assert moe.dispatch_s(tokens, 8, span, links) == pytest.approx(coll.all_to_all_s(tokens * 8, span, links))
    # Deduplicated (DeepEP): a token crosses to the other node once if any of its 8 experts is there, which
    # misses only when all 8 fall on its own node's half of the experts: 1 - (1/2)^8.
    dedup = tokens * 8 * 7 / 16 / nvlink + 7 * 2.3e-6 + tokens * (1 - 0.5**8) / ib + 5e-6
    assert moe.dispatch_s(tokens, 8, span, links, dedup=True) == pytest.approx(dedup)


def test_ep_comm_is_dispatch_and_combine_both_ways_per_moe_block_hidden_by_the_stack(profile):
    p = plan(ep=4, global_batch=256)  # 16 micro-batches on each of 16 data-parallel ranks
    eng = engine(profile)
    ctx = eng.context(p)
    tokens = SEQ * HIDDEN * 2  # one micro-batch's residual stream, bf16
    one = moe.dispatch_s(tokens, TOP_K, group_span(eng.sized, p, "ep"), eng.links)
    seconds, (c,) = comm.ep_comm(ctx)
    assert seconds == pytest.approx(4 * LAYERS * one) and c.bytes == tokens * TOP_K
    # 16 micro-batches without a pipeline: the first forward and the last backward have no partner to hide under
    hidden = with_moe_routing(BALANCED, ep_overlap=0.75)
    paired = 1 - 1 / 16
    assert comm.ep_comm(engine(profile, stack=hidden).context(p))[0] == pytest.approx((1 - 0.75 * paired) * seconds)
    loaded = with_moe_routing(BALANCED, imbalance=1.5)
    assert comm.ep_comm(engine(profile, stack=loaded).context(p))[0] == pytest.approx(1.5 * seconds)


def test_routed_classes_are_the_expert_matmuls_with_their_weights_bytes(profile):
    routed = [c for c in profile.classes if c.routed]
    assert routed and all(c.kind == "matmul" and c.region == "block" for c in routed)
    # Forward: three bmm per block over (experts, 64 rows, width) tokens and (experts, in, out) weights.
    fwd = [c for c in routed if c.phase == "fwd"]
    assert sum(c.count for c in fwd) == 3 * LAYERS
    weights = EXPERTS * HIDDEN * 512 * 2  # one of w_gate, w_up, w_down in bf16
    for c in fwd:
        assert c.expert_bytes == pytest.approx(weights)
        assert c.bytes == pytest.approx(weights + EXPERTS * 64 * (HIDDEN + 512) * 2)
    assert not [c for c in profile.classes if c.routed and c.kind != "matmul"]


def test_the_busiest_rank_computes_load_times_the_tokens_and_reads_its_own_experts(profile):
    eng = engine(profile)
    dev, peaks = eng.device, compute.peaks(eng.device, "bf16")
    (c,) = [c for c in profile.classes if c.routed and c.phase == "fwd"][:1]
    base = moe.Routing(ep=4, load=1.0, rows_per_expert=1024)  # 8 whole tiles: no padding
    heavy = base._replace(load=1.5, rows_per_expert=1536)
    _, f1, b1 = compute.class_seconds(dev, c, 1, 1, False, "bf16", peaks, route=base)
    _, f2, b2 = compute.class_seconds(dev, c, 1, 1, False, "bf16", peaks, route=heavy)
    assert f1 == pytest.approx(c.flops * c.count) and f2 == pytest.approx(1.5 * f1)
    tokens = c.bytes - c.expert_bytes
    assert b1 == pytest.approx((tokens + c.expert_bytes / 4) * c.count)
    assert b2 == pytest.approx((1.5 * tokens + c.expert_bytes / 4) * c.count)
    # An expert with 100 rows runs a whole 128-row tile: 28% more work than routed.
    few = base._replace(rows_per_expert=100)
    assert few.tile_padding == pytest.approx(1.28)
    assert compute.class_seconds(dev, c, 1, 1, False, "bf16", peaks, route=few)[1] == pytest.approx(1.28 * f1)


def test_imbalance_slows_the_experts_by_their_share_and_a_capacity_factor_caps_it(profile):
    p = plan(ep=4)
    step = {}
    for name, stack in {
        "balanced": BALANCED,
        "2": with_moe_routing(BALANCED, imbalance=2.0),
        "capped": with_moe_routing(BALANCED, imbalance=2.0, capacity=1.25),
    }.items():
        eng = engine(profile, stack=stack)
        eng.set_device(dataclasses.replace(eng.device, host_overhead_s=0.0))  # the device, not the host, sets pace
        step[name] = (eng.estimate(p), moe.routing(profile, p, stack))
    # 256 rows per expert balanced (2 tiles); 512 at twice the mean (4); 320 capped at 1.25 (3 tiles, 384 rows)
    assert [step[k][1].rows_per_expert for k in ("balanced", "2", "capped")] == [256, 512, 320]
    # the same plan with every expert on each rank (ep 1) is never uneven
    assert moe.routing(profile, plan(), with_moe_routing(BALANCED, imbalance=1.5)).load == 1.0
    fwd = {k: v[0].breakdown_s["compute_fwd"] for k, v in step.items()}
    assert fwd["balanced"] < fwd["capped"] < fwd["2"]
    ep = {k: v[0].breakdown_s["ep_comm"] for k, v in step.items()}
    assert ep["2"] == pytest.approx(2 * ep["balanced"]) and ep["capped"] == pytest.approx(1.25 * ep["balanced"])


def test_expert_weights_and_their_optimizer_state_are_sharded_by_ep(profile):
    eng = engine(profile)
    experts, dense = profile.expert_params, profile.params - profile.expert_params
    assert experts == pytest.approx(LAYERS * 3 * EXPERTS * HIDDEN * 512)
    for ep in (1, 2, 8):
        mem = eng.memory(plan(ep=ep, zero=1))  # dp 16: dense state over 16 ranks, experts' over 16 / ep
        assert mem.params_per_device == pytest.approx(dense + experts / ep)
        assert mem.weights == pytest.approx((dense + experts / ep) * WEIGHT_BYTES)
        assert mem.gradients == pytest.approx((dense + experts / ep) * GRAD_BYTES)
        opt = (dense / 16 + experts / ep / (16 // ep if ep > 1 else 16)) * OPTIMIZER_BYTES["adamw"]
        assert mem.optimizer == pytest.approx(opt)


def test_expert_gradients_reduce_over_their_expert_data_parallel_group(profile):
    eng = engine(profile)
    p = plan(ep=4, zero=1)
    ctx = eng.context(p)
    params = eng.memory(p).params_per_device
    experts = profile.expert_params / 4
    seconds, colls = comm.dp_comm(ctx, params)
    dp, edp = group_span(eng.sized, p, "dp"), group_span(eng.sized, p, "edp")
    assert edp.size == 4 and edp.stride == 4  # one rank of each of the 4 ep groups of 4
    by_hand = (
        coll.reduce_scatter_s((params - experts) * GRAD_BYTES, dp, eng.links)
        + coll.all_gather_s((params - experts) * WEIGHT_BYTES, dp, eng.links)
        + coll.reduce_scatter_s(experts * GRAD_BYTES, edp, eng.links)
        + coll.all_gather_s(experts * WEIGHT_BYTES, edp, eng.links)
    )
    assert seconds == pytest.approx(by_hand) and len(colls) == 4


def test_dualpipe_bubble_is_half_the_stages_of_forward_and_half_a_backward(profile):
    dual = dataclasses.replace(BALANCED, pipeline_schedule=PipelineSchedule.DUALPIPE)
    p = plan(devices=8, global_batch=64, pp=4)
    ctx = engine(profile, devices=8, stack=dual).context(p)
    assert comm.schedule_bubble(ctx, 1.0) == pytest.approx((4 / 2 - 1) * (ctx.fwd_s + ctx.bwd_s / 2))
    plain = engine(profile, devices=8).context(p)
    assert comm.schedule_bubble(plain, 1.0) == pytest.approx(3.0)  # 1F1B: pp - 1 micro-batches


def test_moe_routing_options_are_checked_with_the_option_named():
    with pytest.raises(InputError, match="--moe-imbalance"):
        with_moe_routing(BALANCED, imbalance=0.5)
    with pytest.raises(InputError, match="--ep-overlap"):
        with_moe_routing(BALANCED, ep_overlap=1.5)
    assert with_moe_routing(BALANCED).moe_load_factor == 1.0


def test_a_public_moe_row_predicts():
    rows = [r for r in read_table(public_table_path()) if r.model.startswith(("moe(", "hf:"))]
    assert len(rows) >= 5
    qwen = next(r for r in rows if "experts=128" in r.model and r.ep > 1)
    result = predict_row(qwen)
    assert result.predicted is not None and result.predicted > 0
    assert abs(result.predicted / qwen.measured - 1) < 0.5  # a real MoE step, not a unit slip


def test_dense_first_blocks_dispatch_nothing(profile):
    dense_first = build_profile(get_graph(MODEL.replace("top_k=2", "top_k=2,dense_layers=1"), 1, SEQ))
    assert dense_first.graph.meta["dense_layers"] == 1
    p = plan(ep=4)
    all_moe = comm.ep_comm(engine(profile).context(p))[0]
    assert comm.ep_comm(engine(dense_first).context(p))[0] == pytest.approx(all_moe * 3 / 4)


@pytest.mark.parametrize("pp, vp, warmup", [(1, 1, 1), (4, 1, 3), (4, 2, 2 * 3 + 1 * 4)])
def test_a_batch_level_ep_overlap_leaves_the_warm_up_and_cool_down_chunks_exposed(profile, pp, vp, warmup):
    p = plan(devices=16, global_batch=64, pp=pp, vp=vp)  # dp 16 / pp micro-batches of 1
    ctx = engine(profile).context(p)
    chunks = ctx.m * vp
    assert comm.paired_share(ctx) == pytest.approx(1 - warmup / chunks)
    dual = dataclasses.replace(BALANCED, pipeline_schedule=PipelineSchedule.DUALPIPE)
    assert comm.paired_share(engine(profile, stack=dual).context(p)) == 1.0
