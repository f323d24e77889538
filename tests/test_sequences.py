"""Sequences as they are trained: unpadded tokens, packed rows masked per document, the loss only where it is
computed. Each charge is checked against a hand count of the kernels' work."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from dojosim.errors import InputError
from dojosim.hardware import load_system, size_system
from dojosim.job import DENSE, Job, Sequences
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.engine import Engine
from dojosim.perf.jobs import engine_for
from dojosim.perf.profile import build_profile, over_tokens
from dojosim.perf.sequences import sequenced
from dojosim.validation.run import predict_row
from dojosim.validation.table import read_table
from dojosim.workload.cache import get_graph

GPT = "gpt(layers=2,hidden=256,heads=4,vocab=1000)"
LAYERS, HIDDEN, SEQ = 2, 256, 512
BERT = "bert(layers=2,hidden=128,heads=2,vocab=1000)"


@pytest.fixture(scope="module")
def gpt():
    return build_profile(get_graph(GPT, 4, SEQ))


@pytest.fixture(scope="module")
def bert():
    return build_profile(get_graph(BERT, 2, SEQ))


def flops(profile, kinds=None, region=None):
    return sum(
        c.flops * c.count
        for c in profile.classes
        if (kinds is None or c.kind in kinds) and (region is None or c.region == region)
    )


def attention_hand_count(batch, row_lengths_squared, hidden=HIDDEN, layers=LAYERS):
    """Q K^T and P V forward (2 x 2 FLOPs per multiply-add over heads x head dim = hidden), backward twice that,
    on each full square, causal or not. A causal kernel skips about half of every square alike, so every share
    below holds either way; the full square is the convention of the devices' attention efficiencies (dgx-a100:
    'counted on full (non-causal) attention FLOPs') and of published MFU (PaLM's and Megatron's 12 l h s per
    token). Halving it was tried: with those efficiencies, 57 long-sequence public rows (16k-64k tokens, context
    parallel) moved from about +-10% to +45..+110%, the public median from 7.7% to 11.4%."""
    forward = 2 * 2 * hidden * row_lengths_squared * layers * batch
    return forward * 3


def test_the_full_row_attention_is_the_hand_count(gpt):
    assert flops(gpt, ("attention",)) == pytest.approx(attention_hand_count(4, SEQ**2))


def test_bidirectional_attention_charges_the_same_square(bert):
    # BERT's attention is not causal: the same full square per row (2 layers, hidden 128, micro-batch 2)
    assert flops(bert, ("attention",)) == pytest.approx(attention_hand_count(2, SEQ**2, 128, 2))


def test_a_packed_row_of_four_documents_of_128_tokens_charges_a_quarter_of_the_row_attention(gpt):
    packed = sequenced(gpt, Sequences(tokens_per_seq=SEQ, docs_per_row=4))
    assert flops(packed, ("attention",)) == pytest.approx(attention_hand_count(4, 4 * 128**2))
    assert flops(packed, ("attention",)) == pytest.approx(flops(gpt, ("attention",)) / 4)
    # the rest of the row is real tokens: every other op is charged as captured
    assert flops(packed, ("matmul",)) == flops(gpt, ("matmul",))


def test_an_unpadded_micro_batch_of_known_lengths_charges_their_sum(gpt):
    lengths = (100, 300, 200, 400)
    unpadded = sequenced(gpt, Sequences(lengths=lengths))
    # the blocks' weight matmuls: 2 FLOPs x 12 h^2 weights per token per layer forward, backward twice that
    hand = 2 * 12 * HIDDEN**2 * LAYERS * sum(lengths) * 3
    assert flops(unpadded, ("matmul",), "block") == pytest.approx(hand)
    assert flops(gpt, ("matmul",), "block") == pytest.approx(2 * 12 * HIDDEN**2 * LAYERS * 4 * SEQ * 3)
    # attention: each sequence its own square
    assert flops(unpadded, ("attention",)) == pytest.approx(attention_hand_count(1, sum(n * n for n in lengths)))


def test_a_fixed_length_kernel_runs_each_real_query_over_the_padded_keys(bert):
    """apex FMHA v1 is built per key length: on unpadded rows its queries stop at each row's length, its keys do
    not, so a micro-batch of known lengths charges their sum times the padded length, not their squares."""
    lengths = (100, 300)
    own = sequenced(bert, Sequences(lengths=lengths))
    fixed = sequenced(bert, Sequences(lengths=lengths), padded_keys=True)
    assert flops(own, ("attention",)) == pytest.approx(attention_hand_count(1, 100**2 + 300**2, 128, 2))
    assert flops(fixed, ("attention",)) == pytest.approx(attention_hand_count(1, (100 + 300) * SEQ, 128, 2))
    # every other op runs on the real tokens alike
    assert flops(fixed, ("matmul",)) == flops(own, ("matmul",))


def test_an_mlm_head_over_76_of_512_positions_charges_76_over_512_of_the_full_head(bert):
    gathered = sequenced(bert, Sequences(loss_positions=76))
    assert flops(gathered, region="post") == pytest.approx(flops(bert, region="post") * 76 / 512)
    # the decoder to the vocabulary: 2 x hidden x vocab per position forward, backward twice that
    decoder = [c for c in gathered.classes if c.region == "post" and c.kind == "matmul"]
    assert sum(c.flops * c.count for c in decoder) == pytest.approx(3 * 2 * (128 * 128 + 128 * 1000) * 2 * 76)
    # the encoder still runs every real token
    assert flops(gathered, region="block") == flops(bert, region="block")


def test_weights_stay_weights_when_tokens_shrink(gpt):
    half = sequenced(gpt, Sequences(tokens_per_seq=SEQ / 2))
    for full, scaled in zip(gpt.classes, half.classes, strict=True):
        fixed = full.bytes - full.token_bytes
        assert scaled.bytes - scaled.token_bytes == pytest.approx(fixed)
        if not full.over_tokens:
            assert scaled == full
    assert half.params == gpt.params and half.opt_bytes == gpt.opt_bytes


def test_memory_follows_real_tokens(gpt):
    sized = size_system(load_system("dgx-h100"), 8)
    plan = ParallelPlan(8, 32, 4, SEQ)
    full = Engine(gpt, sized).memory(plan)
    half = Engine(sequenced(gpt, Sequences(tokens_per_seq=SEQ / 2)), sized).memory(plan)
    assert half.activations == pytest.approx(full.activations / 2)
    assert (half.weights, half.gradients, half.optimizer) == (full.weights, full.gradients, full.optimizer)


def test_throughput_says_samples_real_and_padded_tokens_and_mfu_counts_real_work():
    plan = ParallelPlan(8, 32, 4, SEQ)
    dense = engine_for(Job.of(GPT, "dgx-h100", plan)).estimate(plan)
    job = Job.of(GPT, "dgx-h100", plan, sequences=Sequences(tokens_per_seq=128))
    est = engine_for(job).estimate(job.plan)
    t = est.throughput
    assert t["real_tokens_per_s"] == pytest.approx(t["samples_per_s"] * 128)
    assert t["padded_tokens_per_s"] == pytest.approx(t["samples_per_s"] * SEQ)
    # MFU on the work of the real tokens: a quarter of the tokens, and less than a quarter of the attention
    assert est.model_flops_per_step < dense.model_flops_per_step / 4
    peak = engine_for(job).device.peak(plan.precision) * plan.devices
    assert est.mfu == pytest.approx(est.model_flops_per_step / est.step_time_s / peak)

    def device_seconds(j):
        return sum(p["seconds"] for p in engine_for(j).roofline(j.plan)["points"])

    assert device_seconds(job) < device_seconds(Job.of(GPT, "dgx-h100", plan))  # small ops: launches stay


def test_a_token_axis_is_found_by_batch_and_sequence():
    assert over_tokens((4, 512, 256), 4, 512) and over_tokens((2048, 256), 4, 512)
    assert over_tokens((4, 8, 512, 32), 4, 512)
    assert not over_tokens((512, 256), 4, 512)  # a position-embedding table as long as the sequence
    assert not over_tokens((256, 768), 4, 512)


@pytest.mark.parametrize(
    ("sequences", "field"),
    [
        (Sequences(tokens_per_seq=600), "--tokens-per-seq"),
        (Sequences(tokens_per_seq=0.5), "--tokens-per-seq"),
        (Sequences(tokens_per_seq=100, docs_per_row=101), "--docs-per-row"),
        (Sequences(tokens_per_seq=100, loss_positions=200), "--loss-positions"),
        (Sequences(lengths=(10, 513)), "lengths"),
    ],
)
def test_sequences_a_row_cannot_hold_are_refused_naming_the_option(sequences, field):
    with pytest.raises(InputError, match=field):
        Job.of(GPT, "dgx-h100", ParallelPlan(8, 32, 4, SEQ), sequences=sequences)


def test_a_model_without_a_token_axis_takes_no_sequences():
    with pytest.raises(InputError, match="no token axis"):
        Job.of("resnet(depth=50)", "dgx-h100", ParallelPlan(8, 32, 4), sequences=Sequences(tokens_per_seq=2))
    assert Job.of("resnet(depth=50)", "dgx-h100", ParallelPlan(8, 32, 4)).sequences == DENSE


BERT_CHECK = ["--model", "bert-large", "--system", "dgx-a100", "--devices", "8", "--global-batch", "448",
              "--micro-batch", "56", "--seq", "512"]  # fmt: skip


MLPERF_V10_1NODE_STEP_S = 0.21075  # the public row mlperf-v1.0-bert-dgxa100-1node (mean of 10 logged runs)


def test_bert_large_as_mlperf_runs_it_fits_and_is_near_the_measured_step():
    """MLPerf Training v1.0, NVIDIA 1x DGX A100: a 448-sequence step in 0.211 s (the public row says where and how:
    run_start to run_stop over the samples trained). Charged on every padded position with the MLM head on all
    512, the step takes over twice as long; as it is trained (254 real tokens, the head on the masked positions) it
    fits, and on the stack that ran it lands within 20% of the measurement (about -17%; -22% on the default stack,
    which hides the gradient all-reduce under backward and runs variable-length attention on each square)."""
    from tests.cli_run import dojosim

    padded = dojosim("simulate", *BERT_CHECK, "--json")
    ran = dojosim("simulate", *BERT_CHECK, "--tokens-per-seq", "254", "--loss-positions", "76", "--json")
    assert ran.code == 0, ran.stderr
    doc = json.loads(ran.stdout)
    assert doc["fits"] and doc["sequences"] == {
        "seq": 512, "tokens_per_seq": 254, "docs_per_row": 1.0, "loss_positions": 76
    }  # fmt: skip
    assert doc["step_time_s"] == pytest.approx(MLPERF_V10_1NODE_STEP_S, rel=0.25)
    assert doc["throughput"]["real_tokens_per_s"] == pytest.approx(doc["throughput"]["samples_per_s"] * 254)
    padded_doc = json.loads(padded.stdout)
    assert padded_doc["step_time_s"] > 2 * doc["step_time_s"]
    assert padded_doc["memory_bytes_per_device"]["activations"] > 2 * doc["memory_bytes_per_device"]["activations"]
    stack = ["--stack", "mlperf-bert-nvidia-2021", "--precision", "fp16", "--zero", "1"]
    mlperf = json.loads(dojosim("simulate", *BERT_CHECK, "--tokens-per-seq", "254", "--loss-positions", "76",
                                *stack, "--json").stdout)  # fmt: skip
    assert doc["step_time_s"] < mlperf["step_time_s"] == pytest.approx(MLPERF_V10_1NODE_STEP_S, rel=0.2)


def mlperf_bert_rows(path):
    return [r for r in read_table(path) if r.id.startswith("mlperf-") and "-bert-" in r.id]


def test_the_public_mlperf_bert_rows_say_how_they_trained_and_are_predicted_from_it():
    """Unpadded rows (1 and 8 nodes) say so in their columns and are predicted far closer charged as trained than
    charged padded; the padded rows at 128 and 540 nodes leave the columns blank."""
    from dojosim.validation.table import public_table_path

    rows = mlperf_bert_rows(public_table_path())
    assert len(rows) == 6
    for row in rows:
        result = predict_row(row)
        assert result.reason == ""
        if row.tokens_per_seq is None:  # padded, the MLM head on every position
            assert row.loss_positions is None and abs(result.error_pct) < 15
            continue
        assert (row.tokens_per_seq, row.loss_positions) == (254, 38)
        padded = predict_row(replace(row, tokens_per_seq=None, loss_positions=None))
        assert padded.error_pct > 60 and -25 < result.error_pct < 0  # as of this commit: see the rows' notes


def test_the_v07_bert_rows_kept_off_the_public_table_are_predicted_with_their_known_gap():
    rows = mlperf_bert_rows(Path(__file__).parent / "data" / "unpadded-bert.csv")
    errors = {r.id: predict_row(r).error_pct for r in rows}
    assert len(errors) == 3
    # unpadded through a host-synchronised per-sequence attention path the model does not represent (see notes)
    assert errors["mlperf-v0.7-bert-dgxa100-1node"] == pytest.approx(-53, abs=6)
    assert errors["mlperf-v0.7-bert-dgxa100-32node"] == pytest.approx(-28, abs=6)
