"""The CLI under random arguments: real option names with good, odd and bad values, in this process.

Whatever is typed, dojosim answers with exit 0 (a result), 2 (bad input: one line on stderr) or 3 (a plan that
does not fit: one line on stderr), and never a traceback. A table of the known bad inputs pins their messages.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_run import SMALL_MODEL, dojosim

MODELS = [
    SMALL_MODEL,
    "llama(layers=2.5,hidden=64,heads=4,kv_heads=4,ffn=128,vocab=100)",
    "llama(layers=100000000,hidden=64,heads=4,kv_heads=4,ffn=128,vocab=100)",
    "llama(layers=2,hidden=64,heads=3,kv_heads=4,ffn=128,vocab=100)",
    "llama(layers=2,hidden=abc,heads=4,ffn=128,vocab=100)",
    "llama(layers=2,hidden=64,heads=4,ffn=128,vocab=100,rope_theta=nan)",
    "gpt(layers=-1,hidden=64,heads=4,vocab=100)",
    "gpt(layers=2,hidden=64,heads=4,vocab=100)",
    "moe(layers=2,hidden=64,heads=4,ffn=128,vocab=100,experts=3,top_k=2)",
    "moe(layers=3,hidden=64,heads=4,head_dim=32,qk_norm=1,ffn=128,vocab=100,experts=4,top_k=2,expert_ffn=32,"
    "shared_experts=1,dense_layers=1,q_lora_rank=0)",
    "llama(layers=2,hidden=64,heads=4,ffn=128,vocab=100,kv_lora_rank=16,qk_rope_head_dim=8,qk_nope_head_dim=16)",
    "lama3-8b",
    "hf:tests/data/hf/tiny-deepseek-v3.json",
    "hf:meta-llama/Llama-3.1-8B",
    "python:examples.my_net:build",
    "python:examples.nope:build",
    "llama(",
    "",
]
COUNTS = ["-1", "0", "1", "2", "8", "16", "3.5", "abc", "", "1e3", "100000000", "99999999999999999999"]
REALS = ["0", "-1", "0.5", "1", "nan", "inf", "abc", "1e308"]
VALUES = {
    "--model": MODELS,
    "--workload": MODELS,
    "--system": ["dgx-h100", "dojo-v1", "dgx-b200", "dgx-h1000", "/no/such/system.toml", ""],
    "--systems": ["dgx-h100", "dojo-v1,dgx-h100", "nope", ",", ""],
    "--fleet-gpu": ["dgx-h100", "nope"],
    "--devices": COUNTS,
    "--gpus": COUNTS,
    "--global-batch": COUNTS,
    "--batch": COUNTS,
    "--micro-batch": COUNTS,
    "--seq": ["0", "1", "64", "128", "100000000", "-5", "x"],
    "--tp": COUNTS,
    "--pp": COUNTS,
    "--vp": COUNTS,
    "--cp": COUNTS,
    "--ep": COUNTS,
    "--zero": ["-1", "0", "1", "3", "4", "x"],
    "--top": COUNTS,
    "--rows": COUNTS,
    "--workers": ["-1", "0", "1"],
    "--recompute": ["none", "selective", "full", "sometimes", ""],
    "--precision": ["bf16", "fp16", "fp8", "fp4", "fp32", "int4", ""],
    "--dtype": ["bf16", "fp32", "fp8", "int4"],
    "--optimizer": ["adamw", "sgd", "lion"],
    "--objective": ["time", "cost", "energy", "speed"],
    "--stack": ["megatron-core-2024", "megatron-2021", "nemo", "/no/such/stack.toml"],
    "--set": ["h100.hbm_bytes_per_s=1e12", "device.tdp_w=-5", "device.tdp_w=abc", "device.tdp_w=nan",
              "h100.hbm_bytes_per_s=1e-300", "tile.colour=1", "nope.x=1", "x"],
    "--max-memory-fraction": REALS,
    "--normalize": ["power", "devices", "cost", "vibes"],
    "--budget": ["16", "0", "-5", "abc", "1MW", "$100/h", "1e9"],
    "--batch-per-device": REALS,
    "--epochs": REALS,
    "--samples": ["100M", "1k", "0", "-3", "abc", "1e400"],
    "--dataset-clips": ["10M", "x"],
    "--target-days": REALS,
    "--fleet-eflops": REALS,
    "--by": ["source", "system", "colour"],
    "--backend": ["process", "threads"],
    "--days": REALS,
    "--scheduler": ["fifo", "backfill", "priority", "lottery"],
    "--vary": ["scheduler=fifo,backfill", "seed=0,1", "devices=8,16", "colour=1", "devices=x", "seed"],
    "--seed": ["0", "7", "-1", "x"],
    "--price": REALS,
    "--clouds": ["dgx-h100", "dojo-v1", "nope", ","],
    "--mix": ["RENT_MIX", "nope", "/no/such/mix.toml", ","],
    "--tokens-per-seq": ["1", "64", "100.5", "128", "129", "0", "-3", "nan", "inf", "abc"],
    "--docs-per-row": ["1", "2", "4.5", "200", "0", "nan", "abc"],
    "--loss-positions": ["1", "20", "128", "1000", "0", "nan", "abc"],
    "--kernels": ["eager", "framework", "compiled", "fused", ""],
}
FLAGS = {
    "simulate": ["--sequence-parallel", "--no-sequence-parallel", "--json", "--csv"],
    "capture": ["--full", "--json", "--csv"],
    "search": ["--resume", "--json", "--csv"],
    "compare": ["--json", "--csv"],
    "system": ["--json", "--csv"],
    "rent": ["--json", "--csv"],
}
# Per command: arguments that make a valid run, and the options a random run may change or add.
COMMANDS = {
    "simulate": (
        ["--model", SMALL_MODEL, "--system", "dgx-h100", "--devices", "8", "--global-batch", "16", "--seq", "128"],
        ["--model", "--system", "--devices", "--gpus", "--global-batch", "--micro-batch", "--seq", "--tp", "--pp",
         "--vp", "--cp", "--ep", "--zero", "--recompute", "--precision", "--optimizer", "--set", "--stack",
         "--tokens-per-seq", "--docs-per-row", "--loss-positions", "--kernels"],
    ),
    "capture": (
        ["--model", SMALL_MODEL, "--seq", "64"],
        ["--model", "--global-batch", "--batch", "--seq", "--precision", "--dtype", "--optimizer", "--top"],
    ),
    "search": (
        ["--model", SMALL_MODEL, "--system", "dgx-h100", "--devices", "8", "--global-batch", "16", "--seq", "128",
         "--workers", "1"],
        ["--model", "--system", "--devices", "--gpus", "--global-batch", "--seq", "--precision", "--objective",
         "--top", "--max-memory-fraction", "--set", "--stack", "--backend", "--tokens-per-seq", "--docs-per-row",
         "--loss-positions", "--kernels"],
    ),
    "compare": (
        ["--model", SMALL_MODEL, "--seq", "128", "--systems", "dgx-h100", "--normalize", "devices", "--budget", "16"],
        ["--model", "--workload", "--systems", "--seq", "--precision", "--normalize", "--budget", "--set", "--stack",
         "--batch-per-device", "--samples", "--dataset-clips", "--epochs", "--target-days", "--fleet-eflops",
         "--fleet-gpu", "--tokens-per-seq", "--docs-per-row", "--loss-positions", "--kernels"],
    ),
    "system": (["show", "dojo-v1"], ["--devices", "--gpus", "--set"]),
    "rent": (
        ["--system", "dgx-h100", "--devices", "16", "--days", "1", "--clouds", "dgx-h100"],
        ["--system", "--devices", "--days", "--scheduler", "--seed", "--price", "--clouds", "--mix", "--vary"],
    ),
}  # fmt: skip
JOB_FILES = ["missing.toml", "folder", "bad.toml", "unknown-key.toml", "good.toml"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A cache shared by the module's runs (captures are the slow part), and job files of every kind."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "folder").mkdir()
    (root / "bad.toml").write_text("model = [")
    (root / "unknown-key.toml").write_text("colour = 'red'")
    (root / "good.toml").write_text("devices = 8\nglobal_batch = 16\n")
    (root / "mix.toml").write_text(  # one small model, so a rent run searches a few tiny shapes
        f'[[jobs]]\nname = "tiny"\ntenant = "t"\nmodel = "{SMALL_MODEL}"\npriority = "high"\n'
        'arrivals_per_day = 20\npeak_pflops = [1, 4]\nsamples = [1e3, 1e5]\nglobal_batch = 16\nseq = 64\n'
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOJOSIM_CACHE_DIR", str(root / "cache"))
        mp.setenv("COLUMNS", "200")
        yield root


@st.composite
def command_lines(draw, command: str, root) -> list[str]:
    base, options = COMMANDS[command]
    # Mostly a valid run with a few changes, so that the random values reach past the first check
    args = list(base) if draw(st.integers(0, 7)) or command == "system" else []
    for option in draw(st.lists(st.sampled_from(options), max_size=3)):
        args += [option, draw(st.sampled_from(VALUES[option]))]
    args += draw(st.lists(st.sampled_from(FLAGS[command]), max_size=1))
    if command in ("simulate", "search", "compare") and draw(st.integers(0, 5)) == 0:
        args.insert(0, str(root / draw(st.sampled_from(JOB_FILES))))
    if command == "search":
        args += ["--out", str(root / "search")]
    if command == "compare":
        args += ["--out", str(root / "report.html")]
    if command == "rent":
        args = [str(root / "mix.toml") if a == "RENT_MIX" else a for a in args]
        args += [] if "--mix" in args else ["--mix", str(root / "mix.toml")]
    return [command, *args]


def check_answer(args: list[str]) -> None:
    ran = dojosim(*args)
    said = ran.stdout + ran.stderr
    assert ran.code in (0, 2, 3), f"exit {ran.code} for {args}:\n{said[-2000:]}"
    assert "Traceback" not in said, f"traceback for {args}:\n{said[-2000:]}"
    if ran.code in (2, 3):
        assert len(ran.stderr.strip().splitlines()) == 1, f"stderr is not one line for {args}:\n{ran.stderr}"


@pytest.mark.parametrize("command, examples", [("simulate", 60), ("capture", 40), ("system", 20), ("search", 25),
                                               ("compare", 25), ("rent", 20)])  # fmt: skip
def test_random_command_lines_exit_0_2_or_3_with_one_line_and_no_traceback(workspace, command, examples):
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(args=command_lines(command, workspace))
    def run(args):
        check_answer(args)

    run()


BASE = ["--system", "dgx-h100", "--devices", "8", "--global-batch", "16"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["simulate", "--model", SMALL_MODEL, *BASE, "--seq", "0"], "--seq: must be between 1 and 1,048,576 tokens"),
        (["simulate", "--model", SMALL_MODEL, *BASE, "--seq", "100000000"], "1,048,576 tokens (the stated maximum)"),
        (["simulate", "--model", SMALL_MODEL.replace("layers=2", "layers=2.5"), *BASE], "must be a whole number"),
        (["simulate", "--model", SMALL_MODEL.replace("layers=2", "layers=300"), *BASE], "layers must be <= 256"),
        (["simulate", "--model", SMALL_MODEL, *BASE, "--system", "dgx-h1000"], "did you mean"),
        (["simulate", "--model", SMALL_MODEL, *BASE, "--stack", "megatorn-2021"], "megatron-2021"),
        (["simulate", "/no/such/job.toml"], "job file '/no/such/job.toml' does not exist"),
        (["simulate", "--model", SMALL_MODEL, *BASE, "--devices", "2000000"], "--devices: must be at most 1,048,576"),
        (["simulate", "--model", SMALL_MODEL, *BASE, "--tp", "0"], "--tp: must be >= 1, got 0"),
        (["simulate", "--model", SMALL_MODEL, *BASE, "--devices", "abc"], "Invalid value for '--devices'"),
        (["simulate", "--modle", SMALL_MODEL], "No such option: --modle"),
        (["compare", "--epochs", "nan"], "--epochs: must be a finite number"),
        (["compare", "--samples", "1e400"], "--samples '1e400': must be a finite number"),
        (["compare", "--model", SMALL_MODEL, "--csv", "--json"], "--csv and --json: choose one"),
        (["capture", "--model", SMALL_MODEL, "--seq", "0"], "--seq: must be between 1"),
        (["search", "--model", SMALL_MODEL, *BASE, "--max-memory-fraction", "inf"], "--max-memory-fraction: must be"),
        (["simulate", "--model", SMALL_MODEL, *BASE, "--seq", "128", "--tokens-per-seq", "129"],
         "--tokens-per-seq: must be between 1 and --seq 128, got 129"),
        (["simulate", "--model", SMALL_MODEL, *BASE, "--tokens-per-seq", "0"], "--tokens-per-seq: must be >= 1"),
        (["simulate", "--model", SMALL_MODEL, *BASE, "--seq", "128", "--tokens-per-seq", "64", "--loss-positions",
          "65"], "--loss-positions: must be between 1 and the real tokens per row 64, got 65"),
        (["simulate", "--model", SMALL_MODEL, *BASE, "--docs-per-row", "nan"], "--docs-per-row: must be a finite"),
        (["search", "--model", SMALL_MODEL, *BASE, "--seq", "64", "--docs-per-row", "65"], "--docs-per-row: must be"),
        (["compare", "--model", SMALL_MODEL, "--seq", "64", "--loss-positions", "65"], "--loss-positions: must be"),
    ],
)  # fmt: skip
def test_known_bad_inputs_exit_2_with_one_line_naming_the_field(workspace, args, message):
    ran = dojosim(*args)
    assert ran.code == 2, ran.stdout + ran.stderr
    assert message in ran.stderr and len(ran.stderr.strip().splitlines()) == 1, ran.stderr
