"""What does not depend on the plan, computed once per graph: ops folded into classes with their sharding rule.

A 126-layer model has ~40k ops but a few hundred distinct ones; each class keeps a count, so that costing a
plan walks classes, not ops, and a cache keyed by (tp, cp, sequence parallel, precision) makes every further
plan with the same sharding pure arithmetic.
"""

from collections import Counter
from dataclasses import dataclass, field, replace

from dojosim.errors import InputError
from dojosim.perf.maps import (
    ConvHalo,
    MapExchange,
    feature_maps,
    halos,
    map_exchanges,
    map_rows,
    map_widths,
)
from dojosim.perf.segments import segment_index, segment_of_ops
from dojosim.workload.graph import Graph, Op, is_routed_expert
from dojosim.workload.op_kinds import vector_unit

# Megatron's tensor-parallel transformer block: one all-reduce after attention and one after the MLP in
# forward, and their conjugates in backward.
TP_ALLREDUCES_PER_BLOCK = 2
MATRIX_KINDS = frozenset(["matmul", "conv", "attention", "embedding"])
EMBEDDING_ROLE_MARKERS = ("embed", "wte", "wpe", "embeddings")
CORE_ATTENTION_MODULE = "core_attention"  # the module name of an unfused attention core


@dataclass(frozen=True)
class OpClass:
    phase: str  # fwd | bwd
    region: str  # block | pre (before the first block) | post (after the last)
    kind: str
    tp_rule: str  # "tp": split over tensor-parallel ranks; "sp": split only with sequence parallelism
    attention_core: bool  # recomputed by selective recompute
    unit: str  # vector ops bound per element: "transcendental", "random", or "" (see ops.vector_unit)
    dtype: str
    flops: float
    bytes: float
    count: int
    # What scales with the real tokens of a row (perf/sequences.py): whether the op works over the token axis at
    # all (weight-only ops do not), and the part of its bytes in tensors over tokens (the rest is weights).
    over_tokens: bool = False
    token_bytes: float = 0.0
    # A routed expert's matmul (perf/moe.py): its work follows the tokens routed to a rank's experts, and
    # `expert_bytes` of its bytes are the experts' weights (or their gradients), split over expert-parallel ranks.
    routed: bool = False
    expert_bytes: float = 0.0
    # Rows of the convolutional feature map the op works on (a spatial split gives each rank a band of them); 0
    # where the op works on no feature map and runs whole on every rank of a spatial group.
    rows: int = 0


@dataclass(frozen=True)
class Segment:
    """A run of a model's modules in forward order (a model without repeated blocks is pipelined over these):
    its op classes (forward and backward), parameters, saved activations by last dim, and the bytes it hands to
    the next segment (the last forward op's outputs)."""

    name: str
    classes: tuple[OpClass, ...]
    params: float
    activations: tuple[tuple[int, float], ...]
    out_bytes: float
    view_ops: int = 0
    out_rows: int = 0  # rows of the feature map it hands on (0: not a map)


@dataclass(frozen=True)
class WorkloadProfile:
    graph: Graph
    classes: tuple[OpClass, ...]
    view_ops: tuple[tuple[tuple[str, str], int], ...]  # ((region, phase), count): dispatched, launch no kernel
    hidden: int
    layers: int
    block_params: float
    expert_params: float  # part of block_params held by experts (sharded by ep)
    pre_params: float
    post_params: float
    activation_block: tuple[tuple[int, float], ...]  # (last dim, bytes) summed over blocks
    # What selective recompute keeps of them: all but the attention scores (tensors whose last dim is the sequence)
    activation_block_without_scores: tuple[tuple[int, float], ...]
    activation_pre: tuple[tuple[int, float], ...]
    activation_post: tuple[tuple[int, float], ...]
    attention_kv_bytes: float  # K and V of every attention op in forward, at the captured sequence
    model_flops: float  # forward + backward FLOPs of one micro-batch of one replica
    opt_ops: int  # optimizer kernels per step (single-tensor optimizers issue several per parameter)
    opt_bytes: float  # what those kernels read and write, each on its own
    max_op_bytes: float
    seq: int
    micro_batch: int
    # What context parallelism splits each sample into: its tokens, or a clip's images; 1 where nothing splits.
    split_units: int
    experts: int = 0  # routed experts per MoE layer (0: a dense model)
    top_k: int = 0  # experts each token is routed to
    # Real tokens per padded position (perf/sequences.py scales a profile to its job's sequences): 1 as captured.
    token_share: float = 1.0
    # Convolutional feature maps, for a spatial split into row bands: each conv's halo, the rows of the map of each
    # saved-activation width ((width, rows)), and the rows of the largest op's map (0: not on a map).
    halos: tuple[ConvHalo, ...] = ()
    map_exchanges: tuple[MapExchange, ...] = ()
    map_widths: tuple[tuple[int, int], ...] = ()
    max_op_rows: int = 0
    # A model without repeated blocks as a sequence of module segments (perf/mapping.py pipelines over them).
    segments: tuple[Segment, ...] = ()

    @property
    def map_rows(self) -> int:
        """Rows of the tallest feature map a spatial split can cut into bands (0: none)."""
        return max((c.rows for c in self.classes), default=0)

    @property
    def params(self) -> float:
        return self.block_params + self.pre_params + self.post_params


def _is_block(module: str, block_path: str) -> bool:
    return bool(block_path) and (module == block_path or module.startswith(block_path + "."))


def _top_k(graph: Graph, experts: int) -> int:
    """Experts each token is routed to; a model with experts must say (the MoE builder writes it)."""
    if not experts:
        return 0
    top_k = graph.meta.get("top_k")
    if not top_k:
        raise InputError(
            f"the graph of {graph.model or 'this model'} has {experts} experts but no top_k in its metadata: "
            "recapture it with a builder that records how many experts each token is routed to"
        )
    return int(top_k)


def _block_bounds(graph: Graph) -> tuple[dict[str, int | None], dict[str, int | None]]:
    """Index of the first and of the last block op in each pass."""
    first_block: dict[str, int | None] = {phase: None for phase in ("fwd", "bwd")}
    last_block: dict[str, int | None] = {phase: None for phase in ("fwd", "bwd")}
    for i, op in enumerate(graph.ops):
        if op.phase in first_block and _is_block(op.module, graph.block_path):
            if first_block[op.phase] is None:
                first_block[op.phase] = i
            last_block[op.phase] = i
    return first_block, last_block


@dataclass
class _OpTally:
    """What one walk over the captured ops gathers."""

    classes: Counter[OpClass] = field(default_factory=Counter)
    views: Counter[tuple[str, str]] = field(default_factory=Counter)  # (region, phase) -> view ops
    kv_bytes: float = 0.0
    model_flops: float = 0.0
    max_op_bytes: float = 0.0
    max_op_rows: int = 0
    opt_ops: int = 0
    opt_bytes: float = 0.0


def over_tokens(shape: tuple[int, ...], batch: int, seq: int) -> bool:
    """Whether a tensor runs along the token axis: it has the flattened tokens (batch x seq) as a dimension, or
    the batch and, after it, the sequence (attention's (B, H, S, D) too). With a batch of 1 a dimension equal to
    the sequence is taken as tokens: a weight as wide as the sequence would be misread, and only its bytes move."""
    if seq <= 1 or not shape:
        return False
    if batch * seq in shape or (batch == 1 and seq in shape):
        return True
    return batch in shape and seq in shape[shape.index(batch) + 1 :]


def token_fraction(op: Op, batch: int, seq: int) -> float:
    """The share of an op's elements (inputs and outputs) in tensors over the token axis."""
    shapes = (*op.in_shapes, *op.out_shapes)
    total = sum(_numel(s) for s in shapes)
    tokens = sum(_numel(s) for s in shapes if over_tokens(s, batch, seq))
    return tokens / total if total else 0.0


def routed_expert_bytes(op: Op, experts: int, rows_per_expert: int) -> float | None:
    """For a routed expert's matmul (one that takes or makes the stacked experts' weights, or their gradients, as
    (experts, rows, columns)), the bytes of those weights; None for any other op. Token tensors stacked by expert,
    (experts, rows per expert, width) or its transpose, are told apart by their `rows_per_expert`."""
    if not experts or op.kind != "matmul":
        return None
    shapes = (*op.in_shapes, *op.out_shapes)
    stacked = [s for s in shapes if len(s) == 3 and s[0] == experts]
    weights = [s for s in stacked if rows_per_expert not in s[1:]]
    if not weights:
        return None
    total = sum(_numel(s) for s in shapes)
    return (op.bytes_read + op.bytes_written) * sum(_numel(s) for s in weights) / total if total else 0.0


def _region(i: int, op: Op, bp: str, first_block: dict[str, int | None], last_block: dict[str, int | None]) -> str:
    # Regions: ops outside blocks run before them (embeddings) or after them (head, loss) in forward;
    # backward visits them in the other order.
    if _is_block(op.module, bp):
        return "block"
    if op.phase == "fwd":
        return "pre" if first_block["fwd"] is None or i < first_block["fwd"] else "post"
    return "post" if last_block["bwd"] is None or i < (first_block["bwd"] or 0) else "pre"


def _class_of(
    op: Op, region: str, hidden: int, graph: Graph, maps: frozenset[tuple[int, int]], routing: tuple[int, int] = (0, 0)
) -> OpClass:
    """One op as its class; `routing`: (routed experts, token rows per expert) of a model with experts."""
    stream = any(shape and shape[-1] == hidden for shape in op.out_shapes) if hidden else True
    tp_rule = "tp" if op.kind in MATRIX_KINDS or not stream else "sp"
    # What selective recompute repeats: a fused attention kernel, or every op of an unfused attention core
    # (QK^T, softmax, dropout, the product with V), which models keep in a CoreAttention module as Megatron does.
    attention_core = op.kind in ("attention", "softmax") or CORE_ATTENTION_MODULE in op.module
    nbytes = op.bytes_read + op.bytes_written
    unit = "" if op.kind in MATRIX_KINDS else vector_unit(op.name)
    share = token_fraction(op, graph.batch, graph.tokens_per_sample)
    expert_bytes = routed_expert_bytes(op, *routing) if region == "block" else None
    return OpClass(
        op.phase, region, op.kind, tp_rule, attention_core, unit, op.dtype, op.flops, nbytes, 0, share > 0,
        nbytes * share, expert_bytes is not None, expert_bytes or 0.0, map_rows(op, maps),
    )  # fmt: skip


def _tally_ops(graph: Graph, hidden: int, maps: frozenset[tuple[int, int]]) -> _OpTally:
    bp = graph.block_path
    experts = int(graph.meta.get("experts", 0) or 0)
    top_k = int(graph.meta.get("top_k", 0) or 0)
    routing = (experts, graph.batch * graph.tokens_per_sample * top_k // max(experts, 1))
    first_block, last_block = _block_bounds(graph)
    tally = _OpTally()
    for i, op in enumerate(graph.ops):
        if op.phase == "opt":
            tally.opt_ops += op.kind != "view"
            tally.opt_bytes += op.bytes_read + op.bytes_written
            continue
        region = _region(i, op, bp, first_block, last_block)
        if op.kind == "view":  # dispatched by the host, launch no kernel
            tally.views[(region, op.phase)] += 1
            continue
        tally.model_flops += op.flops
        if op.kind == "attention" and op.phase == "fwd" and len(op.in_shapes) >= 3:
            tally.kv_bytes += (_numel(op.in_shapes[1]) + _numel(op.in_shapes[2])) * 2.0  # bf16 K and V
        nbytes = op.bytes_read + op.bytes_written
        if nbytes > tally.max_op_bytes:
            tally.max_op_bytes, tally.max_op_rows = nbytes, map_rows(op, maps)
        tally.classes[_class_of(op, region, hidden, graph, maps, routing)] += 1
    return tally


def _segments(
    graph: Graph, hidden: int, maps: frozenset[tuple[int, int]], segment_of: list[int], keys: list[str]
) -> tuple[Segment, ...]:
    """The model as its module segments (only for a model without repeated blocks: a block model is pipelined
    over its blocks)."""
    n = len(keys)
    classes: list[Counter[OpClass]] = [Counter() for _ in range(n)]
    views = [0] * n
    out_bytes = [0.0] * n
    out_rows = [0] * n
    first_block, last_block = _block_bounds(graph)
    for i, op in enumerate(graph.ops):
        if op.phase == "opt":
            continue
        j = segment_of[i]
        if op.kind == "view":
            views[j] += 1
            continue
        classes[j][_class_of(op, _region(i, op, "", first_block, last_block), hidden, graph, maps)] += 1
        if op.phase == "fwd":
            out_bytes[j], out_rows[j] = op.bytes_written, map_rows(op, maps)
    cache: dict[str, int] = {}
    params = [0.0] * n
    for role, count in graph.param_counts.items():
        params[segment_index(role.rsplit(".", 1)[0], keys, cache)] += count
    acts: list[Counter[int]] = [Counter() for _ in range(n)]
    for role, last_dim, nbytes in graph.activation_breakdown:
        acts[segment_index(role, keys, cache)][last_dim] += nbytes
    return tuple(
        Segment(
            keys[j], tuple(replace(c, count=k) for c, k in classes[j].items()), params[j],
            tuple(sorted(acts[j].items())), out_bytes[j], views[j], out_rows[j],
        )  # fmt: skip
        for j in range(n)
    )


def _is_embedding(role: str) -> bool:
    return any(marker in role for marker in EMBEDDING_ROLE_MARKERS)


def _param_split(graph: Graph, experts: int) -> tuple[float, float, float, float]:
    """(block, of which experts, pre, post) parameter counts."""
    block_params = expert_params = pre_params = post_params = 0.0
    for role, count in graph.param_counts.items():
        if _is_block(role, graph.block_path):
            block_params += count
            if experts and is_routed_expert(role):
                expert_params += count
        elif _is_embedding(role):
            pre_params += count
        else:
            post_params += count
    return block_params, expert_params, pre_params, post_params


def _activation_split(graph: Graph) -> dict[str, tuple[tuple[int, float], ...]]:
    """Saved activation bytes by (last dim) in each region, sorted by last dim."""
    act: dict[str, Counter[int]] = {"block": Counter(), "pre": Counter(), "post": Counter()}
    for role, last_dim, nbytes in graph.activation_breakdown:
        if _is_block(role, graph.block_path):
            act["block"][last_dim] += nbytes
        elif _is_embedding(role) or role == "":
            act["pre"][last_dim] += nbytes
        else:
            act["post"][last_dim] += nbytes
    return {region: tuple(sorted(rows.items())) for region, rows in act.items()}


def busiest_share(units: int, ranks: int) -> float:
    """The share of a sample the busiest of `ranks` context-parallel ranks holds: `units` (tokens, images) split
    as evenly as they go, so some rank holds ceil(units / ranks) of them."""
    if ranks <= 1 or units <= 1:
        return 1.0 / max(ranks, 1)
    return -(-units // ranks) / units


def build_profile(graph: Graph) -> WorkloadProfile:
    hidden = int(graph.meta.get("hidden", 0) or 0)
    experts = int(graph.meta.get("experts", 0) or 0)
    top_k = _top_k(graph, experts)
    maps = feature_maps(graph)
    tally = _tally_ops(graph, hidden, maps)
    segment_of, keys = segment_of_ops(graph)
    classes = tuple(replace(c, count=n) for c, n in tally.classes.items())
    block_params, expert_params, pre_params, post_params = _param_split(graph, experts)
    act = _activation_split(graph)
    return WorkloadProfile(
        graph=graph,
        classes=classes,
        view_ops=tuple(sorted(tally.views.items())),
        hidden=hidden,
        layers=graph.layers if graph.block_path else 0,
        block_params=block_params,
        expert_params=expert_params,
        pre_params=pre_params,
        post_params=post_params,
        activation_block=act["block"],
        activation_block_without_scores=tuple((d, b) for d, b in act["block"] if d != graph.tokens_per_sample),
        activation_pre=act["pre"],
        activation_post=act["post"],
        attention_kv_bytes=tally.kv_bytes,
        model_flops=tally.model_flops,
        opt_ops=tally.opt_ops,
        opt_bytes=tally.opt_bytes,
        max_op_bytes=tally.max_op_bytes,
        seq=graph.tokens_per_sample,
        micro_batch=graph.batch,
        split_units=graph.tokens_per_sample if graph.tokens_per_sample > 1 else int(graph.meta.get("split_units", 1)),
        experts=experts,
        top_k=top_k,
        halos=halos(graph, segment_of),
        map_exchanges=map_exchanges(graph, maps, segment_of),
        map_widths=map_widths(maps),
        max_op_rows=tally.max_op_rows,
        segments=() if graph.block_path else _segments(graph, hidden, maps, segment_of, keys),
    )


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
