"""Measure this machine's device (CPU, or a CUDA GPU) and write a system file every command accepts.

Imports torch, so it is imported only by `dojosim calibrate` and `dojosim check-local`.
"""

import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import torch

from dojosim.errors import InputError

DEVICES = ("cpu", "cuda")
MATMUL_SIZES = (128, 256, 512, 1024, 2048)


def _timed(fn: Callable[[], object], device: str, repeats: int) -> float:
    """Median seconds of fn over `repeats` runs after a warm-up: the sustained rate a training step sees
    (the best run overstates it by 20-40% on this class of CPU)."""
    fn()
    samples = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def measure(device: str = "cpu", quick: bool = False) -> dict[str, float | str]:
    if device not in DEVICES:
        raise InputError(f"--device: must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is visible to torch on this machine")
    repeats = 3 if quick else 7
    out: dict[str, float | str] = {}
    # Matmul: the best rate over sizes is the peak; a fixed fill-and-drain time per matmul explains the
    # smaller sizes' shortfall (least squares of t = F / peak + ramp).
    for dtype_name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        points = []
        sizes = MATMUL_SIZES[:-1] if quick else MATMUL_SIZES
        if device == "cpu" and dtype != torch.float32:
            sizes = sizes[:3]  # CPUs without bf16 units emulate it ~100x slower: small sizes tell the rate
        for n in sizes:
            a = torch.randn(n, n, device=device, dtype=dtype)
            b = torch.randn(n, n, device=device, dtype=dtype)
            points.append((2.0 * n**3, _timed(lambda a=a, b=b: a @ b, device, repeats)))
        peak = max(f / t for f, t in points)
        out[f"peak_{dtype_name}"] = peak
        if dtype_name == "fp32":
            ramps = [t - f / peak for f, t in points]
            out["matmul_ramp_s"] = max(0.0, statistics.median(ramps))
    # Memory: a large copy reads and writes every byte once.
    n = (16 if quick else 64) * 1024 * 1024
    src = torch.empty(n, device=device, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    t = _timed(lambda: dst.copy_(src), device, repeats)
    out["memory_bytes_per_s"] = 2 * src.numel() * 4 / t
    # Per-op cost: a one-element add is all overhead; on a tensor that autograd records, as in training.
    x = torch.ones(1, device=device, requires_grad=True)
    loops = 2000
    t = _timed(lambda: [x.add(1.0) for _ in range(loops)], device, repeats)
    out["op_overhead_s"] = t / loops
    if device == "cpu":
        out["memory_bytes"] = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        out["name"] = platform.processor() or platform.machine()
        out["cores"] = float(torch.get_num_threads())
    else:
        props = torch.cuda.get_device_properties(0)
        out["memory_bytes"] = float(props.total_memory)
        out["name"] = props.name
        out["cores"] = float(props.multi_processor_count)
    return out


def system_toml(m: dict[str, float | str], device: str) -> str:
    """A one-device system in the preset format; every figure says it was measured here, today."""
    src = f"measured by dojosim calibrate --device {device} on {m['name']}, {date.today().isoformat()}"

    def fig(value: float) -> str:
        return f'{{ value = {value:.6g}, source = "{src}", status = "user" }}'

    def assumed(value: float, why: str) -> str:
        return f'{{ value = {value:.6g}, source = "{why}", status = "user" }}'

    return f"""# Written by `dojosim calibrate --device {device}`. Pass it anywhere a system name is accepted.
name = "local-{device}"
summary = "this machine's {device} ({m["name"]}), as measured"
status = "user"
default_devices = {assumed(1, "one local device")}
pue = {assumed(1.0, "no facility overhead counted for a local machine")}

[device]
name = "local-{device}"
cores = {fig(float(m["cores"]))}
peak_flops_per_s.fp32 = {fig(float(m["peak_fp32"]))}
peak_flops_per_s.bf16 = {fig(float(m["peak_bf16"]))}
hbm_bytes = {fig(float(m["memory_bytes"]))}
hbm_bytes_per_s = {fig(float(m["memory_bytes_per_s"]))}
egress_bytes_per_s = {fig(float(m["memory_bytes_per_s"]))}
tdp_w = {assumed(65, "not measured: a typical server CPU socket share")}
idle_w = {assumed(15, "not measured")}
matmul_empirical_fraction_of_peak = {assumed(1.0, "the peak above is the best measured matmul rate")}
memory_empirical_fraction_of_peak = {assumed(1.0, "the bandwidth above is measured")}
matmul_ramp_s = {fig(float(m["matmul_ramp_s"]))}
kernel_overhead_s = {fig(float(m["op_overhead_s"]))}

[[levels]]
name = "host"
children = {assumed(1, "one device")}
topology = "switch"
link_latency_s = {assumed(1e-6, "unused: one device")}
collective_empirical_fraction_of_link = {assumed(1.0, "unused: one device")}

[cost]
price_per_device_hour_usd = {assumed(0.05, "not measured: a nominal price for a local machine")}
"""


def calibrate(device: str = "cpu", out: str | Path | None = None, quick: bool = False) -> tuple[Path, dict]:
    measured = measure(device, quick)
    path = Path(out) if out else Path.home() / ".cache" / "dojosim" / f"local-{device}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(system_toml(measured, device))
    tmp.replace(path)
    return path, measured
