"""The accuracy ratchet: the public validation's recorded median and p90 |error| may only go down.

python -m dojosim.validation.ratchet            # check (exit 1 if worse than recorded)
python -m dojosim.validation.ratchet --tighten  # record better figures; never loosens
"""

import json
import math
import sys
from pathlib import Path
from typing import Any

RATCHET_PATH = Path(__file__).with_name("ratchet.json")
KEYS = ("median_abs_pct_error", "p90_abs_pct_error")  # of the time and throughput rows
MEMORY_KEY = "memory_median_abs_pct_error"  # of the peak-memory rows


def recorded() -> dict[str, float]:
    return json.loads(RATCHET_PATH.read_text())


def current() -> dict[str, Any]:
    """The time rows' summary, with the memory rows' median |error| beside it."""
    from dojosim.validation.run import MEMORY_METRICS, TIME_METRICS, of_metrics, summarize, validate_rows
    from dojosim.validation.table import public_table_path, read_table

    results = validate_rows(read_table(public_table_path()))
    memory = summarize(of_metrics(results, MEMORY_METRICS))["median_abs_pct_error"]
    return {**summarize(of_metrics(results, TIME_METRICS)), MEMORY_KEY: memory}


def _keys(limits: dict[str, float]) -> tuple[str, ...]:
    return (*KEYS, MEMORY_KEY) if MEMORY_KEY in limits else KEYS


def regressions(summary: dict[str, Any], limits: dict[str, float]) -> list[str]:
    out = [f"{k}: {summary[k]:.2f} > recorded {limits[k]:.2f}" for k in _keys(limits) if summary[k] > limits[k]]
    if summary["predicted_fraction"] < limits["predicted_fraction"]:
        out.append(f"predicted_fraction: {summary['predicted_fraction']:.3f} < recorded {limits['predicted_fraction']}")
    return out


def tightened(summary: dict[str, Any], limits: dict[str, float]) -> dict[str, float]:
    new = dict(limits)
    for k in (*KEYS, MEMORY_KEY):
        if summary.get(k) is not None:  # rounded up: float noise never fails CI
            new[k] = min(limits.get(k, math.inf), math.ceil(summary[k] * 100) / 100)
    new["predicted_fraction"] = max(limits["predicted_fraction"], summary["predicted_fraction"])
    return new


def main(argv: list[str]) -> int:
    summary, limits = current(), recorded()
    print(json.dumps({k: summary[k] for k in (*KEYS, MEMORY_KEY, "predicted_fraction")}))
    if "--tighten" in argv:
        RATCHET_PATH.write_text(json.dumps(tightened(summary, limits), indent=2) + "\n")
        return 0
    problems = regressions(summary, limits)
    for p in problems:
        print("worse than the ratchet:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
