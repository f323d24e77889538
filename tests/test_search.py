"""Plan search: every enumerated plan is valid, memory pruning, Pareto front, resume keeps finished work."""

import json

import pyarrow.parquet as pq
import pytest

from dojosim.errors import InputError
from dojosim.parallel.plan import validate_plan
from dojosim.perf.search import SearchSpec, enumerate_plans, pareto_front, plan_key, run_search

MODEL = "llama(layers=4,hidden=256,heads=8,kv_heads=4,ffn=512,vocab=1000)"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path / "cache"))


def test_every_enumerated_plan_is_valid():
    spec = SearchSpec(MODEL, "dgx-h100", 16, 32, 256)
    meta = {"hidden": 256, "heads": 8, "kv_heads": 4}
    plans = list(enumerate_plans(spec, meta, layers=4, seq=256))
    assert len(plans) > 500
    for plan in plans:
        validate_plan(plan, layers=4, heads=8, kv_heads=4, hidden=256, peaks=("bf16", "fp8", "fp32"))
    assert len(
        {
            plan_key(
                {
                    k: getattr(p, k)
                    for k in ("tp", "pp", "vp", "cp", "ep", "zero", "recompute", "sequence_parallel", "micro_batch")
                }
            )
            for p in plans
        }
    ) == len(plans)


def test_pareto_front_by_hand():
    rows = [{"step_time_s": t, "cost_usd": c, "id": i} for i, (t, c) in enumerate([(1, 5), (2, 3), (3, 4), (4, 1)])]
    assert [r["id"] for r in pareto_front(rows)] == [0, 1, 3]


def test_search_costs_prunes_and_resumes(tmp_path):
    spec = SearchSpec(MODEL, "dgx-h100", 16, 32, 256)
    out = tmp_path / "search"
    first = run_search(spec, out, workers=1)
    assert first["costed"] + first["pruned_on_memory"] == first["enumerated"]
    assert (out / "plans.parquet").is_file() and pq.read_table(out / "plans.parquet").num_rows == first["costed"]
    lines = (out / "plans.jsonl").read_text().splitlines()
    (out / "plans.jsonl").write_text("\n".join(lines[: len(lines) // 2]) + "\n")  # as if interrupted halfway
    resumed = run_search(spec, out, resume=True, workers=1)
    assert resumed["costed"] == first["costed"]
    best = min(first["rows"], key=lambda r: r["step_time_s"])
    assert min(resumed["rows"], key=lambda r: r["step_time_s"])["step_time_s"] == pytest.approx(best["step_time_s"])
    assert len((out / "plans.jsonl").read_text().splitlines()) == first["costed"]


def test_tight_memory_prunes_everything_with_a_clear_error(tmp_path):
    spec = SearchSpec(MODEL, "dgx-h100", 16, 32, 256, max_memory_fraction=1e-6)
    with pytest.raises(InputError, match="no plan of .* fits on 16 x dgx-h100"):
        run_search(spec, tmp_path / "s", workers=1)


def test_search_cli_json(tmp_path):
    from tests.conftest import run_cli

    result = run_cli(
        "search",
        "--model",
        MODEL,
        "--system",
        "dgx-h100",
        "--devices",
        "8",
        "--global-batch",
        "16",
        "--seq",
        "128",
        "--top",
        "3",
        "--workers",
        "2",
        "--out",
        str(tmp_path / "o"),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert len(doc["top"]) == 3 and doc["pareto_front"]
    assert doc["top"][0]["step_time_s"] <= doc["top"][-1]["step_time_s"]


def _sorted(rows):
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in sorted(r)))


def test_ray_backend_gives_identical_results_on_a_local_2_cpu_ray(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is installed by make test; skipped only outside it")
    import ray

    spec = SearchSpec(MODEL, "dgx-h100", 16, 32, 256)
    local = run_search(spec, tmp_path / "process", workers=2)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        distributed = run_search(spec, tmp_path / "ray", workers=2, backend="ray")
    finally:
        ray.shutdown()
    assert _sorted(distributed["rows"]) == _sorted(local["rows"])


def test_sweep_finds_the_best_plan_per_hardware_point_and_resumes(tmp_path):
    from dojosim.perf.sweep import parse_vary, run_sweep, sweep_svg

    spec = SearchSpec(MODEL, "dgx-h100", 8, 16, 128)
    varies = parse_vary(["h100.peak_flops_per_s.bf16=4e14,989e12", "h100.hbm_bytes_per_s=1e12,3.35e12"])
    rows = run_sweep(spec, varies, tmp_path / "sw", workers=1)
    assert len(rows) == 4 and all("error" not in r for r in rows)
    by_point = {tuple(r["point"].values()): r["step_time_s"] for r in rows}
    assert by_point[("989e12", "3.35e12")] < by_point[("4e14", "1e12")]  # more peak and bandwidth: faster
    (tmp_path / "sw" / "points.jsonl").write_text(
        "\n".join((tmp_path / "sw" / "points.jsonl").read_text().splitlines()[:2]) + "\n"
    )
    again = run_sweep(spec, varies, tmp_path / "sw", resume=True, workers=1)
    assert [r["step_time_s"] for r in again] == pytest.approx([r["step_time_s"] for r in rows])
    assert sweep_svg(rows).startswith("<svg") and "peak_flops_per_s" not in sweep_svg(rows)[:10]
    with pytest.raises(InputError, match="expected PART.FIELD=V1,V2"):
        parse_vary(["tile.offtile_bytes_per_s"])
    with pytest.raises(InputError, match="unknown part 'tiel'"):
        run_sweep(spec, parse_vary(["tiel.x=1"]), tmp_path / "bad")


def test_sweep_cli_writes_table_plot_and_report(tmp_path):
    from tests.conftest import run_cli

    report = tmp_path / "sweep.html"
    result = run_cli(
        "sweep",
        "--model",
        MODEL,
        "--system",
        "dgx-h100",
        "--devices",
        "8",
        "--global-batch",
        "16",
        "--seq",
        "128",
        "--vary",
        "h100.hbm_bytes_per_s=1e12,3.35e12",
        "--workers",
        "1",
        "--out",
        str(tmp_path / "sw"),
        "--report",
        str(report),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["points"]) == 2
    page = report.read_text()
    assert "<table>" in page and "<svg" in page and "hbm_bytes_per_s" in page
