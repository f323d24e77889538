"""Jobs at scale: groups that straddle NVLink domains, any device count, collectives as NCCL runs them."""

import dataclasses
import math

import pytest

from dojosim.hardware import load_system, size_system
from dojosim.parallel import ParallelPlan, group_span


def test_a_group_straddling_two_racks_is_held_back_by_its_smaller_piece():
    """1,000 GPUs of NVL72 fill 13 racks and hold 64 in a 14th; with tp 8 each data-parallel group has 9
    members in a full rack and 8 in the last one: its 8 devices' NICs carry what crosses racks."""
    sized = size_system(load_system("gb200-nvl72"), 1000)
    span = group_span(sized, ParallelPlan(1000, 1000, tp=8), "dp")
    assert span.members_per_level[0] == 8 and not span.even
    assert span.members_per_level[0] * span.members_per_level[1] == pytest.approx(125)
    # A tensor-parallel group of 8 never straddles (72 is a multiple of 8); one of 16 does, 8 + 8.
    assert group_span(sized, ParallelPlan(1000, 1000, tp=8), "tp").members_per_level == (8, 1)
    tp16 = group_span(size_system(load_system("gb200-nvl72"), 1008), ParallelPlan(1008, 1008, tp=16), "tp")
    assert tp16.members_per_level == (8, 2)


def test_an_uneven_straddle_down_to_one_member_in_a_rack_runs_over_that_members_nic():
    """Pipelines of 4 stages 8 GPUs apart (extent 32) in racks of 72: the group at devices 64-95 has one member
    in the first rack, so the span's slowest group meets 1 member per rack."""
    sized = size_system(load_system("gb200-nvl72"), 1000)
    span = group_span(sized, ParallelPlan(1000, 1000, tp=8, pp=5), "pp")
    assert span.members_per_level == (1, 5)


def test_even_layouts_keep_whole_member_counts():
    sized = size_system(load_system("dgx-h100"), 64)
    assert group_span(sized, ParallelPlan(64, 64, tp=8), "dp").members_per_level == (1, 8)
    assert group_span(sized, ParallelPlan(64, 64, tp=4), "dp").members_per_level == (2, 8)
    assert group_span(sized, ParallelPlan(64, 64, tp=2, pp=2), "pp").members_per_level == (2, 1)
    assert group_span(sized, ParallelPlan(64, 64, tp=16), "tp").members_per_level == (8, 2)
    assert all(group_span(sized, ParallelPlan(64, 64, tp=4), k).even for k in ("tp", "pp", "dp"))


def test_hierarchical_all_reduce_on_two_nodes_by_hand():
    """16 A100s in 2 DGX nodes (no NVLS), one data-parallel group: a ring reduce-scatter and all-gather over the
    8 GPUs of a node on NVLink, and between the nodes an all-reduce of the 1/8 shard each GPU holds, on its own
    200 Gb/s NIC (a ring of 2: the tree is no faster with 2 members)."""
    from dojosim.perf import collectives as coll

    sized = size_system(load_system("dgx-a100"), 16)
    span = group_span(sized, ParallelPlan(16, 16), "dp")
    assert span.members_per_level == (8, 2)
    nbytes = 1e9
    nvlink = 300e9 * 0.78  # per direction x the measured collective share
    nic = 25e9 * 0.9
    intra = 2 * 7 / 8 * nbytes / nvlink + 2 * 7 * 2.3e-6
    inter = 2 * 1 / 2 * (nbytes / 8) / nic + 2 * 1 * 5e-6
    assert coll.all_reduce_s(nbytes, span, coll.level_links(sized)) == pytest.approx(intra + inter)


def test_ring_and_tree_cross_over_where_their_alpha_beta_terms_say():
    """Across 1,024 DGX H100 nodes (one member per node) a small all-reduce runs as NCCL's tree (2 log2 g hops,
    not 2(g-1)), a large one as the ring (which moves less data); the switch is at the size where the tree's
    extra data costs what its saved hops save. With 2 nodes the ring always wins."""
    from dojosim.perf import collectives as coll

    sized = size_system(load_system("dgx-h100"), 8 * 1024)
    links = coll.level_links(sized)
    span = group_span(sized, ParallelPlan(8 * 1024, 8 * 1024, tp=8), "dp")
    assert span.members_per_level == (1, 1024)
    link, g = links[1], 1024
    assert link.tree and not links[0].tree  # trees between nodes, not on NVLink
    bw, lat = link.bytes_per_s, link.latency_s
    crossover = 2 * lat * (g - 1 - 10) / (2 / (bw * coll.TREE_EMPIRICAL_FRACTION_OF_RING) - 2 * (g - 1) / g / bw)
    for nbytes in (crossover / 4, crossover / 1.1):
        assert coll.all_reduce_s(nbytes, span, links) == pytest.approx(coll.tree_all_reduce_s(nbytes, g, link))
        assert coll.tree_all_reduce_s(nbytes, g, link) < coll.ring_all_reduce_s(nbytes, g, link)
    for nbytes in (crossover * 1.1, crossover * 4):
        assert coll.all_reduce_s(nbytes, span, links) == pytest.approx(coll.ring_all_reduce_s(nbytes, g, link))
    small = 1e6  # 1 MB: ~10 ms of ring steps against ~0.1 ms of tree hops
    assert coll.ring_all_reduce_s(small, g, link) > 50 * coll.tree_all_reduce_s(small, g, link)
    for nbytes in (1e3, 1e6, 1e9):
        assert coll.ring_all_reduce_s(nbytes, 2, link) <= coll.tree_all_reduce_s(nbytes, 2, link)


def test_nvls_all_reduce_on_one_nvlink_domain_is_the_data_once_at_the_measured_share():
    """On an H100 NVSwitch domain the in-network reduction beats the ring at every size: S / (0.6 x 450 GB/s)
    plus two switch crossings, against a ring's 2(g-1)/g S / (0.8 x 450 GB/s) plus 2(g-1) steps."""
    from dojosim.perf import collectives as coll

    sized = size_system(load_system("dgx-h100"), 8)
    links = coll.level_links(sized)
    span = group_span(sized, ParallelPlan(8, 8, tp=8), "tp")
    for nbytes in (1e4, 1e6, 1e9):
        nvls = nbytes / (450e9 * 0.6) + 2 * 2.3e-6
        assert coll.all_reduce_s(nbytes, span, links) == pytest.approx(nvls)
        assert nvls < coll.ring_all_reduce_s(nbytes, 8, links[0])
    # Blackwell's NVSwitch reduces too (an estimate from NCCL's tuner): the whole 72-GPU rack as one group.
    rack = size_system(load_system("gb200-nvl72"), 72)
    rack_links = coll.level_links(rack)
    rack_span = group_span(rack, ParallelPlan(72, 72, tp=72), "tp")
    assert rack_span.members_per_level == (72,)
    nvls = 1e9 / (900e9 * 0.52) + 2 * 2.3e-6
    assert coll.all_reduce_s(1e9, rack_span, rack_links) == pytest.approx(nvls)


def test_an_oversubscribed_rail_optimised_fabric_slows_only_groups_wider_than_a_leaf():
    """With 2:1 oversubscription above the leaves (64-port switches: 32 nodes per rail leaf), a data-parallel
    group of 32 nodes stays under its rail's leaf at the full NIC rate; one of 64 nodes crosses the spine."""
    from dojosim.perf import collectives as coll

    def dp_all_reduce(nodes: int, overrides: list[str]) -> float:
        sized = size_system(load_system("dgx-h100", overrides), 8 * nodes)
        span = group_span(sized, ParallelPlan(8 * nodes, 8 * nodes, tp=8), "dp")
        return coll.all_reduce_s(1e9, span, coll.level_links(sized))

    oversubscribed = ["cluster.oversubscription=2"]
    assert dp_all_reduce(32, oversubscribed) == pytest.approx(dp_all_reduce(32, []))
    assert dp_all_reduce(64, oversubscribed) > 1.9 * dp_all_reduce(64, [])


def test_every_low_precision_recipe_is_sourced_and_ordered_by_what_its_casts_move():
    """Delayed scaling casts in one pass from the amax history; current (tensorwise) scaling adds an amax pass;
    rowwise adds a transposed bf16 copy; every stack names a recipe of the table."""
    from dojosim.stack import Fp8Recipe, cast_costs, list_stacks, load_stack

    def moved(name: str) -> float:
        c = cast_costs(name)
        return c.input_fwd + c.input_bwd + c.weight_fwd + c.weight_bwd + c.grad_output_bwd

    for recipe in (*Fp8Recipe, "fp4-block"):
        assert "@" in cast_costs(recipe).source  # a repository and commit
    assert moved("delayed") < moved("delayed-uncached") < moved("tensorwise") < moved("rowwise")
    assert cast_costs("delayed").weight_fwd == 0.0  # weights cast once per step, not per micro-batch
    assert {load_stack(s).fp8_recipe for s in list_stacks()} <= set(Fp8Recipe)
    assert load_stack("nemo-24.07").fp8_recipe is Fp8Recipe.DELAYED
    assert load_stack("torchtitan-compile-2024").fp8_recipe is Fp8Recipe.TENSORWISE


def _h100_engine(stack: str):
    from dojosim.job import Job
    from dojosim.perf.jobs import engine_for

    job = Job.of("gpt(layers=2,hidden=4096,heads=32,vocab=32000)", "dgx-h100", ParallelPlan(8, 16, 2, seq=4096),
                 stack=stack)  # fmt: skip
    return engine_for(job)


def test_fp8_runs_the_blocks_linears_at_the_measured_fp8_rate_and_keeps_the_output_layer_in_bf16():
    from dojosim.perf import compute

    eng = _h100_engine("megatron-core-2024")
    dev = eng.device
    assert compute.peaks(dev, "fp8")["matrix"] == pytest.approx(1979e12 * 0.78)  # torchao's measured H100 share
    assert compute.peaks(dev, "bf16")["matrix"] == pytest.approx(989e12 * 0.75)
    bf16, fp8 = eng.stage_costs(1, 1, False, "bf16"), eng.stage_costs(1, 1, False, "fp8")
    assert fp8[2] == bf16[2]  # the output layer and loss ("post") run in bf16 whatever the recipe
    assert fp8[0].fwd_s < bf16[0].fwd_s  # the blocks' GEMMs run in fp8


def test_backward_fp8_gemms_pay_split_accumulation_where_the_device_has_the_mode():
    """On H100 backward's FP8 GEMMs promote partial sums (Transformer Engine, torchao): they run at 0.87 of the
    fast rate; a recipe without it (MXFP8, Blackwell) pays nothing, nor does forward."""
    from dojosim.perf import compute
    from dojosim.perf.profile import OpClass

    dev = _h100_engine("megatron-core-2024").device
    peaks = compute.peaks(dev, "fp8")
    split = compute.recipe_casts("fp8", "delayed")
    none = dataclasses.replace(split, split_accumulation_bwd=False)
    assert compute.recipe_casts("fp8", "mxfp8").split_accumulation_bwd is False
    big = dict(flops=1e14, bytes=1e8, count=1, over_tokens=True, token_bytes=0.0)
    bwd = OpClass("bwd", "block", "matmul", "tp", False, "", "bf16", **big)
    fwd = OpClass("fwd", "block", "matmul", "tp", False, "", "bf16", **big)
    t_split = compute.class_seconds(dev, bwd, 1, 1, False, "fp8", peaks, split)[0]
    t_fast = compute.class_seconds(dev, bwd, 1, 1, False, "fp8", peaks, none)[0]
    gemm = 1e14 / peaks["matrix"]
    assert t_split - t_fast == pytest.approx(gemm / 0.87 - gemm, rel=1e-6)
    assert compute.class_seconds(dev, fwd, 1, 1, False, "fp8", peaks, split)[0] == pytest.approx(
        compute.class_seconds(dev, fwd, 1, 1, False, "fp8", peaks, none)[0]
    )


@pytest.mark.parametrize(
    "system, gpus, tp, pp",
    [
        ("gb200-nvl72", 10240, 8, 4),  # 160 racks of 64
        ("gb200-nvl72", 1000, 8, 1),  # 13 full racks and one of 64: the data-parallel groups straddle
        ("gb300-nvl72", 128, 8, 2),
        ("gb300-nvl72", 512, 8, 1),
        ("gb300-nvl72", 1024, 16, 1),
        ("dgx-b200", 100, 4, 1),  # 12 nodes and one holding 4
        ("dgx-h100", 12, 4, 1),
    ],
)
def test_simulate_takes_any_device_count_on_a_gpu_preset(system, gpus, tp, pp):
    import json

    from tests.cli_run import dojosim

    dp = gpus // (tp * pp)
    model = "llama(layers=4,hidden=256,heads=16,kv_heads=16,ffn=512,vocab=128)"
    ran = dojosim("simulate", "--model", model, "--system", system, "--gpus", gpus, "--tp", tp, "--pp", pp,
                  "--global-batch", dp * pp, "--seq", 128, "--json")  # fmt: skip
    assert ran.code == 0, ran.stderr
    doc = json.loads(ran.stdout)
    assert doc["step_time_s"] > 0
    spans = {c["group"]: c["members_per_level"] for c in doc["details"]["collectives"]}
    assert math.prod(spans["dp"]) == pytest.approx(dp)  # every data-parallel member placed somewhere
