"""Fit one per-device knob on half of the public rows; report the error on the other half.

python -m dojosim.validation.fit                       # host_overhead_s of dgx-a100 (the one fitted knob)
python -m dojosim.validation.fit --system dgx-h100     # the same fit for another preset's rows
python -m dojosim.validation.fit --check               # exit 1 if the preset no longer holds the fitted value

The knob is the host's cost per dispatched op (autograd, Python module call, launch), which sets a floor under
small ops that no datasheet gives. Rows are split by a hash of their id, never by how well they fit; the value
that minimises the median |error| over the fit half's rows of that system is reported with the held-out half's
error. One value then serves every row of the device, whatever the source.
"""

import argparse
import dataclasses
import hashlib
import sys
from collections.abc import Sequence
from typing import Any

from dojosim.hardware import load_system
from dojosim.job import Job
from dojosim.perf.engine import Engine
from dojosim.perf.jobs import new_engine
from dojosim.validation.run import TIME_METRICS, RowResult, predict_row, summarize
from dojosim.validation.table import Row, public_table_path, read_table

# Grid in microseconds: from a bare C++ dispatch to a heavy Python module call (public per-op figures span
# ~5-25 us of CPU time per eager op).
HOST_GRID_US = tuple(range(6, 31))


def in_fit_half(row: Row) -> bool:
    """A fixed split that knows nothing about errors: the parity of the first byte of sha256(id)."""
    return hashlib.sha256(row.id.encode()).digest()[0] % 2 == 0


def split(rows: Sequence[Row]) -> tuple[list[Row], list[Row]]:
    fit = [r for r in rows if in_fit_half(r)]
    held = [r for r in rows if not in_fit_half(r)]
    return fit, held


class _OwnEngines:
    """Engines of the fit's own (never the shared ones: the fit changes their device), one per graph and machine."""

    def __init__(self) -> None:
        self.engines: dict[tuple[Any, ...], Engine] = {}

    def __call__(self, job: Job) -> Engine:
        key = (job.workload, job.machine, job.stack)
        if key not in self.engines:
            self.engines[key] = new_engine(job)
        return self.engines[key]


def _predict_all(rows: Sequence[Row], engines: _OwnEngines, host_s: float) -> list[RowResult]:
    """Every row with the trial value; `engines` already holds one engine per row (built once, re-costed)."""
    for engine in engines.engines.values():
        engine.set_device(dataclasses.replace(engine.device, host_overhead_s=host_s))
    return [predict_row(row, engines) for row in rows]


def _median_abs(results: list[RowResult]) -> float:
    median = summarize(results)["median_abs_pct_error"]
    return float("inf") if median is None else median


def fit_host_overhead(system: str, rows: Sequence[Row]) -> dict[str, Any]:
    """The knob is the device's, so the rows are those of every preset with this preset's device (a variant
    that changes only the network, like dgx-a100-4nic, shares it)."""
    device = load_system(system).device.name
    mine = sorted(
        (r for r in rows if r.metric in TIME_METRICS and load_system(r.system).device.name == device),
        key=lambda r: (r.model, r.micro_batch, r.seq_len, r.gpus),
    )
    if not mine:
        raise SystemExit(f"--system {system}: no public rows for this system's device ({device})")
    fit_rows, held_rows = split(mine)
    engines = _OwnEngines()
    for row in mine:
        predict_row(row, engines)  # builds (or reads from the cache) every graph once
    scan = []
    for us in HOST_GRID_US:
        scan.append((_median_abs(_predict_all(fit_rows, engines, us * 1e-6)), us))
        print(f"  host {us:2d} us: fit-half median |error| {scan[-1][0]:.2f}%", file=sys.stderr, flush=True)
    best_median, best_us = min(scan)
    held = summarize(_predict_all(held_rows, engines, best_us * 1e-6))
    fit = summarize(_predict_all(fit_rows, engines, best_us * 1e-6))
    return {
        "system": system,
        "knob": "device.host_overhead_s",
        "best_s": best_us * 1e-6,
        "fit_rows": len(fit_rows),
        "held_out_rows": len(held_rows),
        "fit_half": {k: fit[k] for k in ("median_abs_pct_error", "p90_abs_pct_error")},
        "held_out_half": {k: held[k] for k in ("median_abs_pct_error", "p90_abs_pct_error")},
        "scan": [{"host_us": us, "fit_median_abs_pct_error": m} for m, us in sorted(scan, key=lambda x: x[1])],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m dojosim.validation.fit", description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="dgx-a100", help="preset whose public rows are split and fitted")
    parser.add_argument("--check", action="store_true", help="fail if the preset's value is not the fitted one")
    args = parser.parse_args(argv)
    out = fit_host_overhead(args.system, read_table(public_table_path()))
    print(
        f"{out['system']} {out['knob']} = {out['best_s'] * 1e6:.0f} us, fitted on {out['fit_rows']} rows; "
        f"held-out {out['held_out_rows']} rows: median |error| {out['held_out_half']['median_abs_pct_error']:.1f}%, "
        f"p90 {out['held_out_half']['p90_abs_pct_error']:.1f}% "
        f"(fit half: {out['fit_half']['median_abs_pct_error']:.1f}%, {out['fit_half']['p90_abs_pct_error']:.1f}%)"
    )
    if args.check:
        figure = load_system(args.system).device.host_overhead_s
        preset_s = figure.value if figure else 0.0
        if figure is None or figure.status != "fitted" or abs(preset_s - out["best_s"]) > 1e-9:
            print(f"{args.system}: the preset holds host_overhead_s = {preset_s:g} s; the fit finds {out['best_s']:g}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
