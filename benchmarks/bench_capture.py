"""Capture speed and memory goals (issue: workload capture).

Each case runs in a fresh process without the cache, so the figure includes building the model under fake
tensors, recording the step, and growing repeated blocks; torch's import is reported separately.

    python benchmarks/bench_capture.py            # all cases
    python benchmarks/bench_capture.py fsd-video  # one case

Goals: llama3-70b (seq 4096) <= 10 s and <= 1 GB RSS; llama3.1-405b (seq 8192) <= 15 s; fsd-video <= 10 s.
"""

import json
import subprocess
import sys

CASES = {
    "llama3-70b": ("llama3-70b", 1, 4096, 10.0, 1.0e9),
    "llama3.1-405b": ("llama3.1-405b", 1, 8192, 15.0, None),
    "fsd-video": ("fsd-video", 1, None, 10.0, None),
}

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
from dojosim.workload.capture import capture
from dojosim.workload.builders import step_spec
model, batch, seq = sys.argv[1], int(sys.argv[2]), (None if sys.argv[3] == "-" else int(sys.argv[3]))
graph = capture(step_spec(model, batch, seq))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "capture_s": t2 - t1, "ops": len(graph.ops),
                  "rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def main(names: list[str]) -> int:
    failed = 0
    for name in names or list(CASES):
        model, batch, seq, goal_s, goal_rss = CASES[name]
        out = subprocess.run(
            [sys.executable, "-c", CHILD, model, str(batch), str(seq or "-")],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ok = r["capture_s"] <= goal_s and (goal_rss is None or r["rss_bytes"] <= goal_rss)
        failed += not ok
        rss_goal = f" (goal <= {goal_rss / 1e9:.0f} GB)" if goal_rss else ""
        print(
            f"{name:14s} capture {r['capture_s']:6.2f} s (goal <= {goal_s:.0f} s)  "
            f"rss {r['rss_bytes'] / 1e6:6.0f} MB{rss_goal}  ops {r['ops']:,}  torch import {r['import_s']:.2f} s  "
            f"{'ok' if ok else 'MISSED'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
