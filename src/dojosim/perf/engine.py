"""Step time, memory, energy and cost of a plan: roofline per op class, alpha-beta collectives, 1F1B bubble.

Engine(graph, system) does the plan-independent work once; Engine.estimate(plan) composes the cost terms
(compute, comm, streaming, optimizer, memory, energy) as arithmetic over cached per-sharding stage costs,
fast enough to cost thousands of plans a second.
"""

from dataclasses import replace
from typing import Any

from dojosim.errors import InputError
from dojosim.hardware import SizedSystem
from dojosim.parallel.placement import GroupSpan
from dojosim.parallel.plan import ModelShape, ParallelPlan, validate_plan
from dojosim.perf import collectives as coll
from dojosim.perf import comm, compute, mapping, moe
from dojosim.perf.context import PlanContext, SpanKey, plan_context
from dojosim.perf.device import DeviceModel, device_model
from dojosim.perf.energy import Facility, device_busy_fraction, energy_j, step_cost
from dojosim.perf.memory import (
    ModuleMemory,
    activation_scale,
    far_resident,
    memory_use,
    module_activations,
    segment_activation_bytes,
    state_bytes_per_param,
    tiers,
)
from dojosim.perf.moe import BALANCED, Routing
from dojosim.perf.optimizer import optimizer_s
from dojosim.perf.profile import WorkloadProfile, build_profile
from dojosim.perf.result import Bottleneck, Collective, Estimate, MemoryUse
from dojosim.perf.streaming import stream_stall_s
from dojosim.perf.timeline import StepShape, Timeline, simulate
from dojosim.stack import DEFAULT_STACK, Stack, TrainingState, load_stack
from dojosim.workload.graph import Graph

# Full recompute repeats each block's forward: a third more FLOPs than forward + backward (backward does twice
# forward's work). HFU counts only this; selective recompute's repeated attention core is left out of it.
FULL_RECOMPUTE_FLOP_SHARE = 1.0 / 3.0


class Engine:
    """One captured graph on one sized system; estimate() costs plans."""

    def __init__(self, graph: Graph | WorkloadProfile, sized: SizedSystem, stack: Stack | None = None):
        # The software that runs the step: what it overlaps and whether its optimizer is fused (dojosim.stack).
        self.stack = stack if stack is not None else load_stack(DEFAULT_STACK)
        self.profile = graph if isinstance(graph, WorkloadProfile) else build_profile(graph)
        self.sized = sized
        self.device: DeviceModel = device_model(sized)
        if self.stack.cuda_graphs:  # a replayed graph: the host issues no op of the step
            self.device = replace(self.device, host_overhead_s=0.0)
        self.links = coll.level_links(sized)
        self._stage_cache: dict[tuple[Any, ...], tuple[compute.StageCosts, compute.StageCosts, compute.StageCosts]] = {}
        self._spans: dict[SpanKey, GroupSpan] = {}
        self._module_cache: dict[tuple[Any, ...], Any] = {}  # segment costs, stages and activations by sharding
        self._facility = Facility.of(sized)
        meta = self.profile.graph.meta
        self._shape = ModelShape(
            layers=self.profile.layers,
            heads=int(meta.get("heads", 0) or 0),
            kv_heads=int(meta.get("kv_heads", 0) or 0),
            experts=self.profile.experts,
            hidden=self.profile.hidden,
            has_sequence=self.profile.seq > 1,
            split_units=self.profile.split_units,
            map_rows=self.profile.map_rows,
            modules=0 if self.profile.layers else len(self.profile.segments),
        )

    @property
    def shape(self) -> ModelShape:
        """What of the captured model limits how it can be split."""
        return self._shape

    def set_device(self, device: DeviceModel) -> None:
        """Cost further plans on `device` (a trial value of an empirical knob); cached stage costs go with it."""
        self.device = device
        self._stage_cache.clear()
        self._module_cache.clear()

    def stage_costs(
        self, tp: int, cp: int, sp: bool, precision: str, route: Routing = BALANCED, spatial: int = 1
    ) -> tuple[compute.StageCosts, compute.StageCosts, compute.StageCosts]:
        """(block, pre, post) costs of one micro-batch for a sharding (and, with experts, a routing; with feature
        maps, their row bands), computed once per sharding."""
        key = (tp, cp, sp, precision, route, spatial)
        cached = self._stage_cache.get(key)
        if cached is None:
            cached = self._stage_cache[key] = compute.stage_costs(
                self.profile, self.device, tp, cp, sp, precision, self.stack.fp8_recipe, spatial, route
            )
        return cached

    def module_stage(self, plan: ParallelPlan) -> mapping.ModuleStage | None:
        """A model without repeated blocks pipelined over its module segments: the balanced cuts and the busiest
        stage, once per sharding and pipeline depth; None for a model with blocks or without a pipeline."""
        if plan.pp <= 1 or self.profile.layers or not self.profile.segments:
            return None
        sharding = (plan.tp, plan.cp, plan.sequence_parallel, plan.precision, plan.spatial)
        key = ("stage", *sharding, plan.pp)
        cached = self._module_cache.get(key)
        if cached is None:
            costs = self._module_cache.get(sharding)
            if costs is None:
                costs = self._module_cache[sharding] = mapping.segment_costs(
                    self.profile, self.device, *sharding, self.stack.fp8_recipe
                )
            cached = self._module_cache[key] = mapping.module_stage(costs, self.profile.segments, plan.pp)
        return cached

    def _module_memory(self, plan: ParallelPlan, stage: mapping.ModuleStage | None) -> list[ModuleMemory]:
        """What each pipeline stage of a model without blocks holds (the whole model as one stage when it is
        checkpointed at its modules without a pipeline); empty where the blocks' rules apply."""
        segments = self.profile.segments
        if self.profile.layers or not segments or (stage is None and plan.recompute != "full"):
            return []
        key = ("memory", plan.tp, plan.cp, plan.sequence_parallel, plan.spatial, plan.pp, plan.precision)
        stages = self._module_cache.get(key)
        if stages is None:  # per stage: (params, each segment's activations, as captured, inputs), once per sharding
            acts_key = ("activations", plan.tp, plan.cp, plan.sequence_parallel, plan.spatial)
            acts = self._module_cache.get(acts_key)
            if acts is None:
                acts = self._module_cache[acts_key] = segment_activation_bytes(self.profile, plan)
            runs = [range(len(segments))] if stage is None else [stage.stage_segments(s) for s in range(plan.pp)]
            stages = self._module_cache[key] = [
                (
                    sum(segments[i].params for i in run),
                    tuple(acts[i] for i in run),
                    sum(b for i in run for _, b in segments[i].activations),
                    tuple(segments[i - 1].out_bytes if i else 0.0 for i in run),
                )
                for run in runs
            ]
        m = plan.grad_accumulation
        return [
            ModuleMemory(*parts, max(1, min(plan.pp - s, m)) if plan.pp > 1 else 1) for s, parts in enumerate(stages)
        ]

    def stage_share(self, plan: ParallelPlan) -> float:
        return compute.stage_share(self.profile, plan)

    def roofline(self, plan: ParallelPlan) -> dict[str, Any]:
        route = moe.routing(self.profile, plan, self.stack)
        return compute.roofline(self.profile, self.device, plan, self.stack.fp8_recipe, route)

    def memory(self, plan: ParallelPlan) -> MemoryUse:
        return self._memory(plan, self.stage_share(plan))

    def _memory(self, plan: ParallelPlan, stage: float) -> MemoryUse:
        keeps = self.stack.keeps_gathered(plan.pp)
        no_master = self.stack.training_state is TrainingState.FP16_WEIGHTS
        stages = self._module_memory(plan, self.module_stage(plan))
        if not stages:
            return memory_use(self.profile, plan, stage, keeps, no_master=no_master)
        # A module pipeline's stages hold different things: the fullest one sets what a device needs (the rest of
        # a device's memory, its working set, is the same on every stage).
        per_param = sum(state_bytes_per_param(self.profile, plan, keeps, no_master))
        scale = activation_scale(self.profile, plan)
        fullest = max(stages, key=lambda m: m.params * per_param + module_activations(plan, m, scale))
        return memory_use(self.profile, plan, stage, keeps, no_master=no_master, modules=fullest)

    def far_resident(self, mem: MemoryUse) -> dict[str, float]:
        return far_resident(mem, self.device)

    def validate(self, plan: ParallelPlan) -> None:
        validate_plan(plan, self._shape, tuple(self.device.peaks_flops_per_s))
        if plan.devices != self.sized.devices:
            raise InputError(f"plan has {plan.devices} devices but the system was sized for {self.sized.devices}")
        if plan.micro_batch != self.profile.micro_batch or plan.seq != max(1, self.profile.seq):
            raise InputError(
                f"the graph was captured at micro-batch {self.profile.micro_batch} and seq "
                f"{self.profile.seq}; capture it at the plan's micro-batch and seq"
            )

    def context(self, plan: ParallelPlan) -> PlanContext:
        """What the cost terms of `plan` read: its stage costs and its busiest stage's compute."""
        route = moe.routing(self.profile, plan, self.stack)
        costs = self.stage_costs(plan.tp, plan.cp, plan.sequence_parallel, plan.precision, route, plan.spatial)
        share = self.stage_share(plan)
        modules = self.module_stage(plan)
        if modules is not None:  # the busiest module stage in place of the ends (pipeline_ends takes it whole)
            none = compute.StageCosts(0.0, 0.0, 0.0, 0.0)
            costs = (none, compute.StageCosts(modules.fwd_s, modules.bwd_s, 0.0, modules.bytes), none)
        return plan_context(plan, self.profile, self.sized, self.links, costs, share, self._spans, self.stack)

    def estimate(self, plan: ParallelPlan, check: bool = True, memory: MemoryUse | None = None) -> Estimate:
        """The plan costed; `memory`: the plan's memory use when the caller already has it (a search prunes on
        it first)."""
        if check:
            self.validate(plan)
        dev, ctx = self.device, self.context(plan)
        m = ctx.m
        mem = memory if memory is not None else self._memory(plan, ctx.stage)
        far = far_resident(mem, dev)
        tp_s, tp_coll = comm.tp_comm(ctx)
        cp_s, cp_coll = comm.cp_comm(ctx)
        ep_s, ep_coll = comm.ep_comm(ctx)
        modules = self.module_stage(plan)
        halo_s, halo_coll = self._halo(ctx, modules)
        stall = stream_stall_s(ctx, mem, far, dev)
        t_mb = ctx.compute_s + tp_s + cp_s + ep_s + halo_s + stall
        bubble = comm.schedule_bubble(ctx, t_mb)
        pp_s, pp_coll = mapping.module_pp_comm(ctx, modules) if modules is not None else comm.pp_comm(ctx)
        dp_s, dp_coll = comm.dp_comm(ctx, mem.params_per_device)
        buckets = comm.gradient_buckets(ctx, mem.params_per_device)
        dp_exposed = comm.dp_exposed(ctx, dp_s, comm.gather_seconds(dp_coll), buckets)
        optimizer = optimizer_s(self.profile, dev, plan, mem, far, self.stack.fused_optimizer)
        step = m * t_mb + bubble + pp_s + dp_exposed + optimizer
        breakdown = {
            "compute_fwd": m * ctx.fwd_s,
            "compute_bwd": m * ctx.bwd_s,
            "recompute": m * ctx.recompute_s,
            "tp_comm": m * tp_s,
            "cp_comm": m * cp_s,
            "ep_comm": m * ep_s,
            "halo_comm": m * halo_s,
            "memory_stream": m * stall,
            "pp_comm": pp_s,
            "bubble": bubble,
            "dp_comm": dp_exposed,
            "optimizer": optimizer,
        }
        model_flops = self.profile.model_flops * (plan.global_batch / self.profile.micro_batch)
        mfu, hfu = self._utilisation(plan, step, model_flops)
        busy = device_busy_fraction(m * ctx.compute_s + optimizer, step)
        energy = energy_j(dev, plan.devices, busy, step, self._facility)
        total = mem.total
        fits = total <= dev.capacity_bytes
        return Estimate(
            step_time_s=step,
            breakdown_s=breakdown,
            mfu=mfu,
            hfu=hfu,
            throughput=self._throughput(plan, step),
            memory=mem,
            tiers=tiers(dev, total),
            fits=fits,
            energy_j=energy,
            cost=step_cost(self._facility.pricing, step, plan.devices, energy),
            bottleneck=Bottleneck.of(breakdown, step, fits, mfu, dev.far is not None),
            plan=plan,
            collectives=tp_coll + cp_coll + ep_coll + halo_coll + pp_coll + dp_coll,
            device_busy_fraction=busy,
            micro_batch_time_s=t_mb,
            model_flops_per_step=model_flops,
            module_stages_s=modules.stage_s if modules is not None else (),
        )

    def _halo(self, ctx: PlanContext, modules: mapping.ModuleStage | None) -> tuple[float, tuple[Collective, ...]]:
        """A spatial split's exchanges per micro-batch, once per placement and sharding (the search meets each many
        times); the collectives' counts per step follow the plan's micro-batches."""
        plan = ctx.plan
        if plan.spatial <= 1:
            return 0.0, ()
        key = ("halo", plan.tp, plan.cp, plan.spatial, plan.pp, plan.ep, plan.devices, plan.micro_batch, plan.recompute,
               plan.sequence_parallel, plan.precision)  # fmt: skip
        cached = self._module_cache.get(key)
        if cached is None:
            cached = self._module_cache[key] = (*mapping.halo_comm(ctx, modules), ctx.m)
        seconds, inserted, m = cached
        if m != ctx.m:
            inserted = tuple(replace(c, count_per_step=c.count_per_step / m * ctx.m) for c in inserted)
        return seconds, inserted

    def timeline(self, plan: ParallelPlan) -> Timeline:
        """The plan's step laid out as events (perf/timeline.py): every stage runs the busiest stage's chunks in
        its (interleaved) 1F1B order, each chunk a micro-batch's share of compute and of the tensor-, context- and
        expert-parallel time the stack leaves exposed; sends between stages, gradient buckets as each virtual
        stage's last backward ends (or after backward, as the stack says) and weight gathers before each virtual
        stage's first forward queue on the link their group crosses: a device's NVLink port within a node, its NIC
        beyond, shared by data-parallel and pipeline traffic that both leave the node. ZeRO-3's gathers and
        reduce-scatters, which run within every micro-batch, are left in each chunk as the estimate charges them."""
        est = self.estimate(plan)
        ctx = self.context(plan)
        vp, pp, stack = plan.vp, plan.pp, self.stack
        fwd_share = ctx.fwd_s / ctx.compute_s if ctx.compute_s else 1.0 / 3.0
        per_micro_batch_dp = est.breakdown_s["dp_comm"] / ctx.m if plan.zero >= 3 else 0.0
        chunk_s = (est.micro_batch_time_s + per_micro_batch_dp) / vp
        sends = [c for c in est.collectives if c.group == "pp"]
        gathers = sum(c.seconds_each * c.count_per_step for c in est.collectives if c.op == comm.WEIGHT_GATHER)
        reduces = sum(
            c.seconds_each * c.count_per_step
            for c in est.collectives
            if c.group in ("dp", "cp", "spatial") and c.op != comm.WEIGHT_GATHER and "gradients" in c.op
        )
        if plan.zero >= 3:
            gathers = reduces = 0.0
        buckets = max(1, -(-comm.gradient_buckets(ctx, est.memory.params_per_device) // vp))
        overlapped_gather = plan.zero in (1, 2) and stack.overlap_param_gather

        def crosses_node(kind: str, size: int | None = None) -> bool:
            return any(g > 1 for g in ctx.span(kind, size).members_per_level[1:])

        links = {
            "pp_send": "nic" if pp > 1 and crosses_node("pp", 2) else "nvlink",
            "dp_reduce": "nic" if plan.dp > 1 and crosses_node("dp") else "nvlink",
        }
        links["dp_gather"] = links["dp_reduce"]
        shape = StepShape(
            stages=pp,
            micro_batches=ctx.m,
            chunks=vp,
            fwd_s=chunk_s * fwd_share,
            bwd_s=chunk_s * (1.0 - fwd_share),
            send_s=sends[0].seconds_each if sends else 0.0,
            grad_buckets_per_chunk=buckets if reduces > 0 else 0,
            grad_bucket_s=reduces / (buckets * vp),
            weight_gather_s=gathers / vp if overlapped_gather else 0.0,
            grad_overlap=stack.overlap_grad_reduce,
            optimizer_s=est.breakdown_s["optimizer"],
            after_update_s=0.0 if overlapped_gather else gathers,
            resource_of=lambda kind, stage: f"{links[kind]}:{stage}",
        )
        return simulate(shape)

    def _utilisation(self, plan: ParallelPlan, step_s: float, model_flops: float) -> tuple[float, float]:
        """(MFU, HFU): model FLOPs, and with recomputed FLOPs, per second of the devices' aggregate peak. Model
        FLOPs are those of the tokens actually trained (the profile is charged for the job's sequences: real
        tokens, attention per document, the head on loss positions), so MFU compares with published figures."""
        if step_s <= 0:
            return 0.0, 0.0
        peak_total = self.device.peak(plan.precision) * plan.devices
        recompute_flops = (FULL_RECOMPUTE_FLOP_SHARE if plan.recompute == "full" else 0.0) * model_flops
        return model_flops / (step_s * peak_total), (model_flops + recompute_flops) / (step_s * peak_total)

    def _throughput(self, plan: ParallelPlan, step_s: float) -> dict[str, float]:
        """Samples, the real tokens trained and the padded positions they fill, per second (side by side: users
        quote either; they are equal where every position is a real token)."""
        samples = plan.global_batch
        throughput = {"samples_per_s": samples / step_s}
        if self.profile.seq > 1:
            padded = samples * plan.seq / step_s
            throughput["real_tokens_per_s"] = padded * self.profile.token_share
            throughput["padded_tokens_per_s"] = padded
            throughput["real_tokens_per_s_per_device"] = throughput["real_tokens_per_s"] / plan.devices
        return throughput
