"""One call from names to an estimate: the path `dojosim simulate` and `dojosim validate` share."""

from dataclasses import dataclass

from dojosim.hardware import SizedSystem, load_system, size_system
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.estimate import Engine, Estimate
from dojosim.workload.cache import get_graph
from dojosim.workload.zoo import check_request


@dataclass
class Simulation:
    model: str
    sized: SizedSystem
    engine: Engine
    estimate: Estimate


def simulate(
    model: str, system: str, plan: ParallelPlan, overrides: list[str] | None = None, optimizer: str = "adamw"
) -> Simulation:
    """Capture (or read from cache) the model at the plan's micro-batch and sequence, then cost the plan."""
    spec, seq = check_request(model, plan.micro_batch, plan.seq if plan.seq > 1 else None)
    sized = size_system(load_system(system, overrides or []), plan.devices)
    graph = get_graph(model, plan.micro_batch, seq if spec.has_sequence else None, optimizer=optimizer)
    if not spec.has_sequence:
        plan = plan.with_(seq=1)
    elif plan.seq != graph.tokens_per_sample:
        plan = plan.with_(seq=graph.tokens_per_sample)
    engine = Engine(graph, sized)
    return Simulation(model, sized, engine, engine.estimate(plan))
