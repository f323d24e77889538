"""A captured step charged as its sequences are trained: unpadded, packed, masked per document, the loss only
where there is one (`dojosim.job.Sequences`).

The graph is captured once at the padded length with every position a real token; this scales its op classes
as the kernels of real stacks do the work, instead of capturing again:
- ops over tokens (matmuls, norms, pointwise ops, the embedding, the tensor-parallel all-reduces) run on the
  real tokens only, as unpadded kernels do: their FLOPs and the bytes of their token tensors scale with the
  real tokens; the bytes of weights they read or write do not;
- the fused attention core runs each document's own square (variable-length fused attention; a packed row
  masked per document likewise): its FLOPs scale with the documents' squares, its bytes (Q, K, V, O) with tokens;
  a fused kernel built for a fixed key length (`padded_keys`: apex FMHA v1) runs each real query over every key
  position of the row, so its FLOPs scale with the real tokens times the padded length;
  an unfused core's scores are squares too, bytes and FLOPs alike;
- what runs after the last block (the LM or masked-LM head and the loss) runs only on the positions with a loss,
  gathered before the head as dense-sequence-output implementations do;
- ops with no token axis (weight casts, the optimizer) are charged as captured.
Saved activations follow the same rules, by the region and last dimension of each tensor.
"""

from dataclasses import replace

from dojosim.job import Sequences
from dojosim.perf.profile import OpClass, WorkloadProfile


def _class_scale(c: OpClass, tokens: float, attention: float, loss: float) -> tuple[float, float]:
    """(FLOPs factor, token-bytes factor) of one op class."""
    if not c.over_tokens:
        return 1.0, 1.0
    if c.region == "post":
        return loss, loss
    if c.kind == "attention":
        return attention, tokens
    if c.attention_core:  # an unfused core: its tensors are the scores, seq x seq per head
        return attention, attention
    return tokens, tokens


def scaled_class(c: OpClass, tokens: float, attention: float, loss: float) -> OpClass:
    """One op class as its kernels run on the job's sequences (per op: the count stays)."""
    flops_factor, bytes_factor = _class_scale(c, tokens, attention, loss)
    token_bytes = c.token_bytes * bytes_factor
    nbytes = c.bytes - c.token_bytes + token_bytes
    return replace(c, flops=c.flops * flops_factor, bytes=nbytes, token_bytes=token_bytes)


def _scaled_rows(
    rows: tuple[tuple[int, float], ...], factor: float, seq: int, hidden: int, attention: float | None
) -> tuple[tuple[int, float], ...]:
    """Saved activations by last dim: an unfused core's attention scores (last dim the sequence, not the hidden
    size) by the documents' squares, every other tensor by `factor`; `attention` is None where the attention is
    fused (no scores are kept; its per-token statistics, last dim the sequence too, follow the tokens)."""
    scores = attention is not None
    return tuple((d, b * (attention if scores and d == seq and d != hidden else factor)) for d, b in rows)


def sequenced(profile: WorkloadProfile, sequences: Sequences, padded_keys: bool = False) -> WorkloadProfile:
    """The profile of the same step on `sequences`; the captured profile itself where they are dense.
    `padded_keys`: the fused attention kernel spans the padded length in keys (a fixed-length kernel)."""
    p, seq = profile, profile.seq
    if sequences.dense or seq <= 1:
        return profile
    tokens, loss = sequences.token_share(seq), sequences.loss_share(seq)
    attention = tokens if padded_keys else sequences.attention_share(seq)
    classes = tuple(scaled_class(c, tokens, attention, loss) for c in p.classes)
    fused = any(c.kind == "attention" for c in p.classes)
    rows = (seq, p.hidden, None if fused else attention)
    return replace(
        p,
        classes=classes,
        activation_block=_scaled_rows(p.activation_block, tokens, *rows),
        activation_block_without_scores=_scaled_rows(p.activation_block_without_scores, tokens, *rows),
        activation_pre=_scaled_rows(p.activation_pre, tokens, *rows),
        activation_post=_scaled_rows(p.activation_post, loss, *rows),
        attention_kv_bytes=p.attention_kv_bytes * tokens,
        model_flops=sum(c.flops * c.count for c in classes),
        max_op_bytes=max((c.bytes for c in classes), default=0.0),
        token_share=tokens,
    )
