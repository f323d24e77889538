"""The CLI as a user types it: JSON shapes, tables, exit codes, no tracebacks."""

import json
import subprocess
import sys

import pytest

from tests.conftest import run_cli


def test_system_show_json_for_the_exapod():
    result = run_cli("system", "show", "dojo-v1", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["name"] == "dojo-v1" and doc["devices"] == 3000
    totals = doc["totals"]
    assert totals["peak_flops"]["bf16"] == pytest.approx(1.086e18)
    assert {"sram_bytes", "hbm_bytes", "power_w", "bisection_bytes_per_s"} <= set(totals)
    assert doc["device"]["figures"]["tdp_w"]["source"]
    assert [lvl["name"] for lvl in doc["levels"]] == ["tile", "tray", "cabinet", "exapod"]
    assert any(c["total"] == "sram_bytes" and abs(c["error_pct"]) < 3 for c in doc["checks"])


def test_system_show_b200_with_gpus_alias():
    doc = json.loads(run_cli("system", "show", "dgx-b200", "--gpus", "1024", "--json").stdout)
    assert doc["devices"] == 1024
    assert doc["totals"]["peak_flops"]["bf16"] == pytest.approx(1024 * 2.25e15)


def test_system_show_set_override():
    doc = json.loads(run_cli("system", "show", "dojo-v1", "--set", "tile.offtile_bytes_per_s=72e12", "--json").stdout)
    assert doc["levels"][1]["child_egress_bytes_per_s"] == 72e12


def test_systems_lists_every_preset():
    result = run_cli("systems", "--json")
    rows = json.loads(result.stdout)
    assert {r["name"] for r in rows} >= {"dojo-v1", "dgx-b200", "gb200-nvl72"}
    table = run_cli("systems").stdout
    assert "dojo-v1" in table and "EFLOP/s" in table


def test_system_show_table_prints_sources_and_checks():
    out = run_cli("system", "show", "dojo-v1").stdout
    assert "1.09 EFLOP/s" in out and "derived vs published" in out and "[HC34-sys]" in out


def test_compare_side_by_side():
    result = run_cli("system", "compare", "dojo-v1", "dgx-b200@3000", "--json")
    docs = json.loads(result.stdout)
    assert [d["devices"] for d in docs] == [3000, 3000]
    assert "dgx-b200" in run_cli("system", "compare", "dojo-v1", "dgx-b200@3000").stdout


@pytest.mark.parametrize(
    "args, expected",
    [
        (["system", "show", "dojo-v2"], "did you mean 'dojo-2'"),
        (["system", "show", "dojo-v1", "--set", "tile.offtile=1"], "'offtile' is not a field of 'tile'"),
        (["system", "show", "dojo-v1", "--devices", "3010"], "whole cabinets of 300 devices each; try 3000 or 3300"),
        (["system", "compare", "dgx-b200@many"], "must be a device count"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(args, expected):
    result = run_cli(*args)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_importing_hardware_does_not_import_torch():
    code = "import sys, dojosim.hardware, dojosim.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize(
    "args, expected",
    [
        (["compare", "--workload", "fsd-video", "--out", "/nonexistent-dir/r.html"], "--out: folder"),
        (["search", "--model", "llama3-8b", "--system", "dgx-h100", "--devices", "8", "--global-batch", "8",
          "--out", "/nonexistent-dir/plans"], "--out: folder '/nonexistent-dir' does not exist"),
        (["capture", "llama3-8b", "--out", "/nonexistent-dir/g.json.gz"], "--out: folder '/nonexistent-dir'"),
        (["validate", "--data", "/tmp"], "--data: '/tmp' is a folder"),
        (["sweep", "--model", "llama3-8b", "--system", "dgx-h100", "--devices", "8", "--global-batch", "8",
          "--vary", "device.hbm_bytes_per_s=1e12,2e12", "--report", "/nonexistent-dir/r.html"], "--report: folder"),
        (["simulate", "--model", "llama3-8b", "--system", "dgx-h100", "--devices", "8", "--global-batch", "8",
          "--seq", "0"], "--seq"),
    ],
)  # fmt: skip
def test_bad_output_paths_and_values_exit_2_before_any_work(args, expected):
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_a_plan_that_does_not_fit_prints_its_prediction_and_exits_3():
    import json

    args = ("simulate", "--model", "gpt3-175b", "--system", "dgx-a100", "--gpus", "8", "--tp", "8")
    args += ("--global-batch", "8")
    result = run_cli(*args, "--json")
    assert result.returncode == 3
    assert json.loads(result.stdout)["fits"] is False
    assert "does not fit: needs" in result.stderr and "Traceback" not in result.stderr


def test_version_and_short_help():
    from dojosim import __version__

    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"dojosim {__version__}"
    for args in (("-h",), ("simulate", "-h"), ("system", "-h")):
        result = run_cli(*args)
        assert result.returncode == 0 and "Usage:" in result.stdout and "Options" in result.stdout


def test_system_show_prints_what_owning_a_device_costs_part_by_part():
    import csv
    import io

    doc = json.loads(run_cli("system", "show", "dojo-v1", "--json").stdout)["cost"]
    text = run_cli("system", "show", "dojo-v1", "--csv").stdout
    block = text.split("# cost of a device, rented or owned\n", 1)[1].split("\n\n", 1)[0]
    rows = {row["item"]: row for row in csv.DictReader(io.StringIO(block))}
    dip = rows["DIP interface cards (32 GB HBM each) (one per memory:dip)"]
    assert dip["value"] == "$3,000 = $400/dev" and dip["status"] == "estimate"  # 20 cards per 150-D1 tray
    hour = rows["owned, per device-hour before electricity"]["value"]
    assert hour == f"${doc['owned_usd_per_device_hour_before_electricity']:.3f}"
    assert rows["nre devices"]["value"] == "30,000"
