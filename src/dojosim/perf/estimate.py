"""Step time, memory, energy and cost of a plan: roofline per op class, alpha-beta collectives, 1F1B bubble.

Engine(graph, system) does the plan-independent work once; Engine.estimate(plan) is arithmetic over cached
per-sharding stage times, fast enough to cost thousands of plans a second.
"""

import math
from dataclasses import dataclass, field
from typing import Any

from dojosim.errors import InputError
from dojosim.hardware import SizedSystem
from dojosim.parallel.placement import group_span
from dojosim.parallel.plan import ParallelPlan, validate_plan
from dojosim.perf import collectives as coll
from dojosim.perf.device import DeviceModel, device_model
from dojosim.perf.profile import TP_ALLREDUCES_PER_BLOCK, OpClass, WorkloadProfile, build_profile
from dojosim.workload.graph import Graph

# Mixed-precision training state per parameter (Megatron-style): bf16 weights, fp32 main gradients,
# fp32 master weights and two fp32 Adam moments (SGD: one momentum).
WEIGHT_BYTES = 2.0
GRAD_BYTES = 4.0
OPTIMIZER_BYTES = {"adamw": 12.0, "sgd": 8.0}
# An Adam update reads gradient, master, m, v (16 B) and writes master, m, v, bf16 weight (14 B).
OPTIMIZER_TRAFFIC_BYTES = {"adamw": 30.0, "sgd": 22.0}
ACTIVATION_BYTES = 2.0  # bf16 activations cross pipeline stages and tensor-parallel all-reduces
# Share of backward time that hides data-parallel gradient reduction (bucketed overlap, as in Megatron's
# overlap_grad_reduce and PyTorch DDP): all but the last buckets run under the remaining backward.
DP_OVERLAP_EMPIRICAL_FRACTION = 0.8
# Bytes moved by the casts before a low-precision matmul, per byte of the matmul's own bf16 traffic:
# read the bf16 operand (1) and write its 8-bit copy (0.5).
LOW_PRECISION_CAST_TRAFFIC = 1.5
# With asynchronous tensor-parallel communication (Megatron-LM's LinearWithGradAccumulationAndAsyncCommunication,
# 2022 on), backward's all-reduce (or, with sequence parallelism, reduce-scatter) of a column-parallel layer's input
# gradient runs under that layer's weight-gradient GEMM. Those layers (QKV; MLP up and gate) hold over half a
# block's weights and a weight-gradient GEMM is half their backward work: a quarter of backward bounds what hides.
ASYNC_TP_WGRAD_SHARE_OF_BACKWARD = 0.25
# Share of a micro-batch's compute that hides context parallelism's K/V exchange (ring attention).
CP_OVERLAP_EMPIRICAL_FRACTION = 0.8


@dataclass(frozen=True)
class StageCosts:
    """One micro-batch on the busiest pipeline stage, for one sharding (tp, cp, sp, precision)."""

    fwd_s: float
    bwd_s: float
    attention_fwd_s: float  # what selective recompute repeats (full recompute repeats fwd_s)
    bytes: float


@dataclass
class Estimate:
    step_time_s: float
    breakdown_s: dict[str, float]
    mfu: float
    hfu: float
    throughput: dict[str, float]
    memory_bytes_per_device: dict[str, float]
    memory_tiers: list[dict[str, Any]]
    fits: bool
    energy_j: float
    cost_usd: float
    cost_at_cost_usd: float
    bottleneck: str
    plan: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Engine:
    """One captured graph on one sized system; estimate() costs plans."""

    def __init__(self, graph: Graph | WorkloadProfile, sized: SizedSystem, fused_optimizer: bool = True):
        # Training frameworks on accelerators update all parameters in a few fused (multi-tensor) kernels;
        # PyTorch's CPU default runs several kernels per parameter, each paying its per-op cost.
        self.fused_optimizer = fused_optimizer
        self.profile = graph if isinstance(graph, WorkloadProfile) else build_profile(graph)
        self.sized = sized
        self.device: DeviceModel = device_model(sized)
        self.links = coll.level_links(sized)
        self._stage_cache: dict[tuple[Any, ...], tuple[StageCosts, StageCosts, StageCosts]] = {}
        system = sized.system
        self._overhead_power_w = sum(
            lvl.units * lvl.level.overhead_power_w.value for lvl in sized.levels if lvl.level.overhead_power_w
        )
        self._pue = system.pue.value
        self._cost = system.cost

    def set_device(self, device: DeviceModel) -> None:
        """Cost further plans on `device` (a trial value of an empirical knob); cached stage costs go with it."""
        self.device = device
        self._stage_cache.clear()

    # ------------------------------------------------------------------------------------------- compute

    def _peaks(self, precision: str) -> dict[str, float]:
        """Achievable FLOP/s per op family at a precision."""
        dev = self.device
        return {
            "matrix": dev.peak(precision) * dev.matmul_fraction,
            # Attention stays in bf16 under fp8/fp4 recipes; an fp32 run does it in fp32.
            "attention": dev.peak("fp32" if precision == "fp32" else "bf16") * dev.attention_fraction,
            "conv": dev.peak(precision) * dev.conv_fraction,
            "vector": dev.peak("fp32") or dev.peak("bf16"),
        }

    def _class_seconds(
        self, c: OpClass, tp: int, cp: int, sp: bool, precision: str, peaks: dict[str, float]
    ) -> tuple[float, float, float]:
        """(seconds, FLOPs, bytes) of every op of one class on one device, for one micro-batch."""
        dev = self.device
        bw = dev.near.bytes_per_s
        share = 1.0 / cp
        if c.tp_rule == "tp" or sp:
            share /= tp
        flops, nbytes = c.flops * share, c.bytes * share
        ramp = 0.0
        if c.kind == "attention":
            peak, ramp = peaks["attention"], dev.matmul_ramp_s
        elif c.kind == "conv":
            peak, ramp = peaks["conv"], dev.conv_ramp_s
        elif c.kind == "matmul":
            peak, ramp = peaks["matrix"], dev.matmul_ramp_s
        elif c.kind == "embedding":
            peak = peaks["matrix"]
        else:  # one FLOP per element: a measured per-element rate of its unit, where the device has one
            peak = dev.vector_unit_per_s.get(c.unit) or peaks["vector"]
        # The empirical fraction is what large matmuls reach; a matmul also pays a fixed fill-and-drain
        # time, so its achieved fraction grows with its size: F / (F + peak x fraction x ramp).
        compute = flops / peak + ramp if peak and flops else 0.0
        t = (max(compute, nbytes / bw) + dev.kernel_overhead_s) * c.count
        if precision in ("fp8", "fp4") and c.kind == "matmul":
            # Dynamic scaling: the bf16 operands are read, their amax taken, and fp8/fp4 copies written
            # by separate memory-bound kernels before each low-precision matmul.
            t += (nbytes * LOW_PRECISION_CAST_TRAFFIC / bw + 2 * dev.kernel_overhead_s) * c.count
        return t, flops * c.count, nbytes * c.count

    def _region_costs(self, tp: int, cp: int, sp: bool, precision: str) -> tuple[StageCosts, ...]:
        key = (tp, cp, sp, precision)
        cached = self._stage_cache.get(key)
        if cached is not None:
            return cached
        host_s, peaks = self.device.host_overhead_s, self._peaks(precision)
        names = ("fwd", "bwd", "fwd_host", "bwd_host", "att_fwd", "bytes")
        acc = {r: dict.fromkeys(names, 0.0) for r in ("block", "pre", "post")}
        for c in self.profile.classes:
            t, _, nbytes = self._class_seconds(c, tp, cp, sp, precision, peaks)
            a = acc[c.region]
            a[c.phase] += t
            a[c.phase + "_host"] += host_s * c.count
            a["bytes"] += nbytes
            if c.attention_core and c.phase == "fwd":
                a["att_fwd"] += t
        for (region, phase), n in self.profile.view_ops:
            acc[region][phase + "_host"] += host_s * n
        # The host issues ops while the device runs earlier ones: a pass takes the longer of the two.
        out = tuple(
            StageCosts(
                max(a["fwd"], a["fwd_host"]),
                max(a["bwd"], a["bwd_host"]),
                a["att_fwd"],
                a["bytes"],
            )
            for r, a in acc.items()
        )
        self._stage_cache[key] = out
        return out

    def roofline(self, plan: ParallelPlan) -> dict[str, Any]:
        """The plan's ops on this device's roofline: per op kind and phase, FLOPs, bytes and modelled seconds
        on the busiest stage for one micro-batch, with the ceilings they sit under."""
        groups: dict[tuple[str, str], list[float]] = {}
        stage, peaks = self.stage_share(plan), self._peaks(plan.precision)
        for c in self.profile.classes:
            t, flops, nbytes = self._class_seconds(c, plan.tp, plan.cp, plan.sequence_parallel, plan.precision, peaks)
            weight = stage if c.region == "block" else 1.0
            g = groups.setdefault((c.kind, c.phase), [0.0, 0.0, 0.0])
            g[0] += t * weight
            g[1] += flops * weight
            g[2] += nbytes * weight
        dev = self.device
        total_s = sum(g[0] for g in groups.values()) or 1.0
        points = [
            {"kind": kind, "phase": phase, "seconds": s, "flops": f, "bytes": b, "time_share": s / total_s}
            for (kind, phase), (s, f, b) in sorted(groups.items())
        ]
        roofs = {
            "peak_flops_per_s": dev.peak(plan.precision),
            "matrix_flops_per_s": peaks["matrix"],
            "near_bytes_per_s": dev.near.bytes_per_s,
            "near_name": dev.near.name,
        }
        if dev.far:
            roofs.update(far_bytes_per_s=dev.far.bytes_per_s, far_name=dev.far.name)
        return {"device": dev.name, "roofs": roofs, "points": points}

    def stage_share(self, plan: ParallelPlan) -> float:
        """Fraction of the blocks on the busiest pipeline stage: ceil(L / (pp x vp)) x vp of L, as frameworks
        that allow uneven stages (torchtitan) place them; equal to 1/pp when pp x vp divides L."""
        layers = self.profile.layers
        if not layers or plan.pp == 1:
            return 1.0
        return math.ceil(layers / (plan.pp * plan.vp)) * plan.vp / layers

    # ------------------------------------------------------------------------------------------- memory

    def memory(self, plan: ParallelPlan) -> dict[str, float]:
        p = self.profile
        optimizer = p.graph.optimizer
        dense_block = p.block_params - p.expert_params
        stage = self.stage_share(plan)
        stage_params = (dense_block + p.expert_params / plan.ep) * stage / plan.tp
        stage_params += (
            max(p.pre_params, p.post_params) / plan.tp if plan.pp > 1 else (p.pre_params + p.post_params) / plan.tp
        )
        shard = plan.dp  # ZeRO shards over data-parallel ranks
        weights = stage_params * WEIGHT_BYTES / (shard if plan.zero >= 3 else 1)
        grads = stage_params * GRAD_BYTES / (shard if plan.zero >= 2 else 1)
        opt = stage_params * OPTIMIZER_BYTES[optimizer] / (shard if plan.zero >= 1 else 1)
        scale = plan.micro_batch / p.micro_batch * (plan.seq / p.seq if p.seq else 1.0)

        def sharded(rows: tuple[tuple[int, float], ...]) -> float:
            total = 0.0
            for last_dim, nbytes in rows:
                stream = p.hidden and last_dim == p.hidden
                total += nbytes / (plan.tp if (not stream or plan.sequence_parallel) else 1)
            return total * scale / plan.cp

        block = sharded(p.activation_block) * stage
        if plan.recompute == "full" and p.layers:
            # Only each layer's input is kept; the rest is rebuilt in backward.
            stream = plan.micro_batch * plan.seq / plan.cp * p.hidden * ACTIVATION_BYTES
            block = p.layers * stage * stream / (plan.tp if plan.sequence_parallel else 1)
        elif plan.recompute == "selective":
            # Attention scores (tensors whose last dim is the sequence) are recomputed, not kept.
            rows = tuple((d, b) for d, b in p.activation_block if d != p.seq)
            block = sharded(rows) * stage
        in_flight = min(plan.pp, plan.grad_accumulation) if plan.pp > 1 else 1
        if plan.vp > 1:
            in_flight *= 1 + (plan.pp - 1) / (plan.pp * plan.vp)
        ends = (
            max(sharded(p.activation_pre), sharded(p.activation_post))
            if plan.pp > 1
            else sharded(p.activation_pre) + sharded(p.activation_post)
        )
        activations = block * in_flight + ends
        buffers = p.max_op_bytes * scale / plan.cp / plan.tp
        if plan.zero >= 3 and p.layers:
            buffers += 2 * (p.block_params / p.layers) / plan.tp * WEIGHT_BYTES  # prefetched layer weights
        return {
            "weights": weights,
            "gradients": grads,
            "optimizer": opt,
            "activations": activations,
            "buffers": buffers,
            "total": weights + grads + opt + activations + buffers,
            "params_per_device": stage_params,
        }

    def far_resident(self, mem: dict[str, float]) -> dict[str, float]:
        """Bytes per device of each kind of state that live in far memory (Dojo's interface-card HBM) because
        near memory (SRAM) is full. Near memory is filled by how often a byte is touched: the transient working
        set of the running ops first, then stashed activations, weights, gradients, and last the optimizer
        state, which is touched once per step rather than once per micro-batch."""
        free = self.device.near.bytes if self.device.far else float("inf")
        out = {}
        for kind in ("buffers", "activations", "weights", "gradients", "optimizer"):
            here = min(mem[kind], free)
            free -= here
            out[kind] = mem[kind] - here
        out["total"] = sum(out.values())
        return out

    # ------------------------------------------------------------------------------------------- plan

    def validate(self, plan: ParallelPlan) -> None:
        meta = self.profile.graph.meta
        validate_plan(
            plan,
            layers=self.profile.layers,
            heads=int(meta.get("heads", 0) or 0),
            kv_heads=int(meta.get("kv_heads", 0) or 0),
            experts=int(meta.get("experts", 0) or 0),
            hidden=self.profile.hidden,
            has_sequence=self.profile.seq > 1,
            peaks=tuple(self.device.peaks_flops_per_s),
        )
        if plan.devices != self.sized.devices:
            raise InputError(f"plan has {plan.devices} devices but the system was sized for {self.sized.devices}")
        if plan.micro_batch != self.profile.micro_batch or plan.seq != max(1, self.profile.seq):
            raise InputError(
                f"the graph was captured at micro-batch {self.profile.micro_batch} and seq "
                f"{self.profile.seq}; capture it at the plan's micro-batch and seq"
            )

    def estimate(self, plan: ParallelPlan, check: bool = True) -> Estimate:
        if check:
            self.validate(plan)
        p, dev, links = self.profile, self.device, self.links
        block, pre, post = self._region_costs(plan.tp, plan.cp, plan.sequence_parallel, plan.precision)
        pp, vp, m = plan.pp, plan.vp, plan.grad_accumulation
        ends_fwd = max(pre.fwd_s, post.fwd_s) if pp > 1 else pre.fwd_s + post.fwd_s
        ends_bwd = max(pre.bwd_s, post.bwd_s) if pp > 1 else pre.bwd_s + post.bwd_s
        stage = self.stage_share(plan)
        fwd = block.fwd_s * stage + ends_fwd
        bwd = block.bwd_s * stage + ends_bwd
        recompute = {"none": 0.0, "selective": block.attention_fwd_s * stage, "full": block.fwd_s * stage}[
            plan.recompute
        ]

        layers_here = p.layers * stage
        inserted: list[dict[str, Any]] = []  # the collectives the plan inserts, per step

        def note(group: str, op: str, nbytes: float, per_step: float, span: Any, seconds: float) -> None:
            inserted.append(
                {
                    "group": group,
                    "op": op,
                    "bytes": nbytes,
                    "count_per_step": per_step,
                    "group_size": span.size,
                    "members_per_level": list(span.members_per_level),
                    "seconds_each": seconds,
                }
            )

        stream_bytes = plan.micro_batch * plan.seq / plan.cp * max(p.hidden, 1) * ACTIVATION_BYTES
        tp_comm = 0.0
        if plan.tp > 1:
            span = group_span(self.sized, plan, "tp")
            passes = 2 + (1 if plan.recompute == "full" else 0)  # forward, backward, recomputed forward
            one = coll.all_reduce_s(stream_bytes, span, links)
            per_block = TP_ALLREDUCES_PER_BLOCK * one
            tp_comm = passes * layers_here * per_block + 2 * one
            if plan.overlap_tp_comm:
                # Backward's collectives (the conjugates of the column-parallel layers' input copies) run while
                # those layers compute their weight gradients; only what outlasts those GEMMs shows.
                backward_tp = layers_here * per_block
                tp_comm -= min(backward_tp, ASYNC_TP_WGRAD_SHARE_OF_BACKWARD * bwd)
            note("tp", "all_reduce", stream_bytes, m * (passes * layers_here * TP_ALLREDUCES_PER_BLOCK + 2), span, one)
        cp_comm = 0.0
        if plan.cp > 1:
            span = group_span(self.sized, plan, "cp")
            kv = p.attention_kv_bytes * (plan.micro_batch / p.micro_batch) / plan.tp / max(pp, 1)
            one = coll.all_gather_s(kv, span, links)
            exchange = 3 * one  # K,V forward; K,V and their gradients backward
            note("cp", "all_gather (ring K/V)", kv, 3 * m, span, one)
            # The exchange for layer i+1 runs under layer i's work; hiding it behind the whole pass (not only
            # attention) keeps the model monotone where the host, not the device, sets the pace.
            cp_comm = max(0.0, exchange - CP_OVERLAP_EMPIRICAL_FRACTION * (fwd + bwd))
        ep_comm = 0.0
        experts = int(p.graph.meta.get("experts", 0) or 0)
        if experts and plan.ep > 1:
            span = group_span(self.sized, plan, "ep")
            top_k = int(p.graph.meta.get("top_k", 2))
            dispatched = stream_bytes * top_k / plan.tp
            one = coll.all_to_all_s(dispatched, span, links)
            ep_comm = 4 * layers_here * one  # dispatch and combine, forward and backward
            note("ep", "all_to_all", dispatched, m * 4 * layers_here, span, one)

        compute_mb = fwd + bwd + recompute
        mem = self.memory(plan)
        far = self.far_resident(mem)
        stream_stall = 0.0
        far_bytes_per_s = dev.far.bytes_per_s if dev.far else 0.0
        if far["total"] > 0 and far_bytes_per_s > 0:
            # Per micro-batch pass, far-resident weights are read in forward and backward (and again by full
            # recompute), stashed activations written and read back, gradients read and written; a transient
            # working set that overflows near memory sends that share of every op's traffic far. DMA overlaps
            # the streaming with compute, so only the excess over compute shows.
            op_bytes = block.bytes * stage + pre.bytes + post.bytes
            traffic = (
                far["weights"] * (3 if plan.recompute == "full" else 2)
                + 2 * far["activations"]
                + 2 * far["gradients"]
                + op_bytes * far["buffers"] / max(mem["buffers"], 1.0)
            )
            stream_stall = max(0.0, traffic / far_bytes_per_s - compute_mb)
        t_mb = compute_mb + tp_comm + cp_comm + ep_comm + stream_stall

        bubble = (pp - 1) / vp * t_mb if pp > 1 else 0.0
        pp_comm = 0.0
        if pp > 1:
            span = group_span(self.sized, plan, "pp", size=2)
            act = stream_bytes / (plan.tp if plan.sequence_parallel else 1)
            one = coll.p2p_s(act, span, links)
            pp_comm = 2 * (pp - 1) * vp * one
            note("pp", "send/recv", act, 2 * m * vp, span, one)

        dp_comm = 0.0
        grad_bytes = mem["params_per_device"] * GRAD_BYTES
        groups = [("dp", plan.dp), ("cp", plan.cp)]
        for kind, size in groups:
            if size <= 1:
                continue
            span = group_span(self.sized, plan, kind)
            weight_bytes = mem["params_per_device"] * WEIGHT_BYTES
            if plan.zero == 0:
                t = coll.all_reduce_s(grad_bytes, span, links)
                note(kind, "all_reduce (gradients)", grad_bytes, 1, span, t)
            else:
                scatter = coll.reduce_scatter_s(grad_bytes, span, links)
                gather = coll.all_gather_s(weight_bytes, span, links)
                gathers = 1 if plan.zero in (1, 2) else 2 * m  # ZeRO-3 gathers weights for forward and backward
                # With sharded gradients (ZeRO-2/3, FSDP) every micro-batch's backward reduce-scatters its
                # gradients: there is no full-size buffer to accumulate into. ZeRO-1 accumulates locally.
                scatters = m if plan.zero >= 2 else 1
                t = scatters * scatter + gathers * gather
                note(kind, "reduce_scatter (gradients)", grad_bytes, scatters, span, scatter)
                note(kind, "all_gather (weights)", weight_bytes, gathers, span, gather)
            dp_comm += t
        hide = DP_OVERLAP_EMPIRICAL_FRACTION * (bwd if plan.zero < 3 else m * compute_mb)
        hide = hide if plan.overlap_grad_reduce else 0.0
        dp_exposed = max(0.0, dp_comm - hide)

        opt_params = mem["params_per_device"] / (plan.dp if plan.zero >= 1 else 1)
        opt_share = opt_params / max(p.params, 1.0)  # of the captured update, which covers every parameter
        if self.fused_optimizer:
            opt_traffic = opt_params * OPTIMIZER_TRAFFIC_BYTES[p.graph.optimizer]
        else:  # each op of the captured single-tensor update reads and writes whole tensors on its own
            opt_traffic = p.opt_bytes * opt_share
        far_share = far["optimizer"] / mem["optimizer"] if far_bytes_per_s and mem["optimizer"] else 0.0
        optimizer = opt_traffic * (1 - far_share) / dev.near.bytes_per_s
        if far_share:
            optimizer += opt_traffic * far_share / far_bytes_per_s
        if not self.fused_optimizer:  # one kernel per op of the captured single-tensor update, in sequence
            optimizer += p.opt_ops * opt_share * dev.optimizer_op_overhead_s

        step = m * t_mb + bubble + pp_comm + dp_exposed + optimizer
        breakdown = {
            "compute_fwd": m * fwd,
            "compute_bwd": m * bwd,
            "recompute": m * recompute,
            "tp_comm": m * tp_comm,
            "cp_comm": m * cp_comm,
            "ep_comm": m * ep_comm,
            "memory_stream": m * stream_stall,
            "pp_comm": pp_comm,
            "bubble": bubble,
            "dp_comm": dp_exposed,
            "optimizer": optimizer,
        }
        samples = plan.global_batch
        replicas_flops = p.model_flops * (plan.global_batch / p.micro_batch)
        peak_total = dev.peak(plan.precision) * plan.devices
        mfu = replicas_flops / (step * peak_total) if step > 0 else 0.0
        recompute_flops = {"none": 0.0, "selective": 0.0, "full": 1.0 / 3.0}[plan.recompute] * replicas_flops
        hfu = (replicas_flops + recompute_flops) / (step * peak_total) if step > 0 else 0.0
        throughput = {"samples_per_s": samples / step}
        if p.seq > 1:
            throughput["tokens_per_s"] = samples * plan.seq / step
            throughput["tokens_per_s_per_device"] = throughput["tokens_per_s"] / plan.devices
        busy = min(1.0, (m * compute_mb + optimizer) / step) if step > 0 else 0.0
        device_w = dev.idle_w + (dev.tdp_w - dev.idle_w) * busy
        it_energy = (plan.devices * device_w + self._overhead_power_w) * step
        energy = it_energy * self._pue
        cost_rental, cost_at_cost = self._cost_of(step, plan.devices, energy)
        capacity = dev.capacity_bytes
        fits = mem["total"] <= capacity
        tiers = [
            {
                "name": dev.near.name,
                "bytes": dev.near.bytes,
                "bytes_per_s": dev.near.bytes_per_s,
                "used": min(mem["total"], dev.near.bytes),
            }
        ]
        if dev.far:
            tiers.append(
                {
                    "name": dev.far.name,
                    "bytes": dev.far.bytes,
                    "bytes_per_s": dev.far.bytes_per_s,
                    "used": min(max(0.0, mem["total"] - dev.near.bytes), dev.far.bytes),
                }
            )
        estimate = Estimate(
            step_time_s=step,
            breakdown_s=breakdown,
            mfu=mfu,
            hfu=hfu,
            throughput=throughput,
            memory_bytes_per_device={k: v for k, v in mem.items() if k != "params_per_device"},
            memory_tiers=tiers,
            fits=fits,
            energy_j=energy,
            cost_usd=cost_rental if cost_rental is not None else cost_at_cost,
            cost_at_cost_usd=cost_at_cost,
            bottleneck="",
            plan=plan.as_dict(),
            details={
                "params_per_device": mem["params_per_device"],
                "device_busy_fraction": busy,
                "micro_batch_time_s": t_mb,
                "model_flops_per_step": replicas_flops,
                "collectives": inserted,
            },
        )
        estimate.bottleneck = explain(estimate, dev)
        return estimate

    def _cost_of(self, step_s: float, devices: int, energy_j: float) -> tuple[float | None, float]:
        cost = self._cost
        hours = step_s / 3600.0
        rental = cost.price_per_device_hour_usd.value * devices * hours if cost.price_per_device_hour_usd else None
        at_cost = 0.0
        if cost.capex_usd_per_device and cost.lifetime_years:
            at_cost += cost.capex_usd_per_device.value / (cost.lifetime_years.value * 8766.0) * devices * hours
        if cost.electricity_usd_per_kwh:
            at_cost += energy_j / 3.6e6 * cost.electricity_usd_per_kwh.value
        return rental, at_cost


_PARTS = {
    "compute_fwd": "forward compute",
    "compute_bwd": "backward compute",
    "recompute": "activation recompute",
    "tp_comm": "tensor-parallel all-reduces",
    "cp_comm": "context-parallel K/V exchange",
    "ep_comm": "expert all-to-alls",
    "memory_stream": "streaming from far memory",
    "pp_comm": "pipeline sends",
    "bubble": "the pipeline bubble",
    "dp_comm": "exposed data-parallel gradient reduction",
    "optimizer": "the optimizer update",
}


def explain(e: Estimate, dev: DeviceModel) -> str:
    """The bottleneck in one sentence."""
    mem = e.memory_bytes_per_device["total"]
    if not e.fits:
        return (
            f"does not fit: needs {mem / 1e9:.1f} GB per device, the device has {dev.capacity_bytes / 1e9:.1f} GB"
            f" ({dev.near.name}{' + ' + dev.far.name if dev.far else ''})"
        )
    part, seconds = max(e.breakdown_s.items(), key=lambda kv: kv[1])
    share = seconds / e.step_time_s if e.step_time_s else 0.0
    if part == "memory_stream" and dev.far:
        return (
            f"the working set ({mem / 1e9:.2f} GB per device) does not fit in {dev.near.bytes / 1e6:.0f} MB of "
            f"{dev.near.name}: streaming from {dev.far.name} at {dev.far.bytes_per_s / 1e9:.0f} GB/s per device "
            f"takes {100 * share:.0f}% of the step"
        )
    if part in ("compute_fwd", "compute_bwd"):
        if e.mfu < 0.1:
            return (
                f"overhead-bound: {_PARTS[part]} is {100 * share:.0f}% of the step but only {100 * e.mfu:.0f}% "
                "MFU: per-op launch and dispatch costs and small matmuls leave the device idle"
            )
        return f"compute-bound: {_PARTS[part]} is {100 * share:.0f}% of the step at {100 * e.mfu:.0f}% MFU"
    return f"{_PARTS[part]} takes {100 * share:.0f}% of the step"


def estimate(graph: Graph, sized: SizedSystem, plan: ParallelPlan) -> Estimate:
    return Engine(graph, sized).estimate(plan)
