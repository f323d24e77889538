"""Models from where users keep them: a Hugging Face `config.json` (`hf:PATH`) or their own factory
(`python:module:function`). Torch-free: this reads the config's shape and hashes the text a model comes from;
`workload/hf.py` and `workload/user_module.py` build them.
"""

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from dojosim.errors import InputError, allowed, closest
from dojosim.workload.spec import MAX_LAYERS, ModelSpec, Origin

CONFIG_DIR = Path(__file__).parent / "configs"  # shipped configs, so the examples run offline
# The shape keys the engine shards by, and the names configs give them (first found wins).
SHAPE_KEYS: dict[str, tuple[str, ...]] = {
    "layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "hidden": ("hidden_size", "n_embd", "d_model"),
    "heads": ("num_attention_heads", "n_head"),
    "kv_heads": ("num_key_value_heads",),
    "head_dim": ("head_dim",),
    "ffn": ("intermediate_size", "n_inner"),
    "expert_ffn": ("moe_intermediate_size",),
    "vocab": ("vocab_size",),
    "experts": ("num_experts", "num_local_experts", "n_routed_experts"),
    "top_k": ("num_experts_per_tok",),
    "shared_experts": ("n_shared_experts",),
    "dense_layers": ("first_k_dense_replace",),
    "frames": ("num_frames",),
    "image": ("image_size",),
}
# The longest default --seq of a config's LM: its own context where shorter.
DEFAULT_SEQ = 4096


def shipped_configs() -> dict[str, Path]:
    return {path.stem: path for path in sorted(CONFIG_DIR.glob("*.json"))}


def _config_path(ref: str, spec: str) -> Path:
    path = Path(ref).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if path.is_file():
        return path.resolve()
    shipped = shipped_configs()
    if ref in shipped:
        return shipped[ref]
    raise InputError(
        f"model '{spec}': no config.json at '{ref}'{closest(ref, shipped)} (give a config.json, a model folder holding "
        f"one, or a shipped config: {allowed(shipped)}; nothing is downloaded)"
    )


def text_config(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a config that holds the language model's shape (multimodal configs nest it)."""
    nested = config.get("text_config")
    return nested if isinstance(nested, dict) and "hidden_size" not in config else config


def read_config(path: Path, spec: str) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"model '{spec}': {path} is not a readable JSON config ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise InputError(f"model '{spec}': {path} has no 'model_type' (is it a transformers config.json?)")
    return config


def config_shape(config: dict[str, Any]) -> dict[str, int]:
    """The shape keys a config gives, as whole numbers (absent keys left out)."""
    inner = text_config(config)
    shape: dict[str, int] = {}
    for key, names in SHAPE_KEYS.items():
        for name in names:
            value = inner.get(name, config.get(name))
            if isinstance(value, int) and not isinstance(value, bool):
                shape[key] = value
                break
    return shape


def _hf_spec(spec: str) -> ModelSpec:
    path = _config_path(spec[len("hf:") :].strip(), spec)
    config = read_config(path, spec)
    shape = config_shape(config)
    layers = shape.get("layers", 0)
    if not 1 <= layers <= MAX_LAYERS:
        raise InputError(f"model '{spec}': num_hidden_layers must be 1..{MAX_LAYERS}, got {layers or 'none'}")
    sequence = "vocab" in shape and "image" not in shape
    positions = text_config(config).get("max_position_embeddings") or DEFAULT_SEQ
    origin = Origin(
        "hf",
        str(path),
        hashlib.sha256(path.read_bytes()).hexdigest()[:16],
        sequence,
        min(DEFAULT_SEQ, int(positions)) if sequence else None,
    )
    return ModelSpec("hf", shape, f"hf:{path}", spec, origin)


def _python_spec(spec: str) -> ModelSpec:
    module, sep, function = spec[len("python:") :].strip().rpartition(":")
    if not sep or not module or not function.isidentifier():
        raise InputError(f"model '{spec}': expected python:MODULE:FUNCTION, e.g. python:examples.my_net:build")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # modules resolve from where the command runs, as `python -m` does
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.origin or not Path(found.origin).is_file():
        raise InputError(f"model '{spec}': no module '{module}' importable from {Path.cwd()}")
    digest = hashlib.sha256(Path(found.origin).read_bytes()).hexdigest()[:16]
    # A factory takes --seq if the user gives one (it receives it); none by default.
    origin = Origin("python", f"{module}:{function}", digest, True, None)
    return ModelSpec("python", {}, f"python:{module}:{function}", spec, origin)


def external_spec(spec: str) -> ModelSpec:
    """An `hf:` or `python:` model as a ModelSpec (its family names the kind, its origin where it lives)."""
    return _hf_spec(spec) if spec.startswith("hf:") else _python_spec(spec)
