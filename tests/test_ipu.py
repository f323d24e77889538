"""Graphcore IPU presets, the on-chip exchange of a bulk-synchronous SRAM machine, and the MLPerf IPU rows."""

import dataclasses
from importlib import resources

import pytest

from dojosim.errors import InputError
from dojosim.hardware import derive_totals, load_system, size_system
from dojosim.job import Job
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.counterfactual import counterfactuals
from dojosim.perf.device import device_model
from dojosim.perf.exchange import exchange_s
from dojosim.perf.jobs import engine_for
from dojosim.stack import TrainingState, load_stack
from dojosim.validation.run import model_of, predict_row
from dojosim.validation.table import read_table
from tests.conftest import run_cli

IPU_ROWS = "ipu-mlperf.csv"


def ipu_rows():
    return read_table(str(resources.files("dojosim.validation").joinpath("data", IPU_ROWS)))


def test_ipu_presets_load_with_a_source_for_every_device_figure():
    for name in ("ipu-gc200", "ipu-bow"):
        device = load_system(name).device
        for field in dataclasses.fields(device):
            figure = getattr(device, field.name)
            if hasattr(figure, "source"):
                assert figure.source.strip() and figure.status, (name, field.name)
        assert device.exchange_bytes_per_s is not None and device.hbm_bytes is None  # no on-package DRAM


@pytest.mark.parametrize("devices, racks", [(16, 1), (64, 1), (128, 2), (256, 4)])
def test_ipu_pods_by_device_count(devices, racks):
    sized = size_system(load_system("ipu-gc200"), devices)
    t = derive_totals(sized)
    assert t.sram_bytes.value == pytest.approx(devices * 900e6, rel=1e-6)  # 900 MB per IPU
    assert t.peak_flops_per_s["bf16"].value == pytest.approx(devices * 250e12)  # 1 PFLOPS per 4-IPU M2000
    assert t.hbm_bytes.value == pytest.approx(devices / 4 * 32e9)  # one 32 GB Streaming Memory per machine
    units = {lvl.name: lvl.units for lvl in sized.levels}
    assert units["machine"] == devices // 4 and units.get("rack", 1) == racks
    device = device_model(sized)
    assert device.near.name == "SRAM" and device.far_tiers and device.far_tiers[0].bytes == pytest.approx(8e9)


def test_bow_is_the_gc200_clocked_higher():
    gc, bow = load_system("ipu-gc200").device, load_system("ipu-bow").device
    assert bow.cores.value == gc.cores.value and bow.sram_bytes_per_core.value == gc.sram_bytes_per_core.value
    ratio = bow.clock_hz.value / gc.clock_hz.value
    assert bow.peak_flops_per_s["bf16"].value / gc.peak_flops_per_s["bf16"].value == pytest.approx(ratio, rel=0.01)
    assert bow.exchange_bytes_per_s.value / gc.exchange_bytes_per_s.value == pytest.approx(ratio, rel=0.01)


def test_system_show_lists_the_ipu_figures():
    result = run_cli("system", "show", "ipu-gc200", "--devices", "64")
    assert result.returncode == 0, result.stderr
    for text in ("gc200", "exchange", "streaming", "1.33 GHz", "rack"):
        assert text in result.stdout, text


def test_exchange_of_a_matmul_by_hand():
    """BERT-large's first FFN matmul of one micro-batch (1,024 tokens x 1,024 x 4,096) on a GC200: each of the
    1,472 tiles does V = F / (2 x 1,472) MACs and receives 3 V^(2/3) fp16 elements at 8 TB/s / 1,472."""
    device = device_model(size_system(load_system("ipu-gc200"), 4))
    flops = 2 * 1024 * 1024 * 4096
    v = flops / 2 / 1472
    assert exchange_s(device, flops, "fp16") == pytest.approx(3 * v ** (2 / 3) * 2 / (8e12 / 1472))
    assert exchange_s(device, flops, "fp16") == pytest.approx(22.6e-6, rel=0.01)
    assert exchange_s(device, flops, "fp32") == pytest.approx(2 * exchange_s(device, flops, "fp16"))
    # Eight times the work per tile costs four times the exchange: small matmuls are exchange-heavier.
    assert exchange_s(device, 8 * flops, "fp16") == pytest.approx(4 * exchange_s(device, flops, "fp16"))
    gpu = device_model(size_system(load_system("dgx-a100"), 8))
    assert exchange_s(gpu, flops, "bf16") == 0.0  # no bulk-synchronous exchange phase on a GPU


def test_graphcore_stack_keeps_no_master_copy():
    stack = load_stack("graphcore-popart-2021")
    assert stack.training_state is TrainingState.FP16_WEIGHTS
    assert load_stack("megatron-core-2024").training_state is TrainingState.MIXED  # the default where unsaid
    model = "bert(layers=2,hidden=128,heads=2,vocab=1000)"
    plan = ParallelPlan(devices=4, global_batch=8, micro_batch=2, seq=64)
    mixed = engine_for(Job.of(model, "ipu-gc200", plan)).memory(plan)
    graphcore = engine_for(Job.of(model, "ipu-gc200", plan, stack="graphcore-popart-2021")).memory(plan)
    assert graphcore.weights == pytest.approx(mixed.weights)  # fp16 weights in both
    assert graphcore.gradients == pytest.approx(mixed.gradients / 2)  # fp16 accumulators, not fp32
    assert graphcore.optimizer == pytest.approx(mixed.optimizer * 8 / 12)  # two fp32 moments, no master copy


def test_the_ipu_rows_parse_as_the_submissions_ran():
    rows = ipu_rows()
    assert len(rows) == 11 and all(r.system == "ipu-gc200" and r.stack == "graphcore-popart-2021" for r in rows)
    bert = [r for r in rows if r.model.startswith("bert")]
    resnet = [r for r in rows if r.model.startswith("resnet")]
    assert len(bert) == 5 and len(resnet) == 6
    for r in bert:  # packed rows of 512 tokens, ~2 sequences each, the MLM loss on 76 positions
        assert (r.seq_len, r.micro_batch, r.tokens_per_seq, r.loss_positions) == (512, 2, 511, 76)
        assert r.docs_per_row == pytest.approx(1.99625) and r.recompute == "full" and r.zero == 1
        assert r.pp * r.dp == r.gpus and r.pp in (4, 8)
    for r in resnet:  # one IPU per replica, 20 images per micro-batch, 224-pixel images
        assert (r.seq_len, r.micro_batch, r.pp, r.dp) == (224, 20, 1, r.gpus)
        assert model_of(r).params["image"] == 224 and not model_of(r).has_sequence
    assert {r.gpus for r in resnet} == {16, 64, 128, 256}


def test_an_image_side_that_contradicts_the_model_is_an_error():
    row = next(r for r in ipu_rows() if r.model.startswith("resnet"))
    assert model_of(dataclasses.replace(row, seq_len=160)).params["image"] == 160
    with pytest.raises(InputError, match="image side"):
        model_of(dataclasses.replace(row, model="resnet(depth=50,image=192)"))


def test_an_ipu_bert_row_is_predicted_on_the_sram_machine():
    row = next(r for r in ipu_rows() if r.id == "mlperf-v1.1-graphcore-bert-pod64")
    result = predict_row(row)
    assert result.reason == "" and result.predicted is not None
    assert result.details["fits"] and result.details["breakdown_s"]["memory_stream"] == 0.0  # all in SRAM
    assert 0.1 < result.predicted / row.measured < 2.0
    job = Job.of(model_of(row), row.system, engine_for_row_plan(row), stack=row.stack)
    freed = {c.resource: c.speedup_if_free for c in counterfactuals(engine_for(job), job.plan)}
    assert freed["on-chip exchange"] > 1.05  # the exchange phases are a real share of the step


def engine_for_row_plan(row):
    from dojosim.validation.run import job_of

    return job_of(row).plan
