"""The system file's schema: every field, how its value is checked, and whether it is required.

Read by the loader (`load.py`) and by `--set` overrides (`overrides.py`), so a field is declared once.
"""

PRESET_PACKAGE = "dojosim.hardware.presets"

# Field kinds: how a value is checked. Figures are numbers or {value, source, status[, note]} tables.
POSITIVE, NONNEGATIVE, FRACTION, COUNT, AT_LEAST_ONE = "positive", "nonnegative", "fraction", "count", ">=1"
FIGURE_KINDS = {
    POSITIVE: ("a number > 0", lambda v: v > 0),
    NONNEGATIVE: ("a number >= 0", lambda v: v >= 0),
    FRACTION: ("a number in (0, 1]", lambda v: 0 < v <= 1),
    COUNT: ("a whole number >= 1", lambda v: v >= 1 and float(v).is_integer()),
    AT_LEAST_ONE: ("a number >= 1", lambda v: v >= 1),
}

# (kind, required). Kinds beyond figures: "str", "dims", "dtypes", "pools", "topology", "strs".
DEVICE_FIELDS: dict[str, tuple[str, bool]] = {
    "name": ("str", True),
    "summary": ("str", False),
    "cores": (COUNT, True),
    "clock_hz": (POSITIVE, False),
    "peak_flops_per_s": ("dtypes", True),
    "egress_bytes_per_s": (POSITIVE, True),
    "sram_bytes_per_core": (NONNEGATIVE, False),
    "sram_bytes_per_s_per_core": (POSITIVE, False),
    "hbm_bytes": (POSITIVE, False),
    "hbm_bytes_per_s": (POSITIVE, False),
    "die_area_mm2": (POSITIVE, False),
    "tdp_w": (POSITIVE, True),
    "idle_w": (NONNEGATIVE, True),
    "matmul_empirical_fraction_of_peak": (FRACTION, True),
    "memory_empirical_fraction_of_peak": (FRACTION, False),
    "kernel_overhead_s": (NONNEGATIVE, False),
    "host_overhead_s": (NONNEGATIVE, False),
    "matmul_ramp_s": (NONNEGATIVE, False),
    "attention_empirical_fraction_of_peak": (FRACTION, False),
    "fp8_matmul_empirical_fraction_of_peak": (FRACTION, False),
    "fp4_matmul_empirical_fraction_of_peak": (FRACTION, False),
    "fp8_split_accumulation_fraction_of_fast": (FRACTION, False),
    "conv_empirical_fraction_of_peak": (FRACTION, False),
    "conv_ramp_s": (NONNEGATIVE, False),
    "optimizer_op_overhead_s": (NONNEGATIVE, False),
    "transcendental_per_s": (POSITIVE, False),
    "random_per_s": (POSITIVE, False),
    "failures_per_hour": (NONNEGATIVE, False),
    "checkpoint_bytes_per_s": (POSITIVE, False),
    "exchange_bytes_per_s": (POSITIVE, False),
}
LEVEL_FIELDS: dict[str, tuple[str, bool]] = {
    "name": ("str", True),
    "summary": ("str", False),
    "children": (COUNT, True),
    "topology": ("topology", True),
    "mesh_dims": ("dims", False),
    "link_latency_s": (NONNEGATIVE, True),
    "collective_empirical_fraction_of_link": (FRACTION, True),
    "in_network_all_reduce_fraction_of_link": (FRACTION, False),
    "egress_bytes_per_s": (POSITIVE, False),
    "nic_bytes_per_s_per_device": (POSITIVE, False),
    "oversubscription": (AT_LEAST_ONE, False),
    "switch_radix": (COUNT, False),
    "overhead_power_w": (NONNEGATIVE, False),
    "host_dram_bytes": (POSITIVE, False),
    "memory": ("pools", False),
}
POOL_FIELDS: dict[str, tuple[str, bool]] = {
    "name": ("str", True),
    "cards": (COUNT, True),
    "bytes_per_card": (POSITIVE, True),
    "bytes_per_s_per_card": (POSITIVE, True),
    "link_bytes_per_s_per_card": (POSITIVE, True),
}
COST_FIELDS: dict[str, tuple[str, bool]] = {
    "price_per_device_hour_usd": (POSITIVE, False),
    "capex_usd_per_device": (POSITIVE, False),
    "lifetime_years": (POSITIVE, False),
    "electricity_usd_per_kwh": (NONNEGATIVE, False),
    "opex_fraction_of_capex_per_year": (NONNEGATIVE, False),
    "nre_usd": (NONNEGATIVE, False),
    "nre_devices": (POSITIVE, False),
    "parts": ("parts", False),
}
COST_PART_FIELDS: dict[str, tuple[str, bool]] = {
    "name": ("str", True),
    "per": ("str", True),
    "usd_each": (POSITIVE, True),
}
CHECK_FIELDS: dict[str, tuple[str, bool]] = {
    "total": ("str", True),
    "devices": ("int", True),
    "value": ("number", True),
    "source": ("str", True),
    "status": ("str", True),
}
SYSTEM_FIELDS: dict[str, tuple[str, bool]] = {
    "name": ("str", True),
    "summary": ("str", True),
    "status": ("str", True),
    "maker": ("str", False),
    "extends": ("str", False),
    "default_devices": (COUNT, True),
    "pue": (AT_LEAST_ONE, True),
    "notes": ("strs", False),
    "device": ("table", True),
    "levels": ("levels", True),
    "cost": ("table", True),
    "checks": ("checks", False),
}
# Other names a user may know a field by (Dojo calls a tile's egress its off-tile bandwidth).
FIELD_ALIASES = {"offtile_bytes_per_s": "egress_bytes_per_s"}
