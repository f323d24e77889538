"""Kernels as a training stack runs them: a pass over the captured ops that merges what the stack fuses.

A capture dispatches one kernel per PyTorch op (eager). A stack that fuses runs a chain of ops as one kernel:
the chain's intermediate tensors stay in registers or on-chip memory, so the consumer never reads them back and
their producer never writes them out. FLOPs do not change; bytes and the number of kernels do.

The pass works on the graph, not on the model, so that one capture serves every mode (recapturing is slow, and
any change under workload/ invalidates the graph cache). Ops carry shapes, not tensor identities: a consumer is
taken to read its producer's output when it is the next kernel in the same pass, takes a tensor of exactly the
producer's first output shape, and runs near the last op the chain took in the module tree: the same module, or
one whose nearest common ancestor with it is at most two levels above the shallower of the two (conv1 -> bn1 ->
the block's ReLU; in backward, the next block's conv1 gradient -> the shortcut's gradient add -> this block's
ReLU and batch-norm gradients, which cuDNN's dgrad + dReLU + dBN fusions and its BN-add-activation backward run
as one). Ops that launch nothing (views) and scalar bookkeeping (batch-norm's step counter) do not break a chain
and are left as they are.
"""

from dataclasses import replace

from dojosim.stack import KernelMode
from dojosim.workload.graph import Graph, Op, OpKind, Phase

KERNEL_MODES: tuple[str, ...] = tuple(m.value for m in KernelMode)
# Kernels whose output a chain may continue from, and kernels a chain may absorb, in each fusing mode.
_PRODUCERS: dict[KernelMode, frozenset[OpKind]] = {
    KernelMode.FRAMEWORK: frozenset({OpKind.MATMUL, OpKind.CONV, OpKind.NORM, OpKind.ELEMENTWISE}),
    KernelMode.COMPILED: frozenset(
        {
            OpKind.MATMUL,
            OpKind.CONV,
            OpKind.NORM,
            OpKind.ELEMENTWISE,
            OpKind.REDUCTION,
            OpKind.SOFTMAX,
            OpKind.ATTENTION,
            OpKind.EMBEDDING,
            OpKind.COPY,
            OpKind.LOSS,
        }
    ),  # fmt: skip
}
_CONSUMERS: dict[KernelMode, frozenset[OpKind]] = {
    KernelMode.FRAMEWORK: frozenset({OpKind.NORM, OpKind.ELEMENTWISE}),
    KernelMode.COMPILED: frozenset({OpKind.NORM, OpKind.ELEMENTWISE, OpKind.REDUCTION, OpKind.SOFTMAX, OpKind.COPY}),
}


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _parent(module: str) -> str:
    return module.rsplit(".", 1)[0] if "." in module else ""


def _depth(module: str) -> int:
    return module.count(".") + 1 if module else 0


def _common_depth(a: str, b: str) -> int:
    """Depth of the nearest common ancestor of two module paths ("" at the top: 0)."""
    n = 0
    for x, y in zip(a.split("."), b.split("."), strict=False):
        if x != y:
            break
        n += 1
    return n


def _same_scope(a: str, b: str) -> bool:
    """The same module, siblings, one the parent of the other, or modules whose nearest common ancestor (not the
    top level) is at most two levels above the shallower: a block's last layer and the next block's first."""
    if a == b or _parent(a) == _parent(b) or a == _parent(b) or b == _parent(a):
        return True
    common = _common_depth(a, b)
    return common > 0 and common >= min(_depth(a), _depth(b)) - 2


def _transparent(op: Op) -> bool:
    """Launches nothing, or only touches scalars: does not separate a producer from its consumer."""
    return op.kind == OpKind.VIEW or all(_numel(s) <= 1 for s in (*op.in_shapes, *op.out_shapes))


def _intermediate_bytes(op: Op) -> float:
    """What `op` writes of its first output: the tensor the next kernel of a chain reads."""
    sizes = [_numel(s) for s in op.out_shapes]
    total = sum(sizes)
    return op.bytes_written * sizes[0] / total if total else 0.0


def _continues(chain: Op, op: Op, mode: KernelMode, scope: str) -> bool:
    """Whether `op` reads the chain's output: `scope` is the module of the last op the chain took."""
    return (
        op.phase == chain.phase
        and op.phase != Phase.OPT
        and op.kind in _CONSUMERS[mode]
        and bool(chain.out_shapes)
        and chain.out_shapes[0] in op.in_shapes
        and _same_scope(scope, op.module)
    )


def _merge(chain: Op, op: Op) -> Op:
    """`chain` and its consumer `op` as one kernel: the intermediate is neither written nor read back."""
    moved = _intermediate_bytes(chain)
    inputs = list(op.in_shapes)
    inputs.remove(chain.out_shapes[0])
    return replace(
        chain,
        flops=chain.flops + op.flops,
        bytes_read=chain.bytes_read + max(op.bytes_read - moved, 0.0),
        bytes_written=chain.bytes_written - moved + op.bytes_written,
        in_shapes=(*chain.in_shapes, *inputs),
        # the consumer's output continues the chain; the chain's other outputs (a weight gradient) stay written
        out_shapes=(*op.out_shapes[:1], *chain.out_shapes[1:], *op.out_shapes[1:]),
        saved=chain.saved or op.saved,
    )


def fused_graph(graph: Graph, mode: KernelMode) -> Graph:
    """The graph as `mode` runs it: each fused chain one op of its producer's kind, FLOPs kept."""
    if mode is KernelMode.EAGER:
        return graph
    ops: list[Op] = []
    chain_at: int | None = None  # index in `ops` of the kernel a chain may continue from
    scope = ""  # the module of the last op that chain took: the data moves along the chain
    for op in graph.ops:
        if _transparent(op):
            ops.append(op)
            continue
        if chain_at is not None and _continues(ops[chain_at], op, mode, scope):
            ops[chain_at] = _merge(ops[chain_at], op)
            scope = op.module
            continue
        ops.append(op)
        chain_at = len(ops) - 1 if op.kind in _PRODUCERS[mode] and op.phase != Phase.OPT else None
        scope = op.module
    return replace(graph, ops=ops)
