"""Mappings a wafer-scale machine runs, for models without repeated blocks: module pipelines balanced by cost,
spatial splits of feature maps with their halo exchange, checkpoints at module boundaries."""

import dataclasses
import itertools

import pytest

from dojosim.errors import InputError
from dojosim.hardware import load_system, size_system
from dojosim.parallel.plan import ParallelPlan, validate_plan
from dojosim.perf import collectives as coll
from dojosim.perf import compute, mapping
from dojosim.perf.engine import Engine
from dojosim.perf.maps import band_share, conv_halo
from dojosim.perf.profile import build_profile
from dojosim.workload.cache import get_graph
from dojosim.workload.graph import Op, OpKind, Phase

# A small fsd-video: a RegNet backbone, BiFPN, BEV and video transformers, upsampling and conv heads; 2 images.
SMALL_FSD = "fsd-video(cameras=1,frames=2,height=64,width=96,bev=16,channels=32)"


@pytest.fixture(scope="module")
def fsd():
    return build_profile(get_graph(SMALL_FSD, 1, None))


def engine(profile, system="dojo-v1", devices=25):
    return Engine(profile, size_system(load_system(system), devices))


def conv(x, w, out, dtype="bfloat16"):
    return Op("aten.convolution", OpKind.CONV, Phase.FWD, 1.0, 1.0, 1.0, (x, w), (out,), dtype, "c", False)


def test_a_convs_halo_bytes_by_hand():
    """A 3x3 conv over 2 images of 16 channels, 64 x 80, bf16: a band reads one row above and one below,
    2 x 16 x 80 x 2 bytes each; dilation 2 doubles the rows, stride 2 needs one, a 1x1 or a 2x2 stride-2
    transposed conv none."""
    x, w, y = (2, 16, 64, 80), (32, 16, 3, 3), (2, 32, 64, 80)
    halo = conv_halo(conv(x, w, y), [3, 1, 1, 1, 0])
    assert (halo.rows, halo.row_bytes, halo.map_rows) == (2, 2 * 16 * 80 * 2, 64)
    assert mapping.halo_bytes(halo, 4, 1.0) == 2 * 2 * 16 * 80 * 2 == 10240
    assert mapping.halo_bytes(halo, 4, 0.5) == 5120  # the rank holds one of the two images
    assert mapping.halo_bytes(halo, 1, 1.0) == 0.0  # no split, no halo
    assert conv_halo(conv(x, w, y), [3, 1, 2, 2, 0]).rows == 4  # dilation 2: rows -2..+2 of each output row
    strided = conv_halo(conv(x, w, (2, 32, 32, 40)), [3, 2, 1, 1, 0])
    assert (strided.rows, strided.map_rows) == (1, 32)  # output band [a, b) reads input rows 2a-1 .. 2b-1
    assert conv_halo(conv(x, (32, 16, 1, 1), y), [1, 1, 0, 1, 0]) is None
    up = conv((2, 16, 32, 40), (16, 8, 2, 2), (2, 8, 64, 80))
    assert conv_halo(up, [2, 2, 0, 1, 1]) is None
    assert conv_halo(conv(x, w, y, "float32"), [3, 1, 1, 1, 0]).row_bytes == 2 * 16 * 80 * 4


def test_the_capture_records_each_convs_row_geometry_and_the_engine_charges_its_halo(fsd):
    """Every forward conv's halo, from the recorded geometry, is charged per pass over the link to the neighbour:
    forward and backward (and again in a recomputed forward), for the images on the busiest rank; each batch
    norm's statistics are all-reduced over the bands in both passes, and a map handed whole to the BEV
    transformer is all-gathered in forward."""
    geometry = fsd.graph.meta["conv_geometry"]
    assert geometry["backbone.stem.0"] == [3, 2, 1, 1, 0]  # the stem: 3x3, stride 2, padding 1
    assert geometry["upsample.0"][-1] == 1  # ConvTranspose2d
    assert fsd.halos and fsd.map_rows == 32  # the stem's output: 64 rows at stride 2
    assert {x.kind for x in fsd.map_exchanges} == {"stats", "gather"}
    eng = engine(fsd, devices=16)
    for recompute, forwards in (("none", 1), ("full", 2)):
        plan = ParallelPlan(16, 16, spatial=4, recompute=recompute)
        ctx = eng.context(plan)
        seconds, inserted = mapping.halo_comm(ctx)
        by_op = {c.op: c for c in inserted}
        pair, group = ctx.span("spatial", 2), ctx.span("spatial")
        halo = sum(h.count * coll.p2p_s(h.rows * h.row_bytes, pair, ctx.links) for h in fsd.halos)  # cp = 1
        stats = sum(
            x.count * coll.all_reduce_s(x.bytes, group, ctx.links) for x in fsd.map_exchanges if x.kind == "stats"
        )
        gather = sum(
            x.count * coll.all_gather_s(x.bytes, group, ctx.links) for x in fsd.map_exchanges if x.kind == "gather"
        )
        assert seconds == pytest.approx((forwards + 1) * (halo + stats) + forwards * gather)
        m = plan.grad_accumulation
        assert by_op["halo exchange"].count_per_step == (forwards + 1) * m * sum(h.count for h in fsd.halos)
        assert by_op["halo exchange"].group == "spatial" and set(by_op) == {
            "halo exchange", "all_reduce (norm statistics)", "all_gather (map to a whole-map op)"
        }  # fmt: skip
        assert eng.estimate(plan).breakdown_s["halo_comm"] == pytest.approx(m * seconds)
    assert mapping.halo_comm(eng.context(ParallelPlan(16, 16)))[0] == 0.0


def test_an_uneven_row_split_is_charged_at_the_busiest_band(fsd):
    """Rows that do not divide: 30 rows in 25 bands leave 2 rows on some rank, so it costs what 15 bands do;
    a map with fewer rows than bands holds one row on the busiest rank."""
    assert band_share(30, 25) == pytest.approx(2 / 30) and band_share(30, 15) == pytest.approx(2 / 30)
    assert band_share(30, 30) == pytest.approx(1 / 30) and band_share(8, 32) == pytest.approx(1 / 8)
    assert band_share(30, 1) == 1.0
    # Every map of the profile made 30 rows tall: 25 bands cost exactly what 15 do, and more than 30.
    tall = tuple(dataclasses.replace(c, rows=30 if c.rows else 0) for c in fsd.classes)
    rows30 = dataclasses.replace(fsd, classes=tall)
    dev = engine(fsd).device
    at = {b: compute.stage_costs(rows30, dev, 1, 1, False, "bf16", spatial=b) for b in (15, 25, 30)}
    assert at[25] == at[15]
    assert at[30][1].fwd_s < at[25][1].fwd_s
    # Ops on no feature map (the BEV and video transformers) run whole on every rank of the group.
    whole = [c for c in fsd.classes if not c.rows and c.flops]
    assert whole and all(compute.split_divisor(c, 1.0, 25) == 1.0 for c in whole)


def test_spatial_split_is_refused_for_a_model_without_feature_maps():
    from dojosim.parallel.plan import ModelShape

    with pytest.raises(InputError, match="--spatial 4: the model has no convolutional feature maps"):
        validate_plan(ParallelPlan(8, 8, spatial=4), ModelShape(hidden=512, layers=4, heads=8))
    with pytest.raises(InputError, match="--spatial 64 exceeds the 32 rows"):
        validate_plan(ParallelPlan(64, 64, spatial=64), ModelShape(has_sequence=False, map_rows=32))
    with pytest.raises(InputError, match="tp x pp x cp x spatial = 1 x 1 x 1 x 3 = 3"):
        validate_plan(ParallelPlan(8, 8, spatial=3), ModelShape(has_sequence=False, map_rows=32))


def test_balanced_cuts_minimise_the_busiest_stage():
    costs = [5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 4.0, 2.0]
    for stages in range(1, len(costs) + 1):
        starts = mapping.balanced_starts(costs, stages)
        assert len(starts) == stages and starts[0] == 0 and list(starts) == sorted(set(starts))
        best = min(
            _busiest(costs, (0, *cuts)) for cuts in itertools.combinations(range(1, len(costs)), stages - 1)
        )
        assert _busiest(costs, starts) == pytest.approx(best)
    assert mapping.balanced_starts(costs, 3) == (0, 2, 6)  # 5+1 | 1+1+1+1 | 4+2


def _busiest(costs, starts):
    ends = [*starts[1:], len(costs)]
    return max(sum(costs[a:b]) for a, b in zip(starts, ends, strict=True))


def test_a_module_pipeline_of_a_non_transformer_balances_stages_by_cost(fsd):
    """fsd-video has no repeated blocks: its pipeline is cut over module segments where the stages' device time
    (compute or memory traffic, forward and backward) is most even; the busiest stage sets the micro-batch time,
    the bubble is 1F1B's at that time, and the cuts send their activations over the pipeline's links."""
    eng = engine(fsd, devices=4)
    assert eng.shape.layers == 0 and eng.shape.modules == len(fsd.segments) > 10
    costs = mapping.segment_costs(fsd, eng.device, 1, 1, False, "bf16", 1)
    total = [f + b for f, b in zip(costs.fwd_s, costs.bwd_s, strict=True)]
    for pp in (2, 4):
        stage = eng.module_stage(ParallelPlan(4, 16, pp=pp))
        assert len(stage.starts) == pp
        best = min(_busiest(total, (0, *c)) for c in itertools.combinations(range(1, len(total)), pp - 1))
        assert stage.stage_s[stage.busiest] == pytest.approx(best)
        assert max(stage.stage_s) < sum(total)  # a pipeline shortens the busiest device's micro-batch
    plan = ParallelPlan(4, 16, pp=4)
    e = eng.estimate(plan)
    stage = eng.module_stage(plan)
    assert e.breakdown_s["compute_fwd"] == pytest.approx(plan.grad_accumulation * stage.fwd_s)
    assert e.breakdown_s["bubble"] == pytest.approx(3 * e.micro_batch_time_s)
    assert e.breakdown_s["pp_comm"] > 0 and any(c.group == "pp" for c in e.collectives)
    assert e.memory.params_per_device < fsd.params  # each stage holds its own modules' weights
    with pytest.raises(InputError, match="--vp 2: interleaving needs repeated blocks"):
        eng.validate(ParallelPlan(4, 16, pp=2, vp=2))
    with pytest.raises(InputError, match="exceeds the"):
        eng.validate(ParallelPlan(len(fsd.segments) + 1, len(fsd.segments) + 1, pp=len(fsd.segments) + 1))


def test_full_recompute_of_a_model_without_blocks_repeats_its_forward_and_keeps_only_module_inputs(fsd):
    eng = engine(fsd, devices=4)
    plain, full = ParallelPlan(4, 16), ParallelPlan(4, 16, recompute="full")
    a, b = eng.estimate(plain), eng.estimate(full)
    assert b.breakdown_s["recompute"] == pytest.approx(a.breakdown_s["compute_fwd"])
    assert b.memory.activations < a.memory.activations
    assert b.memory.weights == a.memory.weights


def test_the_search_never_misses_a_faster_plan_that_simulate_accepts(fsd):
    """Every plan of small fsd-video on 16 D1 that validation accepts and that fits, over every degree of
    cp, spatial, pp, recompute and ZeRO: none beats the search's best."""
    from dojosim.job import Job
    from dojosim.perf.jobs import engine_for
    from dojosim.study.search import SearchSpec, search

    spec = SearchSpec(SMALL_FSD, "dojo-v1", 16, 16)
    best = search(spec, workers=1).best()[0]
    eng = engine_for(Job.of(SMALL_FSD, "dojo-v1", ParallelPlan(16, 16)))
    capacity = eng.device.capacity_bytes * spec.max_memory_fraction
    hand = []
    for cp, spatial, pp, recompute, zero in itertools.product(
        range(1, 3), range(1, 17), range(1, 17), ("none", "full"), (0, 1, 2, 3)
    ):
        plan = ParallelPlan(16, 16, cp=cp, spatial=spatial, pp=pp, recompute=recompute, zero=zero)
        try:
            eng.validate(plan)
        except InputError:
            continue
        if eng.memory(plan).total <= capacity:
            hand.append(eng.estimate(plan).step_time_s)
    assert len(hand) > 50
    assert best.step_time_s <= min(hand) * (1 + 1e-9)


@pytest.mark.parametrize(
    ("system", "devices", "overrides"),
    [
        ("dojo-v1", 75, ["d1.hbm_bytes=16e9", "d1.hbm_bytes_per_s=1e12"]),  # D1 with on-package HBM
        ("dgx-h100", 8, ["h100.sram_bytes_per_core=256e3", "h100.sram_bytes_per_s_per_core=1e11"]),  # H100 + SRAM
    ],
)
def test_any_device_with_sram_and_hbm_keeps_both_tiers(system, devices, overrides):
    """Whatever the preset, a device given SRAM and HBM works in SRAM and keeps HBM (then any far memory) beyond
    it: capacity is every tier's, and state past SRAM fills HBM before any slower tier."""
    from dojosim.perf.device import device_model
    from dojosim.perf.memory import tiers

    dev = device_model(size_system(load_system(system, overrides), devices))
    assert dev.near.name == "SRAM" and dev.far_tiers[0].name == "HBM"
    assert dev.capacity_bytes == pytest.approx(dev.near.bytes + sum(t.bytes for t in dev.far_tiers))
    used = [t.used for t in tiers(dev, dev.near.bytes + 1e9)]
    assert used[:2] == pytest.approx([dev.near.bytes, 1e9]) and not any(used[2:])
    assert dev.far_seconds(1e9, 1e9) == pytest.approx(1e9 / dev.far_tiers[0].bytes_per_s)
