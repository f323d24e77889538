"""Plan search: enumerate every valid plan, prune what cannot fit before costing it, cost the rest.

Plans are costed in chunks that share a micro-batch (one captured graph each), on a local process pool.
Every costed plan is appended to a JSON-lines file as it finishes, so Ctrl-C or a crash loses nothing and
`resume` carries on; the finished set is also written as Parquet for analysis.
"""

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dojosim.errors import InputError
from dojosim.hardware import load_system, size_system
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.estimate import Engine
from dojosim.workload.cache import get_graph
from dojosim.workload.zoo import check_request

OBJECTIVES = {"time": "step_time_s", "cost": "cost_usd", "energy": "energy_j"}
MICRO_BATCHES = (1, 2, 4, 8)
CP_DEGREES = (1, 2, 4, 8, 16, 32)
MAX_IMAGE_SPLIT = 128  # a clip of 8 cameras x 16 frames has 128 images
VP_DEGREES = (1, 2, 4)
PLAN_FIELDS = ("tp", "pp", "vp", "cp", "ep", "zero", "recompute", "sequence_parallel", "micro_batch")


@dataclass(frozen=True)
class SearchSpec:
    model: str
    system: str
    devices: int
    global_batch: int
    seq: int | None = None
    precision: str = "bf16"
    overrides: tuple[str, ...] = ()
    max_memory_fraction: float = 0.9


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def plan_key(p: dict[str, Any]) -> str:
    return "/".join(f"{k}={p[k]}" for k in PLAN_FIELDS)


def enumerate_plans(spec: SearchSpec, meta: dict[str, Any], layers: int, seq: int) -> Iterator[ParallelPlan]:
    """Every plan the model and machine allow (the same rules validate_plan enforces)."""
    heads = int(meta.get("heads", 0) or 0)
    kv = int(meta.get("kv_heads", 0) or 0)
    experts = int(meta.get("experts", 0) or 0)
    hidden = int(meta.get("hidden", 0) or 0)
    n = spec.devices
    for tp in _divisors(n) if hidden else [1]:
        if heads and heads % tp or kv and kv % tp and tp % kv:
            continue
        # Sequence models split tokens in powers of two; others split each sample's images over any divisor.
        cps = CP_DEGREES if seq > 1 else [d for d in _divisors(n // tp) if d <= MAX_IMAGE_SPLIT]
        for cp in cps:
            # Models without a token axis split each sample's images over cp ranks instead.
            if n % (tp * cp) or (cp > 1 and seq > 1 and seq % (2 * cp)):
                continue
            for pp in _divisors(n // (tp * cp)) if layers else [1]:
                if layers and pp > layers:
                    continue
                dp = n // (tp * cp * pp)
                for mb in MICRO_BATCHES:
                    if spec.global_batch % (dp * mb):
                        continue
                    m = spec.global_batch // (dp * mb)
                    for vp in VP_DEGREES if pp > 1 else (1,):
                        if (layers and layers < pp * vp) or (vp > 1 and m % pp):
                            continue
                        for ep in [e for e in _divisors(experts) if dp % e == 0] if experts else [1]:
                            for zero in (0, 1, 2, 3):
                                for recompute in ("none", "selective", "full"):
                                    for sp in (False, True) if tp > 1 else (False,):
                                        yield ParallelPlan(
                                            devices=n,
                                            global_batch=spec.global_batch,
                                            micro_batch=mb,
                                            seq=seq,
                                            tp=tp,
                                            pp=pp,
                                            vp=vp,
                                            cp=cp,
                                            ep=ep,
                                            zero=zero,
                                            recompute=recompute,
                                            sequence_parallel=sp,
                                            precision=spec.precision,
                                        )


_ENGINES: dict[tuple[Any, ...], Engine] = {}


def engine_for(spec: SearchSpec, micro_batch: int) -> Engine:
    key = (spec, micro_batch)
    if key not in _ENGINES:
        model_spec, seq = check_request(spec.model, micro_batch, spec.seq)
        graph = get_graph(spec.model, micro_batch, seq if model_spec.has_sequence else None)
        sized = size_system(load_system(spec.system, list(spec.overrides)), spec.devices)
        _ENGINES[key] = Engine(graph, sized)
    return _ENGINES[key]


def plan_of(spec: SearchSpec, row: dict[str, Any]) -> ParallelPlan:
    """The plan a costed row describes, on the spec's devices and global batch."""
    model_spec, seq = check_request(spec.model, row["micro_batch"], spec.seq)
    return ParallelPlan(
        devices=spec.devices,
        global_batch=spec.global_batch,
        seq=seq if model_spec.has_sequence else 1,
        precision=spec.precision,
        **{k: row[k] for k in PLAN_FIELDS},
    )


def cost_chunk(spec: SearchSpec, micro_batch: int, plans: list[ParallelPlan]) -> tuple[list[dict[str, Any]], int]:
    """Cost plans that share a micro-batch; returns the costed rows and how many were pruned on memory."""
    engine = engine_for(spec, micro_batch)
    capacity = engine.device.capacity_bytes * spec.max_memory_fraction
    rows, pruned = [], 0
    for plan in plans:
        if engine.memory(plan)["total"] > capacity:
            pruned += 1
            continue
        e = engine.estimate(plan, check=False)
        row = {k: getattr(plan, k) for k in PLAN_FIELDS}
        row.update(
            dp=plan.dp,
            step_time_s=e.step_time_s,
            mfu=e.mfu,
            cost_usd=e.cost_usd,
            cost_at_cost_usd=e.cost_at_cost_usd,
            energy_j=e.energy_j,
            memory_bytes=e.memory_bytes_per_device["total"],
            bottleneck=e.bottleneck,
            **{f"t_{k}": v for k, v in e.breakdown_s.items()},
        )
        rows.append(row)
    return rows, pruned


def pareto_front(rows: list[dict[str, Any]], x: str = "step_time_s", y: str = "cost_usd") -> list[dict[str, Any]]:
    """Plans no other plan beats on both x and y (lower is better)."""
    front, best_y = [], float("inf")
    for row in sorted(rows, key=lambda r: (r[x], r[y])):
        if row[y] < best_y:
            front.append(row)
            best_y = row[y]
    return front


BACKENDS = ("process", "ray")


def _map_chunks(
    spec: SearchSpec,
    chunks: list[tuple[int, list[ParallelPlan]]],
    backend: str,
    workers: int | None,
    ray_address: str | None,
) -> Iterator[tuple[tuple[list[dict[str, Any]], int], int]]:
    """cost_chunk over every chunk, yielding (result, plans in chunk) as chunks finish, on the chosen backend."""
    if backend not in BACKENDS:
        raise InputError(f"--backend: must be one of {', '.join(BACKENDS)}, got {backend!r}")
    workers = workers or min(len(chunks), os.cpu_count() or 1) or 1
    if backend == "ray":
        try:
            import ray
        except ImportError:
            raise InputError("--backend ray needs Ray: pip install 'dojosim[ray]'") from None
        if not ray.is_initialized():
            if ray_address:
                ray.init(address=ray_address, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        remote = ray.remote(cost_chunk)
        pending = {remote.remote(spec, mb, plans): len(plans) for mb, plans in chunks}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                yield ray.get(ref), pending.pop(ref)
    elif workers <= 1 or len(chunks) <= 1:
        for mb, plans in chunks:
            yield cost_chunk(spec, mb, plans), len(plans)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(cost_chunk, spec, mb, plans): len(plans) for mb, plans in chunks}
            for future in as_completed(futures):
                yield future.result(), futures[future]


def run_search(
    spec: SearchSpec,
    out_dir: Path,
    resume: bool = False,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    backend: str = "process",
    ray_address: str | None = None,
) -> dict[str, Any]:
    """Enumerate, prune and cost; rows stream to out_dir/plans.jsonl. Returns counts and every costed row."""
    model_spec, seq = check_request(spec.model, 1, spec.seq)
    probe = engine_for(spec, 1)
    meta, layers = probe.profile.graph.meta, probe.profile.layers
    seq = seq if model_spec.has_sequence else 1
    out_dir.mkdir(parents=True, exist_ok=True)
    jsonl = out_dir / "plans.jsonl"
    done: dict[str, dict[str, Any]] = {}
    if resume and jsonl.exists():
        for line in jsonl.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[plan_key(row)] = row
    elif jsonl.exists():
        jsonl.unlink()
    all_plans = list(enumerate_plans(spec, meta, layers, seq))
    todo: dict[int, list[ParallelPlan]] = {}
    for plan in all_plans:
        if plan_key({k: getattr(plan, k) for k in PLAN_FIELDS}) not in done:
            todo.setdefault(plan.micro_batch, []).append(plan)
    for mb in todo:  # capture each micro-batch's graph once, here, before workers read it from the cache
        engine_for(spec, mb)
    chunks = [(mb, plans[i : i + 2000]) for mb, plans in todo.items() for i in range(0, len(plans), 2000)]
    pruned = 0
    with jsonl.open("a") as sink:
        for (rows, n_pruned), n in _map_chunks(spec, chunks, backend, workers, ray_address):
            pruned += n_pruned
            _write(sink, rows, done)
            if progress:
                progress(n, len(all_plans))
    rows = list(done.values())
    if not rows:
        raise InputError(
            f"no plan of {spec.model} fits on {spec.devices} x {spec.system} within "
            f"{100 * spec.max_memory_fraction:.0f}% of memory ({len(all_plans)} plans enumerated)"
        )
    _write_parquet(rows, out_dir / "plans.parquet")
    return {"enumerated": len(all_plans), "pruned_on_memory": pruned, "costed": len(rows), "rows": rows}


def _write(sink: Any, rows: list[dict[str, Any]], done: dict[str, dict[str, Any]]) -> None:
    for row in rows:
        sink.write(json.dumps(row) + "\n")
        done[plan_key(row)] = row
    sink.flush()


def _write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_name(path.name + ".part")
    pq.write_table(pa.Table.from_pylist(rows), tmp)
    tmp.replace(path)
