import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# A small but complete user system file: plain numbers are allowed outside the shipped presets.
MINIMAL_SYSTEM = textwrap.dedent(
    """
    name = "mini"
    summary = "two-level test machine"
    status = "estimate"
    default_devices = 16
    pue = 1.1

    [device]
    name = "chip"
    cores = 4
    peak_flops_per_s = { bf16 = 1e15 }
    egress_bytes_per_s = 1e11
    hbm_bytes = 1e10
    hbm_bytes_per_s = 1e12
    tdp_w = 500
    idle_w = 50
    matmul_empirical_fraction_of_peak = 0.8

    [[levels]]
    name = "board"
    children = 4
    topology = "mesh2d"
    mesh_dims = [2, 2]
    link_latency_s = 1e-7
    egress_bytes_per_s = 2e11
    collective_empirical_fraction_of_link = 0.9

    [[levels]]
    name = "cluster"
    children = 4
    topology = "fat_tree"
    link_latency_s = 5e-6
    collective_empirical_fraction_of_link = 0.9

    [cost]
    price_per_device_hour_usd = 2.0
    """
)


@pytest.fixture
def system_file(tmp_path: Path):
    """Write MINIMAL_SYSTEM with text replacements applied; returns the path."""

    def write(*replacements: tuple[str, str], append: str = "") -> Path:
        text = MINIMAL_SYSTEM
        for old, new in replacements:
            assert old in text, old
            text = text.replace(old, new, 1)
        path = tmp_path / "mini.toml"
        path.write_text(text + append)
        return path

    return write


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "dojosim.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )
