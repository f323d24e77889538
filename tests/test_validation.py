"""dojosim validate: table reading, summary statistics, and the public-set accuracy ratchet."""

import json

import pytest

from dojosim.errors import InputError
from dojosim.validation import ratchet
from dojosim.validation.run import RowResult, _percentile, summarize
from dojosim.validation.table import public_table_path, read_table
from tests.conftest import run_cli

HEADER = "id,source,model,system,gpus,precision,global_batch,micro_batch,seq_len,tp,pp,metric,measured"
ROW = 'r1,test,"llama(layers=4,hidden=256,heads=8,ffn=512,vocab=1000)",dgx-h100,16,bf16,32,1,256,2,2,step_time_s,0.5'


def test_public_table_reads_with_every_row():
    rows = read_table(public_table_path())
    assert len(rows) == 704 and len({r.id for r in rows}) == 704
    assert {r.metric for r in rows} == {"step_time_s", "tokens_per_s_per_gpu", "peak_memory_bytes"}
    assert sum(r.gpus > 1024 for r in rows) >= 15  # the scale-out rows
    assert sum(r.metric == "peak_memory_bytes" for r in rows) == 16


@pytest.mark.parametrize(
    "text, expected",
    [
        ("id,source\nx,y", "missing column(s) model, system"),
        (HEADER + ",colour\n" + ROW + ",red", "unknown column(s) colour"),
        (HEADER + "\n" + ROW.replace("step_time_s", "seconds"), "metric 'seconds' is not one of"),
        (HEADER + "\n" + ROW.replace(",16,", ",sixteen,"), "gpus='sixteen' is not a number"),
        (HEADER + "\n" + ROW + "\n" + ROW, "duplicate id 'r1'"),
    ],
)
def test_bad_tables_get_a_clear_error(tmp_path, text, expected):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        read_table(path)


def test_percentile_and_summary_by_hand():
    assert _percentile([1.0, 2.0, 3.0, 4.0, 5.0], 90) == pytest.approx(4.6)
    rows = read_table(public_table_path())[:3]
    results = [
        RowResult(rows[0], rows[0].measured * 1.1),
        RowResult(rows[1], rows[1].measured * 0.8),
        RowResult(rows[2], reason="unsupported for the test"),
    ]
    s = summarize(results)
    assert (s["rows"], s["predicted"], s["unsupported"]) == (3, 2, 1)
    assert s["median_abs_pct_error"] == pytest.approx(15.0)
    assert s["max_abs_pct_error"] == pytest.approx(20.0)
    assert s["mean_signed_pct_error"] == pytest.approx(-5.0)


def test_validate_cli_on_a_small_table(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "\n" + ROW + "\n" + ROW.replace("r1", "r2").replace(",2,2,", ",3,1,") + "\n")
    result = run_cli("validate", "--data", str(path), "--by", "system", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"]["rows"] == 2 and doc["summary"]["predicted"] == 1 and doc["summary"]["unsupported"] == 1
    bad = next(r for r in doc["rows"] if r["id"] == "r2")
    assert "not divisible by tp x pp x cp" in bad["unsupported"]  # said, never silently dropped
    assert "dgx-h100" in doc["groups"]["system"]
    assert run_cli("validate", "--data", str(path), "--by", "colour").returncode == 2


def test_ratchet_only_tightens():
    limits = {"median_abs_pct_error": 20.0, "p90_abs_pct_error": 50.0, "predicted_fraction": 0.95}
    better = {"median_abs_pct_error": 18.001, "p90_abs_pct_error": 55.0, "predicted_fraction": 1.0}
    assert ratchet.tightened(better, limits) == {
        "median_abs_pct_error": 18.01,
        "p90_abs_pct_error": 50.0,
        "predicted_fraction": 1.0,
    }
    assert ratchet.regressions(better, limits) == ["p90_abs_pct_error: 55.00 > recorded 50.00"]
    # The memory rows' median joins once recorded, and is held like the others.
    with_memory = {**better, "memory_median_abs_pct_error": 12.345}
    recorded = ratchet.tightened(with_memory, limits)
    assert recorded["memory_median_abs_pct_error"] == 12.35
    worse = {**with_memory, "memory_median_abs_pct_error": 13.0}
    assert ratchet.regressions(worse, recorded) == [
        "p90_abs_pct_error: 55.00 > recorded 50.00",
        "memory_median_abs_pct_error: 13.00 > recorded 12.35",
    ]


def test_public_validation_is_no_worse_than_the_ratchet():
    """The CI ratchet: the whole public set, predicted with the shipped presets (first run captures ~200 graphs)."""
    summary = ratchet.current()
    assert ratchet.regressions(summary, ratchet.recorded()) == []


def test_the_fitted_host_cost_is_what_the_fit_finds_and_the_held_out_half_agrees():
    """The one fitted knob: the preset must hold the value the hash-split fit picks (graphs cached by the ratchet
    test above), and the held-out half must do about as well as the half it was fitted on."""
    from dojosim.hardware import load_system
    from dojosim.validation.fit import fit_host_overhead, split

    rows = read_table(public_table_path())
    fit_rows, held_rows = split(rows)
    assert {r.id for r in fit_rows}.isdisjoint(r.id for r in held_rows) and len(fit_rows) + len(held_rows) == len(rows)
    out = fit_host_overhead("dgx-a100", rows)
    figure = load_system("dgx-a100").device.host_overhead_s
    assert figure.status == "fitted" and figure.value == pytest.approx(out["best_s"])
    held, fitted = out["held_out_half"]["median_abs_pct_error"], out["fit_half"]["median_abs_pct_error"]
    assert held < 10.0 and held < 1.5 * fitted
