"""dojosim compare: budgets, device counts, the claims check, and the self-contained report."""

import dataclasses
import html
import json
import re
from html.parser import HTMLParser

import pytest

import dojosim
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


def test_a_budget_buys_devices_at_the_figures_set_on_the_command_line():
    budget = Budget("power", 2e6)
    preset = devices_for("dgx-h100", budget)
    hotter = devices_for("dgx-h100", budget, ("device.tdp_w=1400",))
    assert hotter < preset  # twice the watts per GPU: fewer GPUs for the same megawatts
    assert hotter % 8 == 0  # still whole nodes


def test_claims_are_recomputed_from_the_presets():
    claims = {c["claim"]: c for c in claims_check()}
    assert "2,250" in claims["Dojo 2 ~1,000 TOPS vs B200 ~900"]["recomputed"]
    assert "20x" in claims["36 TB/s = 3.6x NVLink 5"]["recomputed"]
    assert "per wafer 42.5 vs 14.6 PFLOP/s = 2.9x" in claims["Dojo 3 = 40x Dojo 2"]["recomputed"]
    assert "= 1.6x D1; 10x per die needs 5.6 TFLOP/s per mm^2" in claims["Dojo 2 = 10x Dojo 1 (Musk, Mar 2025)"][
        "recomputed"
    ]
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
        "--kernels",
        "framework",
        "--out",
        str(out),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["stack"], doc["kernels"]) == ("megatron-core-2024", "framework")  # which kernels every system ran
    assert [r["system"] for r in doc["results"]] == ["dgx-h100", "dojo-v1"]
    assert all(r["best"] and r["best"]["samples_per_s"] > 0 for r in doc["results"])
    assert doc["campaign"] and doc["claims"]
    page = out.read_text()
    parser = _Counter()
    parser.feed(page)
    assert parser.tags.get("svg", 0) >= 4 and parser.tags.get("table", 0) >= 3
    # The SVG namespaces are names, not addresses: nothing else on the page could reach the network.
    namespaces = ('xmlns="http://www.w3.org/2000/svg"', 'xmlns:xlink="http://www.w3.org/1999/xlink"')
    assert "<script" not in page and "http" not in page.replace(namespaces[0], "").replace(namespaces[1], "")
    assert not list(tmp_path.glob("*.part"))
    assert "every system at the same devices budget of <b>48 devices</b>" in page  # the intro's figures filled in
    assert "<b>megatron-core-2024</b> stack with <b>framework</b>" in page
    # Opens with the verdict, the same as the JSON's; every plot has ticks on both axes; a phone can read it.
    body = page[page.index("<body>") + len("<body>") :]
    assert body.startswith('<p class="verdict" id="verdict">') and html.escape(doc["verdict"]["text"]) in body
    plots = re.findall(r'<svg class="plot[^"]*" role="img" aria-label="([^"]+)".*?</svg>', page, re.S)
    assert len(plots) == parser.tags["svg"] >= 4
    for svg in re.findall(r'<svg class="plot.*?</svg>', page, re.S):
        assert '<g id="xtick_1">' in svg and '<g id="ytick_1">' in svg
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert page.count('<div class="scroll"><table>') == parser.tags["table"]
    footer = page[page.index("<footer>") :]
    assert f"dojosim {dojosim.__version__}" in footer and "compare --workload" in footer
    assert "dgx-h100: <b>sourced</b>" in footer and "dojo-v1: <b>sourced</b>" in footer


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
    assert row.system == "dojo-v1" and 0 < row.share_of_work < 1 and not row.exceeds_fleet
    assert row.gpu_devices == pytest.approx((10e18 - row.devices * 362e12) / 989e12)
    # Linear in Dojo devices, and the GPUs make up the rest of the fleet's peak: at the device count for 5%,
    # Dojo does 5% of the work of that mix.
    dojo = next(r for r in small_comparison if r.system == "dojo-v1")
    per_device = dojo.best.samples_per_s / dojo.devices
    gpu_per_flops = dojo.best.samples_per_s * (1 - row.share_of_work) / row.share_of_work / (row.gpu_devices * 989e12)
    for share in (5, 10):
        n = getattr(row, f"devices_for_{share}pct")
        gpu_rate = gpu_per_flops * (10e18 - n * 362e12)
        assert n * per_device / (n * per_device + gpu_rate) == pytest.approx(share / 100)
    assert camp.training_share(small_comparison, "dgx-b200", 10.0) == []  # that GPU was not compared


def test_a_dojo_cluster_larger_than_the_fleet_is_all_of_it_and_still_has_a_size_for_5_percent(small_comparison):
    """64 D1 are 0.023 EFLOPS: beside a 0.01 EFLOPS fleet there is no GPU left, the share of peak is 100% (not
    230%), and the Dojo size that carries 5% is a real, smaller cluster (not 0)."""
    (row,) = camp.training_share(small_comparison, "dgx-h100", 0.01)
    assert row.exceeds_fleet and row.share_of_peak == 1.0 and row.share_of_work == 1.0 and row.gpu_devices == 0
    assert 0 < row.devices_for_5pct < row.devices_for_10pct < row.devices
    from dojosim.report.compare_view import _share_cells

    cells = _share_cells(dataclasses.asdict(row))
    assert cells[3] == "100% (alone it exceeds the fleet)" and cells[5] != "0"


def test_the_verdict_names_the_winner_its_margins_on_each_cost_basis_and_what_it_hinges_on(small_comparison):
    from dojosim.report.verdict_view import verdict_text
    from dojosim.study.verdict import verdict

    v = verdict(small_comparison)
    rates = {r.system: r.best.samples_per_s for r in small_comparison}
    winner, other = sorted(rates, key=lambda name: -rates[name])
    assert v.time.system == winner and v.time.runner_up == other
    assert v.time.margin == pytest.approx(rates[winner] / rates[other])
    owned = {r.system: r.estimate.cost.owned_usd / r.best.global_batch for r in small_comparison}
    assert v.owned.system == min(owned, key=owned.get)
    assert v.owned.margin == pytest.approx(max(owned.values()) / min(owned.values()))
    # Renting is a lead of its own: dojo-v1 has no rental price, so the H100 stands alone there.
    assert (v.rented.system, v.rented.runner_up, v.unrented) == ("dgx-h100", None, ("dojo-v1",))
    assert [h.system for h in v.hinges] == list(dict.fromkeys([winner, "dojo-v1"])) and v.best_dojo == "dojo-v1"
    text = verdict_text(v, "the model", "64 devices")
    first, second = text.split(". ", 1)  # two sentences
    assert ". " not in second and second.endswith(".")
    assert f"{winner} trains the model fastest: {v.time.margin:.3g}x the throughput of {other}" in first
    assert "owned, " in first and "rented (1 system has no such price), dgx-h100 is cheapest" in first
    top = v.hinges[0].counterfactuals[0]
    assert f"{winner} is " in second and f"{top.speedup_if_free:.2f}x faster with" in second
    assert "the best Dojo system, dojo-v1, is" in second or winner == "dojo-v1"
    assert second.endswith("the figures behind it are sourced for dgx-h100, dojo-v1.")
    assert verdict([dataclasses.replace(r, best=None) for r in small_comparison]) is None


def test_fleet_bottlenecks_are_told_by_counterfactual_not_by_threshold(small_comparison):
    from dojosim.report.compare_doc import _fleet

    for row in camp.fleet(small_comparison, 1.0, 1e7, 1):
        speedups = [c.speedup_if_free for c in row.counterfactuals]
        assert speedups == sorted(speedups, reverse=True) and speedups[0] >= 1.0
        words = _fleet(row)["bottleneck"]
        assert "MFU" not in words and "small matmuls" not in words
        assert f"{speedups[0]:.2f}x faster with" in words or words.startswith("balanced")


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


def test_the_campaign_defaults_to_a_stated_assumption_and_the_command_line_replaces_it():
    default = camp.campaign_size(None, None)
    assert default == camp.DEFAULT_CAMPAIGN and default.status == "assumption" and default.samples_seen >= 1e9
    assert "no public figure" in default.basis
    assert camp.campaign_size(1e7, 2) == camp.CampaignSize(1e7, 2, "set on the command line", "user")
    half = camp.campaign_size(None, 3)
    assert (half.samples, half.epochs, half.status) == (default.samples, 3, "assumption")
    with pytest.raises(InputError, match="--samples: must be > 0"):
        camp.campaign_size(0, None)


def test_a_table_of_days_with_nothing_to_say_is_one_line():
    from dojosim.report.compare_view import left_out

    assert left_out([{"days": 0.5}, {"days": 2 / 24 / 60}], "the fleet table") is None
    line = left_out([{"days": 2 / 24 / 60}, {"days": 5 / 24 / 60}], "the fleet table is")
    assert line.startswith("the fleet table is left out: every system finishes the campaign in under an hour")
    assert "(the slowest in 5 minutes)" in line


def test_samples_and_epochs_size_the_campaign_and_the_old_flag_still_works(tmp_path):
    out = tmp_path / "r.html"
    args = ["compare", "--workload", MODEL, "--seq", "128", "--systems", "dgx-h100,dojo-v1"]
    args += ["--normalize", "devices", "--budget", "48", "--out", str(out), "--json"]
    doc = json.loads(run_cli(*args, "--samples", "1k", "--epochs", "2").stdout)
    assert doc["campaign_spec"] | {"basis": ""} == {
        "dataset_samples": 1000, "epochs": 2, "target_days": None, "basis": "", "status": "user"
    }  # fmt: skip
    rate = {r["system"]: r["best"]["samples_per_s"] for r in doc["results"]}
    assert {c["system"]: c["days"] for c in doc["campaign"]} == pytest.approx(
        {name: 2000 / r / 86400 for name, r in rate.items()}
    )
    page = out.read_text()
    # 2,000 samples take seconds: both tables of days are a line saying why instead.
    assert "The campaign table is left out: every system finishes" in page
    assert "The fleet table is left out" in page and "peak (EFLOPS)" not in page
    terminal = run_cli(*args[:-1], "--samples", "1k", "--epochs", "2").stdout
    assert terminal.startswith("verdict: At the same budget (48 devices), ")
    assert "the campaign table is left out" in terminal and "EFLOPS fleet table is left out" in terminal
    old = json.loads(run_cli(*args, "--dataset-clips", "3k").stdout)
    assert old["campaign_spec"]["dataset_samples"] == 3000
    assert "--dataset-clips" not in run_cli("compare", "--help").stdout


def test_plots_are_deterministic_and_never_share_an_id():
    from dojosim.report import html_report as h

    series = [("a", [(8.0, 10.0), (16.0, 19.0)]), ("b", [(8.0, 9.0), (16.0, 18.0)])]
    one = h.line_chart(series, "throughput", "devices", "samples per second")
    assert one == h.line_chart(series, "throughput", "devices", "samples per second")
    other = h.line_chart(series, "days", "budget", "days")
    ids = [set(re.findall(r'<(?:clipPath|path) id="([^"]+)"', svg)) for svg in (one, other)]
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    assert one.startswith('<svg class="plot" role="img" aria-label="throughput"') and "<?xml" not in one
