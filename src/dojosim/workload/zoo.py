"""Models by name or family spec: `llama3-70b`, `llama(layers=32,hidden=4096,...)`, `fsd-video(cameras=6)`.

Everything is built from configs; no weights and no network. Families and keys follow
../shared/validation/SCHEMA.md for the LMs.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dojosim.errors import InputError, allowed, closest


@dataclass(frozen=True)
class Family:
    required: tuple[str, ...]
    optional: dict[str, int | float]
    sequence: bool  # takes --seq (a token axis)
    default_seq: int | None
    summary: str


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
        {"kv_heads": 0, "rope_theta": 10000.0, "unfused_kernels": 0},
        True,
        4096,
        "Llama: RoPE, RMSNorm, SwiGLU, grouped-query attention",
    ),
    "moe": Family(
        ("layers", "hidden", "heads", "ffn", "vocab"),
        {"kv_heads": 0, "experts": 8, "top_k": 2, "rope_theta": 10000.0, "unfused_kernels": 0},
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


@dataclass(frozen=True)
class ModelSpec:
    family: str
    params: dict[str, int | float]
    text: str  # canonical: family(key=value,...) with every key spelled out

    @property
    def has_sequence(self) -> bool:
        return FAMILIES[self.family].sequence


def _number(text: str, key: str, spec: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"model '{spec}': {key}={text} is not a number") from None
    return int(value) if value.is_integer() else value


def parse_model(spec: str) -> ModelSpec:
    """A zoo name or a family spec, validated: unknown names and keys get the closest suggestion."""
    name = ALIASES.get(spec.strip(), spec.strip())
    match = _SPEC.match(NAMED.get(name, name))
    if not match:
        raise InputError(f"model '{spec}': expected a zoo name or FAMILY(key=value,...), e.g. llama(layers=2,...)")
    family, body = match.group(1), match.group(2)
    if family not in FAMILIES:
        choices = [*NAMED, *FAMILIES]
        raise InputError(
            f"unknown model '{spec}'{closest(family, choices)} (zoo: {allowed(NAMED)}; families: {allowed(FAMILIES)})"
        )
    if body is None and family not in NAMED.values() and spec.strip() not in NAMED and FAMILIES[family].required:
        raise InputError(f"model '{spec}': family '{family}' needs {', '.join(FAMILIES[family].required)}")
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
    full = {**fam.optional, **params}
    for key, value in full.items():
        if (
            key not in ("untied", "unfused_attention", "unfused_kernels")
            and value <= 0
            and not (key in ("ffn", "kv_heads", "positions") and value == 0)
        ):
            raise InputError(f"model '{spec}': {key} must be > 0, got {value}")
    _check_shapes(family, full, spec)
    text = f"{family}(" + ",".join(f"{k}={v}" for k, v in sorted(full.items())) + ")"
    return ModelSpec(family, full, text)


def _check_shapes(family: str, p: dict[str, Any], spec: str) -> None:
    if "hidden" in p and "heads" in p and p["hidden"] % p["heads"]:
        raise InputError(f"model '{spec}': hidden={p['hidden']} is not divisible by heads={p['heads']}")
    kv = p.get("kv_heads") or p.get("heads")
    if family in ("llama", "moe") and p["heads"] % kv:
        raise InputError(f"model '{spec}': heads={p['heads']} is not divisible by kv_heads={kv}")
    if family == "moe" and p["top_k"] > p["experts"]:
        raise InputError(f"model '{spec}': top_k={p['top_k']} exceeds experts={p['experts']}")
    if family == "resnet" and p["depth"] != 50:
        raise InputError(f"model '{spec}': only depth=50 is built (got {p['depth']})")


def zoo_rows() -> list[dict[str, str]]:
    rows = []
    for name, text in NAMED.items():
        family = parse_model(name).family
        rows.append({"name": name, "spec": text, "family": family, "summary": FAMILIES[family].summary})
    return rows


def with_switch(model: str, key: str) -> str:
    """`model` with its family's 0/1 switch `key` turned on (canonical spec); unchanged where the family has no
    such switch or it is already on."""
    spec = parse_model(model)
    if key not in FAMILIES[spec.family].optional or spec.params.get(key):
        return model
    return f"{spec.family}(" + ",".join(f"{k}={v}" for k, v in sorted({**spec.params, key: 1}.items())) + ")"


def check_request(model: str, batch: int, seq: int | None = None) -> tuple[ModelSpec, int | None]:
    """Validate a capture request without importing torch; returns the spec and the effective sequence."""
    spec = parse_model(model)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError(f"--batch: must be a whole number >= 1, got {batch!r}")
    fam = FAMILIES[spec.family]
    if seq is not None and not fam.sequence:
        raise InputError(f"--seq: model '{model}' has no token sequence ({spec.family}); leave --seq out")
    if seq is not None and (isinstance(seq, bool) or seq < 1):
        raise InputError(f"--seq: must be a whole number >= 1, got {seq!r}")
    return spec, seq or fam.default_seq


def step_spec(model: str, batch: int, seq: int | None = None) -> Any:
    """The StepSpec (builder, inputs, loss) for one training step of `model` at this batch and sequence."""
    spec, seq = check_request(model, batch, seq)
    from dojosim.workload import builders  # imports torch

    build: Callable[..., Any] = builders.BUILDERS[spec.family]
    return build(spec, model, batch, seq)
