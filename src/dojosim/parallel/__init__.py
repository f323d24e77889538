"""How the step is split and placed: parallel plans (Megatron/NeMo vocabulary), their rules, rank placement."""

from dojosim.parallel.placement import GroupSpan, group_span
from dojosim.parallel.plan import ModelShape, ParallelPlan, Precision, Recompute, validate_plan

__all__ = ["GroupSpan", "ModelShape", "ParallelPlan", "Precision", "Recompute", "group_span", "validate_plan"]
