"""Self-check: run a real model's training step on this machine and compare with the prediction.

Real tensors this time (small sizes), fp32 on the CPU. Timed phase by phase (forward, backward, optimizer)
after warm-up; predicted for the calibrated system with the graph captured in the same dtype.
"""

import statistics
import time
from dataclasses import dataclass
from typing import Any

import torch

from dojosim.hardware import load_system, size_system
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.estimate import Engine
from dojosim.workload.cache import get_graph
from dojosim.workload.zoo import check_request, step_spec, with_switch


@dataclass
class LocalCheck:
    model: str
    measured_s: dict[str, float]
    predicted_s: dict[str, float]

    @property
    def error_pct(self) -> dict[str, float]:
        return {k: 100.0 * (self.predicted_s[k] - v) / v for k, v in self.measured_s.items() if v > 0}

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "measured_s": self.measured_s,
            "predicted_s": self.predicted_s,
            "error_pct": self.error_pct,
        }


def measure_step(model: str, batch: int, seq: int | None, steps: int = 5, warmup: int = 2) -> dict[str, float]:
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
            opt.zero_grad(set_to_none=False)
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
    finally:
        torch.set_default_dtype(previous)
    measured = {k: statistics.median(v) for k, v in samples.items()}
    measured["step"] = sum(measured.values())
    return measured


def predict_step(model: str, batch: int, seq: int | None, system: str) -> dict[str, float]:
    spec, seq_eff = check_request(model, batch, seq)
    graph = get_graph(model, batch, seq_eff if spec.has_sequence else None, dtype="fp32")
    sized = size_system(load_system(system), 1)
    plan = ParallelPlan(devices=1, global_batch=batch, micro_batch=batch, seq=graph.tokens_per_sample, precision="fp32")
    est = Engine(graph, sized, fused_optimizer=False).estimate(plan)  # as measure_step runs it
    b = est.breakdown_s
    out = {"fwd": b["compute_fwd"], "bwd": b["compute_bwd"], "opt": b["optimizer"]}
    out["step"] = est.step_time_s
    return out


def check_local(model: str, batch: int, seq: int | None, system: str, steps: int = 5) -> LocalCheck:
    # The CPU has no fused RMSNorm or RoPE kernel: it runs them op by op, so the check runs and predicts that form.
    model = with_switch(model, "unfused_kernels")
    predicted = predict_step(model, batch, seq, system)
    measured = measure_step(model, batch, seq, steps)
    return LocalCheck(model, measured, predicted)
