"""Tables at any width: a narrow terminal never cuts a number, a file gets every table whole, --csv parses."""

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest
from rich.console import Console

from dojosim.report.compare_view import print_summary
from dojosim.report.estimate_view import print_estimate
from dojosim.report.terminal import FULL_WIDTH, Grid, console_for, num, prose, show
from dojosim.report.units import si
from tests.conftest import run_cli

MODEL = "llama(layers=4,hidden=256,heads=8,kv_heads=4,ffn=512,vocab=1000)"
SENTENCE = "memory-bound: 10.92x faster with unlimited edge HBM bandwidth; 1.04x with no per-op overhead"
NUMBER = re.compile(r"\$?\d[\d,]*(?:\.\d+)?%?")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path / "cache"))


def _cli(*args: str, columns: int) -> subprocess.CompletedProcess:
    """The CLI with stdout to a pipe (not a terminal) and COLUMNS set, as `dojosim ... > out.txt` runs."""
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "dojosim.cli", *args], capture_output=True, text=True, env=env)


def _render(width: int, draw) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    draw(console)
    return console.file.getvalue()


def _wide_grid() -> Grid:
    columns = ["system", num("devices"), prose("plan", 10), num("step"), num("samples/s", drop=1), num("MFU"),
               num("mem/dev", drop=2), num("$/1M owned"), prose("bottleneck")]  # fmt: skip
    rows = [
        ("dojo-3-projected", "3,000", "cp75 dp40 mb1 z1", "2.39 s", "1,255", "2.8%", "1.8 GB", "$176", SENTENCE),
        ("dgx-h100", "1,440", "cp2 dp720 mb1 z1", "297 ms", "4,852", "8.1%", "55.7 GB", "$105", SENTENCE),
    ]
    return Grid.of("best plan per system", columns, rows)


@pytest.mark.parametrize("width", [200, 120, 100, 80, 60, 40])
def test_a_table_never_cuts_a_number_and_stays_within_the_width(width):
    grid = _wide_grid()
    text = _render(width, lambda c: show(c, grid))
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    shown = set(NUMBER.findall(text))
    for row in grid.rows:
        kept = [cell for cell, col in zip(row, grid.columns, strict=True) if col.drop == 0 or width >= 120]
        for cell in kept:
            assert set(NUMBER.findall(cell)) <= shown, (width, cell)
    if width >= 200:
        assert SENTENCE in text  # room enough: the sentence on one line
    if "left out" in text:
        assert "mem/dev" in text.splitlines()[-1] or "samples/s" in text


def test_a_narrow_table_drops_low_priority_columns_with_a_note_or_turns_into_blocks():
    grid = _wide_grid()
    at_80 = _render(80, lambda c: show(c, grid))
    at_40 = _render(40, lambda c: show(c, grid))
    assert "left out at 80 columns: mem/dev" in at_80 or "  devices" in at_80
    # At 40 columns every row is a block: its name as a heading, then one figure per line.
    assert re.search(r"^dgx-h100$", at_40, re.M) and re.search(r"^\s+step\s+297 ms\s*$", at_40, re.M)


def test_a_sentence_wraps_at_word_boundaries():
    text = _render(100, lambda c: show(c, _wide_grid()))
    words = set(SENTENCE.replace(";", " ").split())
    cells = {w for line in text.splitlines() for w in re.split(r"[\s│;]+", line) if w}
    assert words <= cells  # no word of the sentence was split across lines


def test_not_a_terminal_prints_every_table_at_full_width():
    out = io.StringIO()
    console = console_for(file=out)
    assert not console.is_terminal and console.width == FULL_WIDTH
    show(console, _wide_grid())
    rows = [line for line in out.getvalue().splitlines() if "dgx-h100" in line]
    assert len(rows) == 1 and SENTENCE in rows[0] and "297 ms" in rows[0]  # one line per row, nothing wrapped


@pytest.fixture(scope="module")
def small_compare(tmp_path_factory):
    """A small comparison as --json and as the terminal text of `compare ... > out.txt` at COLUMNS=80."""
    folder = tmp_path_factory.mktemp("compare")
    args = ["compare", "--workload", MODEL, "--seq", "128", "--systems", "dgx-h100,dojo-v1,dojo-3-projected",
            "--normalize", "devices", "--budget", "48", "--out", str(folder / "report.html")]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOJOSIM_CACHE_DIR", str(folder / "cache"))
        as_json = _cli(*args, "--json", columns=80)
        as_text = _cli(*args, columns=80)
        as_csv = _cli(*args, "--csv", columns=80)
    assert as_json.returncode == as_text.returncode == as_csv.returncode == 0, as_json.stderr + as_text.stderr
    return json.loads(as_json.stdout), as_text.stdout, as_csv.stdout


def _headline(result: dict) -> list[str]:
    b = result["best"]
    cost = b["cost_owned_usd"] / b["global_batch"] * 1e6
    usd = f"${cost:,.0f}" if cost >= 100 else f"${cost:.3g}"  # small sums keep three significant figures
    return [f"{result['devices']:,}", si(b["step_time_s"], "s"), f"{100 * b['mfu']:.1f}%", usd]


def _check_headlines(doc: dict, text: str) -> None:
    assert "…" not in text
    lines = text.splitlines()
    # the table's rows, not the verdict above it (a wrapped verdict line may start with a system's name)
    lines = lines[next(i for i, line in enumerate(lines) if "best plan" in line) :]
    for result in doc["results"]:
        row = next(line for line in lines if re.match(rf"\W*{re.escape(result['system'])}\s", line))
        for figure in _headline(result):
            assert figure in row, (result["system"], figure, row)


def test_compare_to_a_file_at_80_columns_prints_every_headline_number_in_full(small_compare):
    doc, text, _ = small_compare
    _check_headlines(doc, text)
    for result in doc["results"]:  # full width: no sentence wrapped, whatever COLUMNS says
        assert f"{result['system']} ({result['status']}): {result['best']['bottleneck']}" in text


@pytest.mark.parametrize("width", [80, 100])
def test_compare_on_a_narrow_terminal_prints_every_headline_number_in_full(small_compare, width):
    doc, _, _ = small_compare
    text = _render(width, lambda c: print_summary(doc, c))
    _check_headlines(doc, text)
    assert max(len(line) for line in text.splitlines()) <= width


def test_compare_csv_parses_and_agrees_with_the_json(small_compare):
    doc, _, text = small_compare
    tables = _csv_tables(text)
    best = next(rows for title, rows in tables.items() if "best plan per system" in title)
    assert best[0][:2] == ["system", "devices"] and "bottleneck" in best[0]
    by_system = {row[0]: dict(zip(best[0], row, strict=True)) for row in best[1:]}
    for result in doc["results"]:
        row = by_system[result["system"]]
        assert [row["devices"], row["step"], row["MFU"], row["$/1M owned"]] == _headline(result)
        assert row["bottleneck"] == result["best"]["bottleneck"]


def _csv_tables(text: str) -> dict[str, list[list[str]]]:
    """CSV output: tables separated by a blank line, each after a '# title' line."""
    tables = {}
    for block in text.strip().split("\n\n"):
        title, _, body = block.partition("\n")
        assert title.startswith("# "), block[:80]
        tables[title[2:]] = list(csv.reader(io.StringIO(body)))
    return tables


def test_simulate_at_any_width_shows_every_figure_of_its_json():
    args = ["simulate", "--model", MODEL, "--system", "dgx-h100", "--devices", "8", "--global-batch", "8",
            "--seq", "128", "--tp", "2"]  # fmt: skip
    doc = json.loads(_cli(*args, "--json", columns=80).stdout)
    figures = [si(doc["step_time_s"], "s"), f"{100 * doc['mfu']:.1f}%", si(doc["energy_j"], "J")]
    figures += [si(v, "s") for v in doc["breakdown_s"].values() if v > 0]
    figures += [si(v, "B") for v in doc["memory_bytes_per_device"].values()]
    for width in (60, 80, 120):
        text = _render(width, lambda c: print_estimate(c, doc))  # noqa: B023
        assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
        for figure in figures:
            assert figure in text, (width, figure)
    tables = _csv_tables(_cli(*args, "--csv", columns=80).stdout)
    assert dict(tables["prediction"][1:])["step time"] == figures[0]
    assert tables["job"][1][:3] == [doc["model"], doc["system"], str(doc["devices"])]
    assert {row[0] for row in tables["step time breakdown"][1:]} == {k for k, v in doc["breakdown_s"].items() if v > 0}


def test_systems_csv_has_one_row_per_preset():
    presets = {row["name"] for row in json.loads(run_cli("systems", "--json").stdout)}
    tables = _csv_tables(run_cli("systems", "--csv").stdout)
    header, *rows = tables["system presets"]
    assert header[:2] == ["name", "status"] and {row[0] for row in rows} == presets


def test_system_show_and_compare_csv():
    shown = _csv_tables(run_cli("system", "show", "dojo-v1", "--csv").stdout)
    assert any(title.startswith("device: d1") for title in shown) and "derived vs published" in shown
    compared = _csv_tables(run_cli("system", "compare", "dojo-v1", "dgx-b200@3000", "--csv").stdout)
    (header, *rows), = compared.values()
    assert header[1:] == ["dojo-v1 3,000 x d1", "dgx-b200 3,000 x b200"]
    assert ["peak bf16", "1.09 EFLOP/s", "6.75 EFLOP/s"] in rows


def test_csv_and_json_together_are_refused():
    result = run_cli("systems", "--csv", "--json")
    assert result.returncode == 2 and "--csv and --json: choose one" in result.stderr
