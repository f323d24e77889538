"""The verdict of `dojosim compare` in two sentences (who wins and by how much; what it hinges on and how far to
trust it), and as data for the JSON document. The figures come from `study/verdict.py`."""

from typing import Any

from dojosim.report.bottleneck import counterfactual_sentence
from dojosim.report.units import usd
from dojosim.study.verdict import Hinge, Lead, Verdict


def _usd_per_million(usd_per_sample: float) -> str:
    return usd(usd_per_sample * 1e6)


def _rate(samples_per_s: float) -> str:
    return f"{samples_per_s:,.0f}" if samples_per_s >= 1000 else f"{samples_per_s:.4g}"


def _times(lead: Lead) -> str:
    return f"{lead.margin:.3g}x" if lead.margin is not None else ""


def _time_clause(v: Verdict, workload: str, budget: str) -> str:
    t = v.time
    text = f"At the same budget ({budget}), {t.system} trains {workload} fastest"
    if t.runner_up is None:
        return text + f" ({_rate(t.value)} samples/s; it is the only system with a plan)"
    rates = f"{_rate(t.value)} against {_rate(t.runner_up_value)} samples/s"
    return text + f": {_times(t)} the throughput of {t.runner_up} ({rates})"


def _cost_clause(lead: Lead | None, basis: str, unpriced: int = 0) -> str:
    if lead is None:
        return f"{basis}: no system compared has a price"
    if unpriced:
        basis += (
            f" ({unpriced} system has no such price)" if unpriced == 1 else f" ({unpriced} systems have no such price)"
        )
    text = f"{basis}, {lead.system} is cheapest at {_usd_per_million(lead.value)} per 1M samples"
    if lead.runner_up is None:
        return text + " (the only one with a price on that basis)"
    return text + f", {_times(lead)} less than {lead.runner_up} ({_usd_per_million(lead.runner_up_value)})"


def hinge_text(h: Hinge) -> str:
    """'dojo-v1 is memory-bound: 10.92x faster with unlimited edge HBM bandwidth': the resource whose freeing
    speeds the best plan most."""
    return f"{h.system} is {counterfactual_sentence(h.estimate, list(h.counterfactuals[:1]))}"


def _named(v: Verdict) -> list[str]:
    """The systems the verdict names, in the order compared."""
    names = {v.time.system, v.time.runner_up, v.owned.system, v.owned.runner_up, v.best_dojo}
    if v.rented:
        names |= {v.rented.system, v.rented.runner_up}
    return [name for name in v.statuses if name in names]


def _trust(v: Verdict) -> str:
    by_status: dict[str, list[str]] = {}
    for name in _named(v):
        by_status.setdefault(v.statuses[name], []).append(name)
    return "; ".join(f"{status} for {', '.join(names)}" for status, names in by_status.items())


def verdict_text(v: Verdict, workload: str, budget: str) -> str:
    """Two sentences: the winner and its margins on time and on cost (owned and rented apart); what it hinges
    on, with the status of the figures behind it."""
    rented = _cost_clause(v.rented, "rented", len(v.unrented))
    first = "; ".join([_time_clause(v, workload, budget), _cost_clause(v.owned, "owned"), rented])
    hinges = [hinge_text(h) for h in v.hinges]
    if len(v.hinges) > 1:
        hinges[1] = hinges[1].replace(f"{v.hinges[1].system} is", f"the best Dojo system, {v.hinges[1].system}, is", 1)
    second = f"It hinges on what limits each step: {', and '.join(hinges)}; the figures behind it are {_trust(v)}"
    return f"{first}. {second}."


def _lead_doc(lead: Lead | None, key: str, scale: float = 1.0) -> dict[str, Any] | None:
    if lead is None:
        return None
    return {
        "system": lead.system,
        key: lead.value * scale,
        "runner_up": lead.runner_up,
        f"runner_up_{key}": lead.runner_up_value * scale if lead.runner_up_value is not None else None,
        "margin": lead.margin,
    }


def _freed(h: Hinge) -> list[dict[str, object]]:
    return [c.as_dict() for c in h.counterfactuals]


def verdict_document(v: Verdict | None, workload: str, budget: str) -> dict[str, Any] | None:
    if v is None:
        return None
    return {
        "text": verdict_text(v, workload, budget),
        "time": _lead_doc(v.time, "samples_per_s"),
        "cost_owned": _lead_doc(v.owned, "usd_per_1m_samples", 1e6),
        "cost_rental": _lead_doc(v.rented, "usd_per_1m_samples", 1e6),
        "hinges": [{"system": h.system, "bottleneck": hinge_text(h), "counterfactuals": _freed(h)} for h in v.hinges],
        "no_rental_price": list(v.unrented),
        "best_dojo": v.best_dojo,
        "statuses": v.statuses,
    }
