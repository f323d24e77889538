"""The compare report in a real headless browser (Debian's chromium): it loads with no console errors and no
network, every plot is laid out with visible marks, and a screenshot shows each plot's pixels.

CI installs chromium (.ci/run); elsewhere the test skips when no browser is installed, unless
DOJOSIM_REQUIRE_BROWSER=1 says it must run.
"""

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli

MODEL = "llama(layers=4,hidden=256,heads=8,kv_heads=4,ffn=512,vocab=1000)"
BROWSER = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
# As root in a container, with this machine's closed network: no sandbox, no GPU, no background connections.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]
WIDTH = 1200

# Runs after the page has been parsed: for every plot, its laid-out box and how many marks have a real size.
PROBE = """<script>(() => {
  const plots = [...document.querySelectorAll('svg.plot')].map(svg => {
    const box = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll('rect,circle,polyline,line,path')]
      .filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; }).length;
    return {label: svg.getAttribute('aria-label'), x: box.left + scrollX, y: box.top + scrollY,
            width: box.width, height: box.height, marks};
  });
  const external = [...document.querySelectorAll('[src],[href]')]
    .map(e => e.getAttribute('src') || e.getAttribute('href'));
  const out = document.createElement('pre');
  out.id = 'dojosim-probe';
  out.textContent = JSON.stringify({plots, external, height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
})();</script>"""


def _browser() -> str:
    if BROWSER:
        return BROWSER
    if os.environ.get("DOJOSIM_REQUIRE_BROWSER") == "1":
        pytest.fail("DOJOSIM_REQUIRE_BROWSER=1 but no chromium is installed (apt-get install chromium)")
    pytest.skip("no chromium installed (apt-get install chromium); CI installs it")


def _run_browser(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"  # a new empty profile per run
    return subprocess.run(
        [_browser(), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    _browser()
    tmp = tmp_path_factory.mktemp("report")
    out = tmp / "report.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOJOSIM_CACHE_DIR", str(tmp / "cache"))
        result = run_cli(
            "compare",
            "--workload",
            MODEL,
            "--seq",
            "128",
            "--systems",
            "dgx-h100,dojo-v1,dgx-b200",
            "--normalize",
            "devices",
            "--budget",
            "64",
            "--out",
            str(out),
        )
    assert result.returncode == 0, result.stderr
    return out


def _console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def probed(report, tmp_path_factory) -> tuple[dict, str]:
    """The report with the probe appended, loaded in the browser: (what the probe found, the browser's log)."""
    tmp = tmp_path_factory.mktemp("probe")
    page = tmp / "probed.html"
    page.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    # The same width as the screenshot, so that the boxes the probe measures are where the pixels will be.
    result = _run_browser(tmp, f"--window-size={WIDTH},1000", "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="dojosim-probe">(.*?)</pre>', result.stdout, re.S)
    assert found, "the probe did not run"
    return json.loads(html.unescape(found.group(1))), result.stderr


def test_report_loads_without_console_errors_and_every_plot_renders(probed):
    probe, log = probed
    assert _console_messages(log) == []
    assert probe["external"] == []  # nothing to fetch: the page opens with no network
    labels = [p["label"] for p in probe["plots"]]
    # breakdown, one roofline per system, scaling, days vs budget, memory
    assert len(labels) == 1 + 3 + 1 + 1 + 1, labels
    assert sum(label.startswith("dojo-v1 (") for label in labels) == 1
    assert any(label.startswith("days to train") and "vs budget" in label for label in labels)
    for plot in probe["plots"]:
        assert plot["width"] > 200 and plot["height"] > 80, plot
        assert plot["marks"] >= 3, plot


def test_a_screenshot_of_the_report_shows_every_plot(report, probed, tmp_path):
    from PIL import Image

    probe, _ = probed
    height = int(probe["height"]) + 40
    shot = tmp_path / "report.png"
    result = _run_browser(tmp_path, f"--window-size={WIDTH},{height}", f"--screenshot={shot}", report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console_messages(result.stderr) == []
    image = Image.open(shot).convert("RGB")
    assert image.size == (WIDTH, height)
    for plot in probe["plots"]:
        box = (int(plot["x"]), int(plot["y"]), int(plot["x"] + plot["width"]), int(plot["y"] + plot["height"]))
        pixels = list(image.crop(box).get_flattened_data())
        # Drawn in colour: bars, lines and circles use saturated palette colours; text and axes are grey.
        coloured = sum(1 for r, g, b in pixels if max(r, g, b) - min(r, g, b) > 60)
        assert coloured > 100, (plot["label"], coloured)
    blank = sum(1 for r, g, b in image.get_flattened_data() if r > 250 and g > 250 and b > 250)
    assert blank < 0.97 * WIDTH * height  # the page itself rendered, not an empty canvas
    keep = os.environ.get("DOJOSIM_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
