"""One vocabulary on every command, the old names as hidden aliases, job files, completion, progress and Ctrl-C."""

import json
import os
import subprocess
import sys

import pytest

from tests.cli_run import SMALL_MODEL, dojosim

PLAN = ("--system", "dgx-h100", "--global-batch", "16", "--seq", "128")


@pytest.fixture(autouse=True, scope="module")
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOJOSIM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("COLUMNS", "200")
        yield


def _json(*args: str) -> dict:
    ran = dojosim(*args, "--json")
    assert ran.code == 0, ran.stderr
    return json.loads(ran.stdout)


NEW_NAMES = {
    "simulate": ["--model", "--system", "--devices", "--global-batch", "--micro-batch", "--seq", "--precision", "--set",
                 "--stack", "JOB.toml"],
    "search": ["--model", "--system", "--devices", "--global-batch", "--seq", "--precision", "--set", "--stack",
               "JOB.toml"],
    "sweep": ["--model", "--system", "--devices", "--global-batch", "--seq", "--precision", "--set", "--stack"],
    "compare": ["--model", "--systems", "--seq", "--precision", "--set", "--stack", "JOB.toml"],
    "capture": ["--model", "--global-batch", "--seq", "--precision"],
    "check-local": ["--model", "--global-batch", "--seq", "--system"],
}  # fmt: skip
OLD_NAMES = ["--gpus", "--workload", "--batch ", "--dtype"]


@pytest.mark.parametrize("command", NEW_NAMES)
def test_help_shows_the_vocabulary_and_hides_the_old_names(command):
    ran = dojosim(command, "-h")
    assert ran.code == 0
    for name in NEW_NAMES[command]:
        assert name in ran.stdout, f"{command} -h lacks {name}"
    for name in OLD_NAMES:
        assert name not in ran.stdout, f"{command} -h shows the old name {name}"


def test_old_names_still_work_and_mean_the_same():
    new = _json("simulate", "--model", SMALL_MODEL, "--devices", "8", *PLAN)
    old = _json("simulate", "--model", SMALL_MODEL, "--gpus", "8", *PLAN)
    assert old["step_time_s"] == new["step_time_s"] and old["devices"] == 8
    positional = _json("capture", SMALL_MODEL, "--batch", "2", "--seq", "32", "--dtype", "fp32")
    named = _json("capture", "--model", SMALL_MODEL, "--global-batch", "2", "--seq", "32", "--precision", "fp32")
    assert positional == named and named["input"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["simulate", "--model", SMALL_MODEL, "--devices", "8", "--gpus", "8", *PLAN], "--gpus is the old name of"),
        (["compare", "--model", "gpt3-175b", "--workload", "gpt3-175b"], "--workload is the old name of --model"),
        (["capture", SMALL_MODEL, "--model", SMALL_MODEL], "the positional MODEL is the old name of --model"),
        (["capture", "--model", SMALL_MODEL, "--batch", "2", "--global-batch", "2"], "--batch is the old name"),
        (["capture", "--model", SMALL_MODEL, "--precision", "fp8"], "--precision: a capture takes bf16, fp16, fp32"),
        (["simulate", *PLAN, "--devices", "8"], "--model: required"),
        (["compare", "--precision", "int3"], "precision"),
        (["compare", "--model", SMALL_MODEL, "--systems", "dojo-v1", "--set", "tile.colour=1"], "'colour'"),
    ],
)  # fmt: skip
def test_both_names_or_a_missing_option_is_one_line(args, message):
    ran = dojosim(*args)
    assert ran.code == 2 and message in ran.stderr, ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1


def _job(tmp_path, text: str):
    path = tmp_path / "job.toml"
    path.write_text(text)
    return path


def test_a_job_file_gives_the_options_and_flags_win(tmp_path):
    job = _job(
        tmp_path,
        f'model = "{SMALL_MODEL}"\nsystem = "dgx-h100"\ndevices = 8\nglobal_batch = 16\nseq = 128\ntp = 2\n'
        'set = ["h100.hbm_bytes_per_s=1e12"]\n',
    )
    from_file = _json("simulate", job)
    typed = _json("simulate", "--model", SMALL_MODEL, "--devices", "8", *PLAN, "--tp", "2",
                  "--set", "h100.hbm_bytes_per_s=1e12")  # fmt: skip
    assert from_file["step_time_s"] == typed["step_time_s"] and from_file["plan"]["tp"] == 2
    assert _json("simulate", job, "--tp", "4")["plan"]["tp"] == 4  # the command line wins
    assert _json("simulate", job, "--gpus", "16")["devices"] == 16  # an old name too
    faster = _json("simulate", job, "--set", "h100.hbm_bytes_per_s=4e12")  # added after the file's, so it wins
    assert faster["step_time_s"] < from_file["step_time_s"]
    job.write_text("\n".join(line for line in job.read_text().splitlines() if not line.startswith("tp")))
    found = _json("search", job, "--top", "2", "--workers", "1", "--out", tmp_path / "s")  # no plan keys: it searches
    assert found["top"][0]["step_time_s"] <= from_file["step_time_s"]


@pytest.mark.parametrize(
    "command, text, message",
    [
        ("simulate", "modle = 'gpt3-175b'", "unknown key 'modle'; did you mean 'model'? allowed keys: cp, devices"),
        ("simulate", "devices = '8'", "'devices' must be an integer, got '8'"),
        ("simulate", "seq = 0", "--seq: must be between 1 and 1,048,576"),
        ("simulate", "set = 'x=1'", "'set' must be a list of strings"),
        ("simulate", "sequence_parallel = 1", "'sequence_parallel' must be true or false"),
        ("simulate", "tp = 2", "--model: required (give it on the command line or in the job file)"),
        ("search", "workers = 0", "--workers: must be >= 1"),
        ("compare", "epochs = 'five'", "'epochs' must be a number"),
        ("compare", "model = [", "not valid TOML"),
    ],
)
def test_a_bad_job_file_is_one_line_naming_the_key(tmp_path, command, text, message):
    ran = dojosim(command, _job(tmp_path, text))
    assert ran.code == 2 and message in ran.stderr, ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1


def test_the_example_job_file_runs():
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "llama3-8b-on-dgx-h100.toml"
    doc = _json("simulate", example, "--model", SMALL_MODEL)  # the example's plan on a toy model, to stay fast
    assert doc["plan"]["tp"] == 2 and doc["devices"] == 64


def test_shell_completion_is_offered_and_completes_the_new_names():
    script = dojosim("--show-completion", "bash")
    assert script.code == 0 and "_DOJOSIM_COMPLETE=complete_bash" in script.stdout
    env = {**os.environ, "_DOJOSIM_COMPLETE": "complete_bash", "COMP_WORDS": "dojosim simulate --g", "COMP_CWORD": "2"}
    code = "from dojosim.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "--global-batch" in done.stdout.split() and "--gpus" not in done.stdout.split()


def test_progress_bars_are_off_for_json_and_off_a_terminal(monkeypatch):
    from dojosim.cli.app import progress_bar

    assert progress_bar(as_json=False).disable  # stderr here is not a terminal
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert not progress_bar(as_json=False).disable
    assert progress_bar(as_json=True).disable


def test_search_on_ctrl_c_says_what_it_kept_and_how_to_resume(tmp_path, monkeypatch):
    from dojosim.study.sinks import FolderSink

    write = FolderSink.write

    def write_then_interrupt(self, results):
        write(self, results)
        raise KeyboardInterrupt

    monkeypatch.setattr(FolderSink, "write", write_then_interrupt)
    out = tmp_path / "s"
    args = ["search", "--model", SMALL_MODEL, "--devices", "8", *PLAN, "--workers", "1", "--out", str(out)]
    ran = dojosim(*args)
    kept = (out / "plans.jsonl").read_text().count("\n")
    assert ran.code == 130 and kept > 0
    assert ran.stderr.strip() == (
        f"interrupted: {kept:,} costed plans kept in {out / 'plans.jsonl'}; resume with: dojosim {' '.join(args)} "
        "--resume"
    ).replace(SMALL_MODEL, f"'{SMALL_MODEL}'")
    monkeypatch.setattr(FolderSink, "write", write)
    resumed = dojosim(*args, "--resume", "--json")
    assert resumed.code == 0, resumed.stderr
    assert json.loads(resumed.stdout)["costed"] == (out / "plans.jsonl").read_text().count("\n") > kept
    # Resuming another question (here: a larger global batch) would mix its plans in: refused, saying why.
    other = list(args)
    other[other.index("--global-batch") + 1] = str(2 * int(other[other.index("--global-batch") + 1]))
    refused = dojosim(*other, "--resume")
    assert refused.code != 0 and "--resume" in refused.stderr and "global_batch" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_sweep_on_ctrl_c_says_how_many_points_it_kept(tmp_path, monkeypatch):
    import dojosim.study.sweep as sweep

    search_point, calls = sweep._search_point, []

    def second_interrupts(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return search_point(*args, **kwargs)

    monkeypatch.setattr(sweep, "_search_point", second_interrupts)
    out = tmp_path / "sw"
    ran = dojosim("sweep", "--model", SMALL_MODEL, "--devices", "8", *PLAN, "--workers", "1", "--out", out,
                  "--vary", "h100.hbm_bytes_per_s=1e12,2e12,3e12")  # fmt: skip
    assert ran.code == 130 and len(ran.stderr.strip().splitlines()) == 1
    kept = f"interrupted: 1 of 3 hardware points kept in {out / 'points.jsonl'}; resume with: dojosim sweep"
    assert kept in ran.stderr
    assert ran.stderr.strip().endswith("--resume")
