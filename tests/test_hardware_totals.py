"""Totals derived from parts, checked against the published figures and by hand."""

import math

import pytest

from dojosim.hardware import derive_totals, list_presets, load_system, size_system

VALIDATION_SYSTEMS = ["dgx-a100-40g", "dgx-a100", "dgx-h100", "dgx-h200", "dgx-b200", "gb200-nvl72", "gb300-nvl72"]


def totals(name: str, devices: int | None = None, overrides: list[str] | None = None):
    return derive_totals(size_system(load_system(name, overrides), devices))


def within(value: float, published: float, pct: float) -> bool:
    return abs(value / published - 1.0) * 100.0 <= pct


def test_presets_include_every_system_the_validation_tables_name():
    names = set(list_presets())
    assert set(VALIDATION_SYSTEMS) <= names
    assert {"dojo-v1", "dojo-2", "dojo-2-claimed", "dojo-3-projected"} <= names


def test_exapod_totals_match_teslas_published_figures_within_3_percent():
    t = totals("dojo-v1")
    assert t.devices == 3000
    assert within(t.peak_flops_per_s["bf16"].value, 1.1e18, 3.0)
    assert t.peak_flops_per_s["bf16"].value == pytest.approx(3000 * 362e12)
    assert within(t.sram_bytes.value, 1.3e12, 3.0)
    assert t.sram_bytes.value == pytest.approx(3000 * 354 * 1.25e6)
    assert within(t.hbm_bytes.value, 13e12, 3.0)
    assert t.hbm_bytes.value == pytest.approx(20 * 20 * 32e9)  # 20 trays x 20 DIPs x 32 GB


def test_dojo_tile_and_tray_totals():
    tile = totals("dojo-v1", 25)
    assert tile.peak_flops_per_s["bf16"].value == pytest.approx(9.05e15)
    assert tile.bisection_bytes_per_s.value == pytest.approx(5 * 2e12)  # 5 D1 edges x 2 TB/s per direction
    assert tile.power_w.value == pytest.approx(15e3)
    assert tile.hbm_bytes.value == 0  # DIPs sit on the tray, not the tile
    tray = totals("dojo-v1", 150)
    assert tray.peak_flops_per_s["bf16"].value == pytest.approx(54.3e15)
    assert tray.hbm_bytes.value == pytest.approx(640e9)
    # 20 DIPs x min(800 GB/s HBM, 900 GB/s TTP link)
    assert tray.hbm_bytes_per_s.value == pytest.approx(16e12)


def test_exapod_power_and_bisection_are_derived_from_parts():
    t = totals("dojo-v1")
    # 3,000 x 400 W + 120 tiles x 5 kW + 20 trays x 10 kW
    assert t.power_w.value == pytest.approx(3000 * 400 + 120 * 5000 + 20 * 10000)
    assert t.facility_power_w.value == pytest.approx(t.power_w.value * 1.2)
    # 10 cabinets on the Z-plane, each with 2 trays x 1 TB/s of Ethernet: half the cabinets x 2 TB/s
    assert t.bisection_bytes_per_s.value == pytest.approx(5 * 2e12)


def test_b200_cluster_of_1024():
    t = totals("dgx-b200", 1024)
    assert t.devices == 1024
    assert t.peak_flops_per_s["bf16"].value == pytest.approx(1024 * 2.25e15)
    assert t.peak_flops_per_s["fp4"].value == pytest.approx(1024 * 9e15)
    assert t.hbm_bytes.value == pytest.approx(1024 * 180e9)
    # 128 nodes of 8 x 50 GB/s NICs, non-blocking: half the nodes x 400 GB/s
    assert t.bisection_bytes_per_s.value == pytest.approx(64 * 400e9)
    assert t.power_w.value == pytest.approx(1024 * 1000 + 128 * 6300)


def test_gpu_node_and_rack_totals():
    node = totals("dgx-h100", 8)
    assert node.bisection_bytes_per_s.value == pytest.approx(4 * 450e9)
    assert node.power_w.value == pytest.approx(10.2e3)
    rack = totals("gb200-nvl72", 72)
    assert rack.peak_flops_per_s["bf16"].value == pytest.approx(180e15)
    assert rack.power_w.value == pytest.approx(120e3)
    assert totals("dgx-a100", 8).peak_flops_per_s["bf16"].value == pytest.approx(2.496e15)


@pytest.mark.parametrize("devices", [1, 2, 4, 8, 16, 1024, 12288])
def test_gpu_clusters_scale_to_any_whole_node_count(devices):
    t = totals("dgx-h100", devices)
    assert t.devices == devices
    assert t.peak_flops_per_s["bf16"].value == pytest.approx(devices * 989e12)


def test_fat_tree_tiers_follow_switch_radix():
    system = load_system("dgx-b200")
    tiers = {n: size_system(system, n).levels[-1].fat_tree_tiers for n in (512, 2048, 4096, 16384)}
    # [SPOD-B200]: two tiers up to 8 SU (2,048 GPUs), a core tier from 16 SU
    assert tiers == {512: 2, 2048: 2, 4096: 3, 16384: 3}


def test_dojo_scales_by_whole_cabinets_and_truncates_below_a_tile():
    assert totals("dojo-v1", 6000).devices == 6000
    small = size_system(load_system("dojo-v1"), 10)
    assert [lvl.name for lvl in small.levels] == ["tile"]
    assert small.levels[0].mesh_dims == (2, 5)


def test_every_sourced_published_check_holds_within_3_percent():
    checked = 0
    for name in list_presets():
        system = load_system(name)
        for check in system.checks:
            if check.published.status != "sourced":
                continue
            derived = derive_totals(size_system(system, check.devices)).as_dict()[check.total].value
            assert within(derived, check.published.value, 3.0), (name, check.total, derived)
            checked += 1
    assert checked >= 15


def test_derived_totals_carry_the_confidence_of_their_least_trusted_input():
    assert totals("dojo-v1").peak_flops_per_s["bf16"].status == "sourced"
    assert totals("dojo-v1").power_w.status == "estimate"  # tile and tray overheads are estimates
    assert totals("dojo-2").peak_flops_per_s["bf16"].status == "estimate"
    assert totals("dojo-2-claimed").peak_flops_per_s["bf16"].status == "claimed"
    assert totals("dojo-3-projected").peak_flops_per_s["bf16"].status == "projection"
    assert totals("dojo-v1", overrides=["d1.peak_flops_per_s.bf16=1e15"]).peak_flops_per_s["bf16"].status == "user"


def test_dojo_generations_follow_their_process_derivations():
    """Dojo 2 and 3 are D1's architecture moved to N5 (same die) and N2 (reticle-size die): compute per die
    scales with the cores that fit, and a Dojo 3 wafer holds 40 positions."""
    per_core = 1.024e12  # D1: 512 FLOP/cycle at 2 GHz
    assert totals("dojo-v1", 1).peak_flops_per_s["bf16"].value == pytest.approx(354 * per_core, rel=2e-3)
    assert totals("dojo-2", 1).peak_flops_per_s["bf16"].value == pytest.approx(569 * per_core, rel=1e-3)
    assert totals("dojo-3-projected", 1).peak_flops_per_s["bf16"].value == pytest.approx(1037 * per_core, rel=1e-3)
    assert totals("dojo-3-projected", 40).sram_bytes.value == pytest.approx(40 * 1037 * 1.25e6)
    assert totals("dojo-2-claimed", 1).peak_flops_per_s["bf16"].value == pytest.approx(1e15)


def test_override_for_what_if_studies_changes_the_derived_totals():
    base = size_system(load_system("dojo-v1"))
    wider = size_system(load_system("dojo-v1", ["tile.offtile_bytes_per_s=72e12"]))
    assert base.levels[1].child_egress_bytes_per_s.value == pytest.approx(36e12)
    assert wider.levels[1].child_egress_bytes_per_s.value == pytest.approx(72e12)
    assert wider.levels[1].child_egress_bytes_per_s.status == "user"
    assert wider.levels[1].bisection_bytes_per_s.value == pytest.approx(2 * base.levels[1].bisection_bytes_per_s.value)
    more_sram = totals("dojo-v1", overrides=["d1.sram_bytes_per_core=2.5e6"])
    assert more_sram.sram_bytes.value == pytest.approx(2 * totals("dojo-v1").sram_bytes.value)
    dip = totals("dojo-v1", overrides=["tray.memory.dip.bytes_per_card=64e9"])
    assert dip.hbm_bytes.value == pytest.approx(2 * 12.8e12)
    assert totals("dojo-v1", overrides=["pue=1.5"]).facility_power_w.value == pytest.approx(3.0e6)


def test_user_file_with_plain_numbers(system_file):
    t = derive_totals(size_system(load_system(str(system_file()))))
    assert t.devices == 16
    assert t.peak_flops_per_s["bf16"].value == pytest.approx(16e15)
    assert t.peak_flops_per_s["bf16"].status == "user"
    # 4 boards on a fat tree, each with 2e11 B/s egress: 2 x 2e11 across the middle
    assert t.bisection_bytes_per_s.value == pytest.approx(4e11)
    assert math.isclose(t.power_w.value, 16 * 500)


@pytest.mark.parametrize("system, devices, units, last", [("dgx-h100", 12, 2, 4), ("gb200-nvl72", 1000, 14, 64)])
def test_gpu_jobs_take_any_device_count_holding_a_partly_used_node_or_rack(system, devices, units, last):
    sized = size_system(load_system(system), devices)
    domain, top = sized.levels
    assert (domain.units, top.children, top.devices_per_unit) == (units, units, devices)
    assert devices - (units - 1) * domain.devices_per_unit == last  # what the partly used one holds
    full = size_system(load_system(system), units * domain.devices_per_unit)
    assert derive_totals(sized).power_w.value < derive_totals(full).power_w.value  # fewer devices, same units


@pytest.mark.parametrize("devices, racks", [(10240, 160), (1024, 16), (512, 8), (128, 2)])
def test_a_job_of_a_power_of_two_spreads_evenly_over_nvl72_racks_of_64(devices, racks):
    """10,240 GPUs are 160 racks of 64 (not 142 full racks and one holding 16): no group straddles racks."""
    sized = size_system(load_system("gb200-nvl72"), devices)
    domain, top = sized.levels
    assert (domain.children, domain.devices_per_unit, domain.units, top.children) == (64, 64, racks, racks)
    assert derive_totals(sized).devices == devices
