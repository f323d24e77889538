"""How many FLOPs an aten op does (imports torch). What an op is lives in the torch-free `op_kinds`."""

from typing import Any

import torch
from torch.utils.flop_counter import flop_registry

from dojosim.workload.graph import OpKind
from dojosim.workload.op_kinds import needs_formula

# Values narrower than queries and keys (MLA: 192-wide q/k, 128-wide v) are zero-padded to one width so that CPU
# SDPA runs its fused kernel (its math path would record the scores materialised); the padded tensor's storage is
# noted here with (padded, real) width, and P V is counted at the real width: a kernel with two head widths
# (cuDNN/TE's fused attention, FlashAttention-3) does not multiply the zeros.
VALUE_WIDTHS: dict[int, tuple[int, int]] = {}


def note_padded_values(padded: torch.Tensor, width: int) -> None:
    VALUE_WIDTHS[padded.untyped_storage()._cdata] = (int(padded.shape[-1]), width)


def _value_width(value: torch.Tensor) -> int:
    padded, real = VALUE_WIDTHS.get(value.untyped_storage()._cdata, (0, 0))
    return real if padded == value.shape[-1] else value.shape[-1]


def _attention_fwd_flops(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> float:
    """Q K^T and P V over (B, H, Sq, D) x (B, Hk, Sk, D); GQA heads share K and V but every query head works."""
    *batch, sq, d = query.shape
    sk, dv = key.shape[-2], _value_width(value)
    heads = 1
    for b in batch:
        heads *= b
    return 2.0 * heads * sq * sk * d + 2.0 * heads * sq * sk * dv


def _sdpa_cpu_flops(name: str, args: tuple[Any, ...]) -> float | None:
    """The fused CPU SDPA ops that torch's flop registry lacks (fake CPU tensors dispatch to them)."""
    if name == "_scaled_dot_product_flash_attention_for_cpu":
        return _attention_fwd_flops(args[0], args[1], args[2])
    if name == "_scaled_dot_product_flash_attention_for_cpu_backward":
        # (grad_out, query, key, value, out, logsumexp, ...): dV, dP, dQ, dK are 4 matmuls = 2x forward.
        return 2.0 * _attention_fwd_flops(args[1], args[2], args[3])
    if name == "_scaled_dot_product_fused_attention_overrideable":
        return _attention_fwd_flops(args[0], args[1], args[2])
    return None


# Vector work is counted as one FLOP per element of the larger side; tensor-core work uses exact formulas.
_VECTOR_KINDS = frozenset([OpKind.ELEMENTWISE, OpKind.NORM, OpKind.SOFTMAX, OpKind.LOSS, OpKind.REDUCTION])


def _prod(values: Any) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _conv_macs(x_shape: Any, w_shape: Any, out_shape: Any, transposed: bool) -> float:
    """Multiply-accumulates of a (grouped, possibly transposed) convolution.

    The weight is (C_out, C_in/groups, *k), or (C_in, C_out/groups, *k) when transposed; each output element
    (each input element, when transposed) takes C/groups x prod(k) MACs. torch's registry ignores groups in
    backward, which overcounts depthwise convolutions by the channel count.
    """
    per_element = w_shape[1] * _prod(w_shape[2:])
    return float((_prod(x_shape) if transposed else _prod(out_shape)) * per_element)


def _conv_flops(name: str, args: tuple[Any, ...], out: Any) -> float | None:
    if name in ("convolution", "_convolution"):
        x, w, transposed = args[0], args[1], bool(args[6])
        return 2.0 * _conv_macs(x.shape, w.shape, out.shape, transposed)
    if name == "convolution_backward":
        grad_out, x, w, transposed, mask = args[0], args[1], args[2], bool(args[7]), args[10]
        macs = _conv_macs(x.shape, w.shape, grad_out.shape, transposed)
        return 2.0 * macs * (int(bool(mask[0])) + int(bool(mask[1])))  # grad_input and grad_weight, as asked
    return None


def _grouped_mm_flops(a: torch.Tensor, out: torch.Tensor) -> float:
    """Grouped GEMM (experts): each output element takes one dot product over the contracted dimension. When
    both operands are 2-D the groups split the contracted dimension (the weight gradient), not the output."""
    if a.dim() == 2 and out.dim() == 3:
        return 2.0 * (out.numel() / out.shape[0]) * a.shape[1]
    return 2.0 * out.numel() * a.shape[-1]


def flops_of(
    func: Any, kind: OpKind, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any, in_numel: int, out_numel: int
) -> float | None:
    """The op's FLOPs; None for tensor-core work with no formula (the capture lists them, never counts zero)."""
    packet = func.overloadpacket
    if packet.__name__ == "_grouped_mm":
        return _grouped_mm_flops(args[0], out)
    if kind == OpKind.CONV:
        flops = _conv_flops(packet.__name__, args, out)
        if flops is not None:
            return flops
    if packet in flop_registry:
        return float(flop_registry[packet](*args, **kwargs, out_val=out))
    if kind == OpKind.ATTENTION:
        flops = _sdpa_cpu_flops(packet.__name__, args)
        if flops is not None:
            return flops
    if needs_formula(packet.__name__, kind):
        return None
    if kind in _VECTOR_KINDS:
        return float(max(in_numel, out_numel))
    return 0.0
