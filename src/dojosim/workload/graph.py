"""The operator graph of one training step: ops in execution order, plus graph-level figures.

Torch-free on purpose: the performance engine and the CLI read graphs without importing torch.
"""

import gzip
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from dojosim.errors import InputError

GRAPH_FORMAT_VERSION = 2


class OpKind(StrEnum):
    """What an op does, as the engine costs it. A StrEnum: equal to (and serialized as) its value."""

    MATMUL = "matmul"
    CONV = "conv"
    ATTENTION = "attention"
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    NORM = "norm"
    SOFTMAX = "softmax"
    EMBEDDING = "embedding"
    LOSS = "loss"
    COPY = "copy"
    VIEW = "view"
    OPTIMIZER = "optimizer"
    COLLECTIVE = "collective"
    OTHER = "other"


class Phase(StrEnum):
    """Where in the training step an op runs."""

    FWD = "fwd"
    BWD = "bwd"
    OPT = "opt"


KINDS: tuple[str, ...] = tuple(k.value for k in OpKind)
PHASES: tuple[str, ...] = tuple(p.value for p in Phase)
# Stored value -> member: a dict lookup, much faster than calling the enum on ~100k ops per load.
_KIND_OF_VALUE: dict[str, OpKind] = {k.value: k for k in OpKind}
_PHASE_OF_VALUE: dict[str, Phase] = {p.value: p for p in Phase}


@dataclass(frozen=True, slots=True)
class Op:
    name: str  # aten op, e.g. "aten.mm"
    kind: OpKind
    phase: Phase
    flops: float
    bytes_read: float
    bytes_written: float
    in_shapes: tuple[tuple[int, ...], ...]
    out_shapes: tuple[tuple[int, ...], ...]
    dtype: str  # of the first output (or input, for ops without outputs)
    module: str  # owning module path, e.g. "layers.3.attn.q_proj"; "" for the step's top level
    saved: bool  # an output of this op is saved for backward


@dataclass
class Graph:
    """One whole training step (forward, backward, optimizer update)."""

    model: str  # the model spec as the user gave it
    input_spec: dict[str, Any]
    ops: list[Op]
    params: int
    param_bytes: int
    activation_bytes: int  # saved for backward (storages packed by autograd, parameters excluded)
    optimizer_state_bytes: int
    optimizer: str
    batch: int
    tokens_per_sample: int  # sequence length for LMs; 1 for models without a token axis
    layers: int = 0  # repeated blocks, where the model has them
    block_path: str = ""  # module path of the repeated blocks, e.g. "layers"
    torch_version: str = ""
    # Parameter elements by role ('layers.*.q_proj.weight' sums every block) and saved activations by
    # (role of the producing module, last dimension, bytes): the engine shards each by its own rule.
    param_counts: dict[str, int] = field(default_factory=dict)
    activation_breakdown: list[tuple[str, int, int]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------------------- summaries

    def flops_by_phase(self) -> dict[str, float]:
        out = dict.fromkeys(PHASES, 0.0)
        for op in self.ops:
            out[op.phase] += op.flops
        return out

    def flops_by_kind(self) -> dict[str, float]:
        out: Counter[str] = Counter()
        for op in self.ops:
            out[op.kind] += op.flops
        return dict(out)

    def bytes_by_phase(self) -> dict[str, float]:
        out = dict.fromkeys(PHASES, 0.0)
        for op in self.ops:
            out[op.phase] += op.bytes_read + op.bytes_written
        return out

    def top_ops(self, n: int = 10) -> list[dict[str, Any]]:
        """The heaviest op groups by FLOPs: same aten op, module role and phase, counted together."""
        groups: dict[tuple[str, str, str], dict[str, Any]] = {}
        for op in self.ops:
            role = role_of(op.module, self.block_path)
            key = (op.name, role, op.phase)
            g = groups.setdefault(
                key,
                {
                    "op": op.name,
                    "module": role,
                    "phase": op.phase,
                    "kind": op.kind,
                    "count": 0,
                    "flops": 0.0,
                    "bytes": 0.0,
                },
            )
            g["count"] += 1
            g["flops"] += op.flops
            g["bytes"] += op.bytes_read + op.bytes_written
        return sorted(groups.values(), key=lambda g: -g["flops"])[:n]

    def active_params(self) -> int:
        """Parameters one token runs through: every parameter less the routed experts it is not sent to."""
        experts, top_k = int(self.meta.get("experts") or 0), int(self.meta.get("top_k") or 0)
        if not experts or not top_k:
            return self.params
        routed = sum(n for role, n in self.param_counts.items() if is_routed_expert(role))
        return self.params - round(routed * (experts - top_k) / experts)

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input": self.input_spec,
            "params": self.params,
            "active_params": self.active_params(),
            "param_bytes": self.param_bytes,
            "flops": self.flops_by_phase(),
            "flops_by_kind": self.flops_by_kind(),
            "bytes": self.bytes_by_phase(),
            "activation_bytes": self.activation_bytes,
            "optimizer_state_bytes": self.optimizer_state_bytes,
            "optimizer": self.optimizer,
            "layers": self.layers,
            "op_count": len(self.ops),
            "torch_version": self.torch_version,
        }

    # ----------------------------------------------------------------------------- files

    def to_dict(self) -> dict[str, Any]:
        head = {k: v for k, v in asdict(self).items() if k != "ops"}
        # Columns, not rows: a 126-layer model has ~100k ops and this keeps files small and fast.
        columns = {name: [getattr(op, name) for op in self.ops] for name in Op.__slots__}
        return {"format": "dojosim-graph", "version": GRAPH_FORMAT_VERSION, **head, "ops": columns}

    @classmethod
    def from_dict(cls, doc: dict[str, Any], origin: str = "graph") -> "Graph":
        if doc.get("format") != "dojosim-graph":
            raise InputError(f"{origin}: not a dojosim graph file")
        if doc.get("version") != GRAPH_FORMAT_VERSION:
            raise InputError(
                f"{origin}: graph format version {doc.get('version')} (this dojosim reads {GRAPH_FORMAT_VERSION}); "
                "capture it again"
            )
        cols = doc["ops"]
        try:
            cols = {**cols, "kind": [_KIND_OF_VALUE[k] for k in cols["kind"]]}
            cols["phase"] = [_PHASE_OF_VALUE[p] for p in cols["phase"]]
        except KeyError as exc:
            raise InputError(f"{origin}: unknown op kind or phase {exc}; capture it again") from None
        # Row by row from the columns, positionally in Op's field order (the fastest way to build ~100k ops).
        ops = [
            Op(name, kind, phase, flops, read, written, tuple(map(tuple, ins)), tuple(map(tuple, outs)), dt, mod, saved)
            for name, kind, phase, flops, read, written, ins, outs, dt, mod, saved in zip(
                *(cols[field] for field in Op.__slots__), strict=True
            )
        ]
        head = {k: v for k, v in doc.items() if k not in ("format", "version", "ops")}
        head["activation_breakdown"] = [tuple(row) for row in head.get("activation_breakdown", [])]
        return cls(ops=ops, **head)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")  # concurrent writers never share a temp file
        with gzip.open(tmp, "wt") as fh:
            json.dump(self.to_dict(), fh, separators=(",", ":"))
        tmp.replace(path)  # a reader never sees a half-written file

    @classmethod
    def load(cls, path: str | Path) -> "Graph":
        try:
            with gzip.open(path, "rt") as fh:
                doc = json.load(fh)
        except FileNotFoundError:
            raise InputError(f"graph file '{path}' does not exist") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a readable dojosim graph ({exc})") from None
        return cls.from_dict(doc, str(path))


# Parameter names of routed experts' weights: our MoE's stacked weights, and transformers' `mlp.experts.*`
# (stacked or one module per expert). Shared experts (`shared_experts`, `shared_expert`) run for every token.
EXPERT_WEIGHT_NAMES = ("w_gate", "w_up", "w_down")


def is_routed_expert(role: str) -> bool:
    """Whether a parameter (name or role) is a routed expert's weight, sharded over expert-parallel ranks."""
    return role.rsplit(".", 1)[-1] in EXPERT_WEIGHT_NAMES or ".experts." in f".{role}"


def role_of(module: str, block_path: str) -> str:
    """'layers.17.attn.q_proj' -> 'layers.*.attn.q_proj': the same role in every repeated block."""
    if block_path and module.startswith(block_path + "."):
        rest = module[len(block_path) + 1 :]
        _, _, tail = rest.partition(".")
        return f"{block_path}.*" + (f".{tail}" if tail else "")
    return module
