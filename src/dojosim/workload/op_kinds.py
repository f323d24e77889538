"""What an aten op is: its kind, and the vector unit that can bound it. Torch-free.

The performance engine reads op names from stored graphs and classifies them without importing torch;
capture classifies dispatched ops with the same tables (`kernel_kind` only reads `func.overloadpacket`).
"""

import re
from typing import Any

from dojosim.workload.graph import OpKind

VIEW_OPS = frozenset(
    "view _unsafe_view reshape _reshape_alias t transpose permute expand unsqueeze squeeze slice select split "
    "split_with_sizes unbind as_strided detach alias lift_fresh chunk narrow unflatten view_as_real "
    "view_as_complex _unsafe_split expand_as numpy_T unfold diagonal movedim".split()
)
MATMUL_OPS = frozenset("mm addmm bmm baddbmm matmul linear _scaled_mm addbmm _grouped_mm".split())
# Names of tensor-core work: an op so named that no table above knows would otherwise be costed as a vector op.
_TENSOR_CORE_NAME = re.compile(r"(^|_)(mm|bmm|gemm|matmul|einsum|linear|conv\w*|\w*attention)(_|$)")
CONV_OPS = frozenset(
    "convolution _convolution convolution_backward cudnn_convolution convolution_overrideable "
    "_slow_conv2d_forward _slow_conv2d_backward slow_conv3d_forward mkldnn_convolution".split()
)
NORM_OPS = frozenset(
    "native_layer_norm native_layer_norm_backward _fused_rms_norm _fused_rms_norm_backward rms_norm rms_norm_backward "
    "native_batch_norm native_batch_norm_backward _native_batch_norm_legit _native_batch_norm_legit_functional "
    "_native_batch_norm_legit_no_training native_group_norm native_group_norm_backward batch_norm_backward".split()
)
SOFTMAX_OPS = frozenset(
    "_softmax _softmax_backward_data _log_softmax _log_softmax_backward_data _masked_softmax "
    "_masked_softmax_backward".split()
)
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
COLLECTIVE_OPS = frozenset(["all_reduce", "all_gather", "reduce_scatter"])
ATTENTION_MARKERS = ("scaled_dot_product", "flash_attention", "efficient_attention")

# Set membership, checked in this order (attention, a substring test, sits between conv and norm).
_BY_SET: tuple[tuple[frozenset[str], OpKind], ...] = (
    (NORM_OPS, OpKind.NORM),
    (SOFTMAX_OPS, OpKind.SOFTMAX),
    (LOSS_OPS, OpKind.LOSS),
    (EMBEDDING_OPS, OpKind.EMBEDDING),
    (REDUCTION_OPS, OpKind.REDUCTION),
    (COPY_OPS, OpKind.COPY),
)

# Ops whose recording is noise: device queries, profiler markers, reading a scalar to Python.
IGNORED_NAMESPACES = ("prim.", "profiler.")
IGNORED_OPS = frozenset(["aten._local_scalar_dense", "aten.sym_size", "aten.sym_stride", "aten.sym_numel"])

# Vector ops whose rate per element, not their memory traffic, can bound them on a CPU: a transcendental
# function per element, or a random number per element. A device may give a measured rate for each (elements
# per second); a GPU's special-function units and Philox generators keep up with memory, so presets leave
# them out and these ops are costed as any vector op.
TRANSCENDENTAL_OPS = frozenset(
    "gelu gelu_backward silu silu_backward sigmoid sigmoid_backward tanh tanh_backward exp exp_ log log1p erf "
    "softplus softplus_backward elu elu_backward mish mish_backward _softmax _safe_softmax _masked_softmax "
    "_log_softmax _log_softmax_backward_data".split()
)
RANDOM_OPS = frozenset(
    "bernoulli bernoulli_ native_dropout uniform_ normal_ rand rand_like randn randn_like randint random_ "
    "exponential_ multinomial randperm".split()
)


def kind_of(name: str) -> OpKind:
    """The kind of an aten op by its short name (`mm`, not `aten.mm`)."""
    if name in VIEW_OPS:
        return OpKind.VIEW
    if name in MATMUL_OPS:
        return OpKind.MATMUL
    if name in CONV_OPS:
        return OpKind.CONV
    if any(marker in name for marker in ATTENTION_MARKERS):
        return OpKind.ATTENTION
    for names, kind in _BY_SET:
        if name in names:
            return kind
    if name.startswith("_c10d") or name in COLLECTIVE_OPS:
        return OpKind.COLLECTIVE
    return OpKind.ELEMENTWISE


def needs_formula(name: str, kind: OpKind) -> bool:
    """Whether an op is tensor-core work whose FLOPs must come from a formula (never a per-element guess)."""
    if kind in (OpKind.MATMUL, OpKind.CONV, OpKind.ATTENTION):
        return True
    return kind == OpKind.ELEMENTWISE and bool(_TENSOR_CORE_NAME.search(name))


def is_ignored(func: Any) -> bool:
    """Whether a dispatched op is noise, not work of the step (see IGNORED_OPS)."""
    full = str(func.overloadpacket)
    return full.startswith(IGNORED_NAMESPACES) or full in IGNORED_OPS


def kernel_kind(func: Any) -> OpKind | None:
    """The kind of a dispatched op that launches work, as a capture counts it; None for noise and views."""
    if is_ignored(func):
        return None
    kind = kind_of(func.overloadpacket.__name__)
    return None if kind == OpKind.VIEW else kind


def vector_unit(name: str) -> str:
    """'transcendental', 'random', or '' (plain arithmetic) for an aten op's short or full name."""
    short = name.rsplit(".", 1)[-1] if name.startswith("aten.") else name
    if short in TRANSCENDENTAL_OPS:
        return "transcendental"
    return "random" if short in RANDOM_OPS else ""
