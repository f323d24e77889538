"""dojosim rent: the cluster simulation, its allocators and schedulers, mixes, and the command."""

import json

import pytest

from dojosim.cli import run
from dojosim.errors import InputError
from dojosim.study.rent.cluster import ContiguousTiles, Racks, UnitPool, allocator_for, fragmentation, snap
from dojosim.study.rent.mix import draw_jobs, load_mix, load_mixes
from dojosim.study.rent.sim import SimJob, Simulation

HOUR = 3600.0


def _job(i: int, arrival_h: float, devices: int, work_h: float, priority: int = 1, ckpt_s: float = 0.0) -> SimJob:
    return SimJob(i, f"t{i}", priority, arrival_h * HOUR, devices, work_h * HOUR, ckpt_s)


def _run(jobs, allocator, scheduler="fifo", rate=0.0, seed=0, horizon_h=1000.0) -> Simulation:
    return Simulation(jobs, allocator, scheduler, rate, seed, horizon_h * HOUR).run()


def test_three_job_fifo_schedule_by_hand():
    # 4 units of 25 devices. A (3 units, 0-2 h) runs at once; B (2 units) arrives at 0.5 h and waits for A;
    # C (1 unit) arrives at 1 h: under FIFO it waits behind B although a unit is free. A ends at 2 h, B runs
    # 2-5 h and C starts beside it at 2 h, ending at 3 h.
    jobs = [_job(0, 0.0, 75, 2.0), _job(1, 0.5, 50, 3.0), _job(2, 1.0, 25, 1.0)]
    sim = _run(jobs, UnitPool(25, 4))
    got = [(j.first_start_s / HOUR, j.end_s / HOUR) for j in jobs]
    assert got == [(0.0, 2.0), (2.0, 5.0), (2.0, 3.0)]
    assert [j.wait_s / HOUR for j in jobs] == [0.0, 1.5, 1.0]
    assert sum(j.paid_device_s for j in jobs) == (75 * 2 + 50 * 3 + 25 * 1) * HOUR
    assert sim.busy == 0 and not sim.queue


def test_backfill_starts_a_small_job_early_and_never_delays_the_head():
    # A holds 3 of 4 units until 2 h; the head B needs all 4 (reserved at 2 h). C (1 unit, 1 h) ends by then and
    # backfills; D (1 unit, 5 h) would hold the unit B needs and must wait.
    def jobs():
        return [_job(0, 0.0, 75, 2.0), _job(1, 0.1, 100, 1.0), _job(2, 0.2, 25, 1.0), _job(3, 0.3, 25, 5.0)]

    fifo, backfill = jobs(), jobs()
    _run(fifo, UnitPool(25, 4), "fifo")
    _run(backfill, UnitPool(25, 4), "backfill")
    assert backfill[1].first_start_s == fifo[1].first_start_s == 2 * HOUR  # the head starts no later
    assert backfill[2].first_start_s == 0.2 * HOUR < fifo[2].first_start_s  # C backfilled
    assert backfill[3].first_start_s == 3 * HOUR  # D waited for B


@pytest.mark.parametrize("seed", range(8))
def test_backfill_never_delays_the_head_on_random_workloads(seed):
    import random

    rng = random.Random(seed)
    spec = [(rng.uniform(0, 20), rng.choice([25, 50, 75, 100, 150]), rng.uniform(0.5, 6)) for _ in range(40)]

    def jobs():
        return [_job(i, a, d, w) for i, (a, d, w) in enumerate(sorted(spec))]

    fifo, backfill = jobs(), jobs()
    _run(fifo, ContiguousTiles(25, 8), "fifo")
    sim = _run(backfill, ContiguousTiles(25, 8), "backfill")
    # EASY's promise: once a job is at the head, it starts no later than the reservation it was first given
    # (runtimes here are exact: nothing fails), whatever was backfilled meanwhile.
    assert sim.reservations and all(backfill[i].first_start_s <= t + 1e-6 for i, t in sim.reservations.items())
    assert all(j.end_s is not None for j in backfill) and not sim.queue
    assert any(b.first_start_s < f.first_start_s for b, f in zip(backfill, fifo, strict=True))  # something backfilled


def test_contiguous_allocation_blocks_a_job_a_noncontiguous_allocator_places():
    # 4 tiles; jobs take tiles 0, 1, 2, 3; the ones on tiles 1 and 3 end, leaving 2 free tiles that are not
    # adjacent: a 2-tile job cannot be placed contiguously, though a pool allocator would place it.
    def jobs():
        return [_job(0, 0, 25, 10), _job(1, 0, 25, 1), _job(2, 0, 25, 10), _job(3, 0, 25, 1), _job(4, 2, 50, 1)]

    mesh, pool = jobs(), jobs()
    mesh_sim = _run(mesh, ContiguousTiles(25, 4))
    _run(pool, UnitPool(25, 4))
    assert pool[4].first_start_s == 2 * HOUR
    assert mesh[4].first_start_s == 10 * HOUR  # waited for the neighbours to end
    assert mesh_sim.blocked_by_fragmentation >= 1
    tiles = ContiguousTiles(25, 4)
    handles = [tiles.place(25) for _ in range(4)]
    tiles.release(handles[1])
    tiles.release(handles[3])
    assert tiles.free_devices() == 50 and not tiles.can_place(50) and fragmentation(tiles) == 0.5


def test_a_failure_rolls_the_job_back_to_its_last_checkpoint():
    # One 25-device job of 100 h with a 60 s checkpoint; failures frequent enough that some happen. Every failure
    # costs the work since the last checkpoint plus a read of it: the job ends later than its work, and the lost
    # time is less than one checkpoint interval per failure.
    job = _job(0, 0, 25, 100.0, ckpt_s=60.0)
    rate = 1 / (25 * 20 * HOUR)  # the job fails once per 20 h on average
    sim = _run([job], UnitPool(25, 1), rate=rate, seed=3)
    interval = sim._interval_s(job)
    assert interval == pytest.approx((2 * 60 * 20 * HOUR) ** 0.5)
    assert job.failures >= 1 and job.remaining_s == 0
    assert 0 < job.lost_s < job.failures * (interval + 60)
    no_ckpt_overhead = job.work_s * (interval + 60) / interval
    assert job.end_s == pytest.approx(no_ckpt_overhead + job.lost_s + job.failures * 60)


def test_priority_preempts_a_lower_job_which_resumes_from_its_checkpoint():
    low = _job(0, 0, 100, 10, priority=2, ckpt_s=30)
    high = _job(1, 1, 50, 2, priority=0, ckpt_s=30)
    _run([low, high], UnitPool(25, 4), "priority")
    assert low.preemptions == 1 and high.first_start_s == 1 * HOUR + 30  # after the victim's checkpoint write
    # low ran 1 h, wrote (30 s), waited for high (2 h), read (30 s), ran its 9 h left
    assert low.end_s == pytest.approx(1 * HOUR + 30 + 2 * HOUR + 30 + 9 * HOUR)


def test_identical_seeds_give_identical_results():
    mixes = load_mixes("tesla-internal,external-tenants")
    assert draw_jobs(mixes, 30, seed=7) == draw_jobs(mixes, 30, seed=7)
    assert draw_jobs(mixes, 30, seed=7) != draw_jobs(mixes, 30, seed=8)

    def once(seed):
        jobs = [_job(i, i * 0.3, 25 * (1 + i % 3), 2 + i % 5, ckpt_s=60) for i in range(60)]
        sim = _run(jobs, ContiguousTiles(25, 6), "backfill", rate=1 / (25 * 50 * HOUR), seed=seed)
        return [(j.first_start_s, j.end_s, j.failures) for j in jobs], sim.samples

    assert once(1) == once(1)
    assert once(1) != once(2)


def test_allocators_follow_the_hardware():
    dojo = allocator_for("dojo-v1", 30000)
    assert isinstance(dojo, ContiguousTiles) and dojo.unit_devices == 25 and dojo.total_devices == 30000
    nvl = allocator_for("gb200-nvl72", 720)
    assert isinstance(nvl, Racks) and nvl.sizes()[:5] == [4, 8, 16, 32, 64] and 72 in nvl.sizes()
    dgx = allocator_for("dgx-b200", 1024)
    assert isinstance(dgx, UnitPool) and dgx.unit_devices == 8
    assert dojo.sizes()[:7] == [25, 50, 100, 150, 300, 600, 1200]
    assert snap(dojo, 2762) == 4800 and snap(dgx, 5) == 8 and snap(dgx, 10**6) == 1024
    racks = Racks(72, 4, 2)
    assert racks.place(8) == [(0, 2)] and not racks.can_place(144) and racks.can_place(72)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[[jobs]]\nname="a"\ntenant="t"\nmodel="fsd-video"\npriority="urgent"\narrivals_per_day=1\n'
         'peak_pflops=[1]\nsamples=[1,2]\nglobal_batch=8\n', "jobs[0].priority"),
        ('[[jobs]]\nname="a"\ntenant="t"\nmodel="fsd-video"\npriority="high"\narrivals_per_day=1\n'
         'peak_pflops=[1]\nsamples=[5,2]\nglobal_batch=8\n', "jobs[0].samples"),
        ('[[jobs]]\nname="a"\ntenant="t"\nmodel="fsd-video"\npriority="high"\narrivals_per_day=1\n'
         'peak_pflop=[1]\nsamples=[1,2]\nglobal_batch=8\n', "jobs[0].peak_pflop"),
        ('[[jobs]]\nname="a"\ntenant="t"\nmodel="nosuch"\npriority="high"\narrivals_per_day=1\n'
         'peak_pflops=[1]\nsamples=[1,2]\nglobal_batch=8\n', "jobs[0].model"),
    ],
)
def test_a_bad_mix_file_gives_one_error_naming_the_field(tmp_path, text, field):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_mix(str(path))
    assert field in str(err.value) and "\n" not in str(err.value)


def test_bad_mix_on_the_command_line_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[[jobs]]\nname="a"\n')
    assert run(["rent", "--system", "dojo-v1", "--devices", "300", "--mix", str(path), "--days", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "jobs[0].tenant" in err


def test_shipped_mixes_load():
    for mix in load_mixes("tesla-internal,external-tenants"):
        assert mix.classes and all(c.arrivals_per_day > 0 for c in mix.classes)
    assert json  # keeps the import for the command tests below


TINY = "llama(layers=2,hidden=64,heads=4,kv_heads=4,ffn=128,vocab=100)"


@pytest.fixture
def tiny_mix(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "tiny.toml"
    path.write_text(
        f'[[jobs]]\nname = "tiny"\ntenant = "t"\nmodel = "{TINY}"\npriority = "high"\narrivals_per_day = 200\n'
        'peak_pflops = [2, 8]\nsamples = [1e7, 1e8]\nglobal_batch = 16\nseq = 64\n'
    )
    return str(path)


def test_rent_command_prints_json_and_writes_the_html(tiny_mix, tmp_path, capsys):
    out = tmp_path / "rent.html"
    args = ["rent", "--system", "dgx-h100", "--devices", "64", "--mix", tiny_mix, "--days", "3", "--price", "3",
            "--scheduler", "backfill", "--clouds", "dgx-b200", "--out", str(out), "--json"]  # fmt: skip
    assert run(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["jobs"] > 100 and 0 < doc["utilisation"] <= 1 and doc["scheduler"] == "backfill"
    assert doc["revenue_usd"] == pytest.approx(doc["paid_device_h"] * 3)
    assert doc["break_even_usd_per_device_hour"] > 0 and doc["tenants"][0]["cloud_usd"]["dgx-b200"] > 0
    page = out.read_text()
    assert "utilisation and queue length over time" in page and "Break-even price" in page


def test_ctrl_c_keeps_a_partial_summary(tiny_mix):
    from dojosim.study.rent.outcome import summarize
    from dojosim.study.rent.run import RentSpec, prepare, simulate

    prepared = prepare(RentSpec("dgx-h100", 64, tiny_mix, days=5, clouds=("dgx-h100",)))

    def stop_after_two_days(t_s: float) -> None:
        if t_s >= 2 * 86400:
            raise KeyboardInterrupt

    result = summarize(prepared, *simulate(prepared, stop_after_two_days))
    assert result.interrupted and result.simulated_s == 2 * 86400
    assert result.finished > 0 and result.paid_device_h > 0


def test_a_scenario_sweep_runs_every_combination_and_matches_single_runs(tiny_mix, capsys):
    from dojosim.study.rent.run import RentSpec, run_rent
    from dojosim.study.rent.scenarios import parse_vary, run_scenarios, scenarios

    base = RentSpec("dgx-h100", 64, tiny_mix, days=3, clouds=("dgx-h100",))
    grid = scenarios(base, parse_vary(["scheduler=fifo,backfill", "devices=32,64"]))
    assert [p for p, _ in grid] == [
        {"scheduler": s, "devices": d} for s in ("fifo", "backfill") for d in (32, 64)
    ]  # every combination, in grid order
    rows = run_scenarios(grid, workers=1)
    alone = run_rent(grid[3][1])  # backfill on 64: the same figures as `dojosim rent` with those options
    assert rows[3].utilisation == alone.utilisation and rows[3].finished == alone.finished
    assert rows[0].utilisation != rows[3].utilisation  # the varied values really changed the runs
    pooled = run_scenarios(grid, backend="process", workers=2)  # the pool gives what one process gives
    assert [r.as_dict() for r in pooled] == [r.as_dict() for r in rows]
    args = ["rent", "--system", "dgx-h100", "--devices", "64", "--mix", tiny_mix, "--days", "3",
            "--clouds", "dgx-h100", "--vary", "scheduler=fifo,backfill", "--workers", "1", "--json"]  # fmt: skip
    assert run(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["scheduler"] for s in doc["scenarios"]] == ["fifo", "backfill"]


@pytest.mark.parametrize(
    "vary, message",
    [
        (["colour=red"], "unknown"),
        (["devices=many"], "'many' is not a valid value"),
        (["scheduler"], "expected NAME=V1,V2"),
        (["seed=1", "seed=2"], "given twice"),
        (["scheduler=lottery"], "--scheduler: must be one of"),
    ],
)
def test_a_bad_scenario_is_one_error_before_any_runs(tiny_mix, vary, message):
    from dojosim.errors import InputError
    from dojosim.study.rent.run import RentSpec
    from dojosim.study.rent.scenarios import parse_vary, scenarios

    with pytest.raises(InputError, match=message):
        scenarios(RentSpec("dgx-h100", 64, tiny_mix, days=3, clouds=("dgx-h100",)), parse_vary(vary))


def test_ray_runs_the_same_scenarios(tiny_mix):
    pytest.importorskip("ray", reason="the ray extra is installed by make test; skipped only outside it")
    import ray

    from dojosim.study.rent.run import RentSpec
    from dojosim.study.rent.scenarios import parse_vary, run_scenarios, scenarios

    grid = scenarios(RentSpec("dgx-h100", 64, tiny_mix, days=2, clouds=("dgx-h100",)), parse_vary(["seed=0,1"]))
    local = run_scenarios(grid, workers=1)
    try:  # a local two-CPU Ray, shut down after so later tests start their own
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        distributed = run_scenarios(grid, backend="ray", workers=2)
    finally:
        ray.shutdown()
    assert [r.as_dict() for r in distributed] == [r.as_dict() for r in local]
