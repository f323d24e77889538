"""Training stacks as data: presets load with every figure sourced, bad stacks get a clear error, a job runs
the kernels and overlaps its stack names, and every public row names the stack it ran."""

import dataclasses
import json
from pathlib import Path

import pytest

from dojosim.errors import InputError
from dojosim.job import Job
from dojosim.parallel.plan import ParallelPlan
from dojosim.perf.jobs import engine_for
from dojosim.stack import DEFAULT_STACK, Attention, Kernels, TpOverlap, list_stacks, load_stack
from dojosim.stack.load import FIELDS
from dojosim.validation.run import predict_row
from dojosim.validation.table import public_table_path, read_table
from tests.conftest import run_cli

GPT = "gpt(layers=2,hidden=128,heads=4,vocab=512)"
LLAMA = "llama(layers=2,hidden=128,heads=4,kv_heads=2,ffn=256,vocab=512)"


@pytest.mark.parametrize("name", list_stacks())
def test_every_preset_loads_with_a_source_for_every_figure(name):
    stack = load_stack(name)
    assert stack.name == name and stack.summary
    assert set(stack.sources) == set(FIELDS) and all(len(s) > 20 for s in stack.sources.values())


def test_a_variant_inherits_what_it_does_not_change():
    base, variant = load_stack("torchtitan-compile-2024"), load_stack("torchtitan-compile-async-tp-2024")
    assert variant.tp_overlap is TpOverlap.PIPELINED and base.tp_overlap is TpOverlap.NONE
    assert dataclasses.replace(variant, name=base.name, summary=base.summary, tp_overlap=base.tp_overlap) == base


@pytest.mark.parametrize(
    "text, expected",
    [
        ('name = "x"\nsummary = "y"\nextends = "megatron-core-2024"\ncolour = 1', "unknown field(s) colour"),
        ('extends = "megatron-core-2024"\nname = "x"\nsummary = "y"\ntp_overlap = { value = "always", source = "s" }',
         "tp_overlap = 'always' is not one of none, pipelined, userbuffers, wgrad"),
        ('extends = "megatron-core-2024"\nname = "x"\nsummary = "y"\noverlap_grad_reduce = true',
         "overlap_grad_reduce must be { value = ..., source"),
        ('name = "x"\nsummary = "y"', "missing field(s) attention, pointwise"),
    ],
)  # fmt: skip
def test_bad_stack_files_get_a_clear_error(tmp_path, text, expected):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)").replace("{", r"\{")):
        load_stack(str(path))


def test_an_unknown_stack_name_suggests_the_closest():
    with pytest.raises(InputError, match="did you mean 'megatron-2021'.*allowed: .*nemo-24.07"):
        load_stack("megatron-2201")


def test_a_job_runs_the_kernels_its_stack_names():
    plan = ParallelPlan(1, 1, 1, 64)
    assert Job.of(GPT, "dgx-h100", plan).model.params["unfused_attention"] == 0
    assert Job.of(GPT, "dgx-h100", plan, stack="megatron-2021").model.params["unfused_attention"] == 1
    assert Job.of(LLAMA, "dgx-h100", plan, stack="torchtitan-eager-2024").model.params["unfused_kernels"] == 1
    assert Job.of("gpt3-175b", "dgx-h100", plan, stack="megatron-2021").model.name == "gpt3-175b"  # as typed
    # A family without the switch is unchanged.
    assert Job.of(LLAMA, "dgx-h100", plan, stack="megatron-2021").model == Job.of(LLAMA, "dgx-h100", plan).model


def test_the_stack_decides_what_overlaps():
    plan = ParallelPlan(16, 16, 1, 64, tp=4)
    default = engine_for(Job.of(GPT, "dgx-h100", plan)).estimate(plan)
    old = engine_for(Job.of(GPT, "dgx-h100", plan, stack="megatron-deepspeed-2023")).estimate(plan)
    assert load_stack(DEFAULT_STACK).attention is Attention.FUSED
    assert old.breakdown_s["dp_comm"] > default.breakdown_s["dp_comm"]  # reduced after backward, not under it
    assert old.breakdown_s["tp_comm"] > default.breakdown_s["tp_comm"]  # no async TP


def test_a_step_replayed_as_a_cuda_graph_drops_the_hosts_per_op_cost():
    """A tiny step is host-bound: eagerly, each pass takes the host's per-op dispatch (ops plus views) times the
    preset's host cost; replayed as one CUDA graph it takes the device's own time, kernel launches included."""
    plan = ParallelPlan(8, 8, 1, 64)
    eager_stack = load_stack("megatron-core-2024")
    graphed_stack = dataclasses.replace(eager_stack, cuda_graphs=True)
    eager = engine_for(Job.of(GPT, "dgx-h100", plan, stack=eager_stack))
    graphed = engine_for(Job.of(GPT, "dgx-h100", plan, stack=graphed_stack))
    assert eager.device.host_overhead_s > 0 and graphed.device.host_overhead_s == 0
    profile = eager.profile
    ops = sum(c.count for c in profile.classes if c.phase == "fwd")
    views = sum(n for (_, phase), n in profile.view_ops if phase == "fwd")
    e, g = eager.estimate(plan), graphed.estimate(plan)
    assert e.breakdown_s["compute_fwd"] == pytest.approx(eager.device.host_overhead_s * (ops + views))
    device_fwd = sum(p["seconds"] for p in graphed.roofline(plan)["points"] if p["phase"] == "fwd")
    assert g.breakdown_s["compute_fwd"] == pytest.approx(device_fwd)
    assert g.step_time_s < e.step_time_s / 2


def test_every_public_row_names_a_stack_that_loads():
    rows = read_table(public_table_path())
    assert all(r.stack for r in rows)
    assert {r.stack for r in rows} <= set(list_stacks())


def test_no_source_names_in_the_prediction_code():
    code = (Path(__file__).parents[1] / "src" / "dojosim" / "validation" / "run.py").read_text()
    for name in ("vTrain", "Narayanan", "Korthikanti", "NeMo", "torchtitan", "llm-foundry", "source_key in"):
        assert name not in code


V2_HEADER = "id,source,model,system,gpus,precision,global_batch,seq_len,tp,stack,tokens_per_seq,metric,measured"


def test_v2_columns_are_read_and_used(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(
        V2_HEADER + "\n"
        f'a,s,"{GPT}",dgx-h100,8,bf16,8,64,4,megatron-2021,,step_time_s,0.1\n'
        f'b,s,"{GPT}",dgx-h100,8,bf16,8,64,4,,,peak_memory_bytes,1e9\n'
        f'c,s,"{GPT}",dgx-h100,8,bf16,8,64,4,,48,step_time_s,0.1\n'
        f'd,s,"{GPT}",dgx-h100,8,bf16,8,64,4,no-such-stack,,step_time_s,0.1\n'
    )
    a, b, c, d = (predict_row(r) for r in read_table(path))
    assert a.row.stack == "megatron-2021" and a.predicted == a.details["step_time_s"]
    assert b.predicted == pytest.approx(b.as_dict()["predicted"]) and b.as_dict()["stack"] == DEFAULT_STACK
    est = engine_for(Job.of(GPT, "dgx-h100", ParallelPlan(8, 8, 1, 64, tp=4))).estimate(ParallelPlan(8, 8, 1, 64, tp=4))
    assert b.predicted == pytest.approx(est.memory.total)
    # an unpadded row (48 real tokens of 64) is predicted, on its real tokens: no slower than row b's padded step
    assert c.reason == "" and c.predicted is not None and c.predicted <= b.details["step_time_s"]
    assert d.predicted is None and "unknown stack 'no-such-stack'" in d.reason


def test_stacks_cli_lists_presets_and_simulate_takes_a_stack():
    listed = run_cli("stacks", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {r["name"] for r in rows} == set(list_stacks()) and sum(r["default"] for r in rows) == 1
    args = ("simulate", "--model", GPT, "--system", "dgx-h100", "--devices", "16", "--global-batch", "16", "--tp", "4")
    new, old = run_cli(*args, "--json"), run_cli(*args, "--stack", "megatron-deepspeed-2023", "--json")
    assert (
        json.loads(new.stdout)["stack"] == DEFAULT_STACK
        and json.loads(old.stdout)["stack"] == "megatron-deepspeed-2023"
    )
    assert json.loads(old.stdout)["step_time_s"] > json.loads(new.stdout)["step_time_s"]
    bad = run_cli(*args, "--stack", "nemo")
    assert bad.returncode == 2 and "--stack: unknown stack 'nemo'" in bad.stderr


def test_kernels_enum_values_are_what_presets_say():
    assert {k.value for k in Kernels} == {"fused", "eager"}
