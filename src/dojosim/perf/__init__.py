"""How long it takes: a captured step on a machine with a parallel plan -> time, memory, energy, cost."""

from dojosim.perf.estimate import Engine, Estimate, estimate

__all__ = ["Engine", "Estimate", "estimate"]
