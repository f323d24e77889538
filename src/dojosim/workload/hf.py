"""Hugging Face models from their config.json: transformers builds them under fake tensors, no weights, no
network (a config is read from a local file; nothing is fetched). Imports torch and transformers.
"""

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from dojosim.errors import InputError
from dojosim.workload.blocks import TEMPLATE_BLOCK
from dojosim.workload.capture import StepSpec
from dojosim.workload.sources import read_config
from dojosim.workload.spec import ModelSpec

# Kernels as a training run picks them: fused SDPA attention, and experts run as grouped GEMMs (the routed
# tokens sorted by expert): the grouped path's shapes do not depend on the routing, so fake tensors run it.
ATTENTION = "sdpa"
EXPERTS = "grouped_mm"


def _depth_keys(config: dict[str, Any], layers: int) -> dict[str, Any]:
    """The config's keys that change with its depth, for a model of `layers` blocks (per-layer lists cut)."""
    out: dict[str, Any] = {"num_hidden_layers": layers}
    for key in ("layer_types",):
        if isinstance(config.get(key), list):
            out[key] = config[key][:layers]
    return out


def _config_object(spec: ModelSpec, layers: int | None, attention: str = ATTENTION) -> Any:
    import transformers

    assert spec.origin is not None
    raw = read_config(Path(spec.origin.ref), spec.name)
    values = {k: v for k, v in raw.items() if k not in ("model_type", "quantization_config", "auto_map")}
    if layers is not None:
        values.update(_depth_keys(raw, layers))
    try:
        config = transformers.AutoConfig.for_model(raw["model_type"], **values)
    except (KeyError, ValueError) as exc:
        raise InputError(
            f"model '{spec.name}': transformers {transformers.__version__} has no architecture "
            f"'{raw['model_type']}' ({str(exc).splitlines()[0][:160]})"
        ) from None
    config._attn_implementation = attention
    if spec.params.get("experts") and hasattr(config, "_experts_implementation"):
        config._experts_implementation = EXPERTS
    return config


def _model_class(spec: ModelSpec, config: Any) -> Any:
    """The class the config names (`architectures`), else the auto class of its kind."""
    import transformers

    for name in getattr(config, "architectures", None) or ():
        cls = getattr(transformers, name, None)
        if cls is not None:
            return cls
    if spec.has_sequence:
        return transformers.AutoModelForCausalLM
    if "frames" in spec.params:
        return transformers.AutoModelForVideoClassification
    return transformers.AutoModelForImageClassification


def _inputs(spec: ModelSpec, config: Any, batch: int, seq: int | None):
    p = spec.params
    if spec.has_sequence:
        vocab = p["vocab"]

        def tokens():
            return {"input_ids": torch.randint(0, vocab, (batch, seq))}, torch.randint(0, vocab, (batch, seq))

        return tokens
    channels = getattr(config, "num_channels", 3)
    image = p.get("image", 224)
    frame = (p["frames"],) if "frames" in p else ()
    labels = max(getattr(config, "num_labels", 2), 1)

    def pixels():
        return {"pixel_values": torch.randn(batch, *frame, channels, image, image)}, torch.randint(0, labels, (batch,))

    return pixels


def _loss(model: torch.nn.Module, b: Any) -> torch.Tensor:
    logits = model(**b[0], use_cache=False).logits if "input_ids" in b[0] else model(**b[0]).logits
    return F.cross_entropy(logits.float().flatten(0, -2) if logits.dim() > 2 else logits.float(), b[1].flatten())


def hf_step(spec: ModelSpec, batch: int, seq: int | None) -> StepSpec:
    """One training step of a config's model: next-token (or masked-token) cross-entropy for LMs, classification
    for vision and video models. Dense-first layers (DeepSeek's `first_k_dense_replace`) are captured in full and
    the first routed block after them is the template the rest repeat."""
    p = spec.params
    template = p.get("dense_layers", 0) + TEMPLATE_BLOCK
    positions = getattr(_config_object(spec, 1), "max_position_embeddings", None)
    if seq and positions and seq > positions:
        raise InputError(f"--seq {seq}: {spec.name} has {positions} positions (max_position_embeddings)")
    probe = _config_object(spec, None)
    model_cls = _model_class(spec, probe)

    make = getattr(model_cls, "from_config", None) or model_cls  # an auto class, or the one the config names

    def build(layers: int | None) -> torch.nn.Module:
        try:
            return make(_config_object(spec, layers, ATTENTION))
        except ValueError as exc:  # attention SDPA cannot run (Gemma 2's logit soft-capping): its eager one
            if "scaled_dot_product_attention" not in str(exc):
                raise
            return make(_config_object(spec, layers, "eager"))

    meta = {k: p[k] for k in ("hidden", "heads", "vocab", "experts", "top_k", "dense_layers") if p.get(k)}
    meta["kv_heads"] = p.get("kv_heads") or p.get("heads")
    meta = {k: v for k, v in meta.items() if v}
    return StepSpec(
        spec.name,
        build,
        _inputs(spec, probe, batch, seq),
        _loss,
        batch,
        seq or 1,
        {"batch": batch, "seq": seq} if spec.has_sequence else {"batch": batch, "image": p.get("image")},
        layers=p["layers"],
        block_path="model.layers",
        template_block=template,
        # ViT's initialiser reads values (.item()) while building; VideoMAE keeps a real (not meta) position table
        build_on_meta=not spec.has_sequence and "frames" not in p,
        meta=meta,
    )
