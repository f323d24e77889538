"""The public claims about Dojo, recomputed from the presets: never restated, always derived from the parts."""

from dojosim.hardware import derive_totals, load_system, size_system
from dojosim.hardware.plausibility import BOUNDS


def claims_check() -> list[dict[str, str]]:
    """The public claims about Dojo, recomputed from the presets."""
    d1 = load_system("dojo-v1")
    d2c, d2, d3 = load_system("dojo-2-claimed"), load_system("dojo-2"), load_system("dojo-3-projected")
    b200 = load_system("dgx-b200")
    bf16, fp8, fp4 = (b200.device.peak_flops_per_s[k].value / 1e12 for k in ("bf16", "fp8", "fp4"))
    claimed = d2c.device.peak_flops_per_s["bf16"].value / 1e12
    nvlink5 = 2 * b200.device.egress_bytes_per_s.value / 1e12  # TB/s, both directions
    claimed_link = 2 * d2c.device.egress_bytes_per_s.value / 1e12  # the preset reads 36 TB/s as both ways
    offtile = d1.level("tile").egress_bytes_per_s.value / 1e12
    exapod = derive_totals(size_system(d1))
    pod_flops = exapod.peak_flops_per_s["bf16"].value
    pods = 100e18 / pod_flops
    pod_mw = pods * exapod.facility_power_w.value / 1e6
    d1_tf = d1.device.peak_flops_per_s["bf16"].value / 1e12
    d2_tf, d3_tf = (s.device.peak_flops_per_s["bf16"].value / 1e12 for s in (d2, d3))
    d2_wafer, d3_wafer = (s.levels[0].children.value * tf / 1e3 for s, tf in ((d2, d2_tf), (d3, d3_tf)))
    ten_x = 10 * d1_tf * 1e12 / d2.device.die_area_mm2.value  # FLOP/s per mm^2 that '10x' per die would need
    compute_bound = next(b for b in BOUNDS if b.key == "bf16_flops_per_s_per_mm2").limit
    return [
        {
            "claim": "Dojo 2 ~1,000 TOPS vs B200 ~900",
            "recomputed": f"claimed Dojo 2 chip {claimed:,.0f} TFLOPS; B200 dense BF16 {bf16:,.0f}, FP8 {fp8:,.0f}, "
            f"FP4 {fp4:,.0f} TFLOPS",
            "verdict": f"does not hold: no B200 precision is ~900; a 1,000 TOPS chip trails B200 {bf16 / claimed:.2f}x"
            " in dense BF16",
        },
        {
            "claim": "36 TB/s = 3.6x NVLink 5",
            "recomputed": f"NVLink 5 per GPU {nvlink5:.1f} TB/s both ways: {claimed_link:.0f} TB/s is "
            f"{claimed_link / nvlink5:.0f}x; 3.6x needs {claimed_link / 3.6:.0f} TB/s. A V1 training tile "
            f"already has {offtile:.0f} TB/s off-tile",
            "verdict": "does not hold as a per-chip ratio; 36 TB/s is the V1 training tile's off-tile bandwidth",
        },
        {
            "claim": "Dojo 2 = 10x Dojo 1 (Musk, Mar 2025)",
            "recomputed": f"D1's architecture moved to N5 on the same die: {d2_tf:,.0f} TFLOP/s = {d2_tf / d1_tf:.1f}x "
            f"D1; 10x per die needs {ten_x / 1e12:.1f} TFLOP/s per mm^2 (plausible up to {compute_bound / 1e12:.1f})",
            "verdict": "does not hold per die: it hinges on what '10x' counts (a wafer-scale D2 tile, or a lower "
            "precision); the dojo-2 preset takes the process argument",
        },
        {
            "claim": "Dojo 3 = 40x Dojo 2",
            "recomputed": f"per die position {d3_tf / d2_tf:.1f}x (reticle-size N2 die vs Dojo 2's N5 die); per wafer "
            f"{d3_wafer:.1f} vs {d2_wafer:.1f} PFLOP/s = {d3_wafer / d2_wafer:.1f}x",
            "verdict": "does not hold from process scaling: 40x is TSMC's 2027 system-on-wafer packaging claim, "
            "not a Tesla Dojo 3 spec",
        },
        {
            "claim": "100 EFLOPS by the end of 2024",
            "recomputed": f"{pods:.0f} V1 ExaPODs of {pod_flops / 1e18:.2f} EFLOPS; {pod_mw:,.0f} MW facility power",
            "verdict": f"holds only as ~{pods:.0f} ExaPODs (or mostly GPUs): no such Dojo deployment was reported",
        },
        {
            "claim": "ExaPOD 1.1 EFLOPS from 3,000 D1",
            "recomputed": f"3,000 x {d1_tf:.0f} TFLOPS = {pod_flops / 1e18:.3f} EFLOPS",
            "verdict": f"holds ({100 * (pod_flops / 1.1e18 - 1):+.1f}% from 1.1)",
        },
    ]
