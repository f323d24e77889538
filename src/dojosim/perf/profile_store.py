"""Workload profiles kept on disk beside the graph cache: a profile is a few hundred op classes, a graph tens of
thousands of ops, so a warm command reads the small file and never parses the graph.

A stored profile keeps its graph's header (model, parameters, metadata) without the ops; it is keyed by the
graph's cache key and by the code that folds ops into classes, so either changing makes a new one.
"""

import hashlib
import os
import pickle
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from dojosim.perf.fusion import fused_graph
from dojosim.perf.profile import WorkloadProfile, build_profile
from dojosim.stack import KernelMode
from dojosim.workload.cache import cache_dir, cache_key, get_graph
from dojosim.workload.spec import ModelSpec

PROFILE_MODULES = (
    "perf/profile.py", "perf/maps.py", "perf/segments.py", "perf/fusion.py", "workload/op_kinds.py",
    "workload/graph.py",
)  # fmt: skip


@lru_cache(maxsize=1)
def _profile_code() -> str:
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for rel in PROFILE_MODULES:
        digest.update((root / rel).read_bytes())
    return digest.hexdigest()[:16]


def profile_path(
    model: ModelSpec, batch: int, seq: int | None, optimizer: str, dtype: str, kernels: KernelMode = KernelMode.EAGER
) -> Path:
    key = cache_key(model, batch, seq, optimizer, dtype, full=False)
    mode = "" if kernels is KernelMode.EAGER else f"-{kernels.value}"
    return cache_dir() / "profiles" / f"{key}-{_profile_code()}{mode}.pickle"  # inside the graph cache, wherever it is


def stored_profile(
    model: ModelSpec, batch: int, seq: int | None, optimizer: str, dtype: str, kernels: KernelMode = KernelMode.EAGER
) -> WorkloadProfile:
    """The profile of one captured step with its ops fused as `kernels` runs them: read from disk when it was
    built before, else built from the graph (captured if need be) and stored."""
    path = profile_path(model, batch, seq, optimizer, dtype, kernels)
    if path.is_file():
        try:
            profile = pickle.loads(path.read_bytes())  # our own cache file, written below
            if isinstance(profile, WorkloadProfile):
                return profile
        except Exception:  # a damaged or foreign file is rebuilt, never trusted
            pass
        path.unlink(missing_ok=True)
    graph = get_graph(model, batch, seq, optimizer=optimizer, dtype=dtype)
    profile = build_profile(fused_graph(graph, kernels))
    # The same object whether built now or read later: no ops, and plain text where a fresh capture holds
    # torch's own version type (reading that back would import torch).
    header = replace(graph, ops=[], torch_version=str(graph.torch_version))
    profile = replace(profile, graph=header)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    tmp.write_bytes(pickle.dumps(profile, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(path)
    return profile
