"""Tesla's workload claims against A100, recomputed by searching both sides: the ratios follow the searched
plans, the budgets buy the GPUs that compare's budgets would, a preset change moves the answer, and the verdict
names what it hinges on."""

import json
from dataclasses import replace

import pytest

from dojosim.hardware import load_system
from dojosim.report.workload_claims_view import phrase, workload_claims_document
from dojosim.study.budget import Budget, devices_for, per_device
from dojosim.study.workload_claims import applicable, workload_claims
from tests.conftest import run_cli

FAST_DIPS = ("tray.memory.dip.bytes_per_s_per_card=8e12", "tray.memory.dip.link_bytes_per_s_per_card=9e12")


@pytest.fixture(scope="module")
def claims():
    return {c.key: c for c in workload_claims()}


def test_each_claim_is_a_ratio_of_searched_plans_at_the_stated_and_equal_budgets(claims):
    assert set(claims) == {"tile_vs_boxes", "cabinets_vs_racks", "auto_labeling_speedup", "occupancy_speedup"}
    d1 = per_device("dojo-v1")
    for c in claims.values():
        assert c.equal_power.devices == devices_for("dgx-a100", Budget("power", c.dojo.devices * d1.facility_w))
        assert c.equal_cost.devices == devices_for("dgx-a100", Budget("cost", c.dojo.devices * d1.usd_per_hour))
        assert c.ratio_equal_power == pytest.approx(c.dojo.samples_per_s / c.equal_power.samples_per_s)
        assert c.ratio_per_chip == pytest.approx(c.ratio_equal_power * c.equal_power.devices / c.dojo.devices)
        assert c.dojo.samples_per_s > 0 and 0 < c.dojo.mfu < 1
    tile = claims["tile_vs_boxes"]  # a cabinet of 12 tiles against the 72 boxes the claim says they replace
    assert (tile.dojo.devices, tile.stated.devices) == (300, 576)
    assert tile.ratio_stated == pytest.approx(6 * tile.dojo.samples_per_s / tile.stated.samples_per_s)
    assert tile.tile_usd == pytest.approx(25 * load_system("dojo-v1").cost.equipment_usd_per_device)
    assert tile.box_usd == pytest.approx(8 * load_system("dgx-a100").cost.equipment_usd_per_device)
    cabinets = claims["cabinets_vs_racks"]
    assert (cabinets.dojo.devices, cabinets.stated.devices) == (1200, 4000)
    assert claims["occupancy_speedup"].dojo.plan != claims["auto_labeling_speedup"].dojo.plan or (
        claims["occupancy_speedup"].dojo.samples_per_s != claims["auto_labeling_speedup"].dojo.samples_per_s
    )  # two different networks


def test_a_preset_change_moves_the_ratio(claims):
    """The Dojo plans stream from the edge HBM: faster DIPs raise Dojo's side; slower A100 HBM lowers the GPUs'."""
    faster = {c.key: c for c in workload_claims(dojo_overrides=FAST_DIPS)}
    slower_gpu = {c.key: c for c in workload_claims(gpu_overrides=("a100.hbm_bytes_per_s=0.5e12",))}
    for key, base in claims.items():
        assert faster[key].ratio_equal_power > base.ratio_equal_power * 1.2
        assert slower_gpu[key].ratio_equal_power > base.ratio_equal_power * 1.2
        assert faster[key].equal_power == base.equal_power  # the GPU side is untouched


def test_the_verdict_names_what_it_hinges_on(claims):
    c = claims["occupancy_speedup"]
    text = phrase(c)
    assert text["recomputed"].startswith(f"at equal power {c.ratio_equal_power:.2f}x")
    assert "unverified" in text["verdict"]
    streamed = replace(c, dojo=replace(c.dojo, bottleneck_part="memory_stream", bottleneck_share=0.9))
    assert "streams from edge HBM for 90% of the step" in phrase(streamed)["verdict"]
    computed = replace(c, dojo=replace(c.dojo, bottleneck_part="compute_fwd", bottleneck_share=0.7, mfu=0.4))
    assert "delivered compute: 70% of the step is compute at 40.0% MFU" in phrase(computed)["verdict"]
    fast = replace(c, dojo=replace(c.dojo, samples_per_s=5 * c.equal_power.samples_per_s))
    assert phrase(fast)["verdict"].startswith("holds (5.00 vs the claimed 4.4)")
    some = replace(c, dojo=replace(c.dojo, samples_per_s=2 * c.equal_power.samples_per_s))
    assert phrase(some)["verdict"].startswith("holds in part (2.00")
    tile = phrase(claims["tile_vs_boxes"])["verdict"]
    assert "a DGX A100's price / 25, taken from this claim" in tile
    doc = workload_claims_document(list(claims.values()))
    assert [w["model"] for w in doc["workloads"]] == ["fsd-video(frames=32,channels=384)", "fsd-video()"]
    assert all(row["verdict"] and row["ratio_equal_cost"] > 0 for row in doc["claims"])


def test_overrides_that_name_a_part_a_system_lacks_are_left_to_the_systems_that_have_it():
    sets = ("tile.offtile_bytes_per_s=72e12", "device.idle_w=50")
    assert applicable("dojo-v1", sets) == sets
    assert applicable("dgx-a100", sets) == ("device.idle_w=50",)


def test_compare_shows_the_section_in_json_terminal_and_html(tmp_path):
    out = tmp_path / "r.html"
    args = ["compare", "--model", "fsd-video", "--systems", "dojo-v1", "--set", "tile.offtile_bytes_per_s=72e12"]
    ran = run_cli(*args, "--out", str(out), "--json")
    assert ran.returncode == 0, ran.stderr
    section = json.loads(ran.stdout)["workload_claims"]
    assert section["overrides"] == {"dojo-v1": ["tile.offtile_bytes_per_s=72e12"], "dgx-a100": []}
    assert len(section["claims"]) == 4 and all(c["dojo"]["system"] == "dojo-v1" for c in section["claims"])
    page = out.read_text()
    assert "Tesla&#x27;s workload claims vs A100, recomputed" in page or "Tesla's workload claims vs A100" in page
    assert "4 Dojo cabinets replace 72 GPU racks" in page and "fsd-video(frames=32,channels=384)" in page
    table = run_cli(*args, "--out", str(out)).stdout
    assert "workload claims vs A100" in table and "Hinges on" in table


def test_a_comparison_without_a_dojo_system_leaves_the_section_out(tmp_path):
    out = tmp_path / "r.html"
    tiny = "llama(layers=2,hidden=128,heads=4,kv_heads=4,ffn=256,vocab=500)"
    args = ("compare", "--workload", tiny, "--seq", "64", "--systems", "dgx-h100", "--normalize", "devices")
    ran = run_cli(*args, "--budget", "16", "--out", str(out), "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["workload_claims"] is None
    assert "no Dojo system in this comparison" in out.read_text()
