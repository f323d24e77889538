"""Builders: a ModelSpec and a batch become a StepSpec (model factory, fake inputs, loss). Imports torch."""

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from dojosim.errors import InputError
from dojosim.workload.blocks import TEMPLATE_BLOCK
from dojosim.workload.capture import StepSpec
from dojosim.workload.spec import EXPERT_KEYS, MLA_KEYS, ModelSpec
from dojosim.workload.zoo import check_request


def _shape_meta(p: dict[str, Any]) -> dict[str, Any]:
    """What the engine needs to shard the graph: the residual-stream width, the attention heads, and the experts
    (how many, how many a token uses, and the dense-first blocks that have none)."""
    keys = ("hidden", "heads", "kv_heads", "vocab", "experts", "top_k", "dense_layers")
    meta = {k: p[k] for k in keys if p.get(k)}
    meta.setdefault("kv_heads", p.get("heads"))
    return meta


def _lm_batch(batch: int, seq: int, vocab: int):
    def make():
        return torch.randint(0, vocab, (batch, seq)), torch.randint(0, vocab, (batch, seq))

    return make


def _lm_loss(model: torch.nn.Module, b: Any) -> torch.Tensor:
    logits = model(b[0])
    return F.cross_entropy(logits.float().flatten(0, 1), b[1].flatten())


def _decoder_step(spec: ModelSpec, build: Any, batch: int, seq: int) -> StepSpec:
    """A decoder LM's step: random tokens in, next-token cross-entropy out, blocks in `layers`."""
    p = spec.params
    return StepSpec(
        spec.name,
        build,
        _lm_batch(batch, seq, p["vocab"]),
        _lm_loss,
        batch,
        seq,
        {"batch": batch, "seq": seq},
        layers=p["layers"],
        block_path="layers",
        meta=_shape_meta(p),
    )


def _gpt(spec: ModelSpec, batch: int, seq: int) -> StepSpec:
    from dojosim.workload.models.transformer import GPT

    p = spec.params
    # positions=0 (the default): as many learned positions as the sequence needs, at least GPT-3's 2048.
    positions = p["positions"] or max(2048, seq)
    if seq > positions:
        raise InputError(f"--seq {seq}: {spec.name} has {positions} learned positions; raise positions= in the spec")

    def build(layers: int | None):
        return GPT(
            layers or p["layers"],
            p["hidden"],
            p["heads"],
            p["vocab"],
            p["ffn"] or None,
            positions,
            bool(p["untied"]),
            fused_attention=not p["unfused_attention"],
        )

    return _decoder_step(spec, build, batch, seq)


def _latent_ranks(p: dict[str, Any]) -> Any:
    """MLA's ranks when the spec asks for latent attention (kv_lora_rank > 0), else None."""
    from dojosim.workload.models.latent_attention import LatentRanks

    if not p.get("kv_lora_rank"):
        return None
    return LatentRanks(**{k: p[k] for k in MLA_KEYS})


def _llama(spec: ModelSpec, batch: int, seq: int) -> StepSpec:
    from dojosim.workload.models.transformer import ExpertShape, Llama

    p = spec.params
    experts = p.get("experts", 0) if spec.family == "moe" else 0
    if experts and (batch * seq * p["top_k"]) % experts:
        raise InputError(
            f"--batch/--seq: batch x seq x top_k = {batch * seq * p['top_k']} must split evenly over "
            f"{experts} experts (routing is modelled as balanced)"
        )

    def build(layers: int | None):
        return Llama(
            layers or p["layers"],
            p["hidden"],
            p["heads"],
            p["kv_heads"] or p["heads"],
            p["ffn"],
            p["vocab"],
            experts=experts,
            top_k=p.get("top_k", 2),
            rope_theta=p["rope_theta"],
            fused_kernels=not p["unfused_kernels"],
            head_dim=p["head_dim"],
            qk_norm=bool(p["qk_norm"]),
            experts_shape=ExpertShape(**{k: p[k] for k in EXPERT_KEYS}) if experts else None,
            latent=_latent_ranks(p),
        )

    step = _decoder_step(spec, build, batch, seq)
    step.template_block = TEMPLATE_BLOCK + (p["dense_layers"] if experts else 0)  # dense-first blocks as captured
    return step


def _hf_classifier_loss(model: torch.nn.Module, b: Any) -> torch.Tensor:
    logits = model(pixel_values=b[0]).logits
    return F.cross_entropy(logits.float(), b[1])


def _video_batch(batch: int, frames: int, image: int, classes: int):
    def make():
        return torch.randn(batch, frames, 3, image, image), torch.randint(0, classes, (batch,))

    return make


def _hf_video(spec: ModelSpec, batch: int, seq: int | None) -> StepSpec:
    import transformers

    p = spec.params
    # Fused SDPA where the model supports it (TimeSformer does not: it runs its eager attention).
    attention = "eager" if spec.family == "timesformer" else "sdpa"
    common = dict(
        hidden_size=p["hidden"],
        num_attention_heads=p["heads"],
        intermediate_size=p["ffn"] or 4 * p["hidden"],
        image_size=p["image"],
        num_frames=p["frames"],
        num_labels=p["classes"],
        attn_implementation=attention,
    )
    if spec.family == "videomae":
        config_cls, model_cls, path = (
            transformers.VideoMAEConfig,
            transformers.VideoMAEForVideoClassification,
            "videomae",
        )
    elif spec.family == "vivit":
        config_cls, model_cls, path = transformers.VivitConfig, transformers.VivitForVideoClassification, "vivit"
    else:
        config_cls, model_cls, path = (
            transformers.TimesformerConfig,
            transformers.TimesformerForVideoClassification,
            "timesformer",
        )

    def build(layers: int | None):
        return model_cls(config_cls(num_hidden_layers=layers or p["layers"], **common))

    return StepSpec(
        spec.name,
        build,
        _video_batch(batch, p["frames"], p["image"], p["classes"]),
        _hf_classifier_loss,
        batch,
        1,
        {"batch": batch, "frames": p["frames"], "image": p["image"]},
        layers=p["layers"],
        block_path=f"{path}.encoder.layer",
        build_on_meta=spec.family == "timesformer",
        meta=_shape_meta(p),
    )  # its drop-path schedule calls .item() while building


def _bert(spec: ModelSpec, batch: int, seq: int) -> StepSpec:
    import transformers

    p = spec.params
    if seq > p["positions"]:
        raise InputError(f"--seq {seq}: {spec.name} has {p['positions']} positions; set positions= in the spec")

    def build(layers: int | None):
        config = transformers.BertConfig(
            vocab_size=p["vocab"],
            hidden_size=p["hidden"],
            num_hidden_layers=layers or p["layers"],
            num_attention_heads=p["heads"],
            intermediate_size=p["ffn"] or 4 * p["hidden"],
            max_position_embeddings=p["positions"],
            attn_implementation="sdpa",
            # GPU stacks run attention as one fused kernel with its dropout inside (FMHA, flash attention). With
            # a dropout on its probabilities, CPU SDPA leaves its fused op for the math path and a capture would
            # record fp32 scores, a softmax and a dropout over them that no such run materialises.
            attention_probs_dropout_prob=0.0,
        )
        return transformers.BertForMaskedLM(config)

    def loss(model: torch.nn.Module, b: Any) -> torch.Tensor:
        logits = model(input_ids=b[0]).logits
        return F.cross_entropy(logits.float().flatten(0, 1), b[1].flatten())

    return StepSpec(
        spec.name,
        build,
        _lm_batch(batch, seq, p["vocab"]),
        loss,
        batch,
        seq,
        {"batch": batch, "seq": seq},
        layers=p["layers"],
        block_path="bert.encoder.layer",
        meta=_shape_meta(p),
    )


def _resnet(spec: ModelSpec, batch: int, seq: int | None) -> StepSpec:
    from dojosim.workload.models.resnet import ResNet

    p = spec.params

    def make():
        return torch.randn(batch, 3, p["image"], p["image"]), torch.randint(0, p["classes"], (batch,))

    def loss(model: torch.nn.Module, b: Any) -> torch.Tensor:
        return F.cross_entropy(model(b[0]).float(), b[1])

    return StepSpec(
        spec.name,
        lambda _layers: ResNet(classes=p["classes"]),
        make,
        loss,
        batch,
        1,
        {"batch": batch, "image": p["image"]},
    )


def _fsd_video(spec: ModelSpec, batch: int, seq: int | None) -> StepSpec:
    from dojosim.workload.models.fsd_video import FSDVideo, fsd_loss

    p = spec.params
    for key, multiple in (("height", 32), ("width", 32), ("bev", 4)):
        if p[key] % multiple:
            raise InputError(f"model '{spec.name}': {key}={p[key]} must be a multiple of {multiple}")

    def build(_layers: int | None):
        return FSDVideo(p["cameras"], p["frames"], p["height"], p["width"], p["bev"], p["channels"])

    def make():
        clips = torch.randn(batch, p["frames"], p["cameras"], 3, p["height"], p["width"])
        grid = p["bev"]
        targets = {
            "occupancy": torch.rand(batch, 16, grid, grid),
            "lanes": torch.randint(0, 4, (batch, grid, grid)),
            "objects": torch.randn(batch, 17, grid, grid),
        }
        return clips, targets

    def loss(model: torch.nn.Module, b: Any) -> torch.Tensor:
        return fsd_loss(model(b[0]), b[1])

    return StepSpec(
        spec.name,
        build,
        make,
        loss,
        batch,
        1,
        {"batch": batch, **{k: p[k] for k in ("cameras", "frames", "height", "width", "bev")}},
        meta={"split_units": p["cameras"] * p["frames"]},  # context parallelism splits a clip's images
    )


BUILDERS = {
    "gpt": _gpt,
    "llama": _llama,
    "moe": _llama,
    "bert": _bert,
    "resnet": _resnet,
    "videomae": _hf_video,
    "vivit": _hf_video,
    "timesformer": _hf_video,
    "fsd-video": _fsd_video,
}


def step_spec(model: str | ModelSpec, batch: int, seq: int | None = None) -> StepSpec:
    """The StepSpec (builder, inputs, loss) for one training step of `model` at this batch and sequence."""
    spec, seq = check_request(model, batch, seq)
    if spec.origin and spec.origin.kind == "hf":
        from dojosim.workload.hf import hf_step

        return hf_step(spec, batch, seq)
    if spec.origin:
        from dojosim.workload.user_module import user_step

        return user_step(spec, batch, seq)
    build: Callable[[ModelSpec, int, Any], StepSpec] = BUILDERS[spec.family]
    return build(spec, batch, seq)
