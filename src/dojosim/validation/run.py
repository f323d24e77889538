"""Predict every row of a validation table and summarise the error.

Each row is predicted with the named model, system preset and plan, and no per-row knob: the empirical
efficiencies are per-device properties from the presets. A row the tool cannot express is reported as
unsupported with its reason, never dropped.
"""

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dojosim.errors import InputError
from dojosim.job import Job
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.engine import Engine
from dojosim.perf.jobs import engine_for
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
            "gpus": r.gpus,
            "metric": r.metric,
            "measured": r.measured,
            "predicted": self.predicted,
            "error_pct": self.error_pct,
            "abs_pct_error": None if self.error_pct is None else abs(self.error_pct),
            "unsupported": self.reason,
            **self.details,
        }


# What software ran, per source, where it changes the graph or the schedule: Megatron-LM before 2023 (and the
# Megatron-DeepSpeed fork vTrain measured) materialized the attention scores (fused attention came with
# --use-flash-attn, 2023) and reduced data-parallel gradients after the last backward, not under it (the
# default "local" DDP had no overlap; --overlap-grad-reduce came in 2023; DeepSpeed without ZeRO reduces after
# backward too). Source-level facts about the measured stack, not per-row knobs.
PRE_2023_MEGATRON_SOURCES = {
    "VIA-Research/vTrain": "Megatron-DeepSpeed (vTrain, 2023-24 data; no flash-attention flag in its configs)",
    "Narayanan": "Megatron-LM, Narayanan et al. 2021 (before FlashAttention, 2022)",
    "Korthikanti": "Megatron-LM, Korthikanti et al. 2022 (selective recompute of the unfused attention core)",
}

# Sources whose Megatron overlapped backward's tensor-parallel collectives with the weight-gradient GEMMs
# (LinearWithGradAccumulationAndAsyncCommunication: async all-reduce, or reduce-scatter under sequence parallelism).
# Narayanan et al. (2021) predate it; vTrain's Megatron-DeepSpeed fork is not verified here and keeps the default.
ASYNC_TP_COMM_SOURCES = {
    "Korthikanti": "Megatron-LM, Korthikanti et al. 2022 (sequence parallelism with the overlapped reduce-scatter)",
    "NVIDIA/NeMo": "NeMo 24.07 on Megatron-Core",
}

# Where a source's machine differs from the named preset, what its own files say it was, per (source, preset).
# vTrain's configs give 800 Gb/s of inter-node bandwidth per 8-GPU node (inter_node_bandwidth: 800), i.e.
# 4 x 200 Gb/s HDR: half of a DGX A100's eight NICs. torchtitan's H100 tables ran on Meta's Grand Teton H100s:
# 96 GB of HBM2e at 2.4 TB/s and a 500 W limit, not the 80 GB HBM3 (3.35 TB/s), 700 W SXM5 of the preset.
MEASURED_SYSTEM_OVERRIDES = {
    ("VIA-Research/vTrain", "dgx-a100"): ["node.nic_bytes_per_s_per_device=12.5e9"],
    ("pytorch/torchtitan", "dgx-h100"): ["device.hbm_bytes_per_s=2.4e12", "device.hbm_bytes=96e9", "device.tdp_w=500"],
}


def system_overrides(row: Row) -> list[str]:
    return MEASURED_SYSTEM_OVERRIDES.get((row.source_key, row.system), [])


# Llama rows whose framework ran RMSNorm and RoPE eagerly, one kernel per pointwise op (`unfused_kernels=1`);
# every other source fuses them (Transformer Engine in NeMo, torch.compile in torchtitan's later tables).
# torchtitan's Aug-2024 tables ran its presets (train_configs/llama2_13b.toml, llama3_405b.toml of that time:
# norm_type = "rmsnorm", compile = false); their float8 rows are left fused, since their 1.6x over bf16 in the
# same table needs torch.compile's fused casts.
EAGER_KERNEL_SOURCES = {
    "pytorch/torchtitan docs/performance.md @3faaa1a0d": "torchtitan presets of Aug 2024: eager, no compile",
}


def model_of(row: Row) -> ModelSpec:
    """The row's model, with the attention, norm and RoPE kernels its framework ran."""
    model = parse_model(row.model)
    if row.source_key in PRE_2023_MEGATRON_SOURCES:
        model = model.with_switch("unfused_attention")  # GPT specs; others have no such switch
    if any(row.source.startswith(prefix) for prefix in EAGER_KERNEL_SOURCES) and row.precision == "bf16":
        model = model.with_switch("unfused_kernels")  # Llama and MoE specs
    return model


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
        overlap_grad_reduce=row.source_key not in PRE_2023_MEGATRON_SOURCES,
        overlap_tp_comm=row.source_key in ASYNC_TP_COMM_SOURCES,
    )
    if row.dp is not None and row.dp != plan.dp:
        raise InputError(f"dp={row.dp} but gpus / (tp x pp x cp) = {plan.dp}")
    return plan


def job_of(row: Row) -> Job:
    """The job a measured row describes: its model with the kernels its framework ran, its machine as the
    source's files describe it, its plan."""
    return Job.of(model_of(row), row.system, plan_of(row), system_overrides(row))


def predict_row(row: Row, engine_of: Callable[[Job], Engine] = engine_for) -> RowResult:
    try:
        job = job_of(row)
        est = engine_of(job).estimate(job.plan)
    except InputError as exc:
        return RowResult(row, reason=str(exc))
    if row.metric == "step_time_s":
        predicted = est.step_time_s
    else:
        predicted = row.global_batch * row.seq_len / est.step_time_s / row.gpus
    top = max(est.breakdown_s.items(), key=lambda kv: kv[1])[0]
    details = {
        "step_time_s": est.step_time_s,
        "mfu": est.mfu,
        "fits": est.fits,
        "largest_part": top,
        "breakdown_s": est.breakdown_s,
    }
    return RowResult(row, predicted, details=details)


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
