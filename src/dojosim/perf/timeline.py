"""One step as an event timeline: compute chunks in each stage's pipeline order, transfers queued on the shared
resources they use, and what the step waits for.

Each pipeline stage runs its compute chunks (a micro-batch's forward or backward of one virtual stage) one at a
time in the order of its schedule (`schedule._stage_order`: 1F1B, interleaved when a stage holds several virtual
stages). A chunk starts when its stage is free and its inputs have arrived: the activation (forward) or gradient
(backward) sent by the neighbouring virtual stage, and, for the first forward of a virtual stage, its weights when
the step gathers them. Transfers (activation sends, gradient reduce-scatters per bucket, weight all-gathers) run
on a named resource (a device's NIC, its NVLink port) one at a time, in the order they become ready: two transfers
on one NIC serialise, transfers on different resources run side by side. The step ends when every stage's last
chunk and every gradient transfer are done, then the optimizer updates.

Events are processed in time order, so each resource takes its transfers in the order they are ready. The result
says, per kind of transfer, how long compute (or the step's end) waited for it: its exposed time. The critical
path follows, from the step's end back, whichever input each span waited for last.
"""

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from dojosim.perf.schedule import _stage_order

COMPUTE = "compute"
GRADIENTS = "dp_reduce"  # gradient reduce-scatter (or all-reduce) buckets
WEIGHTS = "dp_gather"  # weight all-gathers ahead of forward
SENDS = "pp_send"  # activations and their gradients between stages
OPTIMIZER = "optimizer"


@dataclass(frozen=True, slots=True)
class Span:
    """Something that ran: a compute chunk (lane 'compute', kind 'F' or 'B'), a transfer (lane: its resource,
    kind: GRADIENTS, WEIGHTS or SENDS) or the update (kind OPTIMIZER)."""

    stage: int
    lane: str
    kind: str
    micro_batch: int  # -1 where none
    chunk: int  # the virtual stage's chunk on this stage; -1 where none
    start_s: float
    end_s: float

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Timeline:
    spans: tuple[Span, ...]
    stages: int
    step_s: float
    exposed_s: dict[str, float]  # per transfer kind: how long compute or the step's end waited for it
    critical_path: tuple[Span, ...]  # from the step's start to its end

    def of(self, kind: str, stage: int | None = None) -> list[Span]:
        return [s for s in self.spans if s.kind == kind and (stage is None or s.stage == stage)]


@dataclass(frozen=True)
class StepShape:
    """What a step's timeline is built from. Times are per chunk (a micro-batch on one virtual stage) and per
    transfer; `resource_of(kind, stage)` names the resource a stage's transfers of a kind use (the same name for
    two kinds makes them contend)."""

    stages: int
    micro_batches: int
    chunks: int = 1  # virtual stages per stage (interleaving)
    fwd_s: float = 0.0  # one chunk's forward
    bwd_s: float = 0.0  # one chunk's backward (recompute included)
    send_s: float = 0.0  # one activation (or gradient) send between neighbouring stages
    grad_buckets_per_chunk: int = 0  # gradient transfers each virtual stage releases after its last backward
    grad_bucket_s: float = 0.0
    weight_gather_s: float = 0.0  # per virtual stage, gathered before its first forward (0: none)
    # Whether each virtual stage's buckets leave after its own last backward (overlapped reduction) or all of
    # them after the stage's last chunk (reduction after backward).
    grad_overlap: bool = True
    optimizer_s: float = 0.0
    after_update_s: float = 0.0  # what follows the update and the step waits for (a weight gather not overlapped)
    resource_of: Callable[[str, int], str] = field(default=lambda kind, stage: f"{kind}:{stage}")


class _Node:
    """A span being scheduled: what it still waits for and what waits for it."""

    __slots__ = ("span", "duration", "waiting", "ready", "second", "cause", "after", "lane_key", "index")

    def __init__(self, stage: int, lane: str, kind: str, mb: int, chunk: int, duration: float, lane_key: str):
        self.span = (stage, lane, kind, mb, chunk)
        self.duration = duration
        self.waiting = 0
        self.ready = 0.0  # when its last input arrived
        self.second = 0.0  # when the input before that one arrived
        self.cause: int | None = None  # index of the input that arrived last
        self.after: list[int] = []
        self.lane_key = lane_key
        self.index = -1


def simulate(shape: StepShape) -> Timeline:
    """Lay out one step of `shape` (see the module's docstring)."""
    s_count, v_count, m = shape.stages, shape.chunks, shape.micro_batches
    last_virtual = s_count * v_count - 1
    nodes: list[_Node] = []

    def add(node: _Node) -> int:
        node.index = len(nodes)
        nodes.append(node)
        return node.index

    def link(before: int, after: int) -> None:
        nodes[before].after.append(after)
        nodes[after].waiting += 1

    orders = [_stage_order(s, s_count, v_count, m) for s in range(s_count)]
    compute: dict[tuple[str, int, int], int] = {}  # (kind, virtual stage, micro-batch) -> node
    lanes: list[list[int]] = []
    for s, order in enumerate(orders):
        lane = []
        for kind, mb, chunk in order:
            duration = shape.fwd_s if kind == "F" else shape.bwd_s
            i = add(_Node(s, COMPUTE, kind, mb, chunk, duration, f"{COMPUTE}:{s}"))
            compute[(kind, chunk * s_count + s, mb)] = i
            lane.append(i)
        lanes.append(lane)
    # A stage runs its chunks in order.
    for lane in lanes:
        for a, b in zip(lane, lane[1:], strict=False):
            link(a, b)
    # Activations forward, gradients backward, across stage boundaries through a send; within a stage directly.
    for (kind, v, mb), i in list(compute.items()):
        if kind == "F":
            src = compute.get(("F", v - 1, mb))
        else:
            src = compute.get(("B", v + 1, mb)) if v < last_virtual else compute.get(("F", v, mb))
        if src is None:
            continue
        src_stage = nodes[src].span[0]
        if src_stage != nodes[i].span[0] and shape.send_s > 0:
            send = add(_Node(src_stage, "", SENDS, mb, -1, shape.send_s, shape.resource_of(SENDS, src_stage)))
            link(src, send)
            link(send, i)
        else:
            link(src, i)
    # Weights gathered before each virtual stage's first forward, in the order the stage needs them.
    if shape.weight_gather_s > 0:
        for s, order in enumerate(orders):
            firsts = [(k, mb, c) for k, mb, c in order if k == "F"]
            seen: set[int] = set()
            for _, mb, c in firsts:
                if c in seen:
                    continue
                seen.add(c)
                g = add(_Node(s, "", WEIGHTS, -1, c, shape.weight_gather_s, shape.resource_of(WEIGHTS, s)))
                link(g, compute[("F", c * s_count + s, mb)])
    # Each virtual stage's gradient buckets leave after its last backward.
    grads: list[int] = []
    if shape.grad_buckets_per_chunk and shape.grad_bucket_s > 0:
        for s, order in enumerate(orders):
            last_b: dict[int, int] = {}
            for k, mb, c in order:
                if k == "B":
                    last_b[c] = compute[("B", c * s_count + s, mb)]
            for c, b in last_b.items():
                if not shape.grad_overlap:
                    b = lanes[s][-1]
                for _ in range(shape.grad_buckets_per_chunk):
                    g = add(_Node(s, "", GRADIENTS, -1, c, shape.grad_bucket_s, shape.resource_of(GRADIENTS, s)))
                    link(b, g)
                    grads.append(g)
    return _run(nodes, shape, lanes, grads)


def _run(nodes: list[_Node], shape: StepShape, lanes: list[list[int]], grads: list[int]) -> Timeline:
    free: dict[str, float] = {}
    holder: dict[str, int] = {}  # the node that last ran on each lane
    before = [-1] * len(nodes)  # the node that ran before it on its lane
    start = [0.0] * len(nodes)
    end = [0.0] * len(nodes)
    readied = [0.0] * len(nodes)  # when its inputs were all there
    waited: dict[str, float] = {GRADIENTS: 0.0, WEIGHTS: 0.0, SENDS: 0.0}
    # Ready nodes in the order they became ready (their resource takes them in that order), then by creation.
    ready = [(0.0, i) for i, n in enumerate(nodes) if n.waiting == 0]
    heapq.heapify(ready)
    done = 0
    while ready:
        t, i = heapq.heappop(ready)
        n = nodes[i]
        lane_free = free.get(n.lane_key, 0.0)
        readied[i] = t
        start[i] = max(lane_free, t)
        end[i] = start[i] + n.duration
        free[n.lane_key] = end[i]
        before[i] = holder.get(n.lane_key, -1)
        holder[n.lane_key] = i
        if n.span[1] == COMPUTE and n.cause is not None:
            kind = nodes[n.cause].span[2]
            if kind in waited:  # the stage sat idle for the transfer itself, everything else it needed there
                waited[kind] += max(0.0, start[i] - max(lane_free, n.second, readied[n.cause]))
        done += 1
        for j in n.after:
            a = nodes[j]
            a.waiting -= 1
            if end[i] >= a.ready:
                a.second, a.ready, a.cause = a.ready, end[i], i
            else:
                a.second = max(a.second, end[i])
            if a.waiting == 0:
                heapq.heappush(ready, (a.ready, j))
    if done != len(nodes):  # cannot happen for a valid order; a guard against a cycle
        raise RuntimeError("step timeline deadlocked")
    compute_end = max((end[lane[-1]] for lane in lanes if lane), default=0.0)
    grads_end = max((end[g] for g in grads), default=0.0)
    waited[GRADIENTS] += max(0.0, grads_end - compute_end)
    update_start = max(compute_end, grads_end)
    spans = [Span(n.span[0], n.span[1] or n.lane_key, *n.span[2:], start[i], end[i]) for i, n in enumerate(nodes)]
    path: list[Span] = []
    i = max(range(len(nodes)), key=lambda k: (end[k], k)) if nodes else -1
    while i >= 0:
        path.append(spans[i])
        cause = nodes[i].cause
        # What it waited for last: the input that arrived at its start, else the span before it on its lane.
        i = cause if cause is not None and end[cause] >= start[i] else before[i]
    update = Span(-1, OPTIMIZER, OPTIMIZER, -1, -1, update_start, update_start + shape.optimizer_s)
    spans.append(update)
    path.reverse()
    path.append(update)
    step_end = update.end_s
    if shape.after_update_s > 0:
        gather = Span(-1, WEIGHTS, WEIGHTS, -1, -1, step_end, step_end + shape.after_update_s)
        spans.append(gather)
        path.append(gather)
        waited[WEIGHTS] += shape.after_update_s
        step_end = gather.end_s
    return Timeline(tuple(spans), shape.stages, step_end, waited, tuple(path))
