"""Record one whole training step (forward, backward, optimizer) under FakeTensorMode: nothing is allocated.

CPU fake tensors, not `meta`: on meta, attention decomposes into its math form and bytes come out 2-4x too
high. The default dtype is set instead of `model.to(bf16)`, which fake mode handles poorly.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from dojosim.errors import InputError
from dojosim.workload.graph import Graph, Op, role_of
from dojosim.workload.ops import flops_of, is_ignored, kind_of

# Ops a fake tensor can only run by falling back to the real kernel (allocating every byte) because torch ships
# no meta kernel for them: each gets a shape-only one here, so capture never allocates.
_META_KERNELS = torch.library.Library("aten", "IMPL")
_META_KERNELS.impl("_masked_softmax", lambda x, mask, dim=None, mask_type=None: torch.empty_like(x), "Meta")

OPTIMIZERS = ("adamw", "sgd")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass
class StepSpec:
    """How to build and train one model: everything capture needs, nothing about the machine."""

    name: str
    build: Callable[[int | None], torch.nn.Module]  # given a layer count (None: the model's own)
    make_batch: Callable[[], Any]  # inputs and targets, created under fake mode
    loss: Callable[[torch.nn.Module, Any], torch.Tensor]
    batch: int
    tokens_per_sample: int
    input_spec: dict[str, Any]
    layers: int = 0  # number of repeated blocks; 0 when the model has none to exploit
    block_path: str = ""  # module path of the nn.ModuleList of blocks
    build_on_meta: bool = False  # for models that read tensor values (.item()) while being built
    meta: dict[str, Any] = field(default_factory=dict)


def _tensors(tree: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def _storage_key(t: torch.Tensor) -> int:
    return t.untyped_storage()._cdata


class _ModuleStack:
    """The module whose forward is running, from global forward hooks (exact: a stack, not a set)."""

    def __init__(self, model: torch.nn.Module):
        self.names = {module: name for name, module in model.named_modules()}
        # Norms that run as several pointwise ops on this backend (RMSNorm on CPU) are still norms.
        self.norms = {name for name, module in model.named_modules() if "Norm" in type(module).__name__}
        self.stack: list[str] = []
        self._handles: list[Any] = []

    def __enter__(self) -> "_ModuleStack":
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


class _NodeOwners(TorchFunctionMode):
    """Remembers which module created each autograd node in forward.

    In backward, module hooks cannot tell which module's gradient is being computed; the autograd node being
    executed names its forward op's module exactly.
    """

    def __init__(self, modules: _ModuleStack):
        super().__init__()
        self.modules = modules
        self.owner: dict[Any, str] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        module = None
        for t in _tensors(out):
            node = t.grad_fn
            if node is not None and node not in self.owner:
                module = self.modules.current if module is None else module
                self.owner[node] = module
        return out


class _Recorder(TorchDispatchMode):
    def __init__(self, modules: _ModuleStack, owners: _NodeOwners):
        super().__init__()
        self.modules = modules
        self.owners = owners
        self.bwd_current = ""
        self.phase = "fwd"
        self.ops: list[Op] = []
        self.producer: dict[int, int] = {}  # storage -> index of the op that last wrote it
        self.opt_owner: dict[int, str] = {}  # storage -> parameter name, for optimizer-phase ops
        self.opt_current = ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if is_ignored(func):
            return out
        full = str(func.overloadpacket)
        name = func.overloadpacket.__name__
        ins, outs = _tensors((args, kwargs)), _tensors(out)
        kind = kind_of(name)
        in_numel = max((t.numel() for t in ins), default=0)
        out_numel = max((t.numel() for t in outs), default=0)
        if kind == "view":
            flops, read, written = 0.0, 0.0, 0.0
        else:
            flops = flops_of(func, kind, args, kwargs, out, in_numel, out_numel)
            read = float(sum(t.numel() * t.element_size() for t in ins))
            written = float(sum(t.numel() * t.element_size() for t in outs))
        if self.phase == "opt":
            # Single-tensor optimizers update one parameter at a time: an op that touches no known tensor
            # (the step counter) belongs to the parameter being updated.
            module = next((self.opt_owner[k] for k in map(_storage_key, ins) if k in self.opt_owner), self.opt_current)
            self.opt_current = module
            for t in outs:
                self.opt_owner[_storage_key(t)] = module  # storage addresses are reused: overwrite
            kind = "optimizer" if kind != "view" else kind
        elif self.phase == "bwd":
            # Nodes made outside forward (gradient accumulation) belong to the gradient just computed.
            module = self.owners.owner.get(torch._C._current_autograd_node(), self.bwd_current)
            self.bwd_current = module
        else:
            module = self.modules.current
        if kind in ("elementwise", "reduction") and module in self.modules.norms:
            kind = "norm"
        first = outs[0] if outs else (ins[0] if ins else None)
        self.ops.append(
            Op(
                name=full,
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
        index = len(self.ops) - 1
        for t in outs:
            self.producer[_storage_key(t)] = index
        return out


@dataclass
class _RawCapture:
    ops: list[Op]
    param_counts: dict[str, int]  # parameter name -> elements
    param_bytes: dict[str, int]
    state_bytes: dict[str, int]  # parameter name -> optimizer-state bytes
    saved_storages: dict[int, tuple[int, str, int]]  # storage -> (bytes, module of its producer, last dim)
    block_path: str  # where the repeated blocks really are in the built model ("" if none)


def _meta_to_fake(model: torch.nn.Module) -> torch.nn.Module:
    """Swap a meta-built model's tensors for CPU fakes of the same shape (call under FakeTensorMode).
    Shared (tied) parameters stay shared."""
    made: dict[int, torch.Tensor] = {}
    for module in model.modules():
        for table, wrap in ((module._parameters, True), (module._buffers, False)):
            for name, t in table.items():
                if t is None:
                    continue
                if id(t) not in made:
                    fresh = torch.empty(t.shape, dtype=t.dtype, device="cpu")
                    made[id(t)] = torch.nn.Parameter(fresh, requires_grad=t.requires_grad) if wrap else fresh
                table[name] = made[id(t)]
    return model


def _find_blocks(model: torch.nn.Module, hint: str, count: int | None) -> str:
    """The ModuleList holding the repeated blocks: the hinted path if it is one of `count` entries, else the
    largest such list (libraries rename their internals between versions)."""
    if not hint or count is None:
        return ""
    lists = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m) == count}
    if hint in lists:
        return hint
    if not lists:
        raise ValueError(f"no list of {count} repeated blocks found (looked for '{hint}')")
    return max(lists, key=lambda name: sum(p.numel() for p in lists[name].parameters()))


def _run_step(spec: StepSpec, layers: int | None, optimizer: str, dtype: torch.dtype) -> _RawCapture:
    fake_mode = FakeTensorMode()
    previous_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        meta_model = None
        if spec.build_on_meta:  # real (not fake) meta tensors: a value read while building still works
            with torch.device("meta"):
                meta_model = spec.build(layers)
        with fake_mode:
            model = _meta_to_fake(meta_model) if meta_model is not None else spec.build(layers)
            model.train()
            block_path = _find_blocks(model, spec.block_path, layers)
            batch = spec.make_batch()
            params = dict(model.named_parameters())
            param_keys = {_storage_key(p) for p in params.values()}
            if optimizer == "adamw":
                opt = torch.optim.AdamW(params.values(), lr=1e-4, foreach=False, fused=False)
            else:
                opt = torch.optim.SGD(params.values(), lr=1e-2, momentum=0.9, foreach=False)
            modules = _ModuleStack(model)
            owners = _NodeOwners(modules)
            recorder = _Recorder(modules, owners)
            saved: dict[int, tuple[int, str, int]] = {}

            def pack(t: torch.Tensor) -> torch.Tensor:
                key = _storage_key(t)
                if key not in param_keys and key not in saved:
                    producer = recorder.producer.get(key)
                    module = recorder.ops[producer].module if producer is not None else ""
                    saved[key] = (t.untyped_storage().nbytes(), module, int(t.shape[-1]) if t.dim() else 1)
                    if producer is not None:
                        recorder.ops[producer] = replace(recorder.ops[producer], saved=True)
                return t

            with modules, recorder, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                with owners:
                    loss = spec.loss(model, batch)
                recorder.phase = "bwd"
                loss.backward()
            # The first step creates the optimizer state; a steady-state step (the one recorded) does not.
            opt.step()
            for pname, p in params.items():
                state = [t for t in opt.state[p].values() if isinstance(t, torch.Tensor)]
                for t in [p, p.grad, *state]:
                    if t is not None:
                        recorder.opt_owner[_storage_key(t)] = pname
            recorder.phase = "opt"
            with recorder:
                opt.step()
            state_bytes = {
                pname: sum(
                    t.numel() * t.element_size()
                    for t in opt.state[p].values()
                    if isinstance(t, torch.Tensor) and t.dim() > 0
                )
                for pname, p in params.items()
            }
            return _RawCapture(
                ops=recorder.ops,
                param_counts={n: p.numel() for n, p in params.items()},
                param_bytes={n: p.numel() * p.element_size() for n, p in params.items()},
                state_bytes=state_bytes,
                saved_storages=saved,
                block_path=block_path,
            )
    finally:
        torch.set_default_dtype(previous_dtype)


def _in_block(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _renamed(op: Op, prefix: str, new_prefix: str) -> Op:
    return replace(op, module=new_prefix + op.module[len(prefix) :])


# Capture this many blocks and grow from the middle one: it has a block before and after it, as every
# block of the full model but the first and last does (what a block's output feeds decides what is saved).
CAPTURED_BLOCKS = 3
TEMPLATE_BLOCK = 1


def _expand_blocks(ops: list[Op], block_path: str, captured: int, target: int) -> list[Op]:
    """Grow a `captured`-block capture to `target` blocks, in the order a full capture would run them.

    The template block's ops become blocks 1 .. target-2; the last captured block becomes block target-1.
    """
    template = f"{block_path}.{TEMPLATE_BLOCK}"
    last, new_last = f"{block_path}.{captured - 1}", f"{block_path}.{target - 1}"
    copies = target - captured + 1
    order = {
        "fwd": range(TEMPLATE_BLOCK, TEMPLATE_BLOCK + copies),
        "bwd": range(TEMPLATE_BLOCK + copies - 1, TEMPLATE_BLOCK - 1, -1),
        "opt": range(TEMPLATE_BLOCK, TEMPLATE_BLOCK + copies),
    }
    out: list[Op] = []
    i = 0
    while i < len(ops):
        op = ops[i]
        if _in_block(op.module, last):
            out.append(_renamed(op, last, new_last))
            i += 1
            continue
        if not _in_block(op.module, template):
            out.append(op)
            i += 1
            continue
        j = i
        while j < len(ops) and _in_block(ops[j].module, template) and ops[j].phase == op.phase:
            j += 1
        run = ops[i:j]
        for k in order[op.phase]:
            new_prefix = f"{block_path}.{k}"
            out.extend(_renamed(o, template, new_prefix) for o in run)
        i = j
    return out


def _scaled_total(values: dict[str, int], block_path: str, captured: int, target: int) -> int:
    """A per-parameter total of the captured model, grown to `target` blocks by the template block's share."""
    total = sum(values.values())
    if target == captured:
        return total
    template = f"{block_path}.{TEMPLATE_BLOCK}."
    block = sum(v for name, v in values.items() if name.startswith(template))
    return total + (target - captured) * block


def capture(spec: StepSpec, optimizer: str = "adamw", dtype: str = "bf16", full: bool = False) -> Graph:
    """The operator graph of one training step of `spec`.

    Models with repeated blocks are captured with three blocks and grown to their full depth; `full=True`
    captures every block (slower; the tests use it to show both give the same graph).
    """
    if optimizer not in OPTIMIZERS:
        raise InputError(f"--optimizer: unknown optimizer '{optimizer}' (allowed: {', '.join(OPTIMIZERS)})")
    if dtype not in DTYPES:
        raise InputError(f"--dtype: unknown dtype '{dtype}' (allowed: {', '.join(DTYPES)})")
    target = spec.layers
    captured = target if (full or target <= CAPTURED_BLOCKS or not spec.block_path) else CAPTURED_BLOCKS
    try:
        raw = _run_step(spec, captured if spec.block_path else None, optimizer, DTYPES[dtype])
    except InputError:
        raise
    except Exception as exc:  # a model that breaks under fake tensors: say which and why, once
        raise InputError(
            f"model '{spec.name}' could not be captured under fake tensors: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    ops, block_path = raw.ops, raw.block_path
    if block_path and captured < target:
        ops = _expand_blocks(ops, block_path, captured, target)
    grow = target - captured if block_path else 0
    template = f"{block_path}.{TEMPLATE_BLOCK}"

    def copies(name: str) -> int:
        """How many blocks of the full model a captured name stands for."""
        return 1 + grow if grow and _in_block(name, template) else 1

    # By role (block index as '*'), so that the engine can shard each part by its own rule.
    activation: dict[tuple[str, int], int] = {}
    for nbytes, module, last_dim in raw.saved_storages.values():
        key = (role_of(module, block_path), last_dim)
        activation[key] = activation.get(key, 0) + nbytes * copies(module)
    param_roles: dict[str, int] = {}
    for name, count in raw.param_counts.items():
        role = role_of(name, block_path)
        param_roles[role] = param_roles.get(role, 0) + count * copies(name)
    return Graph(
        model=spec.name,
        input_spec=spec.input_spec,
        ops=ops,
        params=_scaled_total(raw.param_counts, block_path, captured, target),
        param_bytes=_scaled_total(raw.param_bytes, block_path, captured, target),
        activation_bytes=sum(activation.values()),
        optimizer_state_bytes=_scaled_total(raw.state_bytes, block_path, captured, target),
        optimizer=optimizer,
        batch=spec.batch,
        tokens_per_sample=spec.tokens_per_sample,
        layers=target,
        block_path=block_path,
        torch_version=torch.__version__,
        param_counts=dict(sorted(param_roles.items())),
        activation_breakdown=sorted((role, dim, nbytes) for (role, dim), nbytes in activation.items()),
        meta={**spec.meta, "dtype": dtype, "captured_blocks": captured},
    )
