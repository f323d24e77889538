"""How the step is split and placed: parallel plans (Megatron/NeMo vocabulary) and rank placement."""

from dojosim.parallel.placement import GroupSpan, group_span
from dojosim.parallel.plan import ParallelPlan, validate_plan

__all__ = ["GroupSpan", "ParallelPlan", "group_span", "validate_plan"]
