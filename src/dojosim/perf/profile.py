"""What does not depend on the plan, computed once per graph: ops folded into classes with their sharding rule.

A 126-layer model has ~40k ops but a few hundred distinct ones; each class keeps a count, so that costing a
plan walks classes, not ops, and a cache keyed by (tp, cp, sequence parallel, precision) makes every further
plan with the same sharding pure arithmetic.
"""

from collections import Counter
from dataclasses import dataclass

from dojosim.workload.graph import Graph
from dojosim.workload.ops import vector_unit

# Megatron's tensor-parallel transformer block: one all-reduce after attention and one after the MLP in
# forward, and their conjugates in backward.
TP_ALLREDUCES_PER_BLOCK = 2
MATRIX_KINDS = frozenset(["matmul", "conv", "attention", "embedding"])
EMBEDDING_ROLE_MARKERS = ("embed", "wte", "wpe", "embeddings")


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
    activation_pre: tuple[tuple[int, float], ...]
    activation_post: tuple[tuple[int, float], ...]
    attention_kv_bytes: float  # K and V of every attention op in forward, at the captured sequence
    model_flops: float  # forward + backward FLOPs of one micro-batch of one replica
    opt_ops: int  # optimizer kernels per step (single-tensor optimizers issue several per parameter)
    opt_bytes: float  # what those kernels read and write, each on its own
    max_op_bytes: float
    seq: int
    micro_batch: int

    @property
    def params(self) -> float:
        return self.block_params + self.pre_params + self.post_params


def _is_block(module: str, block_path: str) -> bool:
    return bool(block_path) and (module == block_path or module.startswith(block_path + "."))


def build_profile(graph: Graph) -> WorkloadProfile:
    hidden = int(graph.meta.get("hidden", 0) or 0)
    experts = int(graph.meta.get("experts", 0) or 0)
    bp = graph.block_path
    # Regions: ops outside blocks run before them (embeddings) or after them (head, loss) in forward;
    # backward visits them in the other order.
    first_block = {phase: None for phase in ("fwd", "bwd")}
    last_block = {phase: None for phase in ("fwd", "bwd")}
    for i, op in enumerate(graph.ops):
        if op.phase in first_block and _is_block(op.module, bp):
            if first_block[op.phase] is None:
                first_block[op.phase] = i
            last_block[op.phase] = i
    counter: Counter[OpClass] = Counter()
    views: Counter[tuple[str, str]] = Counter()  # (region, phase) -> view ops: host dispatch, no kernel
    kv_bytes = model_flops = max_op_bytes = 0.0
    opt_ops, opt_bytes = 0, 0.0
    for i, op in enumerate(graph.ops):
        if op.phase == "opt":
            opt_ops += op.kind != "view"
            opt_bytes += op.bytes_read + op.bytes_written
            continue
        if _is_block(op.module, bp):
            region = "block"
        elif op.phase == "fwd":
            region = "pre" if first_block["fwd"] is None or i < first_block["fwd"] else "post"
        else:
            region = "post" if last_block["bwd"] is None or i < (first_block["bwd"] or 0) else "pre"
        if op.kind == "view":
            views[(region, op.phase)] += 1
            continue
        model_flops += op.flops
        stream = any(shape and shape[-1] == hidden for shape in op.out_shapes) if hidden else True
        tp_rule = "tp" if op.kind in MATRIX_KINDS or not stream else "sp"
        attention_core = op.kind in ("attention", "softmax")
        if op.kind == "attention" and op.phase == "fwd" and len(op.in_shapes) >= 3:
            kv_bytes += (_numel(op.in_shapes[1]) + _numel(op.in_shapes[2])) * 2.0  # bf16 K and V
        nbytes = op.bytes_read + op.bytes_written
        max_op_bytes = max(max_op_bytes, nbytes)
        unit = "" if op.kind in MATRIX_KINDS else vector_unit(op.name)
        counter[OpClass(op.phase, region, op.kind, tp_rule, attention_core, unit, op.dtype, op.flops, nbytes, 0)] += 1
    classes = tuple(
        OpClass(c.phase, c.region, c.kind, c.tp_rule, c.attention_core, c.unit, c.dtype, c.flops, c.bytes, n)
        for c, n in counter.items()
    )
    block_params = expert_params = pre_params = post_params = 0.0
    for role, count in graph.param_counts.items():
        if _is_block(role, bp):
            block_params += count
            if experts and role.rsplit(".", 1)[-1] in ("w_gate", "w_up", "w_down"):
                expert_params += count
        elif any(marker in role for marker in EMBEDDING_ROLE_MARKERS):
            pre_params += count
        else:
            post_params += count
    act: dict[str, Counter[int]] = {"block": Counter(), "pre": Counter(), "post": Counter()}
    for role, last_dim, nbytes in graph.activation_breakdown:
        if _is_block(role, bp):
            act["block"][last_dim] += nbytes
        elif any(marker in role for marker in EMBEDDING_ROLE_MARKERS) or role == "":
            act["pre"][last_dim] += nbytes
        else:
            act["post"][last_dim] += nbytes
    return WorkloadProfile(
        graph=graph,
        classes=classes,
        view_ops=tuple(sorted(views.items())),
        hidden=hidden,
        layers=graph.layers if bp else 0,
        block_params=block_params,
        expert_params=expert_params,
        pre_params=pre_params,
        post_params=post_params,
        activation_block=tuple(sorted(act["block"].items())),
        activation_pre=tuple(sorted(act["pre"].items())),
        activation_post=tuple(sorted(act["post"].items())),
        attention_kv_bytes=kv_bytes,
        model_flops=model_flops,
        opt_ops=opt_ops,
        opt_bytes=opt_bytes,
        max_op_bytes=max_op_bytes,
        seq=graph.tokens_per_sample,
        micro_batch=graph.batch,
    )


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
