"""The step as an event timeline (perf/timeline.py): hand-computed layouts, exposed transfers, contention."""

import pytest

from dojosim.perf.timeline import COMPUTE, GRADIENTS, SENDS, WEIGHTS, StepShape, simulate


def test_two_stage_1f1b_by_hand():
    """Two stages, three micro-batches, forward 1 s and backward 2 s per chunk, no sends. By hand:
    stage 0 runs F0 [0,1] F1 [1,2], waits for B0 from stage 1 ([2,4]), B0 [4,6], F2 [6,7], B1 [7,9], B2 [10,12];
    stage 1 runs F0 [1,2] B0 [2,4] F1 [4,5] B1 [5,7] F2 [7,8] B2 [8,10]. The step: (m + pp - 1)(f + b) = 12 s."""
    tl = simulate(StepShape(stages=2, micro_batches=3, fwd_s=1.0, bwd_s=2.0))
    by_stage = {}
    for s in (0, 1):
        ran = sorted(tl.of("F", s) + tl.of("B", s), key=lambda x: x.start_s)
        by_stage[s] = [(x.kind, x.micro_batch, x.start_s, x.end_s) for x in ran]
    assert by_stage[0] == [
        ("F", 0, 0, 1), ("F", 1, 1, 2), ("B", 0, 4, 6), ("F", 2, 6, 7), ("B", 1, 7, 9), ("B", 2, 10, 12)
    ]  # fmt: skip
    assert by_stage[1] == [
        ("F", 0, 1, 2), ("B", 0, 2, 4), ("F", 1, 4, 5), ("B", 1, 5, 7), ("F", 2, 7, 8), ("B", 2, 8, 10)
    ]  # fmt: skip
    assert tl.step_s == 12.0
    # The critical path starts at the first forward, ends with the last backward of stage 0, and each span on it
    # starts when the one before it ends.
    path = [p for p in tl.critical_path if p.lane == COMPUTE]
    assert (path[0].stage, path[0].kind, path[0].start_s) == (0, "F", 0.0)
    assert (path[-1].stage, path[-1].kind, path[-1].end_s) == (0, "B", 12.0)
    assert all(a.end_s == pytest.approx(b.start_s) for a, b in zip(path, path[1:], strict=False))
    assert sum(p.seconds for p in path) == pytest.approx(12.0)  # no gap: the path is the step


def test_sends_between_stages_delay_the_dependent_chunk():
    tl = simulate(StepShape(stages=2, micro_batches=1, fwd_s=1.0, bwd_s=2.0, send_s=0.5))
    # F0 on stage 0 [0,1], send [1,1.5], F0 on stage 1 [1.5,2.5], B0 [2.5,4.5], send [4.5,5], B0 on 0 [5,7].
    assert tl.step_s == pytest.approx(7.0)
    assert len(tl.of(SENDS)) == 2
    assert tl.exposed_s[SENDS] == pytest.approx(1.0)  # each stage waited 0.5 s for one send


def test_overlapped_reduce_scatter_shows_exactly_the_tail_after_the_last_backward():
    """One stage, two micro-batches of 1 s forward and 2 s backward; the last backward [4, 6] releases four
    gradient buckets of 0.75 s as its blocks finish (4.5, 5, 5.5, 6 s). They queue on the link: [4.5, 5.25],
    [5.25, 6], [6, 6.75], [6.75, 7.5]; the step waits 1.5 s after the last backward, then updates (0.5 s).
    That tail is what the engine's closed form (schedule.bucket_tail_s) charges."""
    from dojosim.perf.schedule import bucket_tail_s

    shape = StepShape(stages=1, micro_batches=2, fwd_s=1.0, bwd_s=2.0, grad_buckets_per_chunk=4, grad_bucket_s=0.75,
                      optimizer_s=0.5)  # fmt: skip
    tl = simulate(shape)
    last_backward = max(s.end_s for s in tl.of("B"))
    assert last_backward == 6.0
    buckets = sorted(tl.of(GRADIENTS), key=lambda s: s.start_s)
    assert [(b.start_s, b.end_s) for b in buckets] == [(4.5, 5.25), (5.25, 6.0), (6.0, 6.75), (6.75, 7.5)]
    assert tl.exposed_s[GRADIENTS] == pytest.approx(buckets[-1].end_s - last_backward) == pytest.approx(1.5)
    assert tl.exposed_s[GRADIENTS] == pytest.approx(bucket_tail_s(3.0, 2.0, 4))
    assert tl.step_s == pytest.approx(6.0 + 1.5 + 0.5)
    # The critical path ends with the last bucket and the update.
    assert [p.kind for p in tl.critical_path[-2:]] == [GRADIENTS, "optimizer"]
    # Interleaved: each virtual stage's buckets leave after its own last backward; the earlier virtual stage
    # finishes its backward last, so the later one's buckets run while it computes and only its own show.
    inter = simulate(StepShape(stages=2, micro_batches=2, chunks=2, fwd_s=1.0, bwd_s=2.0,
                               grad_buckets_per_chunk=1, grad_bucket_s=0.5))  # fmt: skip
    end0 = max(s.end_s for s in inter.of("B", 0))
    assert inter.exposed_s[GRADIENTS] == pytest.approx(0.5)
    assert inter.step_s == pytest.approx(end0 + 0.5)
    # Without overlap every bucket waits for the stage's last chunk.
    after = simulate(StepShape(stages=2, micro_batches=2, chunks=2, fwd_s=1.0, bwd_s=2.0,
                               grad_buckets_per_chunk=1, grad_bucket_s=0.5, grad_overlap=False))  # fmt: skip
    assert after.step_s == pytest.approx(end0 + 1.0)


def test_two_transfers_on_one_nic_serialise_and_on_two_links_run_side_by_side():
    """Two stages of two virtual stages, two micro-batches, 1 s chunks and sends. Stage 0 gathers each virtual
    stage's weights (2.5 s) on its NIC: chunk 0's at the start [0, 2.5], chunk 1's as chunk 0's first forward
    starts (2.5). Its forwards [2.5, 3.5] and [3.5, 4.5] each send their activation at 3.5 and 4.5. Chunk 1's
    first forward needs its weights and stage 1's output for it (sent at 5.5, landed at 6.5).
    On links of their own, the gather ends at 5 and the forward starts at 6.5. On one NIC the sends go first and
    the gather resumes after them: it ends 2 s later, at 7, and the forward waits for it: the step is 0.5 s
    longer, all of it the gather's."""
    common = dict(stages=2, micro_batches=2, chunks=2, fwd_s=1.0, bwd_s=1.0, send_s=1.0, weight_gather_s=2.5)
    shared = simulate(StepShape(**common, resource_of=lambda kind, stage: f"nic:{stage}"))
    split = simulate(StepShape(**common, resource_of=lambda kind, stage: f"{kind}:{stage}"))
    for tl, gather_end, forward in ((split, 5.0, 6.5), (shared, 7.0, 7.0)):
        gathers = sorted(tl.of(WEIGHTS, 0), key=lambda s: s.start_s)
        assert [(g.start_s, g.end_s) for g in gathers] == [(0.0, 2.5), (2.5, gather_end)]
        sends = sorted((x.start_s, x.end_s) for x in tl.of(SENDS, 0))[:2]
        assert sends == [(3.5, 4.5), (4.5, 5.5)]  # the sends never wait
        assert min(x.start_s for x in tl.of("F", 0) if x.chunk == 1) == forward
    assert shared.step_s - split.step_s == pytest.approx(0.5)
    assert shared.exposed_s[WEIGHTS] - split.exposed_s[WEIGHTS] == pytest.approx(0.5)


def test_a_send_goes_before_queued_gradient_buckets_on_a_shared_link():
    """Two stages, one micro-batch, everything on one NIC per stage. Stage 1's backward [3, 5] releases four
    gradient buckets of 1 s as its blocks finish (3.5, 4, 4.5, 5 s): they queue on its NIC from 3.5. Its send
    of the input gradient (1 s), ready at 5 while the second bucket runs, takes the link at once ([5, 6]); the
    second bucket resumes after it (its last half [6, 6.5]) and the others follow."""
    shape = StepShape(stages=2, micro_batches=1, fwd_s=1.0, bwd_s=2.0, send_s=1.0, grad_buckets_per_chunk=4,
                      grad_bucket_s=1.0, resource_of=lambda kind, stage: f"nic:{stage}")  # fmt: skip
    tl = simulate(shape)
    send = next(s for s in tl.of(SENDS, 1))
    assert (send.start_s, send.end_s) == (5.0, 6.0)
    buckets = sorted((b.start_s, b.end_s) for b in tl.of(GRADIENTS, 1))
    assert buckets == [(3.5, 4.5), (4.5, 6.5), (6.5, 7.5), (7.5, 8.5)]
    # Stage 0's backward starts as the send lands: the buckets on stage 1's link did not hold it up.
    assert min(b.start_s for b in tl.of("B", 0)) == 6.0


@pytest.mark.parametrize(
    "stages, chunks, micro_batches, fwd, bwd, total",
    [(4, 2, 8, 1.0, 2.0, 3.0), (8, 3, 64, 1.0, 2.0, 40.0), (8, 3, 64, 1.0, 3.0, 100.0), (4, 4, 16, 1.0, 2.0, 10.0),
     (2, 2, 4, 1.0, 2.0, 0.5), (4, 1, 8, 1.0, 2.0, 5.0)],
)  # fmt: skip
def test_the_engines_closed_form_for_interleaved_overlap_is_the_laid_out_timeline(
    stages, chunks, micro_batches, fwd, bwd, total
):
    """comm.dp_exposed charges, for an interleaved schedule, schedule.interleaved_tail_s: the same exposed time as
    the event timeline gives for gradient buckets after each virtual stage's last backward."""
    from dojosim.perf.schedule import bucket_tail_s, interleaved_tail_s

    common = dict(stages=stages, micro_batches=micro_batches, chunks=chunks, fwd_s=fwd, bwd_s=bwd)
    grads = simulate(StepShape(**common, grad_buckets_per_chunk=1, grad_bucket_s=total / chunks))
    assert grads.exposed_s[GRADIENTS] == pytest.approx(interleaved_tail_s(total, bwd, chunks, stages, chunks))
    plain = simulate(StepShape(**common))
    # Gathers, each issued as the previous virtual stage's first forward starts: no better than the mirror of
    # the reductions (all issued at the step's start), equal to it with one virtual stage.
    gathers = simulate(StepShape(**common, weight_gather_s=total / chunks))
    closed = interleaved_tail_s(total, fwd, chunks, stages, chunks)
    delay = gathers.step_s - plain.step_s
    assert gathers.exposed_s[WEIGHTS] == pytest.approx(delay)
    assert delay >= closed - 1e-9
    if chunks == 1:
        assert gathers.exposed_s[WEIGHTS] == pytest.approx(closed) == pytest.approx(bucket_tail_s(total, fwd, 1))


@pytest.fixture(scope="module")
def small_engine():
    from dojosim.hardware import load_system, size_system
    from dojosim.perf.engine import Engine
    from dojosim.workload.cache import get_graph

    graph = get_graph("llama(layers=8,hidden=512,heads=8,kv_heads=4,ffn=1536,vocab=4096)", 1, 256)
    return Engine(graph, size_system(load_system("dgx-h100"), 64))


@pytest.mark.parametrize("plan_kw", [dict(zero=0), dict(zero=1), dict(zero=2), dict(zero=3), dict(zero=1, tp=2)])
def test_the_engines_timeline_of_an_unpipelined_step_is_its_estimate(small_engine, plan_kw):
    """Without pipeline stages nothing but the closed forms' own events remain: the laid-out step is the
    estimate (the gradient tail and the weights' gathers under the first forward, as schedule.bucket_tail_s)."""
    from dojosim.parallel.plan import ParallelPlan

    plan = ParallelPlan(devices=64, global_batch=256, micro_batch=1, seq=256, **plan_kw)
    estimate = small_engine.estimate(plan)
    laid = small_engine.timeline(plan)
    assert laid.step_s == pytest.approx(estimate.step_time_s, rel=1e-9)
    if plan.zero in (0, 1, 2):
        shown = laid.exposed_s[GRADIENTS] + laid.exposed_s[WEIGHTS]
        assert shown == pytest.approx(estimate.breakdown_s["dp_comm"], rel=1e-6)


@pytest.mark.parametrize("vp", [1, 2])
def test_the_engines_timeline_of_a_pipeline_adds_only_the_sends_of_the_steady_state(small_engine, vp):
    from dojosim.parallel.plan import ParallelPlan

    plan = ParallelPlan(devices=64, global_batch=256, micro_batch=1, seq=256, zero=1, pp=4, vp=vp)
    estimate = small_engine.estimate(plan)
    laid = small_engine.timeline(plan)
    send = next(c for c in estimate.collectives if c.group == "pp").seconds_each
    m = plan.grad_accumulation
    assert estimate.step_time_s - 1e-12 <= laid.step_s <= estimate.step_time_s + 2 * m * vp * send
