"""Plan-search speed goal (issue: plan search): the full search for llama3-70b on 1,024 H100s in <= 30 s on
2 cores, >= 5,000 plan evaluations/s/core. Graphs are captured first (and cached), as a user's second search
would find them; the figure is the search itself.

    python benchmarks/bench_search.py
"""

import time

from dojosim.study.search import MICRO_BATCHES, SearchSpec, search
from dojosim.workload.cache import get_graph


def main() -> None:
    for mb in MICRO_BATCHES:
        get_graph("llama3-70b", mb, 4096)
    spec = SearchSpec("llama3-70b", "dgx-h100", 1024, 1024, 4096)
    t0 = time.perf_counter()
    found = search(spec, workers=2)
    seconds = time.perf_counter() - t0
    print(
        f"{found.enumerated:,} plans, {found.pruned_on_memory:,} pruned on memory, "
        f"{len(found.results):,} costed in {seconds:.1f} s on 2 workers (goal <= 30 s): "
        f"{found.enumerated / seconds / 2:,.0f} plans/s/core"
    )


if __name__ == "__main__":
    main()
