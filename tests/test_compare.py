"""dojosim compare: budgets, device counts, the claims check, and the self-contained report."""

import json
from html.parser import HTMLParser

import pytest

from dojosim.errors import InputError
from dojosim.perf import compare as cmp
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
    assert cmp.parse_budget(text, normalize) == cmp.Budget(normalize, expected)


def test_bad_budget_and_normalization():
    with pytest.raises(InputError, match="--budget 'lots'"):
        cmp.parse_budget("lots", "power")
    with pytest.raises(InputError, match="--normalize: must be one of power, devices, cost"):
        cmp.parse_budget("2MW", "area")


def test_devices_follow_the_budget_in_whole_units():
    assert cmp.devices_for("dojo-v1", cmp.Budget("devices", 3000)) == 3000
    assert cmp.devices_for("dojo-2", cmp.Budget("devices", 1275)) == 1200  # whole cabinets of 300
    assert cmp.devices_for("dgx-h100", cmp.Budget("devices", 1001)) == 1000  # whole nodes of 8
    exapod_w = 2.0e6 * 1.2  # 3,000 D1 with tile and tray overheads, PUE 1.2
    assert cmp.devices_for("dojo-v1", cmp.Budget("power", exapod_w)) == 3000


def test_claims_are_recomputed_from_the_presets():
    claims = {c["claim"]: c for c in cmp.claims_check()}
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
