"""The training software that runs a job, as data: named stack presets (framework, version, fused kernels,
overlaps), each figure with its source. Torch-free; read by the job (kernels), the engine (overlaps, optimizer)
and validation (each measured row names the stack it ran)."""

from dojosim.stack.load import DEFAULT_STACK, list_stacks, load_stack, with_kernel_mode, with_moe_routing
from dojosim.stack.model import (
    Attention,
    Fp8Recipe,
    KernelMode,
    Kernels,
    OverlapUnit,
    PipelineSchedule,
    Reshard,
    Stack,
    TpOverlap,
    TrainingState,
)
from dojosim.stack.recipes import CastCosts, cast_costs

__all__ = [
    "DEFAULT_STACK",
    "Attention",
    "CastCosts",
    "Fp8Recipe",
    "KernelMode",
    "Kernels",
    "OverlapUnit",
    "PipelineSchedule",
    "Reshard",
    "Stack",
    "TpOverlap",
    "TrainingState",
    "cast_costs",
    "list_stacks",
    "load_stack",
    "with_kernel_mode",
    "with_moe_routing",
]
