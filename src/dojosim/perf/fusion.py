"""Kernels as a training stack runs them: a pass over the captured ops that merges what the stack fuses.

A capture dispatches one kernel per PyTorch op (eager). A stack that fuses runs a chain of ops as one kernel:
the chain's intermediate tensors stay in registers or on-chip memory, so the consumer never reads them back and
their producer never writes them out. FLOPs do not change; bytes and the number of kernels do.

The pass works on the graph, not on the model, so that one capture serves every mode (recapturing is slow, and
any change under workload/ invalidates the graph cache). Ops carry shapes, not tensor identities: a consumer is
taken to read its producer's output when it is the next kernel in the same pass, takes a tensor of exactly the
producer's first output shape, and runs in the same module or a sibling or parent of it (conv1 -> bn1 -> the
block's ReLU). Ops that launch nothing (views) and scalar bookkeeping (batch-norm's step counter) do not break
a chain and are left as they are.
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


def _same_scope(a: str, b: str) -> bool:
    """The same module, siblings, or one the parent of the other."""
    return a == b or _parent(a) == _parent(b) or a == _parent(b) or b == _parent(a)


def _transparent(op: Op) -> bool:
    """Launches nothing, or only touches scalars: does not separate a producer from its consumer."""
    return op.kind == OpKind.VIEW or all(_numel(s) <= 1 for s in (*op.in_shapes, *op.out_shapes))


def _intermediate_bytes(op: Op) -> float:
    """What `op` writes of its first output: the tensor the next kernel of a chain reads."""
    sizes = [_numel(s) for s in op.out_shapes]
    total = sum(sizes)
    return op.bytes_written * sizes[0] / total if total else 0.0


def _continues(chain: Op, op: Op, mode: KernelMode) -> bool:
    return (
        op.phase == chain.phase
        and op.phase != Phase.OPT
        and op.kind in _CONSUMERS[mode]
        and bool(chain.out_shapes)
        and chain.out_shapes[0] in op.in_shapes
        and _same_scope(chain.module, op.module)
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
        out_shapes=op.out_shapes,
        saved=chain.saved or op.saved,
    )


def fused_graph(graph: Graph, mode: KernelMode) -> Graph:
    """The graph as `mode` runs it: each fused chain one op of its producer's kind, FLOPs kept."""
    if mode is KernelMode.EAGER:
        return graph
    ops: list[Op] = []
    chain_at: int | None = None  # index in `ops` of the kernel a chain may continue from
    for op in graph.ops:
        if _transparent(op):
            ops.append(op)
            continue
        if chain_at is not None and _continues(ops[chain_at], op, mode):
            ops[chain_at] = _merge(ops[chain_at], op)
            continue
        ops.append(op)
        chain_at = len(ops) - 1 if op.kind in _PRODUCERS[mode] and op.phase != Phase.OPT else None
    return replace(graph, ops=ops)
