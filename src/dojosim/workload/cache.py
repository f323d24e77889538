"""Capture once, reuse: graphs are cached on disk, keyed by what determines them."""

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from dojosim import __version__
from dojosim.workload.graph import GRAPH_FORMAT_VERSION, Graph
from dojosim.workload.spec import ModelSpec
from dojosim.workload.zoo import check_request


def cache_dir() -> Path:
    return Path(os.environ.get("DOJOSIM_CACHE_DIR") or Path.home() / ".cache" / "dojosim" / "graphs")


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """Capture code changes invalidate the cache as surely as a new torch does."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted([*here.glob("*.py"), *here.glob("models/*.py")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def _torch_version() -> str:
    from importlib.metadata import version  # no torch import: a cache hit stays fast

    return version("torch")


def cache_key(model: str | ModelSpec, batch: int, seq: int | None, optimizer: str, dtype: str, full: bool) -> str:
    """What determines a graph, hashed; the model enters as its canonical text, whichever way it was named."""
    spec, seq = check_request(model, batch, seq)
    parts = {
        "model": spec.text,
        "batch": batch,
        "seq": seq,
        "optimizer": optimizer,
        "dtype": dtype,
        "full": full,
        "torch": _torch_version(),
        "format": GRAPH_FORMAT_VERSION,
        "dojosim": __version__,
        "code": _code_fingerprint(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def get_graph(
    model: str | ModelSpec,
    batch: int,
    seq: int | None = None,
    optimizer: str = "adamw",
    dtype: str = "bf16",
    use_cache: bool = True,
    full: bool = False,
) -> Graph:
    """The graph of one training step of `model`, from the cache when it was captured before.

    The graph's `model` is the name the spec was given (what the user typed)."""
    spec, _ = check_request(model, batch, seq)
    path = cache_dir() / f"{cache_key(spec, batch, seq, optimizer, dtype, full)}.json.gz"
    if use_cache and path.is_file():
        try:
            return Graph.load(path)
        except Exception:  # a damaged cache entry is recaptured, never trusted
            path.unlink(missing_ok=True)
    from dojosim.workload.builders import step_spec  # imports torch
    from dojosim.workload.capture import capture

    graph = capture(step_spec(spec, batch, seq), optimizer=optimizer, dtype=dtype, full=full)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        graph.save(path)
    return graph
