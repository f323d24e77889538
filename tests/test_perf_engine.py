"""The performance engine: physical invariants (hypothesis), hand-checked cases, plan errors."""

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dojosim.errors import InputError
from dojosim.hardware import load_system, size_system
from dojosim.parallel.placement import group_span
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf import collectives as coll
from dojosim.perf import compute
from dojosim.perf.comm import ASYNC_TP_WGRAD_SHARE_OF_BACKWARD
from dojosim.perf.engine import Engine
from dojosim.perf.profile import build_profile
from dojosim.perf.result import MemoryUse
from dojosim.report.bottleneck import sentence
from dojosim.stack import TpOverlap, load_stack
from dojosim.workload.builders import step_spec
from dojosim.workload.capture import capture

MODEL = "llama(layers=8,hidden=512,heads=8,kv_heads=4,ffn=1536,vocab=4096)"
SEQ = 512


@pytest.fixture(scope="module")
def profile():
    return build_profile(capture(step_spec(MODEL, 1, SEQ)))


# The default stack with tensor-parallel collectives that wait for their GEMMs: each overlap is tested on its own.
WAITED_TP = dataclasses.replace(load_stack(), tp_overlap=TpOverlap.NONE)


def engine(profile, system="dgx-h100", devices=64, overrides=(), stack=WAITED_TP):
    return Engine(profile, size_system(load_system(system, list(overrides)), devices), stack)


def plan(devices=64, **kw):
    base = dict(devices=devices, global_batch=64, micro_batch=1, seq=SEQ)
    base.update(kw)
    return ParallelPlan(**base)


plans = st.builds(
    lambda tp, pp, cp, zero, recompute, sp: dict(
        tp=tp, pp=pp, cp=cp, zero=zero, recompute=recompute, sequence_parallel=sp and tp > 1
    ),
    st.sampled_from([1, 2, 4, 8]),
    st.sampled_from([1, 2, 4]),
    st.sampled_from([1, 2]),
    st.sampled_from([0, 1, 2, 3]),
    st.sampled_from(["none", "selective", "full"]),
    st.booleans(),
)
KNOBS = [
    "h100.peak_flops_per_s.bf16",
    "h100.peak_flops_per_s.fp32",
    "h100.hbm_bytes_per_s",
    "h100.egress_bytes_per_s",
    "node.nic_bytes_per_s_per_device",
]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(kw=plans)
def test_step_time_is_at_least_flops_over_aggregate_peak(profile, kw):
    e = engine(profile).estimate(plan(**kw))
    peak = max(load_system("dgx-h100").device.peak_flops_per_s[d].value for d in ("bf16", "fp32"))
    assert e.step_time_s >= e.model_flops_per_step / (64 * peak)
    assert sum(e.breakdown_s.values()) == pytest.approx(e.step_time_s)
    assert 0 < e.mfu <= e.hfu < 1


@SETTINGS
@given(kw=plans, knob=st.sampled_from(KNOBS), factor=st.floats(1.0, 8.0))
def test_more_bandwidth_or_peak_never_slows_the_step(profile, kw, knob, factor):
    system = load_system("dgx-h100")
    part, field = knob.split(".", 1)
    if part == "h100":
        obj = system.device
        value = obj.peak_flops_per_s[field.split(".")[1]].value if "." in field else getattr(obj, field).value
    else:
        value = getattr(system.level(part), field).value
    base = engine(profile).estimate(plan(**kw)).step_time_s
    faster = engine(profile, overrides=[f"{knob}={value * factor}"]).estimate(plan(**kw)).step_time_s
    assert faster <= base * (1 + 1e-12)


@SETTINGS
@given(kw=plans)
def test_energy_is_at_least_idle_power_times_step_time(profile, kw):
    e = engine(profile).estimate(plan(**kw))
    idle_w = 64 * 75 + 8 * 4600  # idle GPUs plus node overheads
    assert e.energy_j >= idle_w * e.step_time_s


@SETTINGS
@given(kw=plans)
def test_full_recompute_never_keeps_more_activations_than_none(profile, kw):
    eng = engine(profile)
    full = eng.memory(plan(**{**kw, "recompute": "full"})).activations
    none = eng.memory(plan(**{**kw, "recompute": "none"})).activations
    assert full <= none


def test_one_device_has_no_communication(profile):
    e = engine(profile, devices=1).estimate(plan(devices=1, global_batch=4))
    for part in ("tp_comm", "cp_comm", "ep_comm", "pp_comm", "dp_comm", "bubble"):
        assert e.breakdown_s[part] == 0.0


def test_ring_all_reduce_matches_the_textbook_formula():
    sized = size_system(load_system("dgx-a100"), 8)  # no in-network reduction: a ring
    links = coll.level_links(sized)
    span = group_span(sized, plan(devices=8, global_batch=8, tp=8), "tp")
    assert span.members_per_level == (8,)
    nbytes, n = 1e9, 8
    bw = 300e9 * 0.78  # NVLink per direction x collective efficiency
    expected = 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * 2.3e-6
    assert coll.all_reduce_s(nbytes, span, links) == pytest.approx(expected)


def test_hierarchical_all_reduce_over_nodes_uses_the_nic_share():
    sized = size_system(load_system("dgx-h100"), 64)
    links = coll.level_links(sized)
    span = group_span(sized, plan(devices=64, global_batch=64, tp=8), "dp")  # one member per node
    assert span.members_per_level == (1, 8)
    expected = 2 * 7 / 8 * 1e9 / (50e9 * 0.9) + 2 * 7 * 5e-6
    assert coll.all_reduce_s(1e9, span, links) == pytest.approx(expected)


@pytest.mark.parametrize("pp, vp, m", [(4, 1, 8), (4, 2, 8), (2, 1, 16)])
def test_1f1b_bubble_fraction(profile, pp, vp, m):
    devices = pp
    e = engine(profile, devices=devices).estimate(plan(devices=devices, global_batch=m, pp=pp, vp=vp))
    t_mb = e.micro_batch_time_s
    assert e.breakdown_s["bubble"] / (m * t_mb) == pytest.approx((pp - 1) / (m * vp))


def test_tensor_parallel_splits_compute_and_adds_all_reduces(profile):
    eng = engine(profile, devices=8)
    one = eng.estimate(plan(devices=8, global_batch=8))
    tp8 = eng.estimate(plan(devices=8, global_batch=1, tp=8))
    assert tp8.breakdown_s["tp_comm"] > 0 and one.breakdown_s["tp_comm"] == 0
    assert tp8.memory.weights == pytest.approx(one.memory.weights / 8, rel=0.15)


def test_zero_shards_state_over_data_parallel_ranks(profile):
    eng = engine(profile)
    mem = {z: eng.memory(plan(zero=z)) for z in range(4)}
    assert mem[1].optimizer == pytest.approx(mem[0].optimizer / 64)
    assert mem[2].gradients == pytest.approx(mem[0].gradients / 64)
    assert mem[3].weights == pytest.approx(mem[0].weights / 64)
    assert mem[1].gradients == mem[0].gradients


def test_dojo_streams_what_does_not_fit_in_sram():
    prof = build_profile(capture(step_spec("llama(layers=4,hidden=2048,heads=16,ffn=8192,vocab=32000)", 1, 2048)))
    e = engine(prof, system="dojo-v1", devices=150).estimate(plan(devices=150, global_batch=150, seq=2048))
    assert e.memory.total > 442e6  # more than a D1's SRAM
    assert e.breakdown_s["memory_stream"] > 0
    assert "SRAM" in sentence(e) and "edge HBM" in sentence(e)
    wider = engine(
        prof,
        system="dojo-v1",
        devices=150,
        overrides=["tray.memory.dip.bytes_per_s_per_card=1.6e12", "tray.memory.dip.link_bytes_per_s_per_card=1.8e12"],
    )
    assert wider.estimate(plan(devices=150, global_batch=150, seq=2048)).step_time_s < e.step_time_s


@pytest.mark.parametrize(
    "kw, expected",
    [
        (dict(tp=3), "--devices 64 is not divisible by tp x pp x cp = 3 x 1 x 1"),
        (dict(tp=16, devices=64), "--tp 16 does not divide the model's 8 attention heads"),
        (dict(pp=4, vp=4, devices=64, global_batch=64), "--pp 4 x --vp 4 = 16 stages exceed the model's 8 layers"),
        (dict(global_batch=63), "--global-batch 63 is not divisible by dp x micro-batch = 64 x 1"),
        (dict(ep=2), "--ep 2: the model has no experts"),
        (dict(vp=2), "--vp > 1 needs --pp > 1"),
        (dict(sequence_parallel=True), "--sequence-parallel needs --tp > 1"),
        (dict(recompute="some"), "--recompute: must be one of none, selective, full"),
        (dict(zero=4), "--zero: must be one of 0, 1, 2, 3"),
        (dict(precision="fp4"), "--precision fp4: this device has no fp4 peak"),
        (dict(cp=2, seq=510), "--seq 510 must be divisible by 2 x cp = 4"),
    ],
)
def test_impossible_plans_get_one_clear_error(profile, kw, expected):
    devices = kw.pop("devices", 64)
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        eng = engine(profile, devices=devices)
        eng.validate(plan(devices=devices, **kw))


def test_uneven_pipeline_stages_put_the_extra_layers_on_the_busiest_stage(profile):
    eng = engine(profile, devices=48)
    assert eng.stage_share(plan(devices=48, global_batch=48, pp=3)) == pytest.approx(3 / 8)  # ceil(8/3) of 8
    assert eng.stage_share(plan(devices=64, pp=4)) == pytest.approx(1 / 4)


def test_small_matmuls_reach_less_of_the_peak_than_large_ones():
    """With a fill-and-drain ramp per matmul, the achieved fraction is F / (F + peak x fraction x ramp)."""
    from dojosim.perf.device import device_model

    dev = device_model(size_system(load_system("dgx-h100"), 1))
    effective = dev.peak("bf16") * dev.matmul_fraction

    def achieved(flops):
        return flops / (flops / effective + dev.matmul_ramp_s) / dev.peak("bf16")

    small, large = achieved(2 * 1024**3), achieved(2 * 8192**3)
    assert small < 0.5 * dev.matmul_fraction < large <= dev.matmul_fraction


def test_the_plan_lists_the_collectives_it_inserts(profile):
    e = engine(profile).estimate(plan(tp=2, pp=2, zero=1, global_batch=64))
    ops = {(c.group, c.op) for c in e.collectives}
    assert {
        ("tp", "all_reduce"),
        ("pp", "send/recv"),
        ("dp", "reduce_scatter (gradients)"),
        ("dp", "all_gather (weights)"),
    } <= ops
    tp = next(c for c in e.collectives if c.group == "tp")
    assert tp.group_size == 2 and tp.bytes == 1 * SEQ * 512 * 2  # micro-batch x seq x hidden x bf16


def test_sram_holds_the_most_often_touched_state_first(profile):
    eng = engine(profile, system="dojo-v1", devices=150)
    mem = MemoryUse(
        weights=200e6, gradients=50e6, optimizer=400e6, activations=300e6, buffers=100e6, params_per_device=1e8
    )
    far = eng.far_resident(mem)
    near = eng.device.near.bytes  # 442 MB of SRAM per D1
    assert far["buffers"] == 0 and far["activations"] == 0
    assert far["weights"] == pytest.approx(200e6 - (near - 400e6))
    assert far["gradients"] == 50e6 and far["optimizer"] == 400e6
    assert far["total"] == pytest.approx(mem.total - near)
    assert engine(profile).far_resident(mem)["total"] == 0  # a GPU has no far tier: nothing streams


def test_roofline_points_add_up_to_the_modelled_compute(profile):
    # With no host dispatch cost the passes are device-bound, so the points must account for all of them.
    eng = engine(profile, devices=8, overrides=["h100.host_overhead_s=0"])
    p = plan(devices=8, global_batch=8, tp=2)
    roof = eng.roofline(p)
    e = eng.estimate(p)
    assert roof["roofs"]["peak_flops_per_s"] == 989e12 and roof["roofs"]["near_name"] == "HBM"
    kinds = {(pt["kind"], pt["phase"]) for pt in roof["points"]}
    assert {("matmul", "fwd"), ("matmul", "bwd"), ("attention", "fwd")} <= kinds
    assert sum(pt["time_share"] for pt in roof["points"]) == pytest.approx(1.0)
    device_s = sum(pt["seconds"] for pt in roof["points"])
    per_micro_batch = (e.breakdown_s["compute_fwd"] + e.breakdown_s["compute_bwd"]) / p.grad_accumulation
    assert p.grad_accumulation == 2 and device_s == pytest.approx(per_micro_batch)
    for pt in roof["points"]:  # nothing runs above its ceilings
        if pt["flops"]:
            achieved = pt["flops"] / pt["seconds"]
            assert achieved <= roof["roofs"]["peak_flops_per_s"]
            assert achieved <= pt["flops"] / pt["bytes"] * roof["roofs"]["near_bytes_per_s"] * (1 + 1e-9)


def test_host_floor_counts_every_dispatched_op_views_included(profile):
    # With a huge per-op host cost every pass is host-bound: its time is the number of dispatched ops (kernels
    # and views alike, both go through the dispatcher) times that cost.
    host_s = 1.0
    eng = engine(profile, devices=8, overrides=[f"h100.host_overhead_s={host_s}"])
    graph = profile.graph
    block_fwd = [op for op in graph.ops if op.phase == "fwd" and op.module.startswith(graph.block_path)]
    views = sum(op.kind == "view" for op in block_fwd)
    assert views > 0
    block = eng.stage_costs(1, 1, False, "bf16")[0]
    assert block.fwd_s == pytest.approx(host_s * len(block_fwd))


def test_gradient_reduction_after_backward_is_fully_exposed(profile):
    eng = engine(profile, devices=64)
    overlapped = eng.estimate(plan(devices=64, global_batch=64))
    after_reduce = engine(profile, devices=64, stack=dataclasses.replace(WAITED_TP, overlap_grad_reduce=False))
    after = after_reduce.estimate(plan(devices=64, global_batch=64))
    reduce_s = next(c for c in after.collectives if c.group == "dp").seconds_each
    assert after.breakdown_s["dp_comm"] == pytest.approx(reduce_s)
    assert overlapped.breakdown_s["dp_comm"] < after.breakdown_s["dp_comm"]
    assert after.step_time_s - overlapped.step_time_s == pytest.approx(
        after.breakdown_s["dp_comm"] - overlapped.breakdown_s["dp_comm"]
    )


def test_async_tensor_parallel_hides_backward_collectives_under_weight_gradients(profile):
    eng = engine(profile, devices=8)
    waited = eng.estimate(plan(devices=8, global_batch=1, tp=8))  # one micro-batch
    async_tp = engine(profile, devices=8, stack=dataclasses.replace(WAITED_TP, tp_overlap=TpOverlap.WGRAD))
    overlapped = async_tp.estimate(plan(devices=8, global_batch=1, tp=8))
    tp = next(c for c in waited.collectives if c.group == "tp")
    per_pass = (tp.count_per_step - 2) / 2 * tp.seconds_each  # no recompute: forward and backward passes
    bound = ASYNC_TP_WGRAD_SHARE_OF_BACKWARD * waited.breakdown_s["compute_bwd"]
    saved = waited.breakdown_s["tp_comm"] - overlapped.breakdown_s["tp_comm"]
    assert saved == pytest.approx(min(per_pass, bound), rel=1e-6)
    assert 0 < saved < waited.breakdown_s["tp_comm"]  # forward's collectives still wait
    assert waited.step_time_s - overlapped.step_time_s == pytest.approx(saved)


def test_convolutions_run_at_their_own_measured_fraction_and_ramp(profile):
    import dataclasses

    from dojosim.perf.profile import OpClass

    eng = engine(profile, devices=1)
    conv = OpClass("fwd", "block", "conv", "tp", False, "", "bf16", 4e12, 1e6, 3)
    peaks = compute.peaks(eng.device, "bf16")
    t_default, _, _ = compute.class_seconds(eng.device, conv, 1, 1, False, "bf16", peaks)
    dev = eng.device
    assert t_default == pytest.approx(3 * (4e12 / peaks["matrix"] + dev.matmul_ramp_s + dev.kernel_overhead_s))
    eng.set_device(dataclasses.replace(dev, conv_fraction=dev.matmul_fraction / 2, conv_ramp_s=1e-3))
    t_slow, _, _ = compute.class_seconds(eng.device, conv, 1, 1, False, "bf16", compute.peaks(eng.device, "bf16"))
    assert t_slow == pytest.approx(3 * (2 * 4e12 / peaks["matrix"] + 1e-3 + dev.kernel_overhead_s))


def test_a_measured_transcendental_rate_bounds_silu_and_only_ops_of_that_unit(profile):
    units = {c.unit for c in profile.classes}
    assert "transcendental" in units  # SwiGLU's SiLU and its gradient
    slow = 1e9  # elements per second: slower than HBM feeds them
    eng = engine(profile, devices=1, overrides=[f"h100.transcendental_per_s={slow}", "h100.host_overhead_s=0"])
    fast = engine(profile, devices=1, overrides=["h100.host_overhead_s=0"])
    peaks = compute.peaks(fast.device, "bf16")
    extra = 0.0
    for c in profile.classes:
        before = compute.class_seconds(fast.device, c, 1, 1, False, "bf16", peaks)[0]
        after = compute.class_seconds(eng.device, c, 1, 1, False, "bf16", peaks)[0]
        if c.unit == "transcendental":
            assert after == pytest.approx(max(before, c.count * (c.flops / slow + fast.device.kernel_overhead_s)))
            extra += after - before
        else:
            assert after == before
    assert extra > 0
    p = plan(devices=1, global_batch=1)
    assert eng.estimate(p).step_time_s - fast.estimate(p).step_time_s == pytest.approx(extra)


def test_an_unfused_optimizer_moves_what_its_captured_ops_move(profile):
    sized = size_system(load_system("dgx-h100", ["h100.host_overhead_s=0"]), 1)
    fused = Engine(profile, sized).estimate(plan(devices=1, global_batch=1)).breakdown_s["optimizer"]
    unfused_engine = Engine(profile, sized, load_stack("pytorch-eager-cpu"))
    unfused = unfused_engine.estimate(plan(devices=1, global_batch=1)).breakdown_s["optimizer"]
    dev = unfused_engine.device
    assert profile.opt_bytes > 30 * profile.params  # several passes over each tensor, not one fused pass
    expected = profile.opt_bytes / dev.near.bytes_per_s + profile.opt_ops * dev.optimizer_op_overhead_s
    assert unfused == pytest.approx(expected) and unfused > fused
