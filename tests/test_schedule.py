"""The step as a schedule: transfers sharing a resource, the bucketed tail in closed form, and 1F1B by hand."""

from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dojosim.perf.comm import pipeline_bubble
from dojosim.perf.schedule import bucket_tail_s, one_f_one_b, serialize


def test_two_transfers_on_one_nic_run_one_after_the_other():
    # Both ready at 0 on one NIC: the second waits for the first; a third, ready late, starts when ready.
    assert serialize([0.0, 0.0, 10.0], [2.0, 3.0, 1.0]) == [2.0, 5.0, 11.0]


@settings(max_examples=200, deadline=None)
@given(
    transfer=st.floats(0.0, 100.0),
    window=st.floats(0.0, 100.0),
    chunks=st.integers(1, 64),
)
def test_the_bucketed_tail_is_the_serialized_schedule(transfer, window, chunks):
    """Equal chunks of work ending evenly over the window, each releasing an equal transfer on one link: the
    closed form is what serialize() finds, measured from the window's end."""
    ready = [window * (k + 1) / chunks for k in range(chunks)]
    finish = serialize(ready, [transfer / chunks] * chunks)
    assert bucket_tail_s(transfer, window, chunks) == pytest.approx(finish[-1] - window, abs=1e-9)


def test_an_overlapped_reduce_scatter_shows_exactly_the_tail_after_the_last_backward_chunk():
    # Four layers of backward, 1 s each; each layer's reduce-scatter takes 0.5 s: only the last one shows.
    assert bucket_tail_s(2.0, 4.0, 4) == pytest.approx(0.5)
    # Each takes 1.5 s: the link falls behind; the tail is all it could not fit after the first layer.
    assert bucket_tail_s(6.0, 4.0, 4) == pytest.approx(6.0 - 3.0)


def test_a_two_stage_1f1b_schedule_by_hand():
    # Stages 0 and 1, three micro-batches, forward 1 s, backward 2 s, sends free.
    slots = one_f_one_b(2, 3, 1.0, 2.0)
    by_stage = {s: [(x.kind, x.micro_batch, x.start_s, x.end_s) for x in slots if x.stage == s] for s in (0, 1)}
    assert by_stage[1] == [
        ("F", 0, 1.0, 2.0), ("B", 0, 2.0, 4.0), ("F", 1, 4.0, 5.0), ("B", 1, 5.0, 7.0),
        ("F", 2, 7.0, 8.0), ("B", 2, 8.0, 10.0),
    ]  # fmt: skip
    assert by_stage[0] == [
        ("F", 0, 0.0, 1.0), ("F", 1, 1.0, 2.0), ("B", 0, 4.0, 6.0), ("F", 2, 6.0, 7.0),
        ("B", 1, 7.0, 9.0), ("B", 2, 10.0, 12.0),
    ]  # fmt: skip
    step = max(x.end_s for x in slots)
    assert step == 12.0


@pytest.mark.parametrize(
    "stages, chunks, micro_batches",
    [(2, 1, 4), (4, 1, 8), (8, 1, 8), (4, 1, 32), (2, 2, 4), (4, 2, 8), (4, 4, 16), (8, 3, 32)],
)
def test_the_engines_bubble_is_the_1f1b_schedule_for_uniform_stages(stages, chunks, micro_batches):
    """Laid out op by op, plain and interleaved 1F1B end where the engine's (pp - 1) / vp bubble says."""
    fwd, bwd = 1.0, 2.0
    slots = one_f_one_b(stages, micro_batches, fwd, bwd, chunks=chunks)
    assert len(slots) == 2 * stages * micro_batches * chunks
    step = max(x.end_s for x in slots)
    assert step == pytest.approx(micro_batches * (fwd + bwd) + pipeline_bubble(stages, chunks, fwd + bwd))


SVG = "{http://www.w3.org/2000/svg}"


def test_the_drawn_step_is_the_estimated_step(tmp_path):
    """simulate --timeline: the 1F1B layout of the estimate ends where the engine's step does, and draws a row
    per stage with a forward and a backward per micro-batch."""
    import json

    from tests.conftest import run_cli

    svg = tmp_path / "step.svg"
    args = ["simulate", "--model", "gpt(layers=8,hidden=256,heads=4,vocab=1024)", "--system", "dgx-h100"]
    args += ["--gpus", "16", "--pp", "4", "--global-batch", "32", "--seq", "128", "--timeline", str(svg), "--json"]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    from dojosim.perf.schedule import step_timeline

    drawn = step_timeline(4, 1, 8, doc["breakdown_s"], doc["details"]["micro_batch_time_s"])
    # The engine charges the sends of the fill and the drain; the schedule also finds those that stall the
    # steady state: at most one each way per micro-batch.
    sends = doc["breakdown_s"]["pp_comm"]
    one_send = sends / (2 * (4 - 1))
    assert 0 < drawn.end_s - doc["step_time_s"] <= 2 * 8 * one_send
    zero_send = {**doc["breakdown_s"], "pp_comm": 0.0}
    without = step_timeline(4, 1, 8, zero_send, doc["details"]["micro_batch_time_s"])
    assert without.end_s == pytest.approx(doc["step_time_s"] - sends, rel=1e-9)
    text = svg.read_text()
    groups = {g.get("id"): g for g in ElementTree.fromstring(text).iter(f"{SVG}g") if g.get("id")}
    bars = {gid: len(list(g.iter(f"{SVG}path"))) for gid, g in groups.items() if gid.startswith(("slots-", "tail-"))}
    assert all(bars[f"slots-{kind}-stage{s}"] == 8 for kind in "FB" for s in range(4))  # a bar per micro-batch
    assert bars.get("tail-optimizer", 0) == (1 if doc["breakdown_s"]["optimizer"] > 0 else 0)
    # Under each stage, its sends (every stage but the last sends activations; every stage but the first sends
    # gradients back) and its gradient buckets.
    xfers = {gid: len(list(g.iter(f"{SVG}path"))) for gid, g in groups.items() if gid.startswith("xfer-")}
    assert xfers["xfer-pp_send-stage0"] == 8 and xfers["xfer-pp_send-stage1"] == 16
    assert all(f"xfer-dp_reduce-stage{s}" in xfers for s in range(4))
    interleaved = step_timeline(4, 2, 8, zero_send, doc["details"]["micro_batch_time_s"])
    assert len(interleaved.slots) == 2 * 4 * 8 * 2
    assert all(f">stage {s}</text>" in text for s in range(4))


@pytest.mark.parametrize("transfer_s", [0.01, 0.5, 3.0, 40.0])
@pytest.mark.parametrize("chunks, stages, buckets", [(2, 4, 8), (3, 8, 12), (4, 2, 4), (6, 8, 7)])
def test_interleaved_tail_is_serialize_over_its_buckets(transfer_s, chunks, stages, buckets):
    from dojosim.perf.schedule import interleaved_tail_s

    chunk_s = 0.7
    n = max(1, round(buckets / chunks))
    end = (chunks * stages + 1) * chunk_s  # the stage's last backward ends here
    ready = [
        end - (c * stages + 1) * chunk_s + k * chunk_s / n for c in reversed(range(chunks)) for k in range(1, n + 1)
    ]
    finish = serialize(ready, [transfer_s / (n * chunks)] * len(ready))
    assert interleaved_tail_s(transfer_s, chunk_s, chunks, stages, buckets) == pytest.approx(max(0.0, finish[-1] - end))
