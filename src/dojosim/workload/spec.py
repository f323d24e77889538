"""A model spec, parsed once: a zoo name (`llama3-70b`) or a family spec (`llama(layers=32,hidden=4096,...)`).

Torch-free. Everything is built from configs; no weights and no network. Families and keys follow
docs/validation-schema.md for the LMs.
"""

import math
import re
from dataclasses import dataclass, field
from typing import Any

from dojosim.errors import InputError, allowed, closest


@dataclass(frozen=True)
class Family:
    required: tuple[str, ...]
    optional: dict[str, int | float]
    sequence: bool  # takes --seq (a token axis)
    default_seq: int | None
    summary: str


# Attention shapes of today's LMs, for llama and moe: a head width of its own (Qwen3: heads * head_dim != hidden),
# RMSNorm on q and k per head (Qwen3, OLMo 2), and DeepSeek-V2/V3 multi-head latent attention (MLA), on when
# kv_lora_rank > 0. 0 means "not used" (head_dim: hidden / heads; q_lora_rank: queries without a low-rank step).
MLA_KEYS = ("q_lora_rank", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")
ATTENTION_KEYS: dict[str, int | float] = {"head_dim": 0, "qk_norm": 0, **dict.fromkeys(MLA_KEYS, 0)}
# Experts of today's MoEs: `shared_experts` always-on experts of expert width (DeepSeek), the experts' own FFN
# width (`expert_ffn`; 0: ffn), and `dense_layers` leading blocks with a dense MLP of width ffn (DeepSeek-V3: 3).
EXPERT_KEYS: dict[str, int | float] = {"shared_experts": 0, "expert_ffn": 0, "dense_layers": 0}

FAMILIES: dict[str, Family] = {
    "gpt": Family(
        ("layers", "hidden", "heads", "vocab"),
        {"ffn": 0, "untied": 0, "positions": 0, "unfused_attention": 0},
        True,
        2048,
        "GPT-2/3: learned positions, LayerNorm, GELU MLP, tied embeddings",
    ),
    "llama": Family(
        ("layers", "hidden", "heads", "ffn", "vocab"),
        {"kv_heads": 0, "rope_theta": 10000.0, "unfused_kernels": 0, **ATTENTION_KEYS},
        True,
        4096,
        "Llama: RoPE, RMSNorm, SwiGLU, grouped-query attention",
    ),
    "moe": Family(
        ("layers", "hidden", "heads", "ffn", "vocab"),
        {
            "kv_heads": 0,
            "experts": 8,
            "top_k": 2,
            "rope_theta": 10000.0,
            "unfused_kernels": 0,
            **ATTENTION_KEYS,
            **EXPERT_KEYS,
        },
        True,
        4096,
        "Llama-style mixture of experts (routing assumed balanced)",
    ),
    "bert": Family(
        ("layers", "hidden", "heads", "vocab"),
        {"ffn": 0, "positions": 512},
        True,
        512,
        "BERT encoder with a masked-LM head (transformers BertForMaskedLM)",
    ),
    "resnet": Family((), {"depth": 50, "image": 224, "classes": 1000}, False, None, "ResNet (bottleneck), images"),
    "videomae": Family(
        ("layers", "hidden", "heads"),
        {"ffn": 0, "frames": 16, "image": 224, "classes": 400},
        False,
        None,
        "VideoMAE ViT video classifier (transformers)",
    ),
    "vivit": Family(
        (),
        {"layers": 12, "hidden": 768, "heads": 12, "ffn": 3072, "frames": 32, "image": 224, "classes": 400},
        False,
        None,
        "ViViT factorised-embedding video transformer (transformers)",
    ),
    "timesformer": Family(
        (),
        {"layers": 12, "hidden": 768, "heads": 12, "ffn": 3072, "frames": 8, "image": 224, "classes": 400},
        False,
        None,
        "TimeSformer divided space-time attention (transformers)",
    ),
    "fsd-video": Family(
        (),
        {"cameras": 8, "frames": 16, "height": 960, "width": 1280, "bev": 200, "channels": 256},
        False,
        None,
        "Tesla-style multi-camera video network: RegNet + BiFPN + BEV transformer + video module",
    ),
}

NAMED: dict[str, str] = {
    "gpt3-175b": "gpt(layers=96,hidden=12288,heads=96,vocab=50257)",
    "llama2-7b": "llama(layers=32,hidden=4096,heads=32,kv_heads=32,ffn=11008,vocab=32000)",
    "llama2-13b": "llama(layers=40,hidden=5120,heads=40,kv_heads=40,ffn=13824,vocab=32000)",
    "llama2-70b": "llama(layers=80,hidden=8192,heads=64,kv_heads=8,ffn=28672,vocab=32000)",
    "llama3-8b": "llama(layers=32,hidden=4096,heads=32,kv_heads=8,ffn=14336,vocab=128256,rope_theta=500000)",
    "llama3-70b": "llama(layers=80,hidden=8192,heads=64,kv_heads=8,ffn=28672,vocab=128256,rope_theta=500000)",
    "llama3.1-405b": "llama(layers=126,hidden=16384,heads=128,kv_heads=8,ffn=53248,vocab=128256,rope_theta=500000)",
    "mixtral-8x7b": "moe(layers=32,hidden=4096,heads=32,kv_heads=8,ffn=14336,vocab=32000,experts=8,top_k=2)",
    "bert-large": "bert(layers=24,hidden=1024,heads=16,vocab=30522)",
    "resnet50": "resnet(depth=50)",
    "videomae-b": "videomae(layers=12,hidden=768,heads=12,ffn=3072)",
    "videomae-l": "videomae(layers=24,hidden=1024,heads=16,ffn=4096)",
    "vivit": "vivit()",
    "timesformer": "timesformer()",
    "fsd-video": "fsd-video()",
}
ALIASES = {"vivit-b": "vivit", "timesformer-b": "timesformer"}

_SPEC = re.compile(r"^\s*([a-z][a-z0-9.\-]*)\s*(?:\((.*)\))?\s*$")
SWITCHES = ("untied", "unfused_attention", "unfused_kernels", "qk_norm")  # 0/1 keys
MAY_BE_ZERO = ("ffn", "kv_heads", "positions", "head_dim", *MLA_KEYS, *EXPERT_KEYS)  # 0: default, or not used
FRACTIONAL = ("rope_theta",)  # every other key counts something (layers, heads, frames) or is a 0/1 switch
# Deepest model accepted: twice the zoo's deepest (llama3.1-405b, 126 layers). A capture grows with depth (a
# 1,000-layer toy takes ~25 s), so a mistyped depth is refused at once instead of hanging.
MAX_LAYERS = 256
EXTERNAL_PREFIXES = ("hf:", "python:")  # models from a Hugging Face config or the user's own factory


@dataclass(frozen=True)
class Origin:
    """Where a model defined outside the spec grammar lives: a Hugging Face config (`hf`) or a user's factory
    (`python`). `digest` hashes the text it was read from, so an edited config or module is a different model."""

    kind: str  # "hf" or "python"
    ref: str  # the config.json's absolute path, or "module:function"
    digest: str
    sequence: bool  # takes --seq
    default_seq: int | None


def _canonical(family: str, params: dict[str, int | float]) -> str:
    return f"{family}(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A validated model: its family and every key spelled out. Equal and hashed by family and parameter values
    (so `rope_theta=10000` and the default `10000.0` are one model); `text` is its canonical form and the graph
    cache's key; `name` is what the user typed and takes no part in equality."""

    family: str
    params: dict[str, int | float]  # every key of the family, defaults filled in; read-only by convention
    text: str  # canonical: family(key=value,...) with every key spelled out
    name: str = field(default="", compare=False)  # as given, e.g. "llama3-70b"; the text when not given
    origin: Origin | None = None  # set for hf: and python: models, whose family names no builder of ours
    _key: tuple[Any, ...] = field(init=False, repr=False, compare=False)  # what equality and hashing use

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.text)
        object.__setattr__(self, "_key", (self.family, tuple(sorted(self.params.items())), self.origin))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelSpec) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    @property
    def has_sequence(self) -> bool:
        """Whether the model takes a token sequence (--seq)."""
        return self.origin.sequence if self.origin else FAMILIES[self.family].sequence

    @property
    def default_seq(self) -> int | None:
        return self.origin.default_seq if self.origin else FAMILIES[self.family].default_seq

    def with_switch(self, key: str) -> "ModelSpec":
        """This spec with its family's 0/1 switch `key` turned on (named by its canonical text); unchanged where
        the family has no such switch or it is already on."""
        if self.origin or key not in FAMILIES[self.family].optional or self.params.get(key):
            return self
        params = {**self.params, key: 1}
        return ModelSpec(self.family, params, _canonical(self.family, params))


def _number(text: str, key: str, spec: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"model '{spec}': {key}={text} is not a number") from None
    return int(value) if value.is_integer() else value


def _family_and_body(spec: str) -> tuple[str, str | None]:
    """The family and the text between its parentheses (None without them), zoo names resolved."""
    name = ALIASES.get(spec.strip(), spec.strip())
    match = _SPEC.match(NAMED.get(name, name))
    if not match:
        raise InputError(f"model '{spec}': expected a zoo name or FAMILY(key=value,...), e.g. llama(layers=2,...)")
    family, body = match.group(1), match.group(2)
    if family not in FAMILIES:
        choices = [*NAMED, *FAMILIES]
        raise InputError(
            f"unknown model '{spec}'{closest(family, choices)} (zoo: {allowed(NAMED)}; families: {allowed(FAMILIES)}; "
            "or hf:CONFIG, python:MODULE:FUNCTION)"
        )
    if body is None and family not in NAMED.values() and spec.strip() not in NAMED and FAMILIES[family].required:
        raise InputError(f"model '{spec}': family '{family}' needs {', '.join(FAMILIES[family].required)}")
    return family, body


def _given_params(family: str, body: str | None, spec: str) -> dict[str, int | float]:
    fam = FAMILIES[family]
    params: dict[str, int | float] = {}
    for item in filter(None, (p.strip() for p in (body or "").split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise InputError(f"model '{spec}': '{item}' should be key=value")
        known = (*fam.required, *fam.optional)
        if key not in known:
            raise InputError(
                f"model '{spec}': unknown key '{key}' for {family}{closest(key, known)} (allowed: {allowed(known)})"
            )
        params[key] = _number(value.strip(), key, spec)
    missing = [k for k in fam.required if k not in params]
    if missing:
        raise InputError(f"model '{spec}': {family} needs {', '.join(missing)}")
    return params


def parse_model(spec: "str | ModelSpec") -> ModelSpec:
    """A zoo name or a family spec, validated: unknown names and keys get the closest suggestion. A ModelSpec is
    returned as it is."""
    if isinstance(spec, ModelSpec):
        return spec
    if spec.strip().startswith(EXTERNAL_PREFIXES):
        from dojosim.workload.sources import external_spec  # reads files; the grammar below does not

        return external_spec(spec.strip())
    family, body = _family_and_body(spec)
    full = {**FAMILIES[family].optional, **_given_params(family, body, spec)}
    for key, value in full.items():
        if key not in FRACTIONAL and not isinstance(value, int):
            raise InputError(f"model '{spec}': {key} must be a whole number, got {value}")
        if not math.isfinite(value):
            raise InputError(f"model '{spec}': {key} must be a finite number, got {value}")
        if key in SWITCHES and value not in (0, 1):
            raise InputError(f"model '{spec}': {key} is a switch, 0 or 1, got {value}")
        if key not in SWITCHES and value <= 0 and not (key in MAY_BE_ZERO and value == 0):
            raise InputError(f"model '{spec}': {key} must be > 0, got {value}")
    if full.get("layers", 0) > MAX_LAYERS:
        raise InputError(f"model '{spec}': layers must be <= {MAX_LAYERS} (the stated maximum), got {full['layers']}")
    _check_shapes(family, full, spec)
    return ModelSpec(family, full, _canonical(family, full), spec)


def _check_shapes(family: str, p: dict[str, Any], spec: str) -> None:
    own_head_width = p.get("head_dim") or p.get("kv_lora_rank")  # then hidden need not split over the heads
    if "hidden" in p and "heads" in p and not own_head_width and p["hidden"] % p["heads"]:
        raise InputError(f"model '{spec}': hidden={p['hidden']} is not divisible by heads={p['heads']}")
    if family in ("llama", "moe"):
        _check_attention(p, spec)
    if family == "moe":
        _check_experts(p, spec)
    if family == "resnet" and p["depth"] != 50:
        raise InputError(f"model '{spec}': only depth=50 is built (got {p['depth']})")


def _check_attention(p: dict[str, Any], spec: str) -> None:
    kv = p["kv_heads"] or p["heads"]
    if p["heads"] % kv:
        raise InputError(f"model '{spec}': heads={p['heads']} is not divisible by kv_heads={kv}")
    if any(p[k] for k in MLA_KEYS):
        missing = [k for k in MLA_KEYS[1:] if not p[k]]
        if missing:
            raise InputError(f"model '{spec}': latent attention (MLA) needs {', '.join(missing)} > 0 (keys: "
                             f"{', '.join(MLA_KEYS)}; q_lora_rank may be 0)")
        clash = [k for k in ("head_dim", "qk_norm") if p[k]] + (["kv_heads"] if kv != p["heads"] else [])
        if clash:
            raise InputError(f"model '{spec}': {', '.join(clash)} cannot be set with latent attention (MLA): its "
                             f"head widths are {', '.join(MLA_KEYS[2:])} and every head has its own keys")
        rotary = ("qk_rope_head_dim", p["qk_rope_head_dim"])
    else:
        rotary = ("head_dim", p["head_dim"] or p["hidden"] // p["heads"])
    if rotary[1] % 2:
        raise InputError(f"model '{spec}': the rotary width {rotary[0]}={rotary[1]} must be even (RoPE turns pairs)")


def _check_experts(p: dict[str, Any], spec: str) -> None:
    if p["top_k"] > p["experts"]:
        raise InputError(f"model '{spec}': top_k={p['top_k']} exceeds experts={p['experts']}")
    if p["dense_layers"] >= p["layers"]:
        raise InputError(f"model '{spec}': dense_layers={p['dense_layers']} must be < layers={p['layers']} (at "
                         "least one block has experts)")
