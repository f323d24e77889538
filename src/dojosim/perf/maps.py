"""Convolutional feature maps in a captured step, for a spatial split into row bands (perf/mapping.py): which
maps there are, which op works on which, what each convolution's halo is, and what else the bands exchange
(batch-norm statistics, a map handed whole to an op on no map). Torch-free, from the ops' shapes and the row
geometry the capture records for each convolution."""

from collections import Counter
from dataclasses import dataclass, replace

from dojosim.workload.graph import Graph, Op, role_of

ITEM_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "float64": 8, "float8_e4m3fn": 1, "float8_e5m2": 1}
@dataclass(frozen=True, slots=True)
class ConvHalo:
    """What one forward convolution exchanges with its neighbours when its feature map is split into row bands:
    `rows` extra rows beyond each band (top and bottom together), each `row_bytes` (images x channels x width x
    dtype, for one micro-batch), over a map of `map_rows` rows; backward sends the same rows' input gradients back.
    A transposed convolution sends the partial sums of the output rows its band spills into."""

    map_rows: int
    rows: int
    row_bytes: float
    count: int
    segment: int = 0  # the module segment it runs in (module pipelining)


@dataclass(frozen=True, slots=True)
class MapExchange:
    """What else a spatial split exchanges besides halos, per forward op on a feature map: a batch norm's
    statistics all-reduced over the bands (`kind` "stats", `bytes` its sums per pass, forward and backward), or a
    map handed whole to an op that works on no map (`kind` "gather": the bands all-gathered, forward only; its
    gradient is sliced back without a transfer, since every rank computes the whole consumer)."""

    kind: str
    map_rows: int
    bytes: float
    count: int
    segment: int = 0


def feature_maps(graph: Graph) -> frozenset[tuple[int, int]]:
    """(rows, width) of every convolutional feature map: the 4-D (N, C, H, W) inputs and outputs of convolutions."""
    maps = set()
    for op in graph.ops:
        if op.kind == "conv" and op.phase == "fwd":
            maps.update((s[2], s[3]) for s in (*op.in_shapes[:1], *op.out_shapes[:1]) if len(s) == 4)
    return frozenset(maps)


def map_rows(op: Op, maps: frozenset[tuple[int, int]]) -> int:
    """Rows of the feature map an op works on (its output's, else its first input's); 0 if it is on none."""
    for s in (*op.out_shapes, *op.in_shapes):
        if len(s) == 4 and (s[2], s[3]) in maps:
            return s[2]
    return 0


def conv_halo(op: Op, geometry: list[int] | None, segment: int = 0) -> ConvHalo | None:
    """The halo of one forward convolution, from its shapes and its recorded row geometry: a band of output rows
    [a, b) reads input rows [s*a - p, s*(b - 1) - p + d*(k - 1)], d*(k - 1) + 1 - s more than its own s*(b - a)
    (top and bottom together; none for a 1x1 or a kernel no taller than its stride). A graph captured before the
    geometry was recorded is read as dilation 1 and stride input rows / output rows."""
    if len(op.in_shapes) < 2 or len(op.in_shapes[0]) != 4 or not op.out_shapes or len(op.out_shapes[0]) != 4:
        return None
    (n, c_in, h_in, w_in), weight, (_, c_out, h_out, w_out) = op.in_shapes[0], op.in_shapes[1], op.out_shapes[0]
    if geometry is None:
        kernel = weight[2] if len(weight) > 2 else 1
        geometry = [kernel, max(1, round(h_in / max(h_out, 1))), 0, 1, 0]
    kernel, stride, _padding, dilation, transposed = geometry
    rows = max(0, dilation * (kernel - 1) + 1 - stride)
    if not rows:
        return None
    item = ITEM_BYTES.get(op.dtype, 2)
    if transposed:  # partial sums of the output rows that spill into the neighbour's band
        return ConvHalo(h_in, rows, float(n * c_out * w_out * item), 1, segment)
    return ConvHalo(h_out, rows, float(n * c_in * w_in * item), 1, segment)


def halos(graph: Graph, segment_of: list[int]) -> tuple[ConvHalo, ...]:
    geometry = graph.meta.get("conv_geometry") or {}
    found: Counter[ConvHalo] = Counter()
    for i, op in enumerate(graph.ops):
        if op.kind == "conv" and op.phase == "fwd":
            halo = conv_halo(op, geometry.get(role_of(op.module, graph.block_path)), segment_of[i])
            if halo is not None:
                found[halo] += 1
    return tuple(replace(h, count=n) for h, n in found.items())


def map_exchanges(
    graph: Graph, maps: frozenset[tuple[int, int]], segment_of: list[int]
) -> tuple[MapExchange, ...]:
    found: Counter[MapExchange] = Counter()
    for i, op in enumerate(graph.ops):
        if op.phase != "fwd":
            continue
        if op.name.endswith("native_batch_norm") and len(op.in_shapes[0]) == 4 and map_rows(op, maps):
            channels = op.in_shapes[0][1]
            found[MapExchange("stats", op.in_shapes[0][2], 2.0 * channels * 4.0, 1, segment_of[i])] += 1
            continue
        inputs = [s for s in op.in_shapes if len(s) == 4 and (s[2], s[3]) in maps]
        if not inputs or any(len(s) == 4 and (s[2], s[3]) in maps for s in op.out_shapes) or not op.out_shapes:
            continue
        # A map into an op on no map: moved whole (a reshape, a permute) unless reduced (a pooling, a loss: each
        # band's partial sums, a few bytes, are combined instead).
        whole = _numel(inputs[0])
        if sum(_numel(s) for s in op.out_shapes) >= whole:
            item = ITEM_BYTES.get(op.dtype, 2)
            found[MapExchange("gather", inputs[0][2], float(whole * item), 1, segment_of[i])] += 1
    return tuple(replace(x, count=n) for x, n in found.items())


def band_share(rows: int, bands: int) -> float:
    """The share of a feature map's rows the busiest of `bands` row bands holds: ceil(rows / bands) of them (one
    row where there are more bands than rows: the rest of the ranks idle on that map)."""
    if bands <= 1 or rows <= 1:
        return 1.0
    return -(-rows // bands) / rows


def map_widths(maps: frozenset[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """(width, rows) of the feature maps: a saved activation whose last dim is a map's width is a band of it
    (the tallest map of that width where several share it)."""
    rows: dict[int, int] = {}
    for h, w in maps:
        rows[w] = max(rows.get(w, 0), h)
    return tuple(sorted(rows.items()))


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
