"""The self-contained HTML report of `dojosim compare`: the verdict first, then the evidence (tables and
matplotlib plots), then a footer saying what made it. It reads the same document as the terminal view."""

import html
from typing import Any

from dojosim.report import html_report as h
from dojosim.report.compare_doc import BUDGET_UNITS
from dojosim.report.compare_view import (
    SHARE_HEADERS,
    _budget_text,
    _campaign_cells,
    _per_million,
    _plan_text,
    _rate,
    _share_cells,
    _usd_per_million,
    campaign_size_text,
    left_out,
)
from dojosim.units import days, mwh


def _summary_html(doc: dict[str, Any], results: list[dict[str, Any]]) -> str:
    return h.table(
        [
            "system",
            "status",
            "devices",
            "plan",
            "step time (s)",
            "samples/s",
            "MFU",
            "memory/device (GB)",
            "energy per step (MJ)",
            "MWh per 1M samples",
            "$ per 1M samples, rented",
            "$ per 1M samples, owned",
            "bottleneck",
        ],
        [
            [
                r["system"],
                r["status"],
                f"{r['devices']:,}",
                _plan_text(r["best"]),
                f"{r['best']['step_time_s']:.4g}",
                _rate(r["best"]["samples_per_s"]),
                f"{100 * r['best']['mfu']:.1f}%",
                f"{r['best']['memory_bytes'] / 1e9:.2f}",
                f"{r['best']['energy_j'] / 1e6:.3g}",
                f"{mwh(_per_million(r['best'], 'energy_j')):.3g}",
                _usd_per_million(r["best"], "cost_rental_usd"),
                _usd_per_million(r["best"], "cost_owned_usd"),
                r["best"]["bottleneck"],
            ]
            for r in results
        ]
        + [
            [r["system"], r["status"], r["devices"], "—", "—", "—", "—", "—", "—", "—", "—", "—", r["error"]]
            for r in doc["results"]
            if not r["best"]
        ],
    )


def _plots_html(doc: dict[str, Any], results: list[dict[str, Any]]) -> tuple[str, str, str, str]:
    """The step-time breakdown, the scaling curves, the rooflines and the memory bars."""
    camp = doc["campaign_spec"]
    samples = camp["dataset_samples"] * camp["epochs"]
    breakdown = h.stacked_bars(
        [(r["system"], {k[2:]: v for k, v in r["best"].items() if k.startswith("t_")}) for r in results],
        "step time of the best plan, split by where it goes",
    )
    scaling = h.line_chart(
        [(r["system"], [(s["devices"], s["samples_per_s"]) for s in r["scaling"]]) for r in results],
        "throughput vs device count (best plan at each size)",
        "devices",
        "samples per second",
    )
    scale, unit = BUDGET_UNITS[doc["normalize"]]
    days_plot = h.line_chart(
        [
            (r["system"], [(s["budget"] / scale, days(samples / s["samples_per_s"])) for s in r["scaling"]])
            for r in results
        ],
        f"days to train {camp['dataset_samples']:,.0f} samples x {camp['epochs']:g} epochs vs budget",
        f"budget ({unit})",
        "days to train",
    )
    rooflines = "".join(
        h.roofline_chart(f"{r['system']} ({r['roofline']['device']})", r["roofline"]["roofs"], r["roofline"]["points"])
        for r in results
        if r.get("roofline")
    )
    roofline_note = (
        '<p class="note">Each circle is one kind of op in one pass (forward or backward) of the best plan, on the '
        "busiest pipeline stage: its arithmetic intensity against the FLOP/s the model gives it; area is its share "
        "of compute time. Solid: the near-memory roof; dashed: far memory (Dojo's interface-card HBM), which bounds "
        "whatever does not fit in SRAM; dotted: the achievable matmul rate.</p>"
    )
    memory = h.memory_bars(
        [(r["system"], r["best"]["memory_bytes"], r["capacity_bytes"]) for r in results],
        "memory per device of the best plan against capacity",
    )
    return breakdown, scaling + days_plot, roofline_note + f'<div class="grid">{rooflines}</div>', memory


def _campaign_html(doc: dict[str, Any]) -> str:
    camp = doc["campaign_spec"]
    size = f'<p class="note">The campaign: {html.escape(campaign_size_text(camp))}.</p>'
    short = left_out(doc["campaign"], "The campaign table is")
    campaign = (
        f'<p class="note">{html.escape(short)}.</p>'
        if short
        else h.table(
            ["system", "devices", "days", "energy (MWh)", "rental ($, preset price)"]
            + ["owned ($: equipment, NRE share, operations, power)"]
            + (["devices for target"] if camp.get("target_days") else []),
            [_campaign_cells(c) for c in doc["campaign"]],
        )
    )
    be = doc["break_even_dojo_v1_usd_per_d1_hour_vs_dgx_b200"]
    rental = (
        f"<p>Break-even rental price of a Dojo V1 D1 against renting DGX B200 at its preset price: "
        f"<b>${be:.2f} per D1-hour</b>.</p>"
        if be is not None
        else "<p>No break-even price (dojo-v1 or dgx-b200 is not in the comparison).</p>"
    )
    return size + campaign + rental


def _fleet_html(doc: dict[str, Any]) -> str:
    short = left_out(doc["fleet"], "The fleet table is")
    if short:
        return f'<p class="note">{html.escape(short)}.</p>'
    return h.table(
        ["system", "devices", "peak (EFLOPS)", "power (MW)", "samples/s", "MFU", "days", "global batch", "bottleneck"],
        [
            [
                f["system"],
                f"{f['devices']:,}",
                f"{f['peak_eflops']:.1f}",
                f"{f['power_mw']:,.0f}",
                f"{f['samples_per_s']:,.0f}",
                f"{100 * f['mfu']:.1f}%",
                f"{f['days']:.3g}",
                f"{f['global_batch']:,}",
                f["bottleneck"],
            ]
            for f in doc["fleet"]
        ],
    ) + (
        '<p class="note">Each system\'s best plan at the budget, repeated as data-parallel replicas until the fleet '
        f"reaches {doc['fleet_eflops']:g} EFLOPS of dense BF16 peak, and re-estimated at that size (the wider "
        "gradient reduction is costed). The global batch grows with the fleet; whether training converges at that "
        "batch is outside the model.</p>"
    )


def _share_html(doc: dict[str, Any]) -> str:
    share_rows = doc["share"]
    share = (
        h.table(
            [f"{share_rows[0]['gpu']} beside it" if h == "GPUs beside it" else h for h in SHARE_HEADERS],
            [_share_cells(row) for row in share_rows],
        )
        + '<p class="note">The articles say Dojo would carry "5-10%" of Tesla\'s training. Read here as a share of '
        f"work: each Dojo cluster at the budget, beside a {share_rows[0]['gpu']} fleet that makes up the rest of "
        f"{doc['fleet_eflops']:g} EFLOPS of peak; the device counts for 5% and 10% scale Dojo linearly.</p>"
        if share_rows
        else "<p>No share computed: the GPU fleet system is not in the comparison.</p>"
    )
    eq = doc.get("h100_equivalents")
    if eq:
        share += (
            f'<p>Musk\'s "{eq["gpu_count"]:,.0f} H100-equivalents" of Dojo 1 by the end of 2024: '
            f"{eq['dojo_devices_on_peak']:,.0f} D1 if the equivalence is on dense BF16 peak; on this workload "
            f"those D1 do the work of <b>{eq['gpu_work_of_those_dojo_devices']:,.0f} H100</b>, and "
            f"<b>{eq['dojo_devices_on_workload']:,.0f} D1</b> match {eq['gpu_count']:,.0f} H100.</p>"
        )
    return share


def _verdict_html(doc: dict[str, Any]) -> str:
    v = doc.get("verdict")
    text = v["text"] if v else "No verdict: no system has a plan that fits at this budget."
    return f'<p class="verdict" id="verdict"><b>Verdict.</b> {html.escape(text)}</p>'


def _footer_html(doc: dict[str, Any]) -> str:
    made = doc["made_by"]
    statuses = [(r["system"], r["status"]) for r in doc["results"]]
    return h.footer(made["version"], made["command"], made["date"], statuses)


def _workload_claims_html(doc: dict[str, Any]) -> str:
    """Tesla's workload claims, each with its source, status, the simulator's ratios and the verdict."""
    section = doc.get("workload_claims")
    if not section:
        return '<p class="note">Not computed: no Dojo system in this comparison (add one to --systems).</p>'
    table = h.table(
        ["claim", "source", "status", "recomputed by the simulator", "verdict"],
        [[f"{c['claim']} ({c['workload']})", c["source"], c["status"], c["recomputed"], c["verdict"]]
         for c in section["claims"]],
    )  # fmt: skip
    notes = "".join(
        f'<p class="note"><b>{html.escape(w["name"])}</b> <code>{html.escape(w["model"])}</code>: '
        f"{html.escape(w['rationale'])}</p>"
        for w in section["workloads"]
    )
    return table + notes


def write_html(doc: dict[str, Any]) -> None:
    results = [r for r in doc["results"] if r["best"]]
    breakdown, scaling, rooflines, memory = _plots_html(doc, results)
    claims = h.table(
        ["claim", "recomputed from the presets", "verdict"],
        [[c["claim"], c["recomputed"], c["verdict"]] for c in doc["claims"]],
    )
    workload_claims = _workload_claims_html(doc)
    intro = (
        f'<p class="note">Workload <b>{html.escape(doc["workload"])}</b>, run by the '
        f"<b>{html.escape(doc.get('stack', ''))}</b> stack with <b>{html.escape(doc.get('kernels', 'eager'))}</b> "
        f"kernels on every system (which op chains run as one kernel); every system at the same {doc['normalize']} "
        f"budget of <b>{_budget_text(doc)}</b>; for each, the fastest plan a search over tp, pp, cp, dp, ZeRO, "
        "recompute and micro-batch found. Statuses say how far to trust a system's figures (sourced, estimate, "
        "claimed, projection). Bottlenecks say how much faster the step would be with each resource made free.</p>"
    )
    h.write_report(
        doc["report"],
        f"dojosim: {doc['workload']} on Dojo and GPU clusters",
        [
            ("Best plan per system", intro + _summary_html(doc, results)),
            ("Where the time goes", breakdown),
            ("The workload on each roofline", rooflines),
            ("Scaling", scaling),
            ("Memory", memory),
            ("Training campaign and rental", _campaign_html(doc)),
            (f"A {doc['fleet_eflops']:g} EFLOPS fleet", _fleet_html(doc)),
            ("Share of training", _share_html(doc)),
            ("The public claims, recomputed", claims),
            ("Tesla's workload claims vs A100, recomputed", workload_claims),
        ],
        lead=_verdict_html(doc),
        foot=_footer_html(doc),
    )
