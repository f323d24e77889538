"""Bad machine input: one clear InputError naming the file, the field path and what is allowed."""

import re

import pytest

from dojosim.errors import InputError
from dojosim.hardware import load_system, size_system


def error_of(path_or_name, overrides=None) -> str:
    with pytest.raises(InputError) as info:
        load_system(str(path_or_name), overrides)
    return str(info.value)


def test_unknown_preset_suggests_the_closest(tmp_path):
    msg = error_of("dojo-v2")
    assert "unknown system 'dojo-v2'" in msg and "did you mean 'dojo-2'" in msg and "dgx-h100" in msg
    assert "did you mean 'dgx-h100'" in error_of("dgx-h10")


def test_missing_file():
    assert "does not exist" in error_of("/nonexistent/machine.toml")


def test_not_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("name = [unclosed")
    assert "not valid TOML" in error_of(path)


def test_unknown_key_names_path_and_suggests(system_file):
    msg = error_of(system_file(("tdp_w = 500", "tdp = 500")))
    assert re.search(r"mini\.toml: device\.tdp: unknown key; did you mean 'tdp_w'\?", msg)
    assert "allowed:" in msg


def test_missing_field(system_file):
    msg = error_of(system_file(("tdp_w = 500\n", "")))
    assert "device.tdp_w: missing (expected a number > 0)" in msg


def test_wrong_type(system_file):
    msg = error_of(system_file(("egress_bytes_per_s = 1e11", 'egress_bytes_per_s = "fast"')))
    assert "device.egress_bytes_per_s: must be a number > 0, got 'fast'" in msg
    msg = error_of(system_file(('children = 4\ntopology = "mesh2d"', 'children = 4.5\ntopology = "mesh2d"')))
    assert "levels[board].children: must be a whole number >= 1" in msg


@pytest.mark.parametrize("value", ["0", "-1e9"])
def test_zero_or_negative_bandwidth(system_file, value):
    msg = error_of(system_file(("hbm_bytes_per_s = 1e12", f"hbm_bytes_per_s = {value}")))
    assert f"device.hbm_bytes_per_s: must be a number > 0, got {float(value)!r}" in msg or "must be a number > 0" in msg


def test_mesh_dims_must_multiply_to_children(system_file):
    msg = error_of(system_file(("mesh_dims = [2, 2]", "mesh_dims = [2, 3]")))
    assert "levels[board].mesh_dims: 2 x 3 = 6 does not match children = 4" in msg


def test_mesh_level_needs_dims(system_file):
    assert "needs mesh_dims" in error_of(system_file(("mesh_dims = [2, 2]\n", "")))


def test_unknown_topology(system_file):
    msg = error_of(system_file(('topology = "fat_tree"', 'topology = "fattree"')))
    assert "levels[cluster].topology: unknown topology 'fattree'; did you mean 'fat_tree'?" in msg


def test_fraction_out_of_range(system_file):
    msg = error_of(system_file(("matmul_empirical_fraction_of_peak = 0.8", "matmul_empirical_fraction_of_peak = 1.5")))
    assert "device.matmul_empirical_fraction_of_peak: must be a number in (0, 1]" in msg


def test_unknown_dtype(system_file):
    msg = error_of(system_file(("{ bf16 = 1e15 }", "{ bf61 = 1e15 }")))
    assert "device.peak_flops_per_s.bf61: unknown dtype" in msg and "bf16" in msg


def test_unknown_status(system_file):
    msg = error_of(system_file(("tdp_w = 500", 'tdp_w = { value = 500, source = "me", status = "rumour" }')))
    assert "device.tdp_w.status: unknown status 'rumour'" in msg and "sourced" in msg


def test_hbm_figures_go_together(system_file):
    assert "hbm_bytes and hbm_bytes_per_s go together" in error_of(system_file(("hbm_bytes_per_s = 1e12\n", "")))


def test_cost_needs_a_price(system_file):
    assert "cost: give price_per_device_hour_usd" in error_of(system_file(("price_per_device_hour_usd = 2.0", "")))


def test_extends_loop(tmp_path):
    (tmp_path / "a.toml").write_text(f'extends = "{tmp_path / "b.toml"}"\n')
    (tmp_path / "b.toml").write_text(f'extends = "{tmp_path / "a.toml"}"\n')
    assert "extends itself in a loop" in error_of(tmp_path / "a.toml")


def test_user_file_can_extend_a_preset(tmp_path):
    path = tmp_path / "fast.toml"
    path.write_text('extends = "dojo-v1"\nname = "fast"\n[[levels]]\nname = "tile"\nofftile_bytes_per_s = 72e12\n')
    system = load_system(str(path))
    assert system.level("tile").egress_bytes_per_s.value == 72e12
    assert system.level("tile").egress_bytes_per_s.status == "user"


def test_extends_unknown_level(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('extends = "dojo-v1"\n[[levels]]\nname = "tiel"\n')
    assert "levels: 'tiel' is not a level of the system it extends" in error_of(path)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("tile.offtile_bytes_per_s", "expected PART.FIELD=VALUE"),
        ("tiel.offtile_bytes_per_s=1", "unknown part 'tiel'; did you mean 'tile'?"),
        ("tile.offtile=1", "'offtile' is not a field of 'tile'"),
        ("tile.offtile_bytes_per_s=fast", "'fast' is not a number"),
        ("tile.offtile_bytes_per_s=0", "levels[tile].egress_bytes_per_s: must be a number > 0"),
        ("tile.children=24", "4 x 5 = 25 does not match children = 24".replace("4 x 5", "5 x 5")),
        ("d1.peak_flops_per_s=1e15", "name the dtype"),
        ("tray.memory.dip.size=1", "expected tray.memory.POOL.FIELD"),
    ],
)
def test_bad_overrides(override, expected):
    assert expected in error_of("dojo-v1", [override])


def test_override_of_mesh_dims_and_children_together():
    system = load_system("dojo-v1", ["tile.children=36", "tile.mesh_dims=6x6"])
    assert size_system(system, 36 * 6 * 2 * 10).levels[0].mesh_dims == (6, 6)
    # The preset's default of 3,000 D1 no longer fills whole cabinets of 432: said, not rounded silently.
    with pytest.raises(InputError, match="whole cabinets of 432 devices each; try 2592 or 3024"):
        size_system(system)


@pytest.mark.parametrize(
    "devices, expected",
    [(0, "--devices: must be a whole number >= 1"), (1.5, "--devices: must be a whole number >= 1")],
)
def test_bad_device_counts(devices, expected):
    with pytest.raises(InputError, match=re.escape(expected)):
        size_system(load_system("dgx-h100"), devices)


def test_preset_figures_must_carry_source_and_status(tmp_path, monkeypatch):
    from dojosim.hardware import load as load_module

    raw, origin, _ = load_module._resolve("dgx-h100")
    raw["device"]["tdp_w"] = 700
    with pytest.raises(InputError, match=r"device\.tdp_w: a preset figure must be a table"):
        load_module.build_system(raw, origin, is_preset=True)
