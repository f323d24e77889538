"""What runs: a real PyTorch training step, captured as an operator graph without allocating anything.

Torch-free: `spec` (model specs), `zoo` (named models, request checks), `graph` (graphs, OpKind, Phase),
`op_kinds` (what an aten op is), `blocks` and `cache` (a cache hit never imports torch). `builders`, `capture`,
`recorder` and `ops` import torch when they are used.
"""

from dojosim.workload.graph import GRAPH_FORMAT_VERSION, Graph, Op, OpKind, Phase

__all__ = ["GRAPH_FORMAT_VERSION", "Graph", "Op", "OpKind", "Phase"]
