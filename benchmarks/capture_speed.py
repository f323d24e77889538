"""Capture speed of the largest shipped configs against the issue's goals: 405B <= 15 s, 671B MoE <= 20 s, and
<= 1 GB peak RSS. Each capture runs in a fresh process with no cache (its own empty cache dir), timed end to end
as a user runs it. Run from the repo root: `.venv/bin/python benchmarks/capture_speed.py`."""

import os
import resource
import subprocess
import sys
import tempfile
import time

GOALS = {"hf:llama-3.1-405b": 15.0, "hf:deepseek-v3": 20.0}
RSS_GOAL_BYTES = 1e9


def measure(model: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (bytes) of `dojosim capture --model MODEL --no-cache --json` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "DOJOSIM_CACHE_DIR": cache}
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "dojosim.cli", "capture", "--model", model, "--no-cache", "--json"]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak_kb, before) * 1024.0  # Linux reports kilobytes; the largest child so far


def main() -> int:
    failed = False
    for model, goal in GOALS.items():
        seconds, rss = measure(model)
        ok = seconds <= goal and rss <= RSS_GOAL_BYTES
        failed |= not ok
        verdict = "ok" if ok else "MISSED"
        print(f"{model:22s} {seconds:6.1f} s (goal {goal:.0f} s)  peak RSS {rss / 1e9:5.2f} GB  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
