import json

import pytest

from tests.conftest import run_cli


def test_capture_json(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path))
    out = tmp_path / "g.json.gz"
    result = run_cli(
        "capture",
        "llama(layers=2,hidden=64,heads=2,ffn=128,vocab=100)",
        "--batch",
        "2",
        "--seq",
        "32",
        "--out",
        str(out),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc["flops"]) == {"fwd", "bwd", "opt"} and doc["params"] > 0 and doc["activation_bytes"] > 0
    assert doc["ops"][0]["flops"] >= doc["ops"][-1]["flops"]
    assert out.is_file()


def test_capture_table_and_models_list(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path))
    table = run_cli("capture", "resnet50", "--batch", "2").stdout
    assert "parameters" in table and "top ops by FLOPs" in table and "convolution" in table
    models = json.loads(run_cli("models", "--json").stdout)
    assert {"llama3-70b", "fsd-video", "videomae-b", "resnet50"} <= {m["name"] for m in models}


def test_capture_bad_input_exits_2():
    result = run_cli("capture", "lama3-70b")
    assert result.returncode == 2 and "did you mean 'llama3-70b'" in result.stderr
    assert "Traceback" not in result.stderr


def test_simulate_json_has_the_documented_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path))
    result = run_cli(
        "simulate",
        "--model",
        "llama(layers=4,hidden=256,heads=8,kv_heads=4,ffn=512,vocab=1000)",
        "--system",
        "dgx-h100",
        "--gpus",
        "16",
        "--tp",
        "2",
        "--pp",
        "2",
        "--zero",
        "1",
        "--recompute",
        "selective",
        "--global-batch",
        "32",
        "--seq",
        "256",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {
        "step_time_s",
        "breakdown_s",
        "mfu",
        "throughput",
        "memory_bytes_per_device",
        "fits",
        "energy_j",
        "cost_owned_usd",
        "cost_rental_usd",
    } <= set(doc)
    assert doc["throughput"]["real_tokens_per_s"] > 0 and doc["fits"] is True
    assert sum(doc["breakdown_s"].values()) == pytest.approx(doc["step_time_s"])
    bottleneck = doc["bottleneck"]  # the figures and the sentence made of them, in one place
    assert bottleneck["resource"] == bottleneck["counterfactuals"][0]["resource"]
    assert bottleneck["speedup_if_free"] == max(c["speedup_if_free"] for c in bottleneck["counterfactuals"]) >= 1
    assert f"{bottleneck['speedup_if_free']:.2f}x faster" in bottleneck["sentence"]


def test_simulate_bad_plan_exits_2(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path))
    result = run_cli(
        "simulate",
        "--model",
        "llama(layers=4,hidden=256,heads=8,ffn=512,vocab=1000)",
        "--system",
        "dgx-h100",
        "--gpus",
        "16",
        "--pp",
        "3",
        "--global-batch",
        "32",
        "--seq",
        "256",
    )
    assert result.returncode == 2 and "not divisible by tp x pp x cp" in result.stderr
    assert "Traceback" not in result.stderr
