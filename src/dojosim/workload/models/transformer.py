"""GPT-, Llama- and MoE-style decoder LMs, as in docs/validation-schema.md.

Blocks live in `self.layers` (an nn.ModuleList), which capture uses to grow a two-block capture to full depth.
"""

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dojosim.workload.models.latent_attention import LatentRanks, MultiLatentAttention


class _MaskedSoftmax(torch.autograd.Function):
    """Scale-mask-softmax in one pass each way, as Megatron's fused kernel (scaled_upper_triang_masked_softmax)
    runs it; its backward needs only the probabilities."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        probs = torch.ops.aten._masked_softmax(scores, mask, -1, 0)  # mask type 0: one (s, s) mask for all
        ctx.save_for_backward(probs)
        return probs

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (probs,) = ctx.saved_tensors
        return torch.ops.aten._softmax_backward_data(grad, probs, -1, probs.dtype), None


# RMSNorm as one kernel each way, as GPU training runs it (PyTorch's fused CUDA rms_norm, Transformer Engine,
# apex FusedRMSNorm, torch.compile): a CPU graph of nn.RMSNorm has ~6 passes forward (an fp32 upcast, square,
# mean, rsqrt, two multiplies) and ~12 backward, and counts 3-5x the bytes a GPU moves. Opaque custom ops keep
# it one op in the captured graph; their CPU bodies are the plain formula, so real runs (check-local) still work.
def _accumulation_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.promote_types(x.dtype, torch.float32)  # statistics in fp32 (or wider) whatever x is


@torch.library.custom_op("dojosim::rms_norm", mutates_args=())
def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    wide = x.to(_accumulation_dtype(x))
    rstd = torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + eps)
    return (wide * rstd).to(x.dtype) * weight, rstd


@rms_norm.register_fake
def _(x: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.empty_like(x), x.new_empty((*x.shape[:-1], 1), dtype=_accumulation_dtype(x))


@torch.library.custom_op("dojosim::rms_norm_backward", mutates_args=())
def rms_norm_backward(
    grad: torch.Tensor, x: torch.Tensor, rstd: torch.Tensor, weight: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    wide = _accumulation_dtype(x)
    xhat, grad_wide = x.to(wide) * rstd, grad.to(wide)
    dxhat = grad_wide * weight.to(wide)
    dx = rstd * (dxhat - xhat * (dxhat * xhat).mean(-1, keepdim=True))
    dw = (grad_wide * xhat).reshape(-1, x.shape[-1]).sum(0)
    return dx.to(x.dtype), dw.to(weight.dtype)


@rms_norm_backward.register_fake
def _(
    grad: torch.Tensor, x: torch.Tensor, rstd: torch.Tensor, weight: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.empty_like(x), torch.empty_like(weight)


def _rms_norm_setup(ctx, inputs: tuple, output: tuple) -> None:
    x, weight, _ = inputs
    ctx.save_for_backward(x, output[1], weight)


def _rms_norm_grad(ctx, grad: torch.Tensor, _grad_rstd: torch.Tensor) -> tuple:
    x, rstd, weight = ctx.saved_tensors
    dx, dw = torch.ops.dojosim.rms_norm_backward(grad, x, rstd, weight)
    return dx, dw, None


rms_norm.register_autograd(_rms_norm_grad, setup_context=_rms_norm_setup)


class FusedRMSNorm(nn.Module):
    """nn.RMSNorm's parameters and numerics, run as one fused op (see rms_norm)."""

    def __init__(self, hidden: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.dojosim.rms_norm(x, self.weight, self.eps)[0]


def causal_mask(seq: int, device: torch.device) -> torch.Tensor:
    """True above the diagonal: the positions a token may not attend to."""
    return torch.ones(seq, seq, dtype=torch.bool, device=device).triu(1)


class CoreAttention(nn.Module):
    """Attention as Megatron-LM ran it before fused attention kernels (until 2023), in a module of its own as
    Megatron's CoreAttention is, so that selective recompute finds what it repeats (QK^T, softmax, dropout and
    the product with V): the scores are materialized by one scaled batched matmul, then one fused
    scale-mask-softmax kernel and one dropout kernel pass over them. (Written op by op, a CPU graph would add
    mask, scale and dropout passes a GPU run never made.)"""

    def __init__(self, dropout: float = 0.1):
        super().__init__()
        self.dropout = dropout

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-2, -1))
        probs = _MaskedSoftmax.apply(scores, mask)
        if self.dropout and self.training:
            probs = torch.ops.aten.native_dropout(probs, self.dropout, True)[0]
        return torch.matmul(probs, v)


class GPTBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int, fused_attention: bool = True):
        super().__init__()
        self.heads, self.fused_attention = heads, fused_attention
        if not fused_attention:
            self.core_attention = CoreAttention()
        self.ln_1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.ln_2 = nn.LayerNorm(hidden)
        self.fc_in = nn.Linear(hidden, ffn)
        self.fc_out = nn.Linear(ffn, hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, s, h = x.shape
        q, k, v = self.qkv(self.ln_1(x)).view(b, s, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        if self.fused_attention:
            attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            mask = causal_mask(s, x.device) if mask is None else mask
            attn = self.core_attention(q, k, v, mask)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, s, h))
        return x + self.fc_out(F.gelu(self.fc_in(self.ln_2(x))))


class GPT(nn.Module):
    """GPT-2/3: learned positions, LayerNorm, GELU MLP, multi-head attention, tied embeddings unless untied."""

    def __init__(
        self,
        layers: int,
        hidden: int,
        heads: int,
        vocab: int,
        ffn: int | None = None,
        positions: int = 2048,
        untied: bool = False,
        fused_attention: bool = True,
    ):
        super().__init__()
        self.fused_attention = fused_attention
        self.wte = nn.Embedding(vocab, hidden)
        self.wpe = nn.Embedding(positions, hidden)
        self.layers = nn.ModuleList(GPTBlock(hidden, heads, ffn or 4 * hidden, fused_attention) for _ in range(layers))
        self.ln_f = nn.LayerNorm(hidden)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)
        if not untied:
            self.lm_head.weight = self.wte.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1], device=tokens.device))
        # The unfused path's mask is built once per step, not once per layer.
        mask = None if self.fused_attention else causal_mask(tokens.shape[1], tokens.device)
        for block in self.layers:
            x = block(x, mask)
        return self.lm_head(self.ln_f(x))


def rope_tables(seq: int, head_dim: int, theta: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq, device=device, dtype=torch.float32), inv)
    dtype = torch.get_default_dtype()
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


# RoPE as one kernel each way, as Transformer Engine's fused rotary kernel (NeMo's apply_rope_fusion) and
# torch.compile run it; eager PyTorch runs apply_rope's ~6 multiplies, adds and a concatenation, each a pass.
@torch.library.custom_op("dojosim::rope", mutates_args=())
def fused_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return apply_rope(x, cos, sin)


@fused_rope.register_fake
def _(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


@torch.library.custom_op("dojosim::rope_backward", mutates_args=())
def fused_rope_backward(grad: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = grad.shape[-1] // 2
    g1, g2 = grad[..., :half], grad[..., half:]
    dx = torch.empty_like(grad)
    dx[..., 0::2] = g1 * cos + g2 * sin  # the rotation's transpose
    dx[..., 1::2] = g2 * cos - g1 * sin
    return dx


@fused_rope_backward.register_fake
def _(grad: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(grad)


def _rope_setup(ctx, inputs: tuple, output: torch.Tensor) -> None:
    _, cos, sin = inputs
    ctx.save_for_backward(cos, sin)


def _rope_grad(ctx, grad: torch.Tensor) -> tuple:
    cos, sin = ctx.saved_tensors
    return torch.ops.dojosim.rope_backward(grad, cos, sin), None, None


fused_rope.register_autograd(_rope_grad, setup_context=_rope_setup)


class SwiGLU(nn.Module):
    def __init__(self, hidden: int, ffn: int):
        super().__init__()
        self.gate = nn.Linear(hidden, ffn, bias=False)
        self.up = nn.Linear(hidden, ffn, bias=False)
        self.down = nn.Linear(ffn, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class BalancedMoE(nn.Module):
    """Mixture of `experts` SwiGLU experts, `top_k` routed.

    Routing is assumed perfectly balanced: every expert gets tokens * top_k / experts tokens. Fake tensors
    carry no values, so a real router's imbalance cannot be seen at capture time; the router's own matmul
    and softmax are still computed, and the expert matmuls are batched over experts.
    """

    def __init__(self, hidden: int, ffn: int, experts: int, top_k: int, shared_experts: int = 0):
        super().__init__()
        self.experts, self.top_k = experts, top_k
        # Always-on experts (DeepSeek's shared experts): one SwiGLU as wide as all of them, every token through it.
        self.shared_experts = SwiGLU(hidden, shared_experts * ffn) if shared_experts else None
        self.router = nn.Linear(hidden, experts, bias=False)
        self.w_gate = nn.Parameter(torch.empty(experts, hidden, ffn))
        self.w_up = nn.Parameter(torch.empty(experts, hidden, ffn))
        self.w_down = nn.Parameter(torch.empty(experts, ffn, hidden))
        for w in (self.w_gate, self.w_up, self.w_down):
            nn.init.normal_(w, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        tokens = x.reshape(b * s, h)
        weights, _ = torch.topk(F.softmax(self.router(tokens), dim=-1), self.top_k, dim=-1)
        if (b * s * self.top_k) % self.experts:
            raise ValueError(f"tokens x top_k = {b * s * self.top_k} does not split evenly over {self.experts} experts")
        per_expert = b * s * self.top_k // self.experts
        dispatched = tokens.repeat(self.top_k, 1).view(self.experts, per_expert, h)
        hidden = F.silu(torch.bmm(dispatched, self.w_gate)) * torch.bmm(dispatched, self.w_up)
        out = torch.bmm(hidden, self.w_down).view(self.top_k, b * s, h)
        combined = (out * weights.t().unsqueeze(-1)).sum(dim=0).view(b, s, h)
        return combined if self.shared_experts is None else combined + self.shared_experts(x)


def rms_norm_module(hidden: int, fused: bool) -> nn.Module:
    """Fused (one op each way, as GPU frameworks run it) or eager nn.RMSNorm: an fp32 upcast, square, mean,
    rsqrt and two multiplies, each its own kernel, as eager PyTorch ran RMSNorm on GPUs before its fused kernel."""
    return FusedRMSNorm(hidden) if fused else nn.RMSNorm(hidden, eps=1e-6)


@dataclass(frozen=True)
class ExpertShape:
    """An MoE's experts beyond their count: their FFN width (0: the dense ffn), always-on shared experts of that
    width, and leading blocks that are dense (DeepSeek-V3's first three)."""

    expert_ffn: int = 0
    shared_experts: int = 0
    dense_layers: int = 0


class LlamaBlock(nn.Module):
    """Pre-norm attention and MLP. Attention is grouped-query (heads of `head_dim`, 0: hidden / heads; with
    `qk_norm`, RMSNorm on each head's q and k before RoPE, as Qwen3) or latent (`latent`, DeepSeek's MLA); the
    MLP is a SwiGLU of width `ffn`, or with `experts` a balanced MoE of experts that wide."""

    def __init__(
        self,
        hidden: int,
        heads: int,
        kv_heads: int,
        ffn: int,
        experts: int = 0,
        top_k: int = 2,
        fused_kernels: bool = True,
        head_dim: int = 0,
        qk_norm: bool = False,
        shared_experts: int = 0,
        latent: LatentRanks | None = None,
    ):
        super().__init__()
        self.fused_kernels = fused_kernels  # RMSNorm and RoPE as one kernel each way (else eager, op by op)
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim or hidden // heads
        self.attn_norm = rms_norm_module(hidden, fused_kernels)
        rope = torch.ops.dojosim.rope if fused_kernels else apply_rope
        norm = functools.partial(rms_norm_module, fused=fused_kernels)
        self.latent_attention = MultiLatentAttention(hidden, heads, latent, norm, rope) if latent else None
        if latent is None:
            self.q_proj = nn.Linear(hidden, heads * self.head_dim, bias=False)
            self.k_proj = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
            self.v_proj = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
            self.o_proj = nn.Linear(heads * self.head_dim, hidden, bias=False)
        if qk_norm:
            self.q_norm = rms_norm_module(self.head_dim, fused_kernels)
            self.k_norm = rms_norm_module(self.head_dim, fused_kernels)
        self.qk_norm = qk_norm
        self.mlp_norm = rms_norm_module(hidden, fused_kernels)
        self.mlp = BalancedMoE(hidden, ffn, experts, top_k, shared_experts) if experts else SwiGLU(hidden, ffn)

    def _attention(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, s, _ = h.shape
        q = self.q_proj(h).view(b, s, self.heads, self.head_dim)
        q = (self.q_norm(q) if self.qk_norm else q).transpose(1, 2)
        k = self.k_proj(h).view(b, s, self.kv_heads, self.head_dim)
        k = (self.k_norm(k) if self.qk_norm else k).transpose(1, 2)
        v = self.v_proj(h).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        rope = torch.ops.dojosim.rope if self.fused_kernels else apply_rope
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.kv_heads != self.heads)
        return self.o_proj(attn.transpose(1, 2).reshape(b, s, -1))

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        h = self.attn_norm(x)
        x = x + (self.latent_attention(h, cos, sin) if self.latent_attention else self._attention(h, cos, sin))
        return x + self.mlp(self.mlp_norm(x))


class Llama(nn.Module):
    """Llama: RoPE, RMSNorm, SwiGLU MLP (or a balanced MoE), grouped-query attention, untied embeddings. Today's
    shapes: see LlamaBlock; with experts, the first `dense_layers` blocks are dense SwiGLUs of width `ffn` and
    the rest MoEs of experts `expert_ffn` wide (0: ffn) plus `shared_experts` always-on ones."""

    def __init__(
        self,
        layers: int,
        hidden: int,
        heads: int,
        kv_heads: int,
        ffn: int,
        vocab: int,
        experts: int = 0,
        top_k: int = 2,
        rope_theta: float = 10000.0,
        fused_kernels: bool = True,
        head_dim: int = 0,
        qk_norm: bool = False,
        experts_shape: ExpertShape | None = None,
        latent: LatentRanks | None = None,
    ):
        super().__init__()
        self.head_dim, self.rope_theta = head_dim or hidden // heads, rope_theta
        self.rotary_dim = latent.qk_rope_head_dim if latent else self.head_dim
        attention = dict(fused_kernels=fused_kernels, head_dim=head_dim, qk_norm=qk_norm, latent=latent)
        shape = experts_shape or ExpertShape()
        dense = shape.dense_layers if experts else 0
        moe = dict(experts=experts, top_k=top_k, shared_experts=shape.shared_experts)
        self.embed = nn.Embedding(vocab, hidden)
        self.layers = nn.ModuleList(
            LlamaBlock(hidden, heads, kv_heads, ffn, **attention)
            if i < dense
            else LlamaBlock(hidden, heads, kv_heads, shape.expert_ffn or ffn, **moe, **attention)
            for i in range(layers)
        )
        self.norm = rms_norm_module(hidden, fused_kernels)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        cos, sin = rope_tables(tokens.shape[1], self.rotary_dim, self.rope_theta, tokens.device)
        x = self.embed(tokens)
        for block in self.layers:
            x = block(x, cos, sin)
        return self.lm_head(self.norm(x))
