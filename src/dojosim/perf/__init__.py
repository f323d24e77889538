"""How long it takes: a captured step on a machine with a parallel plan -> time, memory, energy, cost."""

from dojosim.perf.engine import Engine
from dojosim.perf.result import Estimate

__all__ = ["Engine", "Estimate"]
