"""The document `dojosim compare` prints with --json and renders as tables and HTML: the study's typed results
as plain data, with the bottleneck of every plan written out as a sentence."""

from dataclasses import asdict
from typing import Any

from dojosim.report.bottleneck import counterfactual_sentence, sentence
from dojosim.report.search_view import plan_row
from dojosim.study.campaign import CampaignRow, FleetRow, H100Equivalents, ShareRow
from dojosim.study.compare import ScalePoint, SystemResult


def _point(p: ScalePoint) -> dict[str, Any]:
    row = plan_row(p.spec, p.best)
    return {**row, "devices": p.devices, "global_batch": p.global_batch, "samples_per_s": p.samples_per_s,
            "budget": p.budget, "power_w": p.power_w}  # fmt: skip


def _system(r: SystemResult) -> dict[str, Any]:
    best = _point(r.best) if r.best else None
    if best and r.estimate:
        best["bottleneck"] = counterfactual_sentence(r.estimate, r.counterfactuals)
        best["bottleneck_counterfactuals"] = [c.as_dict() for c in r.counterfactuals]
        # Costs never mixed: renting (None where the system has no rental price) and owning, each under its name.
        best["cost_rental_usd"] = r.estimate.cost.rental_usd
    return {
        "system": r.system,
        "devices": r.devices,
        "status": r.status,
        "best": best,
        "error": r.error,
        "costed": r.costed,
        "scaling": [best if r.best is p else _point(p) for p in r.scaling],
        "roofline": r.roofline,
        "capacity_bytes": r.capacity_bytes,
    }


def _fleet(f: FleetRow) -> dict[str, Any]:
    row = {k: v for k, v in asdict(f).items() if k != "estimate"}
    return {**row, "bottleneck": sentence(f.estimate)}


def _campaign(c: CampaignRow) -> dict[str, Any]:
    row = asdict(c)
    if row["devices_for_target"] is None:
        del row["devices_for_target"]
    return row


def compare_document(
    *,
    workload: str,
    stack: str,
    normalize: str,
    budget: float,
    results: list[SystemResult],
    campaign_spec: dict[str, Any],
    campaign: list[CampaignRow],
    fleet_eflops: float,
    fleet: list[FleetRow],
    share: list[ShareRow],
    h100_equivalents: H100Equivalents | None,
    claims: list[dict[str, str]],
    break_even: float | None,
    report: str,
) -> dict[str, Any]:
    return {
        "workload": workload,
        "stack": stack,
        "normalize": normalize,
        "budget": budget,
        "results": [_system(r) for r in results],
        "campaign_spec": campaign_spec,
        "campaign": [_campaign(c) for c in campaign],
        "fleet_eflops": fleet_eflops,
        "fleet": [_fleet(f) for f in fleet],
        "share": [asdict(s) for s in share],
        "h100_equivalents": asdict(h100_equivalents) if h100_equivalents else None,
        "claims": claims,
        "break_even_dojo_v1_usd_per_d1_hour_vs_dgx_b200": break_even,
        "report": report,
    }
