"""Self-check: run a real model's training step on this machine and compare with the prediction.

Real tensors this time (small sizes), fp32 on the CPU. Timed phase by phase (forward, backward, optimizer)
after warm-up; predicted for the calibrated system with the graph captured in the same dtype. One more step
runs under a dispatch mode that times every op as the capture saw it, so that each op group (matmul, conv,
attention, vector ops) is compared with its prediction; what the groups leave of a phase is the host's share
(Python, autograd, views) and the per-op cost.
"""

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from dojosim.job import Job
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.jobs import engine_for
from dojosim.workload.builders import step_spec
from dojosim.workload.spec import ModelSpec, parse_model

# Op groups of the comparison: the captured op kinds, coarsened so that a kind the capture assigns from the
# module an op runs in (an RMSNorm's multiplies are "norm") matches what the timed step sees op by op.
# What runs here: eager PyTorch on the CPU, a per-parameter optimizer (stack preset pytorch-eager-cpu).
LOCAL_STACK = "pytorch-eager-cpu"
GROUP_OF_KIND = {"matmul": "matmul", "conv": "conv", "attention": "attention", "embedding": "matmul"}
GROUPS = ("matmul", "conv", "attention", "vector")


def group_of(kind: str) -> str:
    return GROUP_OF_KIND.get(kind, "vector")


@dataclass
class LocalCheck:
    model: str
    measured_s: dict[str, float]
    predicted_s: dict[str, float]
    measured_groups_s: dict[str, float] = field(default_factory=dict)  # "fwd matmul" -> seconds
    predicted_groups_s: dict[str, float] = field(default_factory=dict)

    @property
    def error_pct(self) -> dict[str, float]:
        return {k: 100.0 * (self.predicted_s[k] - v) / v for k, v in self.measured_s.items() if v > 0}

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "measured_s": self.measured_s,
            "predicted_s": self.predicted_s,
            "error_pct": self.error_pct,
            "groups": self.group_rows(),
        }

    def group_rows(self) -> dict[str, dict[str, float]]:
        """'fwd matmul' -> measured and predicted seconds, for every group either side has, phase by phase;
        then '<phase> host': what the phase took beyond its groups' ops (Python, autograd, views, dispatch)."""
        rows: dict[str, dict[str, float]] = {}
        for phase in ("fwd", "bwd"):
            for group in GROUPS:
                key = f"{phase} {group}"
                if key in self.measured_groups_s or key in self.predicted_groups_s:
                    rows[key] = {
                        "measured_s": self.measured_groups_s.get(key, 0.0),
                        "predicted_s": self.predicted_groups_s.get(key, 0.0),
                    }
            ops = {
                side: sum(r[side] for k, r in rows.items() if k.startswith(phase))
                for side in ("measured_s", "predicted_s")
            }
            # What the phase took beyond its ops; float residue of a device-bound prediction reads as zero.
            rows[f"{phase} host"] = {
                side: remainder if remainder > 1e-6 * self.measured_s[phase] else 0.0
                for side, remainder in (
                    ("measured_s", self.measured_s[phase] - ops["measured_s"]),
                    ("predicted_s", self.predicted_s[phase] - ops["predicted_s"]),
                )
            }
        return rows


def measure_step(
    model: str | ModelSpec, batch: int, seq: int | None, steps: int = 5, warmup: int = 2
) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds per phase over `steps` steps after `warmup`, and one more step's seconds per op group."""
    spec = step_spec(model, batch, seq)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        torch.manual_seed(0)
        net = spec.build(None)
        net.train()
        data = spec.make_batch()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4, foreach=False)
        samples: dict[str, list[float]] = {"fwd": [], "bwd": [], "opt": []}
        for i in range(warmup + steps):
            opt.zero_grad()  # set_to_none, as torch's default and the captured step (no gradient accumulation)
            t0 = time.perf_counter()
            loss = spec.loss(net, data)
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            opt.step()
            t3 = time.perf_counter()
            if i >= warmup:
                for key, value in (("fwd", t1 - t0), ("bwd", t2 - t1), ("opt", t3 - t2)):
                    samples[key].append(value)
        groups = _time_groups(spec, net, data, opt)
    finally:
        torch.set_default_dtype(previous)
    measured = {k: statistics.median(v) for k, v in samples.items()}
    measured["step"] = sum(measured.values())
    return measured, groups


def _time_groups(spec: Any, net: Any, data: Any, opt: Any) -> dict[str, float]:
    """Seconds of each op group in one step, every op timed as it runs (the ops a capture records)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from dojosim.workload.op_kinds import kernel_kind

    totals: dict[str, float] = {}

    class TimeOps(TorchDispatchMode):
        phase = "fwd"

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            t0 = time.perf_counter()
            out = func(*args, **(kwargs or {}))
            seconds = time.perf_counter() - t0
            kind = kernel_kind(func)
            if self.phase != "opt" and kind is not None:
                key = f"{self.phase} {group_of(kind)}"
                totals[key] = totals.get(key, 0.0) + seconds
            return out

    opt.zero_grad()
    with TimeOps() as mode:
        loss = spec.loss(net, data)
        mode.phase = "bwd"
        loss.backward()
        mode.phase = "opt"
        opt.step()
    return totals


def predict_step(
    model: str | ModelSpec, batch: int, seq: int | None, system: str
) -> tuple[dict[str, float], dict[str, float]]:
    # One device, fp32, and the single-tensor optimizer that measure_step runs.
    plan = ParallelPlan(devices=1, global_batch=batch, micro_batch=batch, seq=seq or 1, precision="fp32")
    job = Job.of(model, system, plan, dtype="fp32", stack=LOCAL_STACK)
    engine = engine_for(job)
    est = engine.estimate(job.plan)
    b = est.breakdown_s
    out = {"fwd": b["compute_fwd"], "bwd": b["compute_bwd"], "opt": b["optimizer"]}
    out["step"] = est.step_time_s
    groups: dict[str, float] = {}
    for point in engine.roofline(job.plan)["points"]:
        key = f"{point['phase']} {group_of(point['kind'])}"
        groups[key] = groups.get(key, 0.0) + point["seconds"]
    return out, groups


def check_local(model: str, batch: int, seq: int | None, system: str, steps: int = 5) -> LocalCheck:
    # The CPU has no fused RMSNorm or RoPE kernel: it runs them op by op, so the check runs and predicts that form.
    spec = parse_model(model).with_switch("unfused_kernels")
    predicted, predicted_groups = predict_step(spec, batch, seq, system)
    measured, measured_groups = measure_step(spec, batch, seq, steps)
    return LocalCheck(spec.name, measured, predicted, measured_groups, predicted_groups)
