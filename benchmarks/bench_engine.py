"""Engine speed goal (issue: performance engine): one plan on an already-captured llama3-70b graph in
<= 0.2 ms (>= 5,000 plans/s/core). Prints the figure for a fixed plan (cached sharding) and for a sweep of
distinct shardings (each new (tp, cp, sp, precision) walks the op classes once).

    python benchmarks/bench_engine.py
"""

import itertools
import time

from dojosim.hardware import load_system, size_system
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.engine import Engine
from dojosim.workload.cache import get_graph


def main() -> None:
    graph = get_graph("llama3-70b", 1, 4096)
    sized = size_system(load_system("dgx-h100"), 1024)
    t0 = time.perf_counter()
    engine = Engine(graph, sized)
    setup = time.perf_counter() - t0
    plan = ParallelPlan(
        devices=1024,
        global_batch=1024,
        seq=4096,
        tp=8,
        pp=4,
        vp=2,
        zero=1,
        recompute="selective",
        sequence_parallel=True,
    )
    engine.estimate(plan)
    n = 5000
    t0 = time.perf_counter()
    for _ in range(n):
        engine.estimate(plan, check=False)
    same = (time.perf_counter() - t0) / n
    plans = []
    for tp, pp, zero, rc, sp in itertools.product(
        [1, 2, 4, 8], [1, 2, 4, 8], [0, 1, 3], ["none", "full"], [False, True]
    ):
        if sp and tp == 1:
            continue
        plans.append(
            ParallelPlan(
                devices=1024, global_batch=1024, seq=4096, tp=tp, pp=pp, zero=zero, recompute=rc, sequence_parallel=sp
            )
        )
    t0 = time.perf_counter()
    for p in plans:
        engine.estimate(p)
    varied = (time.perf_counter() - t0) / len(plans)
    print(
        f"engine set-up (profile {len(engine.profile.classes)} op classes from {len(graph.ops):,} ops): "
        f"{setup * 1e3:.0f} ms"
    )
    print(f"one plan, sharding cached: {same * 1e3:.3f} ms ({1 / same:,.0f} plans/s)  goal <= 0.2 ms")
    print(
        f"{len(plans)} varied plans incl. validation and first-time shardings: {varied * 1e3:.3f} ms per plan "
        f"({1 / varied:,.0f} plans/s)"
    )
    t0 = time.perf_counter()
    laid = engine.timeline(plan)
    print(
        f"the first plan's step laid out as events (simulate --timeline, not the search's path): "
        f"{(time.perf_counter() - t0) * 1e3:.0f} ms, {len(laid.spans):,} spans"
    )


if __name__ == "__main__":
    main()
