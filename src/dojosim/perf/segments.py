"""A model without repeated blocks as a sequence of module segments, for a pipeline over them (perf/mapping.py):
which segment each op of a captured step belongs to, read from the module paths the capture records. Torch-free."""

from dojosim.workload.graph import Graph

# A segment is a run of ops whose modules agree to this depth ('backbone.stages.2.5': one RegNet block).
SEGMENT_DEPTH = 4


def _key(module: str) -> str:
    return ".".join(module.split(".")[:SEGMENT_DEPTH])


def segment_of_ops(graph: Graph) -> tuple[list[int], list[str]]:
    """Each op's segment and the segments' keys. A forward op starts a new segment where its module differs from
    the current segment's, unless it is that module's parent (a module's own glue ops between its children's
    stay with the child before them); backward ops go to the segment of their forward module (else stay)."""
    keys: list[str] = []
    out: list[int] = []
    cache: dict[str, int] = {}
    current = 0
    for op in graph.ops:
        key = _key(op.module)
        if op.phase == "fwd":
            if key and (not keys or (key != keys[-1] and not keys[-1].startswith(key + "."))):
                keys.append(key)
            current = max(len(keys) - 1, 0)
        elif op.phase == "bwd" and key:
            current = segment_index(key, keys, cache, current)
        out.append(current)
    return out, keys or [""]


def segment_index(role: str, keys: list[str], cache: dict[str, int], default: int = 0) -> int:
    """The segment a module (of a backward op, a parameter, an activation) belongs to: the first with its key,
    else the first inside it, else the first it is inside (its parent's glue); `default` where none is."""
    key = _key(role)
    found = cache.get(key)
    if found is None and key:
        found = next((j for j, k in enumerate(keys) if k == key), None)
        if found is None:
            found = next((j for j, k in enumerate(keys) if k.startswith(key + ".")), None)
        if found is None:
            parents = [(len(k), j) for j, k in enumerate(keys) if key.startswith(k + ".")]
            found = max(parents, key=lambda p: (p[0], -p[1]))[1] if parents else None
        if found is not None:
            cache[key] = found
    return default if found is None else found
