"""Plan search: every enumerated plan is valid, memory pruning, Pareto front, resume keeps finished work."""

import json

import pyarrow.parquet as pq
import pytest

from dojosim.errors import InputError
from dojosim.parallel.plan import ModelShape, validate_plan
from dojosim.study.search import SearchSpec, enumerate_plans, pareto_front, plan_key, search
from dojosim.study.sinks import FolderSink

MODEL = "llama(layers=4,hidden=256,heads=8,kv_heads=4,ffn=512,vocab=1000)"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path / "cache"))


def test_every_enumerated_plan_is_valid():
    spec = SearchSpec(MODEL, "dgx-h100", 16, 32, 256)
    shape = ModelShape(layers=4, heads=8, kv_heads=4, hidden=256)
    plans = list(enumerate_plans(spec, shape, seq=256))
    assert len(plans) > 500
    for plan in plans:
        validate_plan(plan, shape, peaks=("bf16", "fp8", "fp32"))
    assert len({plan_key(p) for p in plans}) == len(plans)


def test_enumeration_and_validation_share_one_set_of_rules():
    """Every plan of the full grid that validation accepts is enumerated, and no other: the search's loops apply
    the same rules, so a hand plan cannot pass validation and yet be missing from the search."""
    import itertools

    from dojosim.errors import InputError
    from dojosim.parallel.plan import ParallelPlan

    spec = SearchSpec(MODEL, "dgx-h100", 8, 16, 256)
    shape = ModelShape(layers=4, heads=8, kv_heads=4, hidden=256)
    enumerated = {plan_key(p) for p in enumerate_plans(spec, shape, seq=256)}
    accepted = set()
    for tp, pp, vp, cp, mb, zero, sp in itertools.product(
        (1, 2, 4, 8), (1, 2, 4, 8), (1, 2, 4), (1, 2, 4, 8), (1, 2, 4, 8), (0, 3), (False, True)
    ):
        plan = ParallelPlan(8, 16, mb, 256, tp, pp, vp, cp, 1, zero, "none", sp)
        try:
            validate_plan(plan, shape)
        except InputError:
            continue
        accepted.add(plan_key(plan))
    assert accepted and accepted <= enumerated
    assert {p for p in enumerated if p.zero in (0, 3) and p.recompute == "none"} == accepted


def _result(step_s: float, cost: float):
    from dojosim.parallel.plan import ParallelPlan
    from dojosim.perf.result import Bottleneck, BottleneckKind
    from dojosim.study.search import PlanResult

    plan = ParallelPlan(8, 8, micro_batch=int(step_s))
    return PlanResult(plan, step_s, 0.5, cost, cost, 1.0, 1.0, {}, Bottleneck(BottleneckKind.COMPUTE, "x", 1.0))


def test_pareto_front_by_hand():
    results = [_result(t, c) for t, c in [(1, 5), (2, 3), (3, 4), (4, 1)]]
    assert [r.step_time_s for r in pareto_front(results)] == [1, 2, 4]


def test_search_costs_prunes_and_resumes(tmp_path):
    spec = SearchSpec(MODEL, "dgx-h100", 16, 32, 256)
    out = tmp_path / "search"
    first = search(spec, FolderSink(out), workers=1)
    costed = len(first.results)
    assert costed + first.pruned_on_memory == first.enumerated
    assert (out / "plans.parquet").is_file() and pq.read_table(out / "plans.parquet").num_rows == costed
    lines = (out / "plans.jsonl").read_text().splitlines()
    (out / "plans.jsonl").write_text("\n".join(lines[: len(lines) // 2]) + "\n")  # as if interrupted halfway
    resumed = search(spec, FolderSink(out, resume=True), workers=1)
    assert len(resumed.results) == costed
    assert resumed.best()[0].step_time_s == pytest.approx(first.best()[0].step_time_s)
    assert sorted(r.to_row()["step_time_s"] for r in resumed.results) == pytest.approx(
        sorted(r.step_time_s for r in first.results)
    )
    assert len((out / "plans.jsonl").read_text().splitlines()) == costed


def test_search_without_a_sink_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = search(SearchSpec(MODEL, "dgx-h100", 8, 16, 128), workers=1)
    assert found.results and not any(p.name != "cache" for p in tmp_path.iterdir())


def test_tight_memory_prunes_everything_with_a_clear_error(tmp_path):
    spec = SearchSpec(MODEL, "dgx-h100", 16, 32, 256, max_memory_fraction=1e-6)
    with pytest.raises(InputError, match="no plan of .* fits on 16 x dgx-h100"):
        search(spec, FolderSink(tmp_path / "s"), workers=1)


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
    for row in doc["top"]:  # each shown plan explained by what freeing a resource would gain
        assert row["bottleneck_speedup_if_free"] >= 1.0 and row["bottleneck_resource"] in row["bottleneck"]
        assert f"{row['bottleneck_speedup_if_free']:.2f}x faster" in row["bottleneck"]


def _sorted(results):
    rows = [r.to_row() for r in results]
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in sorted(r)))


def test_ray_backend_gives_identical_results_on_a_local_2_cpu_ray(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is installed by make test; skipped only outside it")
    import ray

    spec = SearchSpec(MODEL, "dgx-h100", 16, 32, 256)
    local = search(spec, workers=2)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        distributed = search(spec, workers=2, backend="ray")
    finally:
        ray.shutdown()
    assert _sorted(distributed.results) == _sorted(local.results)


def test_sweep_finds_the_best_plan_per_hardware_point_and_resumes(tmp_path):
    from dojosim.report.search_view import sweep_rows, sweep_svg
    from dojosim.study.sweep import parse_vary, run_sweep

    spec = SearchSpec(MODEL, "dgx-h100", 8, 16, 128)
    varies = parse_vary(["h100.peak_flops_per_s.bf16=4e14,989e12", "h100.hbm_bytes_per_s=1e12,3.35e12"])
    rows = sweep_rows(run_sweep(spec, varies, tmp_path / "sw", workers=1))
    assert len(rows) == 4 and all("error" not in r for r in rows)
    by_point = {tuple(r["point"].values()): r["step_time_s"] for r in rows}
    assert by_point[("989e12", "3.35e12")] < by_point[("4e14", "1e12")]  # more peak and bandwidth: faster
    (tmp_path / "sw" / "points.jsonl").write_text(
        "\n".join((tmp_path / "sw" / "points.jsonl").read_text().splitlines()[:2]) + "\n"
    )
    again = sweep_rows(run_sweep(spec, varies, tmp_path / "sw", resume=True, workers=1))
    assert [r["step_time_s"] for r in again] == pytest.approx([r["step_time_s"] for r in rows])
    assert [r["bottleneck"] for r in again] == [r["bottleneck"] for r in rows]
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
