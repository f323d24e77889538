"""What a training stack does that changes a step's cost: which kernels it fuses and what it overlaps."""

from dataclasses import dataclass, field
from enum import StrEnum


class Attention(StrEnum):
    FUSED = "fused"  # one kernel per pass (FlashAttention, cuDNN fused attention): scores never reach memory
    UNFUSED = "unfused"  # scores and probabilities materialised between separate kernels (Megatron before 2023)
    # Fused, but built for a fixed key length (apex FMHA v1: 128, 256, 384 or 512, chosen by the longest row of the
    # batch): on unpadded rows each real query still runs over every key position of that length.
    FIXED_LENGTH = "fixed-length"


class Kernels(StrEnum):
    FUSED = "fused"  # one kernel per norm, RoPE, optimizer update (Transformer Engine, torch.compile, apex)
    EAGER = "eager"  # one kernel per PyTorch op, as eager PyTorch dispatches them


class KernelMode(StrEnum):
    """How the step's kernels are formed from its PyTorch ops (perf/fusion.py merges the captured ops)."""

    EAGER = "eager"  # one kernel per PyTorch op, as captured
    # What Transformer Engine, cuDNN and apex fuse: bias + activation and norms into the GEMM or convolution that
    # feeds them (conv + batch-norm + ReLU in channels-last, LayerNormLinear), RoPE and residual chains.
    FRAMEWORK = "framework"
    # torch.compile (Inductor): every pointwise and reduction chain folded into the kernel producing its input.
    COMPILED = "compiled"


class TpOverlap(StrEnum):
    NONE = "none"  # tensor-parallel collectives wait for the GEMMs around them
    # Backward's input-gradient all-reduce / reduce-scatter runs under the layer's weight-gradient GEMM
    # (Megatron's LinearWithGradAccumulationAndAsyncCommunication).
    WGRAD = "wgrad"
    # Each collective is split into chunks that run under the chunked GEMM that consumes or produces it, in
    # forward and backward (torchtitan async TP, Transformer Engine userbuffers / --tp-comm-overlap).
    PIPELINED = "pipelined"
    # Transformer Engine's userbuffers (Megatron-Core / NeMo --tp-comm-overlap): pipelined as above in forward and
    # for backward's gather of the output gradient, plus bulk overlaps of backward's re-gather (under the
    # data-gradient GEMM) and input-gradient reduce-scatter (under the weight-gradient GEMM).
    USERBUFFERS = "userbuffers"


class OverlapUnit(StrEnum):
    """What an overlapped data-parallel transfer moves at a time (gradient reduction, weight gather)."""

    BLOCK = "block"  # a block's gradients or weights (FSDP units, Megatron-Core's ~40M-parameter buckets)
    CHUNK = "chunk"  # a whole model chunk (virtual pipeline stage) at once


class Fp8Recipe(StrEnum):
    """How FP8 GEMM operands are scaled and cast (their cast costs: stack/data/low_precision.toml)."""

    DELAYED = "delayed"  # per-tensor scale from the amax history (Transformer Engine DelayedScaling)
    DELAYED_UNCACHED = "delayed-uncached"  # the same, weights cast again every micro-batch
    TENSORWISE = "tensorwise"  # per-tensor scale from the tensor's own amax (torchao tensorwise, TE current)
    ROWWISE = "rowwise"  # a scale per row (torchao rowwise)
    MXFP8 = "mxfp8"  # a scale per 32-element block (OCP MX, Blackwell)


class PipelineSchedule(StrEnum):
    # One forward, one backward (interleaved with virtual stages): (pp - 1) / vp micro-batches idle.
    ONE_F_ONE_B = "1f1b"
    # DeepSeek's DualPipe (DeepSeek-V3 report, §3.2.1, Table 2): micro-batches fed from both ends of the pipeline,
    # a forward and a backward chunk overlapped; the bubble is (pp/2 - 1)(F&B + B - 3W).
    DUALPIPE = "dualpipe"


class Reshard(StrEnum):
    """When ZeRO-3 / FSDP frees a layer's gathered weights after its forward (to gather them again for backward)."""

    ALWAYS = "always"
    # Not with pipeline parallelism, where every micro-batch would gather again (torchtitan's default policy).
    UNLESS_PIPELINED = "unless-pipelined"
    NEVER = "never"


class TrainingState(StrEnum):
    """The precision of what training keeps per parameter between steps (perf/memory.py counts its bytes)."""

    # bf16/fp16 weights, fp32 main gradients, an fp32 master copy and fp32 moments (Megatron, apex AMP, FSDP).
    MIXED = "mixed"
    # fp16 weights updated in place with stochastic rounding, no fp32 master copy; gradient accumulators of the
    # weights' type (fp16) and fp32 moments (Graphcore's PopART applications on IPUs).
    FP16_WEIGHTS = "fp16-weights"


@dataclass(frozen=True)
class Stack:
    name: str
    summary: str
    attention: Attention
    pointwise: Kernels  # norms, RoPE and other pointwise chains
    optimizer: Kernels  # the parameter update: multi-tensor fused, or per parameter
    overlap_grad_reduce: bool  # gradient reduction bucketed under backward (DDP, FSDP, --overlap-grad-reduce)
    # ZeRO-1/2's all-gather of the updated weights under the next step's forward (Megatron-Core
    # --overlap-param-gather, FSDP prefetch); False: it runs between the update and the next forward.
    overlap_param_gather: bool
    tp_overlap: TpOverlap
    reshard_after_forward: Reshard  # ZeRO-3 / FSDP only
    # Which chains of captured ops run as one kernel (on top of `attention` and `pointwise`, which the capture
    # itself follows for the families that have them).
    kernels: KernelMode = KernelMode.EAGER
    # With sequence parallelism, whether a column-parallel layer keeps its input sharded and all-gathers it again
    # in backward for its weight gradient (Megatron, Transformer Engine) rather than keeping the gathered copy.
    sp_regather_backward: bool = False
    dp_overlap_unit: OverlapUnit = OverlapUnit.BLOCK
    # How an fp8 run scales and casts its GEMM operands (read only when the plan's precision is fp8).
    fp8_recipe: Fp8Recipe = Fp8Recipe.DELAYED
    # The whole step captured once as a CUDA graph and replayed (MLPerf's --use_cuda_graph, Megatron-Core
    # --enable-cuda-graph): the host no longer issues each op, so its per-op dispatch cost leaves the step.
    cuda_graphs: bool = False
    training_state: TrainingState = TrainingState.MIXED
    # Mixture-of-experts routing as the run's router and data left it (perf/moe.py): the busiest expert-parallel
    # rank's routed tokens over the mean (1: balanced, as a forced-balance benchmark routes), and the capacity
    # factor that drops tokens beyond capacity x the mean (0: dropless, every routed token computed).
    moe_load_imbalance: float = 1.0
    moe_capacity_factor: float = 0.0
    # Share of the expert-parallel all-to-alls hidden under other micro-batches' compute (DeepSeek's DualPipe,
    # Megatron-Core's --overlap-moe-expert-parallel-comm); 0: dispatch and combine wait for the experts.
    ep_overlap: float = 0.0
    # The dispatcher sends a token across the network once per node holding any of its experts and forwards it
    # inside the node (DeepEP, DeepSeek's kernels); False: one copy per routed expert (NCCL all-to-all).
    ep_dispatch_dedup: bool = False
    # Cores (GPU SMs) the dispatch and combine kernels hold while they run under compute: the compute beside them
    # runs on the rest (DeepEP and DeepSeek's kernels: 20 SMs).
    ep_comm_sms: float = 0.0
    # Tokens dispatched to the experts in FP8 (and backward's gradients to them), combines in bf16 (DeepSeek-V3).
    ep_dispatch_fp8: bool = False
    pipeline_schedule: PipelineSchedule = PipelineSchedule.ONE_F_ONE_B

    def keeps_gathered(self, pp: int) -> bool:
        """Whether ZeRO-3 keeps a stage's gathered weights from forward to backward."""
        return self.reshard_after_forward is Reshard.NEVER or (
            self.reshard_after_forward is Reshard.UNLESS_PIPELINED and pp > 1
        )

    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def fused_optimizer(self) -> bool:
        return self.optimizer is Kernels.FUSED

    @property
    def moe_load_factor(self) -> float:
        """The busiest expert-parallel rank's routed tokens over the mean: the imbalance, capped by the capacity
        where tokens beyond it are dropped."""
        if self.moe_capacity_factor > 0:
            return min(self.moe_load_imbalance, self.moe_capacity_factor)
        return self.moe_load_imbalance
