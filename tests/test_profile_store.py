"""Profiles kept on disk: what is read back is what was built, a damaged file is rebuilt, reading needs no torch."""

import os
import subprocess
import sys
from dataclasses import fields

from dojosim.perf.profile import build_profile
from dojosim.perf.profile_store import profile_path, stored_profile
from dojosim.workload.cache import get_graph
from dojosim.workload.spec import parse_model

MODEL = parse_model("gpt(layers=2,hidden=128,heads=4,vocab=512)")
ARGS = (MODEL, 2, 64, "adamw", "bf16")


def test_a_stored_profile_reads_back_as_built_without_its_ops(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path / "graphs"))
    built = stored_profile(*ARGS)
    assert profile_path(*ARGS).is_file()
    read = stored_profile(*ARGS)
    fresh = build_profile(get_graph(MODEL, 2, 64))
    for f in fields(fresh):
        if f.name != "graph":
            assert getattr(read, f.name) == getattr(fresh, f.name) == getattr(built, f.name), f.name
    assert read.graph.ops == [] and len(fresh.graph.ops) > 100
    assert read.graph.meta == fresh.graph.meta and read.graph.optimizer == "adamw"


def test_a_damaged_profile_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path / "graphs"))
    good = stored_profile(*ARGS)
    path = profile_path(*ARGS)
    path.write_bytes(b"not a pickle")
    again = stored_profile(*ARGS)
    assert again.classes == good.classes and path.read_bytes() != b"not a pickle"


def test_reading_a_stored_profile_does_not_import_torch(tmp_path):
    env = {**os.environ, "DOJOSIM_CACHE_DIR": str(tmp_path / "graphs")}
    code = (
        "import sys; from dojosim.perf.profile_store import stored_profile; from dojosim.workload.spec import "
        f"parse_model; stored_profile(parse_model({MODEL.text!r}), 2, 64, 'adamw', 'bf16'); "
        "print('torch' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)  # captures: torch
    again = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert again.stdout.strip() == "False"
