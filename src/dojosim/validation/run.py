"""Predict every row of a validation table and summarise the error.

Each row is predicted with the named model, system preset and plan, and no per-row knob: the empirical
efficiencies are per-device properties from the presets. A row the tool cannot express is reported as
unsupported with its reason, never dropped.
"""

import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dojosim.errors import InputError
from dojosim.job import Job, Sequences
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.engine import Engine
from dojosim.perf.jobs import engine_for
from dojosim.stack import DEFAULT_STACK
from dojosim.validation.table import Row
from dojosim.workload.spec import ModelSpec, parse_model


@dataclass
class RowResult:
    row: Row
    predicted: float | None = None
    reason: str = ""  # why unsupported
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def error_pct(self) -> float | None:
        if self.predicted is None:
            return None
        return 100.0 * (self.predicted - self.row.measured) / self.row.measured

    def as_dict(self) -> dict[str, Any]:
        r = self.row
        return {
            "id": r.id,
            "source": r.source_key,
            "model": r.model,
            "system": r.system,
            "stack": r.stack or DEFAULT_STACK,
            "gpus": r.gpus,
            "metric": r.metric,
            "measured": r.measured,
            "predicted": self.predicted,
            "error_pct": self.error_pct,
            "abs_pct_error": None if self.error_pct is None else abs(self.error_pct),
            "unsupported": self.reason,
            **self.details,
        }


def sequences_of(row: Row) -> Sequences:
    """How the row's samples filled their padded length: unpadded, packed, masked per document, the loss on some
    positions (blank columns: every position a real token, one document, the loss on all)."""
    return Sequences(row.tokens_per_seq, row.docs_per_row or 1.0, row.loss_positions)


def plan_of(row: Row) -> ParallelPlan:
    plan = ParallelPlan(
        devices=row.gpus,
        global_batch=row.global_batch,
        micro_batch=row.micro_batch,
        seq=row.seq_len,
        tp=row.tp,
        pp=row.pp,
        vp=row.vp,
        cp=row.cp,
        ep=row.ep,
        zero=row.zero,
        recompute=row.recompute,
        sequence_parallel=row.sequence_parallel,
        precision=row.precision,
    )
    if row.dp is not None and row.dp != plan.dp:
        raise InputError(f"dp={row.dp} but gpus / (tp x pp x cp) = {plan.dp}")
    return plan


def model_of(row: Row) -> ModelSpec:
    """The row's model; for an image model (no token sequence) `seq_len` is the image side (schema v2), so the
    spec is given that side. A spec that names another side than `seq_len` is an error naming both."""
    spec = parse_model(row.model)
    if spec.has_sequence or spec.origin or "image" not in spec.params or row.seq_len <= 1:
        return spec
    given = _given_image(row.model)
    if given is not None and given != row.seq_len:
        raise InputError(f"seq_len={row.seq_len} is the image side, but the model names image={given}")
    params = {**spec.params, "image": row.seq_len}
    return parse_model(spec.family + "(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")")


def _given_image(model: str) -> int | None:
    match = re.search(r"\bimage\s*=\s*(\d+)", model)
    return int(match.group(1)) if match else None


def job_of(row: Row) -> Job:
    """The job a measured row describes: its model, machine, plan and sequences, run by the row's stack (the
    tool's default where the row names none). An image model's plan has no sequence (its side is in the model)."""
    model = model_of(row)
    plan = plan_of(row)
    if not model.has_sequence and plan.seq != 1:
        plan = plan.with_(seq=1)
    return Job.of(model, row.system, plan, stack=row.stack or DEFAULT_STACK, sequences=sequences_of(row))


def predict_row(row: Row, engine_of: Callable[[Job], Engine] = engine_for) -> RowResult:
    try:
        job = job_of(row)
        est = engine_of(job).estimate(job.plan)
    except InputError as exc:
        return RowResult(row, reason=str(exc))
    if row.metric == "step_time_s":
        predicted = est.step_time_s
    elif row.metric == "peak_memory_bytes":
        predicted = est.memory.total
    else:  # the tokens trained: a row that trained unpadded or packed counts its real tokens
        predicted = est.throughput["real_tokens_per_s_per_device"]
    top = max(est.breakdown_s.items(), key=lambda kv: kv[1])[0]
    details = {
        "step_time_s": est.step_time_s,
        "mfu": est.mfu,
        "fits": est.fits,
        "largest_part": top,
        "breakdown_s": est.breakdown_s,
    }
    return RowResult(row, predicted, details=details)


TIME_METRICS = ("step_time_s", "tokens_per_s_per_gpu")
MEMORY_METRICS = ("peak_memory_bytes",)


def of_metrics(results: Iterable[RowResult], metrics: tuple[str, ...]) -> list[RowResult]:
    return [r for r in results if r.row.metric in metrics]


def summarize(results: list[RowResult]) -> dict[str, Any]:
    errors = [abs(r.error_pct) for r in results if r.error_pct is not None]
    out: dict[str, Any] = {
        "rows": len(results),
        "predicted": len(errors),
        "unsupported": len(results) - len(errors),
        "predicted_fraction": len(errors) / len(results) if results else 0.0,
    }
    if errors:
        ordered = sorted(errors)
        out.update(
            {
                "median_abs_pct_error": statistics.median(ordered),
                "mean_abs_pct_error": statistics.fmean(ordered),
                "p90_abs_pct_error": _percentile(ordered, 90),
                "max_abs_pct_error": ordered[-1],
                "mean_signed_pct_error": statistics.fmean(r.error_pct for r in results if r.error_pct is not None),
            }
        )
    else:
        out.update(
            dict.fromkeys(
                (
                    "median_abs_pct_error",
                    "mean_abs_pct_error",
                    "p90_abs_pct_error",
                    "max_abs_pct_error",
                    "mean_signed_pct_error",
                )
            )
        )
    return out


def _percentile(ordered: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * pct / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


GROUPS: dict[str, Callable[[Row], str]] = {
    "source": lambda r: r.source_key,
    "system": lambda r: r.system,
    "gpus": lambda r: str(r.gpus),
    "metric": lambda r: r.metric,
    "precision": lambda r: r.precision,
    "stack": lambda r: r.stack or DEFAULT_STACK,
}


def grouped(results: list[RowResult], by: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[RowResult]] = defaultdict(list)
    for r in results:
        groups[GROUPS[by](r.row)].append(r)
    return {k: summarize(v) for k, v in sorted(groups.items(), key=lambda kv: (len(kv[0]), kv[0]))}


def validate_rows(
    rows: Iterable[Row], progress: Callable[[], None] | None = None, sink: list[RowResult] | None = None
) -> list[RowResult]:
    """Predict every row. Results are appended to `sink` as they finish, so an interrupted run keeps them."""
    rows = list(rows)
    # Rows that share a capture run together, so each graph is built or read once.
    ordered = sorted(rows, key=lambda r: (r.model, r.micro_batch, r.seq_len, r.system, r.gpus))
    results = sink if sink is not None else []
    for row in ordered:
        results.append(predict_row(row))
        if progress:
            progress()
    order = {row.id: i for i, row in enumerate(rows)}
    results.sort(key=lambda r: order[r.row.id])
    return results
