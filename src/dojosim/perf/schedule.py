"""A step as a schedule, where the engine needs one: work on shared resources, in order.

`serialize` runs transfers one at a time on one resource (a NIC, a link): each starts when it is ready and the
resource is free. `bucket_tail_s` is its closed form for the case the engine meets every plan: equal chunks of
work (a layer's backward) finishing evenly over a window, each releasing one equal transfer (that layer's
gradient bucket); what shows is the time from the window's end to the last transfer's end. `one_f_one_b` lays
out a pipeline's 1F1B schedule per stage, for the bubble and for drawing a step.
"""

from dataclasses import dataclass


def serialize(ready_s: list[float], duration_s: list[float]) -> list[float]:
    """Finish times of transfers that share one resource, run in order as each is ready and the resource free."""
    finish, free = [], 0.0
    for ready, duration in zip(ready_s, duration_s, strict=True):
        free = max(free, ready) + duration
        finish.append(free)
    return finish


def bucket_tail_s(transfer_s: float, window_s: float, chunks: int) -> float:
    """What outlasts the window when `chunks` equal chunks of work end evenly over `window_s` and each releases
    one of `chunks` equal transfers (together `transfer_s`) on one resource: the last chunk's own transfer when
    the link keeps up, else everything the window could not hold. serialize() with those inputs, in closed form."""
    n = max(1, chunks)
    if transfer_s <= 0.0:
        return 0.0
    return max(transfer_s / n, transfer_s - window_s * (n - 1) / n)


def interleaved_tail_s(transfer_s: float, chunk_s: float, chunks: int, stages: int, buckets: int) -> float:
    """bucket_tail_s for a stage holding `chunks` virtual stages of an interleaved 1F1B schedule: each virtual
    stage's share of the `buckets` transfers leaves as its last backward (`chunk_s`) ends, evenly over it. On the
    stage that ends last (the first), the schedule's drain runs the last group of micro-batches chunk by chunk,
    latest first: virtual stage c's last backward ends c x stages x chunk_s before the stage's last backward
    (exact for Megatron's order; perf/timeline.py lays it out). What shows is the time from that end to the last
    transfer's end."""
    if transfer_s <= 0.0:
        return 0.0
    if chunks <= 1:
        return bucket_tail_s(transfer_s, chunk_s, buckets)
    n = max(1, round(buckets / chunks))
    each = transfer_s / (n * chunks)
    free = float("-inf")
    for c in range(chunks - 1, -1, -1):
        start = -(c * stages + 1) * chunk_s  # its last backward, with the stage's end at 0
        # serialize() over its n transfers, ready at start + k x chunk_s / n (k = 1..n), in closed form: the link
        # ends them n transfers after it is free, or after the first or the last of them is ready.
        free = max(free + n * each, start + chunk_s / n + n * each, start + chunk_s + each)
    return max(0.0, free)


@dataclass(frozen=True)
class Slot:
    stage: int
    kind: str  # "F" forward, "B" backward
    micro_batch: int
    start_s: float
    end_s: float


def _stage_order(stage: int, stages: int, chunks: int, micro_batches: int) -> list[tuple[str, int, int]]:
    """What one stage runs, in order, as Megatron's (interleaved) 1F1B does: forwards of micro-batch groups of
    `stages`, chunk by chunk; warm-up forwards, then one forward and one backward in turn, then the backwards."""
    group = stages if chunks > 1 else micro_batches

    def nth(k: int, backward: bool) -> tuple[int, int]:
        g, r = divmod(k, group * chunks)
        chunk, i = divmod(r, group)
        return g * group + i, (chunks - 1 - chunk if backward else chunk)

    total = micro_batches * chunks
    if chunks == 1:
        warm = min(stages - stage - 1, total)
    else:
        warm = min((stages - stage - 1) * 2 + (chunks - 1) * stages, total)
    order = [("F", *nth(k, False)) for k in range(warm)]
    f, b = warm, 0
    while b < total:
        if f < total:
            order.append(("F", *nth(f, False)))
            f += 1
        order.append(("B", *nth(b, True)))
        b += 1
    return order


def one_f_one_b(
    stages: int, micro_batches: int, fwd_s: float, bwd_s: float, p2p_s: float = 0.0, chunks: int = 1
) -> list[Slot]:
    """The 1F1B schedule, interleaved when each stage holds `chunks` virtual stages (Megatron's schedule; the
    micro-batches then come in groups of `stages`). `fwd_s` and `bwd_s` are a micro-batch's whole forward and
    backward on a stage, split evenly over its chunks. A chunk's forward waits for the virtual stage before it
    (plus a send), its backward for the one after it; each stage runs one thing at a time."""
    orders = [_stage_order(s, stages, chunks, micro_batches) for s in range(stages)]
    last = stages * chunks - 1
    done: dict[tuple[str, int, int], float] = {}
    slots: list[Slot] = []
    position, free = [0] * stages, [0.0] * stages
    while len(slots) < 2 * stages * micro_batches * chunks:
        progressed = False
        for s in range(stages):
            if position[s] == len(orders[s]):
                continue
            kind, i, chunk = orders[s][position[s]]
            v = chunk * stages + s  # the virtual stage
            dep = ("F", v - 1, i) if kind == "F" else ("B", v + 1, i) if v < last else ("F", v, i)
            if kind == "F" and v == 0:
                ready = 0.0
            elif dep not in done:
                continue
            else:
                ready = done[dep] + (p2p_s if dep[1] % stages != s else 0.0)
            start = max(free[s], ready)
            end = start + (fwd_s if kind == "F" else bwd_s) / chunks
            done[(kind, v, i)], free[s] = end, end
            slots.append(Slot(s, kind, i, start, end))
            position[s] += 1
            progressed = True
        if not progressed:  # cannot happen for a valid order; a guard against an endless loop
            raise RuntimeError("1F1B schedule deadlocked")
    return slots


@dataclass(frozen=True)
class StepTimeline:
    """One step laid out per pipeline stage: its 1F1B slots, then the data-parallel tail and the update."""

    slots: tuple[Slot, ...]
    stages: int
    dp_tail_s: float  # exposed data-parallel communication after the last backward
    optimizer_s: float

    @property
    def end_s(self) -> float:
        last = max((s.end_s for s in self.slots), default=0.0)
        return last + self.dp_tail_s + self.optimizer_s


def step_timeline(
    stages: int, vp: int, micro_batches: int, breakdown_s: dict[str, float], micro_batch_s: float
) -> StepTimeline:
    """The (interleaved) 1F1B schedule of an estimate's busiest stage, repeated on every stage: each
    micro-batch's forward and backward share of its time (communication included, in proportion to compute),
    sends between stages. The engine's closed form charges the sends of the fill and the drain; laid out, sends
    also stall the steady state (at most one each way per micro-batch), so the drawn step can be a little
    longer."""
    compute = breakdown_s["compute_fwd"] + breakdown_s["compute_bwd"] + breakdown_s["recompute"]
    fwd = micro_batch_s * breakdown_s["compute_fwd"] / compute if compute else micro_batch_s / 3
    p2p = breakdown_s["pp_comm"] / (2 * (stages - 1) * vp) if stages > 1 else 0.0
    slots = one_f_one_b(stages, micro_batches, fwd, micro_batch_s - fwd, p2p, vp)
    return StepTimeline(tuple(slots), stages, breakdown_s["dp_comm"], breakdown_s["optimizer"])
