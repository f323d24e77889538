"""Multi-head latent attention (MLA), as DeepSeek-V2 and V3 run it: keys and values are projected up from one
low-rank latent per token, queries optionally through a low-rank step of their own, and RoPE rotates a separate
slice of each head (one rotary key shared by every head)."""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class LatentRanks:
    """MLA's widths, as DeepSeek's configs name them."""

    q_lora_rank: int  # 0: queries projected from the hidden state directly
    kv_lora_rank: int  # the latent that keys and values are projected up from
    qk_rope_head_dim: int  # the rotary slice of each query and key head
    qk_nope_head_dim: int  # the slice without position
    v_head_dim: int

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim


class MultiLatentAttention(nn.Module):
    """MLA with fused SDPA over heads of qk_head_dim (queries, keys) and v_head_dim (values). `norm` builds the
    RMSNorm of a width and `rope` rotates, as the block around it runs them (fused or eager)."""

    def __init__(
        self,
        hidden: int,
        heads: int,
        ranks: LatentRanks,
        norm: Callable[[int], nn.Module],
        rope: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    ):
        super().__init__()
        self.heads, self.ranks, self.rope = heads, ranks, rope
        if ranks.q_lora_rank:
            self.q_a_proj = nn.Linear(hidden, ranks.q_lora_rank, bias=False)
            self.q_a_norm = norm(ranks.q_lora_rank)
            self.q_b_proj = nn.Linear(ranks.q_lora_rank, heads * ranks.qk_head_dim, bias=False)
        else:
            self.q_proj = nn.Linear(hidden, heads * ranks.qk_head_dim, bias=False)
        self.kv_a_proj = nn.Linear(hidden, ranks.kv_lora_rank + ranks.qk_rope_head_dim, bias=False)
        self.kv_a_norm = norm(ranks.kv_lora_rank)
        self.kv_b_proj = nn.Linear(ranks.kv_lora_rank, heads * (ranks.qk_nope_head_dim + ranks.v_head_dim), bias=False)
        self.o_proj = nn.Linear(heads * ranks.v_head_dim, hidden, bias=False)

    def forward(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, s, _ = h.shape
        r, heads = self.ranks, self.heads
        q = self.q_b_proj(self.q_a_norm(self.q_a_proj(h))) if r.q_lora_rank else self.q_proj(h)
        q_nope, q_rope = q.view(b, s, heads, r.qk_head_dim).transpose(1, 2).split(
            [r.qk_nope_head_dim, r.qk_rope_head_dim], dim=-1
        )
        latent, k_rope = self.kv_a_proj(h).split([r.kv_lora_rank, r.qk_rope_head_dim], dim=-1)
        kv = self.kv_b_proj(self.kv_a_norm(latent)).view(b, s, heads, r.qk_nope_head_dim + r.v_head_dim)
        k_nope, v = kv.transpose(1, 2).split([r.qk_nope_head_dim, r.v_head_dim], dim=-1)
        k_rope = self.rope(k_rope.view(b, 1, s, r.qk_rope_head_dim), cos, sin)  # one rotary key for all heads
        q = torch.cat((q_nope, self.rope(q_rope, cos, sin)), dim=-1)
        k = torch.cat((k_nope, k_rope.expand(b, heads, s, r.qk_rope_head_dim)), dim=-1)
        # Values are narrower than queries and keys; the capture runs this as one fused kernel (recorder.py).
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(attn.transpose(1, 2).reshape(b, s, heads * r.v_head_dim))
