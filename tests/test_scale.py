"""Jobs at scale: groups that straddle NVLink domains, any device count, collectives as NCCL runs them."""

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
