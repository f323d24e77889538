"""Record one whole training step (forward, backward, optimizer) under FakeTensorMode: nothing is allocated.

CPU fake tensors, not `meta`: on meta, attention decomposes into its math form and bytes come out 2-4x too
high. The default dtype is set instead of `model.to(bf16)`, which fake mode handles poorly.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from dojosim.errors import InputError
from dojosim.workload.blocks import CAPTURED_BLOCKS, TEMPLATE_BLOCK, Growth, expand_blocks
from dojosim.workload.graph import Graph, Op, Phase, role_of
from dojosim.workload.recorder import ModuleStack, NodeOwners, Recorder, storage_key

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
    template_block: int = TEMPLATE_BLOCK  # the block the others repeat; blocks before it differ (dense-first)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class _RawCapture:
    ops: list[Op]
    param_counts: dict[str, int]  # parameter name -> elements
    param_bytes: dict[str, int]
    state_bytes: dict[str, int]  # parameter name -> optimizer-state bytes
    saved_storages: dict[int, tuple[int, str, int]]  # storage -> (bytes, module of its producer, last dim)
    block_path: str  # where the repeated blocks really are in the built model ("" if none)
    no_formula: set[str] = field(default_factory=set)  # tensor-core ops with no FLOP formula
    conv_geometry: dict[str, list[int]] = field(default_factory=dict)  # module -> the rows' geometry (recorder)


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


def _optimizer(name: str, params: dict[str, torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Single-tensor (not foreach, not fused) updates: the recorder attributes each op to one parameter."""
    if name == "adamw":
        return torch.optim.AdamW(params.values(), lr=1e-4, foreach=False, fused=False)
    return torch.optim.SGD(params.values(), lr=1e-2, momentum=0.9, foreach=False)


class _SavedTensors:
    """Storages autograd packs for backward (parameters excluded), each with its bytes, the module of the op
    that produced it and its last dimension; the producing op is marked `saved`."""

    def __init__(self, recorder: Recorder, param_keys: set[int]):
        self.recorder = recorder
        self.param_keys = param_keys
        self.saved: dict[int, tuple[int, str, int]] = {}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        key = storage_key(t)
        if key in self.param_keys or key in self.saved:
            return t
        ops = self.recorder.ops
        producer = self.recorder.producer.get(key)
        module = ops[producer].module if producer is not None else ""
        self.saved[key] = (t.untyped_storage().nbytes(), module, int(t.shape[-1]) if t.dim() else 1)
        if producer is not None:
            ops[producer] = replace(ops[producer], saved=True)
        return t


def _record_update(recorder: Recorder, opt: torch.optim.Optimizer, params: dict[str, torch.nn.Parameter]) -> None:
    """Record a steady-state optimizer step: the first step (unrecorded) creates the optimizer state."""
    opt.step()
    for pname, p in params.items():
        state = [t for t in opt.state[p].values() if isinstance(t, torch.Tensor)]
        for t in [p, p.grad, *state]:
            if t is not None:
                recorder.opt_owner[storage_key(t)] = pname
    recorder.phase = Phase.OPT
    with recorder:
        opt.step()


def _state_bytes(opt: torch.optim.Optimizer, params: dict[str, torch.nn.Parameter]) -> dict[str, int]:
    return {
        pname: sum(
            t.numel() * t.element_size() for t in opt.state[p].values() if isinstance(t, torch.Tensor) and t.dim() > 0
        )
        for pname, p in params.items()
    }


def _run_step(spec: StepSpec, layers: int | None, optimizer: str, dtype: torch.dtype) -> _RawCapture:
    previous_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        meta_model = None
        if spec.build_on_meta:  # real (not fake) meta tensors: a value read while building still works
            with torch.device("meta"):
                meta_model = spec.build(layers)
        with FakeTensorMode():
            model = (_meta_to_fake(meta_model) if meta_model is not None else spec.build(layers)).train()
            block_path = _find_blocks(model, spec.block_path, layers)
            batch = spec.make_batch()
            params = dict(model.named_parameters())
            opt = _optimizer(optimizer, params)
            modules = ModuleStack(model)
            owners = NodeOwners(modules)
            recorder = Recorder(modules, owners)
            saved = _SavedTensors(recorder, {storage_key(p) for p in params.values()})
            with modules, recorder, torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
                with owners:
                    loss = spec.loss(model, batch)
                recorder.phase = Phase.BWD
                loss.backward()
            _record_update(recorder, opt, params)
            return _RawCapture(
                ops=recorder.ops,
                param_counts={n: p.numel() for n, p in params.items()},
                param_bytes={n: p.numel() * p.element_size() for n, p in params.items()},
                state_bytes=_state_bytes(opt, params),
                saved_storages=saved.saved,
                block_path=block_path,
                no_formula=recorder.no_formula,
                conv_geometry=recorder.conv_geometry,
            )
    finally:
        torch.set_default_dtype(previous_dtype)


def _by_role(raw: _RawCapture, block_path: str) -> dict[str, list[int]]:
    """Each convolution's row geometry by module role (every block's conv under one name, as the ops are grown)."""
    return {role_of(module, block_path): geometry for module, geometry in raw.conv_geometry.items()}


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
    needed = CAPTURED_BLOCKS + spec.template_block - TEMPLATE_BLOCK  # the template has a block before and after
    captured = target if (full or target <= needed or not spec.block_path) else needed
    try:
        raw = _run_step(spec, captured if spec.block_path else None, optimizer, DTYPES[dtype])
    except InputError:
        raise
    except Exception as exc:  # a model that breaks under fake tensors: say which and why, once
        raise InputError(
            f"model '{spec.name}' could not be captured under fake tensors: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    if raw.no_formula:
        raise InputError(
            f"model '{spec.name}': no FLOP formula for {', '.join(sorted(raw.no_formula))} (tensor-core work this "
            "capture cannot count; it would be costed as zero)"
        )
    ops, block_path = raw.ops, raw.block_path
    if block_path and captured < target:
        ops = expand_blocks(ops, block_path, captured, target, spec.template_block)
    growth = Growth(block_path, captured, target, spec.template_block)
    # By role (block index as '*'), so that the engine can shard each part by its own rule.
    activation = growth.activations(raw.saved_storages)
    return Graph(
        model=spec.name,
        input_spec=spec.input_spec,
        ops=ops,
        params=growth.total(raw.param_counts),
        param_bytes=growth.total(raw.param_bytes),
        activation_bytes=sum(nbytes for _, _, nbytes in activation),
        optimizer_state_bytes=growth.total(raw.state_bytes),
        optimizer=optimizer,
        batch=spec.batch,
        tokens_per_sample=spec.tokens_per_sample,
        layers=target,
        block_path=block_path,
        torch_version=torch.__version__,
        param_counts=growth.by_role(raw.param_counts),
        activation_breakdown=activation,
        meta={**spec.meta, "dtype": dtype, "captured_blocks": captured, "conv_geometry": _by_role(raw, block_path)},
    )
