"""The compare report in a real headless browser (Debian's chromium): it loads with no console errors and no
network, opens with the verdict, every plot is laid out with visible marks and ticks on both axes, a screenshot
shows each plot's pixels, and on a 390-px phone screen nothing is wider than the screen.

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
PHONE = 390  # CSS px: an iPhone 12-15 in portrait

# Runs after the page has been parsed: for every plot, its laid-out box and how many marks have a real size.
PROBE = """<script>(() => {
  const plots = [...document.querySelectorAll('svg.plot')].map(svg => {
    const box = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll('rect,circle,polyline,line,path')]
      .filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; }).length;
    // matplotlib draws each tick of an axis as a group xtick_N / ytick_N: a tick mark and its label.
    const ticks = axis => [...svg.querySelectorAll(`g[id^="${axis}tick_"]`)]
      .filter(g => g.querySelector('text') && g.getBBox().width > 0).length;
    return {label: svg.getAttribute('aria-label'), x: box.left + scrollX, y: box.top + scrollY,
            width: box.width, height: box.height, marks, xticks: ticks('x'), yticks: ticks('y')};
  });
  const external = [...document.querySelectorAll('[src],[href]')]
    .map(e => e.getAttribute('src') || e.getAttribute('href'));
  const first = document.body.firstElementChild;
  const out = document.createElement('pre');
  out.id = 'dojosim-probe';
  out.textContent = JSON.stringify({plots, external, height: document.documentElement.scrollHeight,
    first: {tag: first.tagName, cls: first.className, text: first.textContent}});
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
        assert plot["xticks"] >= 3 and plot["yticks"] >= 3, plot  # real axes: labelled ticks on both


def test_the_report_opens_with_the_verdict(probed):
    probe, _ = probed
    first = probe["first"]
    assert (first["tag"], first["cls"]) == ("P", "verdict"), first
    assert first["text"].startswith("Verdict. At the same budget (64 devices), ")
    assert " fastest: " in first["text"] and "It hinges on what limits each step: " in first["text"]


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


# Chromium's headless window is at least 500 px wide, so the phone is a 390-px frame: the report loaded in an
# iframe of that width (srcdoc: same origin, so the harness can measure inside it), laid out with the frame's
# width as its viewport and its media queries.
PHONE_PROBE = """<script>addEventListener('load', () => {
  const frame = document.querySelector('iframe'), doc = frame.contentDocument;
  const out = document.createElement('pre');
  out.id = 'dojosim-probe';
  out.textContent = JSON.stringify({viewport: doc.defaultView.innerWidth, scroll: doc.documentElement.scrollWidth,
                                    height: doc.documentElement.scrollHeight});
  document.body.appendChild(out);
});</script>"""


def _phone_page(report: Path, tmp: Path, height: int) -> Path:
    page = tmp / f"phone-{height}.html"
    frame = html.escape(report.read_text(), quote=True)
    page.write_text(
        '<!DOCTYPE html><html><body style="margin:0;background:#fff">'
        f'<iframe style="border:0;display:block;width:{PHONE}px;height:{height}px" srcdoc="{frame}"></iframe>'
        f"{PHONE_PROBE}</body></html>"
    )
    return page


def test_on_a_390_px_phone_nothing_is_wider_than_the_screen(report, tmp_path):
    from PIL import Image

    page = _phone_page(report, tmp_path, 1000)
    result = _run_browser(tmp_path, "--window-size=500,1000", "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="dojosim-probe">(.*?)</pre>', result.stdout, re.S)
    assert found, "the probe did not run"
    probe = json.loads(html.unescape(found.group(1)))
    assert probe["viewport"] == PHONE
    assert probe["scroll"] <= PHONE, probe  # wide tables scroll inside their own box; the page never does
    # The second screenshot: the whole report at phone width, every part of it laid out and drawn.
    height = int(probe["height"])
    shot = tmp_path / "phone.png"
    page = _phone_page(report, tmp_path, height)
    result = _run_browser(tmp_path, f"--window-size=500,{height}", f"--screenshot={shot}", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console_messages(result.stderr) == []
    image = Image.open(shot).convert("RGB")
    phone = image.crop((0, 0, PHONE, height))
    beside = list(image.crop((PHONE, 0, image.size[0], height)).get_flattened_data())
    assert all(p == (255, 255, 255) for p in beside)  # nothing drawn outside the phone's width
    coloured = sum(1 for r, g, b in phone.get_flattened_data() if max(r, g, b) - min(r, g, b) > 60)
    assert coloured > 5000  # the verdict's border, bars, lines and circles: the report is drawn, not blank
    keep = os.environ.get("DOJOSIM_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, Path(keep).with_name("phone-" + Path(keep).name))
