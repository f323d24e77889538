"""Physical plausibility of a device: power, compute and SRAM per mm^2 of silicon against argued bounds, and the
warning `system show` prints when a preset's figures exceed them."""

import json

import pytest

from dojosim.hardware import load_system
from dojosim.hardware.plausibility import BOUNDS, densities, plausibility_warnings
from tests.conftest import run_cli

# The figures the old dojo-3-projected preset had per die position: 40x the old Dojo 2 (10x D1) and 20x its power.
OLD_DOJO_3 = ["d3.peak_flops_per_s.bf16=144.8e15", "d3.tdp_w=20000"]


@pytest.mark.parametrize("name", ["dgx-a100", "dgx-h100", "dgx-h200", "dgx-b200", "dojo-v1"])
def test_sourced_presets_are_plausible(name):
    system = load_system(name)
    found = densities(system)
    assert {d.bound.key for d in found} >= {"w_per_mm2", "bf16_flops_per_s_per_mm2"}  # the die area is known
    assert plausibility_warnings(system) == []


def test_densities_are_the_preset_figures_over_the_die_area():
    by_key = {d.bound.key: d.value for d in densities(load_system("dojo-v1"))}
    assert by_key["w_per_mm2"] == pytest.approx(400 / 645)
    assert by_key["bf16_flops_per_s_per_mm2"] == pytest.approx(362e12 / 645)
    assert by_key["sram_bytes_per_mm2"] == pytest.approx(354 * 1.25e6 / 645)
    h100 = {d.bound.key: d.value for d in densities(load_system("dgx-h100"))}
    assert "sram_bytes_per_mm2" not in h100  # no SRAM figure: that density is not checked


def test_the_old_dojo_3_figures_are_flagged_on_power_and_compute():
    warnings = plausibility_warnings(load_system("dojo-3-projected", OLD_DOJO_3))
    assert len(warnings) == 2
    assert warnings[0].startswith("power density 23.3 W/mm^2") and "H100" in warnings[0]
    assert warnings[1].startswith("dense BF16 compute density 169 TFLOP/s per mm^2")


def test_a_ten_x_d1_die_is_flagged_but_the_re_derived_generations_are_not():
    assert plausibility_warnings(load_system("dojo-2")) == []
    assert plausibility_warnings(load_system("dojo-3-projected")) == []
    ten_x = plausibility_warnings(load_system("dojo-2", ["d2.peak_flops_per_s.bf16=3.62e15"]))
    assert len(ten_x) == 1 and "5.61 TFLOP/s per mm^2" in ten_x[0]


def test_sram_beyond_bit_cell_density_is_flagged():
    sram = next(b for b in BOUNDS if b.key == "sram_bytes_per_mm2")
    per_core = sram.limit * 1.01 * 645 / 354
    warnings = plausibility_warnings(load_system("dojo-v1", [f"d1.sram_bytes_per_core={per_core}"]))
    assert len(warnings) == 1 and warnings[0].startswith("SRAM density 4.8 MB/mm^2")


def test_a_device_without_a_die_area_is_not_checked():
    assert densities(load_system("gb200-nvl72")) == []


def test_system_show_warns_on_implausible_figures():
    shown = run_cli("system", "show", "dojo-3-projected", "--set", OLD_DOJO_3[0], "--set", OLD_DOJO_3[1])
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("warning: physically implausible") == 2
    assert "warning" not in run_cli("system", "show", "dgx-h100").stdout
    doc = json.loads(run_cli("system", "show", "dojo-3-projected", "--set", OLD_DOJO_3[1], "--json").stdout)
    assert [d["plausible"] for d in doc["densities"]] == [False, True, True]
    assert len(doc["warnings"]) == 1
