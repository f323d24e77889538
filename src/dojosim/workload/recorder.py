"""The dispatch recorder: every aten op of a step under fake tensors becomes an Op, with its kind, phase,
FLOPs, bytes and owning module. Imports torch."""

from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from dojosim.workload.graph import Op, OpKind, Phase
from dojosim.workload.op_kinds import is_ignored, kind_of
from dojosim.workload.ops import VALUE_WIDTHS, flops_of, note_padded_values


def tensors(tree: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def storage_key(t: torch.Tensor) -> int:
    return t.untyped_storage()._cdata


def _nbytes(ts: list[torch.Tensor]) -> float:
    return float(sum(t.numel() * t.element_size() for t in ts))


class ModuleStack:
    """The module whose forward is running, from global forward hooks (exact: a stack, not a set)."""

    def __init__(self, model: torch.nn.Module):
        self.names = {module: name for name, module in model.named_modules()}
        # Norms that run as several pointwise ops on this backend (RMSNorm on CPU) are still norms.
        self.norms = {name for name, module in model.named_modules() if "Norm" in type(module).__name__}
        self.stack: list[str] = []
        self._handles: list[Any] = []

    def __enter__(self) -> "ModuleStack":
        hooks = torch.nn.modules.module

        def enter(module: torch.nn.Module, _args: Any) -> None:
            self.stack.append(self.names.get(module, "?"))

        def leave(_module: torch.nn.Module, _args: Any, _out: Any) -> None:  # returns None: output unchanged
            self.stack.pop()

        self._handles = [hooks.register_module_forward_pre_hook(enter), hooks.register_module_forward_hook(leave)]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()

    @property
    def current(self) -> str:
        return self.stack[-1] if self.stack else ""


class NodeOwners(TorchFunctionMode):
    """Remembers which module created each autograd node in forward.

    In backward, module hooks cannot tell which module's gradient is being computed; the autograd node being
    executed names its forward op's module exactly.
    """

    def __init__(self, modules: ModuleStack):
        super().__init__()
        self.modules = modules
        self.owner: dict[Any, str] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.nn.functional.scaled_dot_product_attention and _two_widths(args, kwargs):
            out = _sdpa_padded_values(func, args, kwargs)
            self._own_chain(out.grad_fn, depth=3)  # the pad, the fused op and the slice ran inside this call
            return out
        out = func(*args, **kwargs)
        module = None
        for t in tensors(out):
            node = t.grad_fn
            if node is not None and node not in self.owner:
                module = self.modules.current if module is None else module
                self.owner[node] = module
        return out

    def _own_chain(self, node: Any, depth: int) -> None:
        if node is None or depth == 0 or node in self.owner:
            return
        self.owner[node] = self.modules.current
        for parent, _ in node.next_functions:
            self._own_chain(parent, depth - 1)


def _two_widths(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether an SDPA call has values narrower than its queries (MLA)."""
    q = args[0] if args else kwargs.get("query")
    v = args[2] if len(args) > 2 else kwargs.get("value")
    return isinstance(q, torch.Tensor) and isinstance(v, torch.Tensor) and v.shape[-1] < q.shape[-1]


def _sdpa_padded_values(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """SDPA with values zero-padded to the query-key width, so that CPU SDPA runs its fused kernel rather than its
    math path (which would record the scores materialised, as no GPU training stack runs MLA); the padded values
    are noted with their real width (ops.note_padded_values), so that P V is counted at it; the output is cut
    back."""
    names = ("query", "key", "value")
    given = dict(zip(names, args[:3], strict=False)) | {k: kwargs[k] for k in names if k in kwargs}
    rest = {k: v for k, v in kwargs.items() if k not in names}
    q, k, v = given["query"], given["key"], given["value"]
    width = v.shape[-1]
    padded = torch.nn.functional.pad(v, (0, q.shape[-1] - width))
    note_padded_values(padded, width)
    return func(q, k, padded, *args[3:], **rest)[..., :width]


def _conv_rows(args: tuple[Any, ...]) -> list[int]:
    """aten.convolution(input, weight, bias, stride, padding, dilation, transposed, ...) along the rows (H)."""
    weight, stride, padding, dilation, transposed = args[1], args[3], args[4], args[5], args[6]
    kernel = int(weight.shape[2]) if weight.dim() > 2 else 1
    return [kernel, _first(stride, 1), _first(padding, 0), _first(dilation, 1), int(bool(transposed))]


def _first(values: Any, default: int) -> int:
    return int(values[0]) if values else default


class Recorder(TorchDispatchMode):
    """Records each dispatched op; the caller sets `phase` as the step moves from forward to the update."""

    def __init__(self, modules: ModuleStack, owners: NodeOwners):
        super().__init__()
        self.modules = modules
        self.owners = owners
        self.bwd_current = ""
        self.phase = Phase.FWD
        self.ops: list[Op] = []
        self.producer: dict[int, int] = {}  # storage -> index of the op that last wrote it
        self.opt_owner: dict[int, str] = {}  # storage -> parameter name, for optimizer-phase ops
        self.opt_current = ""
        self.no_formula: set[str] = set()  # tensor-core ops with no FLOP formula: the capture refuses them
        # Each forward convolution's geometry along the rows (what a spatial split's halo depends on), by module:
        # [kernel rows, stride, padding, dilation, transposed]. Shapes alone cannot tell dilation from padding.
        self.conv_geometry: dict[str, list[int]] = {}
        VALUE_WIDTHS.clear()  # storages of an earlier capture's padded values

    def _module(self, ins: list[torch.Tensor], outs: list[torch.Tensor]) -> str:
        """The module (or, in the update, the parameter) an op of the current phase belongs to."""
        if self.phase == Phase.OPT:
            # Single-tensor optimizers update one parameter at a time: an op that touches no known tensor
            # (the step counter) belongs to the parameter being updated.
            module = next((self.opt_owner[k] for k in map(storage_key, ins) if k in self.opt_owner), self.opt_current)
            self.opt_current = module
            for t in outs:
                self.opt_owner[storage_key(t)] = module  # storage addresses are reused: overwrite
            return module
        if self.phase == Phase.BWD:
            # Nodes made outside forward (gradient accumulation) belong to the gradient just computed.
            module = self.owners.owner.get(torch._C._current_autograd_node(), self.bwd_current)
            self.bwd_current = module
            return module
        return self.modules.current

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if is_ignored(func):
            return out
        ins, outs = tensors((args, kwargs)), tensors(out)
        kind = kind_of(func.overloadpacket.__name__)
        if kind == OpKind.VIEW:
            flops, read, written = 0.0, 0.0, 0.0
        else:
            in_numel = max((t.numel() for t in ins), default=0)
            out_numel = max((t.numel() for t in outs), default=0)
            counted = flops_of(func, kind, args, kwargs, out, in_numel, out_numel)
            if counted is None:
                self.no_formula.add(str(func.overloadpacket))
            flops = counted or 0.0
            read, written = _nbytes(ins), _nbytes(outs)
        module = self._module(ins, outs)
        if kind == OpKind.CONV and self.phase == Phase.FWD and func.overloadpacket.__name__ == "convolution":
            self.conv_geometry[module] = _conv_rows(args)
        if self.phase == Phase.OPT and kind != OpKind.VIEW:
            kind = OpKind.OPTIMIZER
        if kind in (OpKind.ELEMENTWISE, OpKind.REDUCTION) and module in self.modules.norms:
            kind = OpKind.NORM
        first = outs[0] if outs else (ins[0] if ins else None)
        self.ops.append(
            Op(
                name=str(func.overloadpacket),
                kind=kind,
                phase=self.phase,
                flops=flops,
                bytes_read=read,
                bytes_written=written,
                in_shapes=tuple(tuple(t.shape) for t in ins),
                out_shapes=tuple(tuple(t.shape) for t in outs),
                dtype=str(first.dtype).removeprefix("torch.") if first is not None else "",
                module=module,
                saved=False,
            )
        )
        for t in outs:
            self.producer[storage_key(t)] = len(self.ops) - 1
        return out
