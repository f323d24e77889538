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


@dataclass(frozen=True)
class Slot:
    stage: int
    kind: str  # "F" forward, "B" backward
    micro_batch: int
    start_s: float
    end_s: float


def one_f_one_b(stages: int, micro_batches: int, fwd_s: float, bwd_s: float, p2p_s: float = 0.0) -> list[Slot]:
    """The non-interleaved 1F1B schedule: stage s runs (stages - s) warm-up forwards (at most the micro-batches),
    then alternates one backward and one forward, then drains its backwards. A forward waits for the stage
    before it (plus a send), a backward for the stage after it; each stage runs one thing at a time."""
    orders = []
    for s in range(stages):
        warm = min(stages - s, micro_batches)
        order = [("F", i) for i in range(warm)]
        f, b = warm, 0
        while b < micro_batches:
            order.append(("B", b))
            b += 1
            if f < micro_batches:
                order.append(("F", f))
                f += 1
        orders.append(order)
    done: dict[tuple[str, int, int], float] = {}
    slots: list[Slot] = []
    position = [0] * stages
    free = [0.0] * stages
    while len(slots) < 2 * stages * micro_batches:
        progressed = False
        for s in range(stages):
            if position[s] == len(orders[s]):
                continue
            kind, i = orders[s][position[s]]
            dep = ("F", s - 1, i) if kind == "F" else ("B", s + 1, i) if s + 1 < stages else ("F", s, i)
            if kind == "F" and s == 0:
                ready = 0.0
            elif dep not in done:
                continue
            else:
                ready = done[dep] + (p2p_s if dep[1] != s else 0.0)
            start = max(free[s], ready)
            end = start + (fwd_s if kind == "F" else bwd_s)
            done[(kind, s, i)], free[s] = end, end
            slots.append(Slot(s, kind, i, start, end))
            position[s] += 1
            progressed = True
        if not progressed:  # cannot happen for a valid 1F1B order; a guard against an endless loop
            raise RuntimeError("1F1B schedule deadlocked")
    return slots


@dataclass(frozen=True)
class StepTimeline:
    """One step laid out per pipeline stage: its 1F1B slots, then the data-parallel tail and the update."""

    slots: tuple[Slot, ...]
    stages: int
    dp_tail_s: float  # exposed data-parallel communication after the last backward
    optimizer_s: float
    interleaved: bool  # the plan interleaves virtual stages; drawn here without interleaving

    @property
    def end_s(self) -> float:
        last = max((s.end_s for s in self.slots), default=0.0)
        return last + self.dp_tail_s + self.optimizer_s


def step_timeline(
    stages: int, vp: int, micro_batches: int, breakdown_s: dict[str, float], micro_batch_s: float
) -> StepTimeline:
    """The 1F1B schedule of an estimate's busiest stage, repeated on every stage: each micro-batch's forward and
    backward share of its time (communication included, in proportion to compute), sends between stages. The
    engine's closed form charges the sends of the fill and the drain; laid out, sends also stall the steady
    state (at most one each way per micro-batch), so the drawn step can be a little longer."""
    compute = breakdown_s["compute_fwd"] + breakdown_s["compute_bwd"] + breakdown_s["recompute"]
    fwd = micro_batch_s * breakdown_s["compute_fwd"] / compute if compute else micro_batch_s / 3
    p2p = breakdown_s["pp_comm"] / (2 * (stages - 1) * vp) if stages > 1 else 0.0
    slots = one_f_one_b(stages, micro_batches, fwd, micro_batch_s - fwd, p2p)
    return StepTimeline(tuple(slots), stages, breakdown_s["dp_comm"], breakdown_s["optimizer"], vp > 1)
