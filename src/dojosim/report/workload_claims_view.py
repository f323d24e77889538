"""Tesla's workload claims as compare shows them: each claim's recomputed ratios as plain data, a sentence of
what the simulator found and a verdict naming the assumption it hinges on (study/workload_claims.py computes)."""

from dataclasses import asdict
from typing import Any

from dojosim.study.workload_claims import WORKLOADS, Run, WorkloadClaim

COMPUTE_PARTS = ("compute_fwd", "compute_bwd", "recompute")


def _side(r: Run) -> str:
    rate = f"{r.samples_per_s:,.0f}" if r.samples_per_s >= 100 else f"{r.samples_per_s:.3g}"
    return f"{r.devices:,} {r.system} {rate} clips/s"


def _hinge(c: WorkloadClaim) -> str:
    """The assumption the answer turns on, read from the best Dojo plan's largest part of the step."""
    d = c.dojo
    share = f"{d.bottleneck_share:.0%} of the step"
    if d.bottleneck_part == "memory_stream":
        return (
            f"where the activations live: the best {d.system} plan ({d.plan}) streams from edge HBM for {share}; "
            "the search also tried pipelining modules over tiles and splitting feature maps into row bands, and at "
            "this size none of those mappings keeps a clip's activations in SRAM and is faster; more SRAM per D1 "
            "or faster DIPs would change the answer"
        )
    if d.bottleneck_part in COMPUTE_PARTS:
        return (
            f"{d.system}'s delivered compute: {share} is compute at {d.mfu:.1%} MFU, and the D1 matmul and "
            "convolution efficiencies are estimates (no public D1 benchmark)"
        )
    return f"the fabric and schedule: {d.bottleneck_part} takes {share} of the best {d.system} plan ({d.plan})"


def _holds(ratio: float, claimed: float) -> str:
    if ratio >= claimed:
        return "holds"
    return "holds in part" if ratio >= 1.0 else "does not hold"


def phrase(c: WorkloadClaim) -> dict[str, str]:
    """The recomputed figures in one sentence and the verdict with its hinge."""
    found = []
    if c.stated is not None:
        unit = " boxes per tile" if c.key == "tile_vs_boxes" else "x"
        found.append(f"as stated {c.ratio_stated:.2f}{unit} ({_side(c.dojo)} vs {_side(c.stated)})")
    found.append(f"at equal power {c.ratio_equal_power:.2f}x (vs {_side(c.equal_power)})")
    found.append(f"at equal cost {c.ratio_equal_cost:.2f}x (vs {_side(c.equal_cost)})")
    found.append(f"per chip {c.ratio_per_chip:.2f}x")
    main = c.ratio_stated if c.ratio_stated is not None else c.ratio_equal_power
    verdict = f"{_holds(main, c.claimed_ratio)} ({main:.2f} vs the claimed {c.claimed_ratio:g})"
    if c.key == "tile_vs_boxes":
        cheaper = "less" if c.tile_usd < c.box_usd else "more"
        verdict += (
            f"; a tile's equipment (${c.tile_usd:,.0f}) costs {cheaper} than a box's (${c.box_usd:,.0f}), but not "
            "as a check: dojo-v1 prices a D1 at a DGX A100's price / 25, taken from this claim, plus its share of "
            "DIPs, hosts and Z-plane"
        )
    if c.status == "unverified":
        verdict += "; the claim itself is unverified and does not say per chip or per system"
    return {"recomputed": "; ".join(found), "verdict": f"{verdict}. Hinges on {_hinge(c)}"}


def workload_claims_document(
    claims: list[WorkloadClaim], overrides: dict[str, tuple[str, ...]] | None = None
) -> dict[str, Any]:
    """Plain data for compare's JSON, terminal and HTML: the workloads with their rationale, the --set overrides
    applied to each side, and every claim with its runs, ratios and phrasing."""
    rows = []
    for c in claims:
        row = asdict(c)
        row.update(
            ratio_stated=c.ratio_stated, ratio_equal_power=c.ratio_equal_power,
            ratio_equal_cost=c.ratio_equal_cost, ratio_per_chip=c.ratio_per_chip, **phrase(c),
        )  # fmt: skip
        rows.append(row)
    workloads = [{"name": w.name, "model": w.model, "rationale": w.rationale} for w in WORKLOADS]
    applied = {name: list(sets) for name, sets in (overrides or {}).items()}
    return {"workloads": workloads, "overrides": applied, "claims": rows}
