"""One step as an event timeline: compute chunks in each stage's pipeline order, transfers on the shared links
they use, and what the step waits for.

Each pipeline stage runs its compute chunks (a micro-batch's forward or backward of one virtual stage) one at a
time in the order of its schedule (`schedule._stage_order`: 1F1B, interleaved when a stage holds several virtual
stages). A chunk starts when its stage is free and its inputs have arrived: the activation (forward) or gradient
(backward) sent by the neighbouring virtual stage, and, for the first forward of a virtual stage, its weights when
the step gathers them (prefetched one virtual stage ahead). Gradient buckets leave as the blocks of each virtual
stage's last backward finish (or after the stage's last chunk, without overlap). Transfers run on a named link (a
device's NIC, its NVLink port): on one link they take turns, sends between stages first, then weight gathers, then
gradient buckets, a higher-priority transfer interrupting a lower one, which resumes after it; transfers on
different links run side by side. The step ends when every stage's last chunk and every gradient transfer are
done, then the optimizer updates.

A kind of transfer's exposed time is how much shorter the step would be were it instant; the critical path
follows, from the step's end back, whatever each span waited for last.
"""

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field, replace

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
    exposed_s: dict[str, float]  # per transfer kind: how much shorter the step would be were it instant
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
    # Gradient transfers each virtual stage releases during its last backward, one as each of its blocks finishes
    # (evenly over the chunk), or all after the stage's last chunk without overlap.
    grad_buckets_per_chunk: int = 0
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

    __slots__ = ("span", "duration", "waiting", "ready", "cause", "after", "lane_key")

    def __init__(self, stage: int, lane: str, kind: str, mb: int, chunk: int, duration: float, lane_key: str):
        self.span = (stage, lane, kind, mb, chunk)
        self.duration = duration
        self.waiting = 0
        self.ready = 0.0  # when its last input arrived
        self.cause: int | None = None  # index of the input that arrived last
        self.after: list[tuple[int, float]] = []  # (node, lead): that node may start `lead` before this one ends
        self.lane_key = lane_key


class _Graph:
    """The step's spans to schedule and what each waits for."""

    def __init__(self) -> None:
        self.nodes: list[_Node] = []

    def add(self, node: _Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def link(self, before: int, after: int, lead: float = 0.0) -> None:
        """`after` waits for `before`, less `lead` (a bucket that leaves while its chunk still computes)."""
        self.nodes[before].after.append((after, lead))
        self.nodes[after].waiting += 1


def simulate(shape: StepShape) -> Timeline:
    """Lay out one step of `shape` (see the module's docstring). A kind of transfer's exposed time is what the
    step would be shorter were those transfers instant (laid out again without them): the tail it adds after
    the last backward, or the stalls it causes that the schedule's bubbles do not absorb."""
    laid = _layout(shape)
    free = {
        SENDS: replace(shape, send_s=0.0),
        WEIGHTS: replace(shape, weight_gather_s=0.0, after_update_s=0.0),
        GRADIENTS: replace(shape, grad_bucket_s=0.0),
    }
    has = {
        SENDS: shape.send_s > 0 and shape.stages > 1,
        WEIGHTS: shape.weight_gather_s > 0 or shape.after_update_s > 0,
        GRADIENTS: shape.grad_bucket_s > 0 and shape.grad_buckets_per_chunk > 0,
    }
    exposed = {k: max(0.0, laid.step_s - _layout(free[k]).step_s) if has[k] else 0.0 for k in free}
    return replace(laid, exposed_s=exposed)


def _layout(shape: StepShape) -> Timeline:
    graph = _Graph()
    orders = [_stage_order(s, shape.stages, shape.chunks, shape.micro_batches) for s in range(shape.stages)]
    compute, lanes = _compute(graph, shape, orders)
    if shape.weight_gather_s > 0:
        _weight_gathers(graph, shape, orders, compute)
    grads = _gradient_buckets(graph, shape, orders, compute, lanes)
    return _run(graph.nodes, shape, lanes, grads)


def _compute(
    graph: _Graph, shape: StepShape, orders: list[list[tuple[str, int, int]]]
) -> tuple[dict[tuple[str, int, int], int], list[list[int]]]:
    """Each stage's chunks in order, each waiting for its input from the neighbouring virtual stage (through a
    send across a stage boundary)."""
    stages, last_virtual = shape.stages, shape.stages * shape.chunks - 1
    compute: dict[tuple[str, int, int], int] = {}  # (kind, virtual stage, micro-batch) -> node
    lanes: list[list[int]] = []
    for s, order in enumerate(orders):
        lane = []
        for kind, mb, chunk in order:
            duration = shape.fwd_s if kind == "F" else shape.bwd_s
            i = graph.add(_Node(s, COMPUTE, kind, mb, chunk, duration, f"{COMPUTE}:{s}"))
            compute[(kind, chunk * stages + s, mb)] = i
            lane.append(i)
        lanes.append(lane)
        for a, b in zip(lane, lane[1:], strict=False):
            graph.link(a, b)
    for (kind, v, mb), i in list(compute.items()):
        if kind == "F":
            src = compute.get(("F", v - 1, mb))
        else:
            src = compute.get(("B", v + 1, mb)) if v < last_virtual else compute.get(("F", v, mb))
        if src is None:
            continue
        src_stage = graph.nodes[src].span[0]
        if src_stage != graph.nodes[i].span[0] and shape.send_s > 0:
            lane_key = shape.resource_of(SENDS, src_stage)
            send = graph.add(_Node(src_stage, "", SENDS, mb, -1, shape.send_s, lane_key))
            graph.link(src, send)
            graph.link(send, i)
        else:
            graph.link(src, i)
    return compute, lanes


def _weight_gathers(
    graph: _Graph, shape: StepShape, orders: list[list[tuple[str, int, int]]], compute: dict[tuple[str, int, int], int]
) -> None:
    """Each virtual stage's weights in pieces (one per block), gathered in the order the stage needs them: the
    first virtual stage's from the step's start, each next one's as the previous virtual stage's first forward
    starts (prefetched one ahead). Piece k of n is needed k - 1 n-ths of the way through the first forward."""
    n = max(1, shape.grad_buckets_per_chunk)
    for s, order in enumerate(orders):
        previous = None
        seen: set[int] = set()
        for kind, mb, c in order:
            if kind != "F" or c in seen:
                continue
            seen.add(c)
            first = compute[("F", c * shape.stages + s, mb)]
            for k in range(1, n + 1):
                g = graph.add(_Node(s, "", WEIGHTS, -1, c, shape.weight_gather_s / n, shape.resource_of(WEIGHTS, s)))
                if previous is not None:
                    graph.link(previous, g, lead=graph.nodes[previous].duration)  # ready as that forward starts
                graph.link(g, first, lead=(k - 1) / n * shape.fwd_s)
            previous = first


def _gradient_buckets(
    graph: _Graph,
    shape: StepShape,
    orders: list[list[tuple[str, int, int]]],
    compute: dict[tuple[str, int, int], int],
    lanes: list[list[int]],
) -> list[int]:
    """Each virtual stage's buckets, the k-th of n leaving k n-ths of the way through its last backward (or all
    after the stage's last chunk, without overlap)."""
    grads: list[int] = []
    n = shape.grad_buckets_per_chunk
    if not n or shape.grad_bucket_s <= 0:
        return grads
    for s, order in enumerate(orders):
        last_b = {c: compute[("B", c * shape.stages + s, mb)] for kind, mb, c in order if kind == "B"}
        for c, b in last_b.items():
            if not shape.grad_overlap:
                b = lanes[s][-1]
            for k in range(1, n + 1):
                g = graph.add(_Node(s, "", GRADIENTS, -1, c, shape.grad_bucket_s, shape.resource_of(GRADIENTS, s)))
                lead = (n - k) / n * graph.nodes[b].duration if shape.grad_overlap else 0.0
                graph.link(b, g, lead)
                grads.append(g)
    return grads


# Transfers on one link share it as NCCL's concurrent streams do, approximated by priority: a send between
# stages (small, on the critical path) goes ahead of weight gathers (the next forward needs them), which go ahead
# of gradient buckets (only the update waits for them). A transfer of higher priority that becomes ready while a
# lower one runs takes the link at once; the one it interrupts resumes after it, as much later as it took.
PRIORITY = {SENDS: 0, WEIGHTS: 1, GRADIENTS: 2}


def _run(nodes: list[_Node], shape: StepShape, lanes: list[list[int]], grads: list[int]) -> Timeline:
    busy_until: dict[str, float] = {}  # compute lanes: when the stage is free
    running: dict[str, int] = {}  # links: the transfer on it now
    queued: dict[str, list[tuple[int, float, int]]] = {}  # links: (priority, ready, node) waiting for it
    left = [n.duration for n in nodes]  # what a transfer still has to move, when it is not running
    holder: dict[str, int] = {}  # the node that last started on each lane
    before = [-1] * len(nodes)  # the node that ran before it on its lane
    start = [-1.0] * len(nodes)
    end = [0.0] * len(nodes)
    # Events in time order; at one time, finishing (0) before becoming ready (1), so that a transfer ready as its
    # link frees competes for it with those queued.
    events: list[tuple[float, int, int]] = [(0.0, 1, i) for i, n in enumerate(nodes) if n.waiting == 0]
    heapq.heapify(events)
    done = 0

    def begin(i: int, at: float) -> None:
        n = nodes[i]
        if start[i] < 0:
            start[i] = at
            before[i] = holder.get(n.lane_key, -1)
            holder[n.lane_key] = i
        end[i] = at + left[i]
        if n.span[1] == COMPUTE:  # never interrupted: what waits for it can be told its end now
            busy_until[n.lane_key] = end[i]
            release(i)
        else:
            running[n.lane_key] = i
        heapq.heappush(events, (end[i], 0, i))

    def release(i: int) -> None:
        for j, lead in nodes[i].after:
            a = nodes[j]
            a.waiting -= 1
            arrives = end[i] - lead
            if arrives >= a.ready:
                a.ready, a.cause = arrives, i
            if a.waiting == 0:
                heapq.heappush(events, (a.ready, 1, j))

    def next_on(link: str, at: float) -> None:
        waiting = queued.get(link)
        if waiting:
            _, _, k = heapq.heappop(waiting)
            begin(k, at)

    clock = 0.0
    while events:
        t, what, i = heapq.heappop(events)
        n = nodes[i]
        if n.span[1] != COMPUTE:
            # A chunk may start before the last of its inputs arrived (a weight gather's late pieces, needed part
            # way through it) and so be scheduled in the past; a link is never given out in the past.
            t = clock = max(clock, t)
        if what == 0:  # finishing, unless it was interrupted and this is its old end
            if end[i] != t or (n.span[1] != COMPUTE and running.get(n.lane_key) != i):
                continue
            done += 1
            if n.span[1] != COMPUTE:
                release(i)
                del running[n.lane_key]
                next_on(n.lane_key, t)
            continue
        if n.span[1] == COMPUTE:  # a stage's chunks are chained in order: its lane is free by now
            begin(i, max(t, busy_until.get(n.lane_key, 0.0)))
            continue
        link, mine = n.lane_key, PRIORITY[n.span[2]]
        now = running.get(link)
        if now is None:
            begin(i, t)
        elif PRIORITY[nodes[now].span[2]] > mine:  # interrupt the lower-priority transfer; it resumes later
            left[now] = end[now] - t
            end[now] = -1.0  # its pending finish is void
            heapq.heappush(queued.setdefault(link, []), (PRIORITY[nodes[now].span[2]], -1.0, now))
            begin(i, t)
        else:
            heapq.heappush(queued.setdefault(link, []), (mine, t, i))
    if done != len(nodes):  # cannot happen for a valid order; a guard against a cycle
        raise RuntimeError("step timeline deadlocked")
    return _result(nodes, shape, lanes, grads, start, end, before)


def _result(
    nodes: list[_Node],
    shape: StepShape,
    lanes: list[list[int]],
    grads: list[int],
    start: list[float],
    end: list[float],
    before: list[int],
) -> Timeline:
    """The laid-out spans, the update after the last chunk and gradient, and the critical path back from the end."""
    compute_end = max((end[lane[-1]] for lane in lanes if lane), default=0.0)
    grads_end = max((end[g] for g in grads), default=0.0)
    update_start = max(compute_end, grads_end)
    spans = [Span(n.span[0], n.span[1] or n.lane_key, *n.span[2:], start[i], end[i]) for i, n in enumerate(nodes)]
    path: list[Span] = []
    i = max(range(len(nodes)), key=lambda k: (end[k], k)) if nodes else -1
    while i >= 0:
        path.append(spans[i])
        cause = nodes[i].cause
        # What it waited for last: the input that arrived at its start, else the span before it on its lane.
        lead = next((x for j, x in nodes[cause].after if j == i), 0.0) if cause is not None else 0.0
        i = cause if cause is not None and end[cause] - lead >= start[i] else before[i]
    path.reverse()
    tail = [Span(-1, OPTIMIZER, OPTIMIZER, -1, -1, update_start, update_start + shape.optimizer_s)]
    if shape.after_update_s > 0:
        tail.append(Span(-1, WEIGHTS, WEIGHTS, -1, -1, tail[0].end_s, tail[0].end_s + shape.after_update_s))
    spans.extend(tail)
    path.extend(tail)
    return Timeline(tuple(spans), shape.stages, tail[-1].end_s, {}, tuple(path))
