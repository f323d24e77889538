"""The document `dojosim compare` prints with --json and renders as tables and HTML: the study's typed results
as plain data, the verdict first, with the bottleneck of every plan written out as a sentence from its
counterfactuals (what freeing each resource would gain)."""

import shlex
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from dojosim import __version__
from dojosim.report.bottleneck import counterfactual_sentence
from dojosim.report.verdict_view import verdict_document
from dojosim.stack import Stack
from dojosim.study.campaign import CampaignRow, FleetRow, H100Equivalents, ShareRow
from dojosim.study.compare import ScalePoint, SystemResult
from dojosim.study.verdict import verdict

BUDGET_UNITS = {"power": (1e6, "MW"), "devices": (1.0, "devices"), "cost": (1.0, "$/h")}


def budget_text(normalize: str, budget: float) -> str:
    scale, unit = BUDGET_UNITS[normalize]
    return f"{budget / scale:,.3g} {unit}"


def _point(p: ScalePoint) -> dict[str, Any]:
    return {
        **p.best.to_row(),
        "bottleneck": counterfactual_sentence(p.estimate, list(p.counterfactuals)),
        "devices": p.devices,
        "global_batch": p.global_batch,
        "samples_per_s": p.samples_per_s,
        "budget": p.budget,
        "power_w": p.power_w,
    }


def _system(r: SystemResult) -> dict[str, Any]:
    best = _point(r.best) if r.best else None
    if best and r.estimate:
        best["bottleneck_counterfactuals"] = [c.as_dict() for c in r.counterfactuals]
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
    row = {k: v for k, v in asdict(f).items() if k not in ("estimate", "counterfactuals")}
    return {
        **row,
        "bottleneck": counterfactual_sentence(f.estimate, list(f.counterfactuals)),
        "bottleneck_counterfactuals": [c.as_dict() for c in f.counterfactuals],
    }


def _campaign(c: CampaignRow) -> dict[str, Any]:
    row = asdict(c)
    if row["devices_for_target"] is None:
        del row["devices_for_target"]
    return row


def made_by(command: str | None = None) -> dict[str, str]:
    """What made the document: dojosim's version, the command line (this process's, unless given) and the date."""
    line = command or shlex.join(["dojosim", *sys.argv[1:]])
    return {"version": __version__, "command": line, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def compare_document(
    *,
    workload: str,
    stack: Stack,
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
    workload_claims: dict[str, Any] | None,
    break_even: float | None,
    report: str,
    command: str | None = None,
) -> dict[str, Any]:
    return {
        "verdict": verdict_document(verdict(results), workload, budget_text(normalize, budget)),
        "workload": workload,
        "stack": stack.name,
        "kernels": stack.kernels.value,  # the kernel mode every system ran (perf/fusion.py)
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
        "workload_claims": workload_claims,  # report/workload_claims_view.workload_claims_document
        "break_even_dojo_v1_usd_per_d1_hour_vs_dgx_b200": break_even,
        "report": report,
        "made_by": made_by(command),
    }
