"""Where chunks of work run: in this process, on a local process pool (the default), or on a Ray cluster.

Every backend runs the same function on the same arguments, so results are identical whichever runs them.
"""

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from dojosim.errors import InputError

BACKENDS = ("process", "ray")
R = TypeVar("R")


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise InputError(f"--backend: must be one of {', '.join(BACKENDS)}, got {backend!r}")


def _ray(workers: int, address: str | None) -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("--backend ray needs Ray: pip install 'dojosim[ray]'") from None
    if not ray.is_initialized():
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    return ray


def map_chunks(
    fn: Callable[[Any, int, list[Any]], R],
    context: Any,
    chunks: list[tuple[int, list[Any]]],
    backend: str = "process",
    workers: int | None = None,
    ray_address: str | None = None,
) -> Iterator[tuple[R, int]]:
    """fn(context, key, items) for every (key, items) chunk, yielding (result, len(items)) as chunks finish."""
    check_backend(backend)
    workers = workers or min(len(chunks), os.cpu_count() or 1) or 1
    if backend == "ray":
        ray = _ray(workers, ray_address)
        remote = ray.remote(fn)
        pending = {remote.remote(context, key, items): len(items) for key, items in chunks}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                yield ray.get(ref), pending.pop(ref)
    elif workers <= 1 or len(chunks) <= 1:
        for key, items in chunks:
            yield fn(context, key, items), len(items)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(fn, context, key, items): len(items) for key, items in chunks}
            for future in as_completed(futures):
                yield future.result(), futures[future]
