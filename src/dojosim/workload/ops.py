"""What an aten op is (its kind) and how many FLOPs it does."""

from typing import Any

import torch
from torch.utils.flop_counter import flop_registry

VIEW_OPS = frozenset(
    "view _unsafe_view reshape _reshape_alias t transpose permute expand unsqueeze squeeze slice select split "
    "split_with_sizes unbind as_strided detach alias lift_fresh chunk narrow unflatten view_as_real "
    "view_as_complex _unsafe_split expand_as numpy_T unfold diagonal movedim".split()
)
MATMUL_OPS = frozenset("mm addmm bmm baddbmm matmul linear _scaled_mm addbmm".split())
CONV_OPS = frozenset(
    "convolution _convolution convolution_backward cudnn_convolution convolution_overrideable "
    "_slow_conv2d_forward _slow_conv2d_backward slow_conv3d_forward mkldnn_convolution".split()
)
NORM_OPS = frozenset(
    "native_layer_norm native_layer_norm_backward _fused_rms_norm _fused_rms_norm_backward rms_norm rms_norm_backward "
    "native_batch_norm native_batch_norm_backward _native_batch_norm_legit _native_batch_norm_legit_functional "
    "_native_batch_norm_legit_no_training native_group_norm native_group_norm_backward batch_norm_backward".split()
)
SOFTMAX_OPS = frozenset("_softmax _softmax_backward_data _log_softmax _log_softmax_backward_data".split())
LOSS_OPS = frozenset(
    "nll_loss_forward nll_loss_backward nll_loss2d_forward nll_loss2d_backward binary_cross_entropy "
    "binary_cross_entropy_backward binary_cross_entropy_with_logits mse_loss mse_loss_backward "
    "smooth_l1_loss smooth_l1_loss_backward l1_loss".split()
)
EMBEDDING_OPS = frozenset("embedding embedding_dense_backward embedding_backward".split())
REDUCTION_OPS = frozenset(
    "sum mean amax amin max min var std var_mean std_mean norm linalg_vector_norm topk sort argmax argmin "
    "cumsum logsumexp prod any all".split()
)
COPY_OPS = frozenset(
    "_to_copy copy_ clone cat stack index_select gather scatter scatter_add scatter_add_ index index_put "
    "index_put_ repeat repeat_interleave new_zeros new_empty new_ones zeros_like ones_like empty_like full_like "
    "fill_ zero_ constant_pad_nd masked_fill masked_fill_ contiguous _index_put_impl_ roll flip tril triu "
    "zeros ones empty full arange scalar_tensor new_empty_strided empty_strided upsample_nearest2d "
    "upsample_bilinear2d upsample_nearest2d_backward upsample_bilinear2d_backward".split()
)
# Ops whose recording is noise: device queries, profiler markers, reading a scalar to Python.
IGNORED_NAMESPACES = ("prim.", "profiler.")
IGNORED_OPS = frozenset(["aten._local_scalar_dense", "aten.sym_size", "aten.sym_stride", "aten.sym_numel"])


def is_ignored(func: Any) -> bool:
    """Whether a dispatched op is noise, not work of the step (see IGNORED_OPS)."""
    full = str(func.overloadpacket)
    return full.startswith(IGNORED_NAMESPACES) or full in IGNORED_OPS


def kernel_kind(func: Any) -> str | None:
    """The kind of a dispatched op that launches work, as a capture counts it; None for noise and views."""
    if is_ignored(func):
        return None
    kind = kind_of(func.overloadpacket.__name__)
    return None if kind == "view" else kind


def _attention_fwd_flops(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> float:
    """Q K^T and P V over (B, H, Sq, D) x (B, Hk, Sk, D); GQA heads share K and V but every query head works."""
    *batch, sq, d = query.shape
    sk, dv = key.shape[-2], value.shape[-1]
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


def kind_of(name: str) -> str:
    if name in VIEW_OPS:
        return "view"
    if name in MATMUL_OPS:
        return "matmul"
    if name in CONV_OPS:
        return "conv"
    if "scaled_dot_product" in name or "flash_attention" in name or "efficient_attention" in name:
        return "attention"
    if name in NORM_OPS:
        return "norm"
    if name in SOFTMAX_OPS:
        return "softmax"
    if name in LOSS_OPS:
        return "loss"
    if name in EMBEDDING_OPS:
        return "embedding"
    if name in REDUCTION_OPS:
        return "reduction"
    if name in COPY_OPS:
        return "copy"
    if name.startswith("_c10d") or name in ("all_reduce", "all_gather", "reduce_scatter"):
        return "collective"
    return "elementwise"


# Vector ops whose rate per element, not their memory traffic, can bound them on a CPU: a transcendental
# function per element, or a random number per element. A device may give a measured rate for each (elements
# per second); a GPU's special-function units and Philox generators keep up with memory, so presets leave
# them out and these ops are costed as any vector op.
TRANSCENDENTAL_OPS = frozenset(
    "gelu gelu_backward silu silu_backward sigmoid sigmoid_backward tanh tanh_backward exp exp_ log log1p erf "
    "softplus softplus_backward elu elu_backward mish mish_backward _softmax _safe_softmax _log_softmax "
    "_log_softmax_backward_data".split()
)
RANDOM_OPS = frozenset(
    "bernoulli bernoulli_ native_dropout uniform_ normal_ rand rand_like randn randn_like randint random_ "
    "exponential_ multinomial randperm".split()
)


def vector_unit(name: str) -> str:
    """'transcendental', 'random', or '' (plain arithmetic) for an aten op's short or full name."""
    short = name.rsplit(".", 1)[-1] if name.startswith("aten.") else name
    if short in TRANSCENDENTAL_OPS:
        return "transcendental"
    return "random" if short in RANDOM_OPS else ""


# Vector work is counted as one FLOP per element of the larger side; tensor-core work uses exact formulas.
_VECTOR_KINDS = frozenset(["elementwise", "norm", "softmax", "loss", "reduction"])


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


def flops_of(
    func: Any, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any, in_numel: int, out_numel: int
) -> float:
    packet = func.overloadpacket
    if kind == "conv":
        flops = _conv_flops(packet.__name__, args, out)
        if flops is not None:
            return flops
    if packet in flop_registry:
        return float(flop_registry[packet](*args, **kwargs, out_val=out))
    if kind == "attention":
        flops = _sdpa_cpu_flops(packet.__name__, args)
        if flops is not None:
            return flops
    if kind in _VECTOR_KINDS:
        return float(max(in_numel, out_numel))
    return 0.0
