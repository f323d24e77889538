"""Measure this machine's device (CPU, or a CUDA GPU) and write a system file every command accepts.

Imports torch, so it is imported only by `dojosim calibrate` and `dojosim check-local` (and lives here, not
in the torch-free `dojosim.hardware`).
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
from dojosim.workload.op_kinds import kernel_kind

DEVICES = ("cpu", "cuda")
SQUARE_SIZES = (128, 256, 512)  # bf16 on a CPU: emulated ~100x slower, so small squares tell its rate
# Matmuls as a training step runs them: (tokens, in features, out features) in the three layouts of a linear
# layer (forward x W^T, input gradient g W, weight gradient g^T x), from a small model's layer to a wide one.
MATMUL_SHAPES = (
    (128, 128, 128),
    (256, 192, 192),
    (256, 256, 1024),
    (512, 1024, 256),
    (1024, 512, 2048),
    (2048, 1024, 1024),
)
# Convolutions as a ResNet-style network's stages run them at small training images (batch 4): spatial size
# halves as channels double, 1x1 and 3x3 kernels, forward and both gradients.
CONV_SHAPES = ((32, 64), (16, 128), (8, 256), (4, 512), (16, 64), (8, 128), (4, 256), (2, 512))
CONV_BATCH = 4
# Fused attention as a small transformer runs it: (batch, heads, sequence, head dim), causal and not.
ATTENTION_SHAPES = ((4, 4, 128, 64), (2, 4, 256, 64), (1, 8, 512, 64))
VECTOR_ELEMENTS = 1 << 20


def _timed(fn: Callable[[], object], device: str, repeats: int) -> float:
    """Median seconds of fn over `repeats` runs after a warm-up: the sustained rate a training step sees
    (the best run overstates it by 20-40% on this class of CPU)."""
    return _timed_rounds([fn], device, repeats)[0]


def _timed_rounds(fns: list[Callable[[], object]], device: str, rounds: int) -> list[float]:
    """Median seconds of each fn over `rounds` rounds that each run every fn once, after a warm-up round.
    Interleaving spreads every fn's samples over the whole measurement, so that a slow spell of a shared
    machine (a neighbour's burst) moves every figure alike instead of spoiling a few."""
    samples: list[list[float]] = [[] for _ in fns]
    for r in range(rounds + 1):
        for fn, out in zip(fns, samples, strict=True):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device == "cuda":
                torch.cuda.synchronize()
            if r:
                out.append(time.perf_counter() - t0)
    return [statistics.median(s) for s in samples]


def fit_rate_and_ramp(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(FLOP/s, seconds) of t = F / rate + ramp over (F, t) points, least squares in relative error so that
    small ops count as much as large ones; the ramp is not negative."""
    # Rows (F/t, 1/t) . (1/rate, ramp) = 1: weighted normal equations, solved in closed form.
    a11 = sum((f / t) ** 2 for f, t in points)
    a12 = sum(f / t**2 for f, t in points)
    a22 = sum(1 / t**2 for f, t in points)
    b1 = sum(f / t for f, t in points)
    b2 = sum(1 / t for f, t in points)
    det = a11 * a22 - a12 * a12
    inv_rate, ramp = (b1 * a22 - b2 * a12) / det, (a11 * b2 - a12 * b1) / det
    if ramp < 0 or inv_rate <= 0:
        inv_rate, ramp = b1 / a11, 0.0  # through the origin
    return 1.0 / inv_rate, ramp


Work = list[tuple[float, Callable[[], object]]]  # (FLOPs, the op) pairs to time


def _timed_work(works: list[Work], device: str, rounds: int) -> list[list[tuple[float, float]]]:
    """(FLOPs, median seconds) of every op of each work list, all timed in the same interleaved rounds."""
    times = iter(_timed_rounds([fn for work in works for _, fn in work], device, rounds))
    return [[(flops, next(times)) for flops, _ in work] for work in works]


def _matmul_work(device: str, dtype: torch.dtype) -> Work:
    work: Work = []
    for m, k, n in MATMUL_SHAPES:
        x = torch.randn(m, k, device=device, dtype=dtype)
        w = torch.randn(n, k, device=device, dtype=dtype)
        g = torch.randn(m, n, device=device, dtype=dtype)
        for fn in (lambda x=x, w=w: x @ w.t(), lambda g=g, w=w: g @ w, lambda g=g, x=x: g.t() @ x):
            work.append((2.0 * m * k * n, fn))
    return work


def _conv_work(device: str) -> Work:
    backward = torch.ops.aten.convolution_backward
    work: Work = []
    for side, channels in CONV_SHAPES:
        for k in (1, 3):
            x = torch.randn(CONV_BATCH, channels, side, side, device=device)
            w = torch.randn(channels, channels, k, k, device=device)
            y = torch.nn.functional.conv2d(x, w, padding=k // 2)
            g = torch.randn_like(y)
            flops = 2.0 * y.numel() * channels * k * k
            args = ([1, 1], [k // 2, k // 2], [1, 1], False, [0, 0], 1, [True, True, False])
            work.append((flops, lambda x=x, w=w, k=k: torch.nn.functional.conv2d(x, w, padding=k // 2)))
            work.append((2 * flops, lambda g=g, x=x, w=w, a=args: backward(g, x, w, None, *a)))  # both gradients
    return work


def _attention_work(device: str) -> Work:
    """Forward and backward of the fused attention op, FLOPs counted on the full (non-causal) score matrix as
    the capture counts them: a causal kernel skips about half, so the two kinds bracket the rate."""
    sdpa = torch.nn.functional.scaled_dot_product_attention
    work: Work = []
    for b, h, s, d in ATTENTION_SHAPES:
        q, k, v = (torch.randn(b, h, s, d, device=device, requires_grad=True) for _ in range(3))
        flops = 4.0 * b * h * s * s * d
        for causal in (False, True):
            out = sdpa(q, k, v, is_causal=causal)
            g = torch.randn_like(out)
            work.append((flops, lambda q=q, k=k, v=v, c=causal: sdpa(q.detach(), k.detach(), v.detach(), is_causal=c)))
            work.append((2 * flops, lambda out=out, g=g: out.backward(g, retain_graph=True)))
    return work


def _optimizer_op_s(device: str, repeats: int) -> float:
    """Seconds per op of a single-tensor AdamW step (Python included) on tensors too small to cost anything else:
    what an unfused optimizer pays per op on top of its memory traffic."""
    params = [torch.nn.Parameter(torch.zeros(1, device=device)) for _ in range(64)]
    for p in params:
        p.grad = torch.zeros(1, device=device)
    opt = torch.optim.AdamW(params, lr=1e-4, foreach=False)
    opt.step()  # creates the state, so that the count below sees a steady-state step
    ops = _ops_in(opt.step)
    return _timed(opt.step, device, repeats) / max(ops, 1)


def _ops_in(fn: Callable[[], object]) -> int:
    """Aten ops fn dispatches, counted as a capture records them (views excluded: they launch nothing)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if kernel_kind(func) is not None:
                Count.n += 1
            return func(*args, **(kwargs or {}))

    with Count():
        fn()
    return Count.n


def measure(device: str = "cpu", quick: bool = False) -> dict[str, float | str]:
    if device not in DEVICES:
        raise InputError(f"--device: must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is visible to torch on this machine")
    repeats = 5 if quick else 9  # quick: fewer rounds of the same shapes (fewer shapes made the fits erratic)
    out: dict[str, float | str] = {}
    # Matmuls and convolutions, timed in interleaved rounds. A fixed fill-and-drain time per op explains small
    # ones' shortfall (t = F / rate + ramp); convolutions reach less of the peak than matmuls on a CPU (layout
    # reorders, small spatial sizes), so they get their own rate and ramp.
    matmul_points, conv_points = _timed_work([_matmul_work(device, torch.float32), _conv_work(device)], device, repeats)
    out["peak_fp32"], out["matmul_ramp_s"] = fit_rate_and_ramp(matmul_points)
    conv_rate, out["conv_ramp_s"] = fit_rate_and_ramp(conv_points)
    out["conv_fraction_of_peak"] = min(1.0, conv_rate / float(out["peak_fp32"]))
    # Fused attention: the engine charges it the matmul ramp, so its fraction is what remains after that.
    [attention_points] = _timed_work([_attention_work(device)], device, repeats)
    ramp = float(out["matmul_ramp_s"])
    rates = [f / max(t - ramp, 0.5 * t) for f, t in attention_points]
    out["attention_fraction_of_peak"] = min(1.0, statistics.median(rates) / float(out["peak_fp32"]))
    if device == "cpu":
        squares = [torch.randn(n, n, dtype=torch.bfloat16) for n in SQUARE_SIZES]
        work = [(2.0 * a.shape[0] ** 3, lambda a=a: a @ a) for a in squares]
        [square_points] = _timed_work([work], device, repeats)
        out["peak_bf16"] = max(f / t for f, t in square_points)
    else:
        [bf16_points] = _timed_work([_matmul_work(device, torch.bfloat16)], device, repeats)
        out["peak_bf16"] = fit_rate_and_ramp(bf16_points)[0]
    # Memory: a large copy reads and writes every byte once.
    n = (16 if quick else 64) * 1024 * 1024
    src = torch.empty(n, device=device, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    t = _timed(lambda: dst.copy_(src), device, repeats)
    out["memory_bytes_per_s"] = 2 * src.numel() * 4 / t
    # Per-element rates of ops that compute more than they move on a CPU: transcendental functions (GELU, exp,
    # tanh, and a gradient of one) and random numbers (a dropout mask), on a tensor of a small layer's size.
    v = torch.randn(VECTOR_ELEMENTS, device=device)
    special = [
        lambda: torch.nn.functional.gelu(v),
        lambda: torch.exp(v),
        lambda: torch.tanh(v),
        lambda: torch.ops.aten.gelu_backward(v, v),
    ]
    out["transcendental_per_s"] = VECTOR_ELEMENTS / statistics.median(_timed_rounds(special, device, repeats))
    mask = torch.empty_like(v)
    out["random_per_s"] = VECTOR_ELEMENTS / _timed(lambda: mask.bernoulli_(0.9), device, repeats)
    # Per-op cost: a one-element add is all overhead; on a tensor that autograd records, as in training.
    x = torch.ones(1, device=device, requires_grad=True)
    loops = 2000
    t = _timed(lambda: [x.add(1.0) for _ in range(loops)], device, repeats)
    out["op_overhead_s"] = t / loops
    out["optimizer_op_overhead_s"] = _optimizer_op_s(device, repeats)
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
matmul_empirical_fraction_of_peak = {assumed(1.0, "the peak above is the measured rate of large matmuls")}
memory_empirical_fraction_of_peak = {assumed(1.0, "the bandwidth above is measured")}
matmul_ramp_s = {fig(float(m["matmul_ramp_s"]))}
conv_empirical_fraction_of_peak = {fig(float(m["conv_fraction_of_peak"]))}
attention_empirical_fraction_of_peak = {fig(float(m["attention_fraction_of_peak"]))}
conv_ramp_s = {fig(float(m["conv_ramp_s"]))}
kernel_overhead_s = {fig(float(m["op_overhead_s"]))}
optimizer_op_overhead_s = {fig(float(m["optimizer_op_overhead_s"]))}
transcendental_per_s = {fig(float(m["transcendental_per_s"]))}
random_per_s = {fig(float(m["random_per_s"]))}

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
