"""The best plan, runnable: the `dojosim simulate` line that costs it again, and each framework's arguments from the
flag tables in report/launch/*.toml; what a framework cannot express is said, never dropped."""

import itertools
import json
import shlex

import pytest
from typer.testing import CliRunner

from dojosim.cli.app import app
from dojosim.errors import InputError
from dojosim.parallel.plan import ParallelPlan
from dojosim.report.launch_args import (
    DIMENSIONS,
    FRAMEWORKS,
    _dimension,
    launch_args,
    load_framework,
    run_document,
    simulate_line,
)
from dojosim.workload.spec import parse_model

LLAMA = parse_model("llama3-8b")  # 32 layers
# The brief's typical plan: tp 4, pp 2, vp 2, cp 2 (dp 4), sequence parallel, selective recompute, ZeRO-1, fp8.
TYPICAL = ParallelPlan(
    64, 256, 1, 4096, tp=4, pp=2, vp=2, cp=2, zero=1, recompute="selective", sequence_parallel=True, precision="fp8"
)


def _args(key: str, plan: ParallelPlan = TYPICAL, model=LLAMA, layers: int = 32):
    return launch_args(load_framework(key), plan, model, layers)


def test_every_plan_dimension_is_placed_by_every_framework_with_a_source():
    assert set(DIMENSIONS) == {*ParallelPlan.__dataclass_fields__, "dp"}
    for key in FRAMEWORKS:
        framework = load_framework(key)
        assert [d.name for d in framework.dimensions] == list(DIMENSIONS)
        assert framework.source and all(d.source for d in framework.dimensions)


def test_typical_plan_in_megatron_lm():
    said = _args("megatron_lm")
    assert said.args == (
        "--tensor-model-parallel-size 4",
        "--pipeline-model-parallel-size 2",
        "--num-virtual-stages-per-pipeline-rank 2",
        "--context-parallel-size 2",
        "--use-distributed-optimizer",
        "--sequence-parallel",
        "--recompute-granularity selective",
        "--micro-batch-size 1",
        "--global-batch-size 256",
        "--seq-length 4096",
        "--bf16",
        "--fp8-format hybrid",
    )
    assert said.not_expressible == ()
    assert "data-parallel size 4 = world size / (tp x pp x cp), derived" in said.notes


def test_typical_plan_in_nemo():
    said = _args("nemo")
    assert said.args == (
        "trainer.strategy.tensor_model_parallel_size=4",
        "trainer.strategy.pipeline_model_parallel_size=2",
        "trainer.strategy.virtual_pipeline_model_parallel_size=2",
        "trainer.strategy.context_parallel_size=2",
        "trainer.strategy.expert_model_parallel_size=1",
        "optim.config.use_distributed_optimizer=True",
        "trainer.strategy.sequence_parallel=True",
        "model.config.recompute_granularity=selective",
        "data.micro_batch_size=1",
        "data.global_batch_size=256",
        "data.seq_length=4096",
        "model.config.seq_length=4096",
        "trainer.plugins=bf16_mixed",
        "trainer.plugins.fp8=hybrid",
    )
    assert said.not_expressible == ()


def test_typical_plan_in_torchtitan_says_what_it_cannot_express():
    said = _args("torchtitan")
    assert said.args == (
        "--parallelism.tensor_parallel_degree 4",
        "--parallelism.pipeline_parallel_degree 2",
        "--parallelism.pipeline_parallel_schedule Interleaved1F1B",
        "--parallelism.pipeline_parallel_layers_per_stage 8",  # 32 layers over pp x vp = 4 stages
        "--parallelism.pipeline_parallel_first_stage_less_layers 0",
        "--parallelism.pipeline_parallel_last_stage_less_layers 0",
        "--parallelism.context_parallel_degree 2",
        # a pipeline takes its rank's whole share of the batch (256 / dp 4) in micro-batches of 1
        "--training.local_batch_size 64",
        "--parallelism.pipeline_parallel_microbatch_size 1",
        "--training.global_batch_size 256",
        "--training.seq_len 4096",
        "--training.mixed_precision_param bfloat16",
        "--model.converters quantize.linear.float8",
    )
    unsaid = [line.split(":")[0] for line in said.not_expressible]
    assert unsaid == ["zero=1", "recompute=selective"]
    assert not any("data_parallel" in a for a in said.args)  # dp is written with the ZeRO stage, which is unsaid


def test_torchtitan_zero_stages_and_micro_batches_without_a_pipeline():
    plan = ParallelPlan(16, 64, 2, 2048, tp=2, zero=3, sequence_parallel=True)  # dp 8, 4 micro-batches per step
    said = _args("torchtitan", plan)
    assert "--parallelism.data_parallel_shard_degree 8" in said.args
    assert "--parallelism.fsdp_reshard_after_forward always" in said.args
    assert "--training.local_batch_size 2" in said.args  # gradients accumulate over global / (local x dp)
    assert not any("microbatch" in a for a in said.args)
    ddp = _args("torchtitan", plan.with_(zero=0))
    assert "--parallelism.data_parallel_replicate_degree 8" in ddp.args
    assert "--parallelism.data_parallel_shard_degree 1" in ddp.args
    assert "--parallelism.fsdp_reshard_after_forward never" in _args("torchtitan", plan.with_(zero=2)).args


@pytest.mark.parametrize(
    ("key", "change", "unsaid"),
    [
        ("torchtitan", {"precision": "fp16"}, "precision=fp16"),
        ("torchtitan", {"precision": "fp4"}, "precision=fp4"),
        ("torchtitan", {"sequence_parallel": False}, "sequence_parallel=false"),
    ],
)
def test_a_dimension_a_framework_cannot_express_is_said(key, change, unsaid):
    plan = ParallelPlan(16, 64, 1, 2048, tp=2, zero=3, sequence_parallel=True)
    assert _args(key, plan).not_expressible == ()
    said = _args(key, plan.with_(**change))
    assert [line.split(":")[0] for line in said.not_expressible] == [unsaid]


def test_stages_that_do_not_split_into_whole_layers_are_said():
    """5 layers cannot make pp 2 x vp 2 = 4 torchtitan stages of a whole number of layers each (2+2+1 is 3)."""
    plan = ParallelPlan(4, 8, 1, 2048, pp=2, vp=2, zero=3)
    said = _args("torchtitan", plan, layers=5)
    assert said.not_expressible == (
        "vp=2: the model's 5 layers do not make pp x vp = 4 stages of a whole number of layers each",
    )
    assert not any("Interleaved" in a for a in said.args)
    assert "--parallelism.pipeline_parallel_layers_per_stage 2" in _args("torchtitan", plan, layers=8).args


def test_a_model_family_a_framework_does_not_train_is_said():
    gpt = parse_model("gpt3-175b")
    plan = ParallelPlan(8, 8, tp=8, sequence_parallel=True)
    said = _args("torchtitan", plan, model=gpt, layers=96)
    assert said.args == ()
    assert said.not_expressible[0].startswith("model gpt3-175b (gpt family)")
    assert _args("megatron_lm", plan, model=gpt, layers=96).not_expressible == ()


def test_every_value_of_every_choice_has_a_case_in_every_framework():
    for key, zero, recompute, precision, tp, sp, pp, vp, ep in itertools.product(
        FRAMEWORKS, range(4), ("none", "selective", "full"), ("bf16", "fp16", "fp8", "fp4", "fp32"),
        (1, 2), (False, True), (1, 2), (1, 2), (1, 2),
    ):  # fmt: skip
        if (sp and tp == 1) or (vp > 1 and pp == 1):
            continue
        plan = ParallelPlan(16, 32, 1, 1024, tp, pp, vp, 1, ep, zero, recompute, sp, precision)
        said = _args(key, plan, model=parse_model("mixtral-8x7b"))
        assert said.args or said.not_expressible
        dims = {line.split("=")[0] for line in said.not_expressible}
        assert dims <= set(DIMENSIONS)


def test_a_broken_flag_table_is_one_clear_error():
    with pytest.raises(InputError, match=r"\[tp\]: every dimension needs its `source`"):
        _dimension("x.toml", "tp", {"args": ["--tp {tp}"]})
    with pytest.raises(InputError, match="by = 'pipe' is not a plan value; did you mean 'pp'"):
        _dimension("x.toml", "vp", {"by": ["pipe"], "cases": {"1": []}, "source": "s"})
    with pytest.raises(InputError, match="case '1,2' names 2 values, `by` names 1"):
        _dimension("x.toml", "vp", {"cases": {"1,2": []}, "source": "s"})
    with pytest.raises(InputError, match="framework 'titan'"):
        load_framework("titan")


def test_simulate_line_spells_out_every_option():
    line = simulate_line(
        parse_model("llama(layers=4,hidden=256,heads=8,ffn=512,vocab=1000)"), "dgx-h100", TYPICAL,
        ("device.tdp_w=600",), "torchtitan-compile-2024",
    )  # fmt: skip
    words = shlex.split(line)
    assert words[:4] == ["dojosim", "simulate", "--model", "llama(layers=4,hidden=256,heads=8,ffn=512,vocab=1000)"]
    expected = {
        "--tp": "4", "--vp": "2", "--zero": "1", "--recompute": "selective", "--precision": "fp8",
        "--stack": "torchtitan-compile-2024", "--seq": "4096", "--set": "device.tdp_w=600", "--micro-batch": "1",
        "--global-batch": "256",
    }  # fmt: skip
    for option, value in expected.items():
        assert words[words.index(option) + 1] == value
    assert "--sequence-parallel" in words
    images = simulate_line(parse_model("resnet50"), "dgx-h100", ParallelPlan(8, 64), (), "megatron-core-2024")
    assert "--seq" not in shlex.split(images)  # a model without tokens takes no --seq


MODEL = "llama(layers=4,hidden=256,heads=8,kv_heads=4,ffn=512,vocab=1000)"
SLOW_HBM = "device.hbm_bytes_per_s=1e11"  # an override that changes the step time


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path / "cache"))


def _invoke(words: list[str]) -> dict:
    result = CliRunner().invoke(app, words)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_search_prints_the_best_plan_runnable_and_its_simulate_line_round_trips(isolated_cache, tmp_path):
    """`search --json` gives best.run; running its `dojosim simulate` line gives the search's step time."""
    found = _invoke([
        "search", "--model", MODEL, "--system", "dgx-h100", "--devices", "16", "--global-batch", "32",
        "--seq", "512", "--precision", "fp8", "--stack", "torchtitan-eager-2024", "--set", SLOW_HBM,
        "--workers", "1", "--out", str(tmp_path / "s"), "--json",
    ])  # fmt: skip
    best, run = found["best"], found["best"]["run"]
    assert best["step_time_s"] == found["top"][0]["step_time_s"]
    assert set(run) >= {"dojosim", *FRAMEWORKS}
    assert all(isinstance(run[key], list) for key in FRAMEWORKS)
    assert f"--tensor-model-parallel-size {best['tp']}" in run["megatron_lm"]
    words = shlex.split(run["dojosim"])
    assert words[:2] == ["dojosim", "simulate"]
    simulated = _invoke([*words[1:], "--json"])
    assert simulated["step_time_s"] == pytest.approx(best["step_time_s"], rel=1e-12)
    # the stack and the override travel in the line: without either, the same plan costs otherwise
    at = words.index("--set")
    assert _invoke([*words[1:at], *words[at + 2 :], "--json"])["step_time_s"] != simulated["step_time_s"]
    at = words.index("--stack")
    assert _invoke([*words[1:at], *words[at + 2 :], "--json"])["step_time_s"] != simulated["step_time_s"]
    # and the terminal output shows the same lines
    result = CliRunner().invoke(app, ["search", *found_args(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "run the best plan:" in result.stdout and run["dojosim"] in result.stdout
    assert " ".join(run["nemo"]) in result.stdout


def found_args(tmp_path) -> list[str]:
    return [
        "--model", MODEL, "--system", "dgx-h100", "--devices", "16", "--global-batch", "32", "--seq", "512",
        "--precision", "fp8", "--stack", "torchtitan-eager-2024", "--set", SLOW_HBM, "--workers", "1",
        "--out", str(tmp_path / "s"), "--resume",
    ]  # fmt: skip


def test_run_document_lists_what_each_framework_cannot_express():
    doc = run_document(LLAMA, "dgx-h100", TYPICAL, (), "megatron-core-2024", 32)
    assert doc["not_expressible"] == {
        "torchtitan": [line for line in _args("torchtitan").not_expressible],
    }
    assert doc["commands"]["megatron_lm"].endswith("pretrain_gpt.py")
