"""dojosim compare: budgets, device counts, the claims check, and the self-contained report."""

import dataclasses
import json
from html.parser import HTMLParser

import pytest

from dojosim.errors import InputError
from dojosim.study import campaign as camp
from dojosim.study import compare as cmp
from dojosim.study.budget import Budget, devices_for, parse_budget
from dojosim.study.claims import claims_check
from tests.conftest import run_cli

MODEL = "llama(layers=4,hidden=256,heads=8,kv_heads=4,ffn=512,vocab=1000)"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize(
    "text, normalize, expected",
    [("2MW", "power", 2e6), ("500kW", "power", 5e5), ("3000", "devices", 3000), ("$20000/h", "cost", 20000)],
)
def test_budgets(text, normalize, expected):
    assert parse_budget(text, normalize) == Budget(normalize, expected)


def test_bad_budget_and_normalization():
    with pytest.raises(InputError, match="--budget 'lots'"):
        parse_budget("lots", "power")
    with pytest.raises(InputError, match="--normalize: must be one of power, devices, cost"):
        parse_budget("2MW", "area")


def test_devices_follow_the_budget_in_whole_units():
    assert devices_for("dojo-v1", Budget("devices", 3000)) == 3000
    assert devices_for("dojo-2", Budget("devices", 1275)) == 1200  # whole cabinets of 300
    assert devices_for("dgx-h100", Budget("devices", 1001)) == 1000  # whole nodes of 8
    exapod_w = 2.0e6 * 1.2  # 3,000 D1 with tile and tray overheads, PUE 1.2
    assert devices_for("dojo-v1", Budget("power", exapod_w)) == 3000


def test_claims_are_recomputed_from_the_presets():
    claims = {c["claim"]: c for c in claims_check()}
    assert "2,250" in claims["Dojo 2 ~1,000 TOPS vs B200 ~900"]["recomputed"]
    assert "20x" in claims["36 TB/s = 3.6x NVLink 5"]["recomputed"]
    assert "40x" in claims["Dojo 3 = 40x Dojo 2"]["recomputed"]
    assert "92 V1 ExaPODs" in claims["100 EFLOPS by the end of 2024"]["recomputed"]
    assert "-1.3% from 1.1" in claims["ExaPOD 1.1 EFLOPS from 3,000 D1"]["verdict"]


class _Counter(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1


def test_compare_writes_a_self_contained_report(tmp_path):
    out = tmp_path / "report.html"
    result = run_cli(
        "compare",
        "--workload",
        MODEL,
        "--seq",
        "128",
        "--systems",
        "dgx-h100,dojo-v1",
        "--normalize",
        "devices",
        "--budget",
        "48",
        "--out",
        str(out),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [r["system"] for r in doc["results"]] == ["dgx-h100", "dojo-v1"]
    assert all(r["best"] and r["best"]["samples_per_s"] > 0 for r in doc["results"])
    assert doc["campaign"] and doc["claims"]
    page = out.read_text()
    parser = _Counter()
    parser.feed(page)
    assert parser.tags.get("svg", 0) >= 4 and parser.tags.get("table", 0) >= 3
    assert "<script" not in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not list(tmp_path.glob("*.part"))


@pytest.fixture(scope="module")
def small_comparison(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOJOSIM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        results = cmp.compare(MODEL, ["dgx-h100", "dojo-v1"], Budget("devices", 64), 1.0, 128)
        yield results


def test_scale_out_grows_in_whole_replicas_and_units_and_costs_the_wider_reduction(small_comparison):
    h100 = small_comparison[0]
    base = h100.best
    run = camp.scale_out(h100, 1000)
    assert run.devices % base.devices == 0 and run.devices % 8 == 0 and run.devices >= 1000
    assert run.global_batch == base.global_batch * run.devices // base.devices
    assert run.samples_per_s > base.samples_per_s
    # Re-estimated, not multiplied: the wider reduction (and ZeRO's smaller optimizer shard) change the step,
    # while each replica still does the same work, so the rate per device stays close.
    assert run.estimate.step_time_s != base.best.step_time_s
    per_device, base_per_device = run.samples_per_s / run.devices, base.samples_per_s / base.devices
    assert per_device == pytest.approx(base_per_device, rel=0.1)


def test_fleet_reaches_the_asked_peak_with_each_system(small_comparison):
    rows = {r.system: r for r in camp.fleet(small_comparison, 1.0, 1e7, 1)}
    assert set(rows) == {"dgx-h100", "dojo-v1"}
    for row in rows.values():
        assert 1.0 <= row.peak_eflops < 1.1  # at least the asked 1 EFLOPS, in whole units
        assert row.days == pytest.approx(1e7 / row.samples_per_s / 86400)
    assert rows["dojo-v1"].devices % 300 == 0  # Dojo grows in whole cabinets


def test_share_of_training_is_a_share_of_work_and_the_5_and_10_percent_sizes_are_consistent(small_comparison):
    (row,) = camp.training_share(small_comparison, "dgx-h100", 10.0)
    assert row.system == "dojo-v1" and 0 < row.share_of_work < 1
    assert row.gpu_devices == pytest.approx((10e18 - row.devices * 362e12) / 989e12)
    # Linear in Dojo devices: the device count for 5% gives 5% back.
    dojo = next(r for r in small_comparison if r.system == "dojo-v1")
    per_device = dojo.best.samples_per_s / dojo.devices
    gpu_rate = row.share_of_work / (1 - row.share_of_work)  # dojo rate / gpu rate
    gpu_rate = dojo.best.samples_per_s / gpu_rate
    for share in (5, 10):
        n = getattr(row, f"devices_for_{share}pct")
        assert n * per_device / (n * per_device + gpu_rate) == pytest.approx(share / 100)
    assert camp.training_share(small_comparison, "dgx-b200", 10.0) == []  # that GPU was not compared


def test_dojo_systems_are_known_by_their_maker_not_their_name(small_comparison):
    """The share of training counts the systems a preset says Tesla makes; a GPU is never one of them."""
    assert {r.system: r.maker for r in small_comparison} == {"dgx-h100": "NVIDIA", "dojo-v1": "Tesla"}
    gpu_only = [dataclasses.replace(r, maker="NVIDIA") for r in small_comparison]
    assert camp.training_share(gpu_only, "dgx-h100", 10.0) == []


def test_h100_equivalents_read_on_peak_and_on_the_workload(small_comparison):
    eq = camp.h100_equivalents(small_comparison, "dojo-v1", "dgx-h100", 8000)
    assert eq.dojo_devices_on_peak == pytest.approx(8000 * 989 / 362)
    assert eq.dojo_devices_on_workload * eq.gpu_work_of_those_dojo_devices == pytest.approx(
        8000 * eq.dojo_devices_on_peak
    )


def test_costs_are_never_mixed_in_one_column(tmp_path):
    """The headline cost is owned (at cost) for every system; renting is a column of its own, blank where a
    system has no rental price."""
    import json

    from tests.conftest import run_cli

    out = tmp_path / "r.html"
    args = ("compare", "--workload", "fsd-video", "--systems", "dojo-v1,dgx-h100", "--out", str(out), "--json")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    rows = {r["system"]: r["best"] for r in json.loads(result.stdout)["results"]}
    assert rows["dojo-v1"]["cost_rental_usd"] is None and rows["dgx-h100"]["cost_rental_usd"] > 0
    html = out.read_text()
    assert "$ per 1M samples, rented" in html and "$ per 1M samples, owned" in html
    table = run_cli(*args[:-1]).stdout
    assert "$/1M owned" in table
