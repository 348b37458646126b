"""End to end in a real browser: `streamlit run app.py` on a loopback port,
driven by Playwright in Debian's Chromium (no browser download). Checks the
shape table, makes the spec invalid and sees the error, trains on a tiny
dataset and draws a digit for a prediction; screenshots go to tests/artifacts/.

Skipped where Playwright or /usr/bin/chromium is missing, unless
PLAYGROUND_E2E=1 (as in .ci/run), which makes their absence a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, SPECS
from tinydata import write_dataset

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
REQUIRED = os.environ.get("PLAYGROUND_E2E") == "1"
MISSING = [what for what, ok in (("playwright", importlib.util.find_spec("playwright") is not None),
                                 (CHROMIUM, Path(CHROMIUM).exists())) if not ok]
if MISSING and not REQUIRED:
    pytest.skip(f"browser test needs {', '.join(MISSING)}", allow_module_level=True)

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    assert not MISSING, f"PLAYGROUND_E2E=1 but missing: {MISSING}"
    tmp = tmp_path_factory.mktemp("e2e")
    shutil.copytree(SPECS, tmp / "specs")
    port = _free_port()
    env = {**os.environ, "PLAYGROUND_SPECS_DIR": str(tmp / "specs"), "PLAYGROUND_RUNS_DIR": str(tmp / "runs"),
           "PLAYGROUND_DATA": str(write_dataset(tmp / "data"))}
    log = open(tmp / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"], cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start:\n" + (tmp / "streamlit.log").read_text()[-3000:])
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        page.goto(server, wait_until="domcontentloaded")
        yield page
        browser.close()


def test_shapes_then_an_error_in_a_real_browser(page):
    from playwright.sync_api import expect

    # the layer editor's rows carry each layer's output shape
    expect(page.get_by_text("7: linear 'fc' → (10,)")).to_be_visible(timeout=90_000)
    expect(page.get_by_text("0: conv2d 'conv1' → (10, 24, 24)")).to_be_visible()
    expect(page.get_by_text("Input 1x28x28 → output 10", exact=False)).to_be_visible()
    editor = page.get_by_role("textbox", name="Spec (YAML)")
    expect(editor).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="stGraphVizChart"] svg')).to_be_visible(timeout=30_000)
    page.wait_for_timeout(500)  # let the grid paint before the picture
    page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=False)

    text = editor.input_value()
    editor.fill(text.replace("in_features: 320", "in_features: 300"))
    editor.press("Control+Enter")  # commit the text area
    page.get_by_role("heading", name="Layer editor").click()
    expect(page.get_by_text("in_features=300, but its input 20x4x4 flattens to 320.", exact=False).first) \
        .to_be_visible(timeout=30_000)
    expect(page.get_by_text("✗ 7: linear 'fc' → ?")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "app-error.png"), full_page=False)
    assert "Traceback" not in page.content()


def test_train_then_draw_a_digit(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Train").click()
    epochs = page.get_by_label("Epochs")
    expect(epochs).to_be_visible(timeout=90_000)
    epochs.fill("2")
    epochs.press("Enter")
    page.get_by_role("button", name="Train mnist_cnn").click()
    expect(page.get_by_text("This session's runs")).to_be_visible(timeout=120_000)

    page.get_by_role("tab", name="Predict").click()
    canvas = page.get_by_role("tabpanel", name="Predict").locator("canvas").last
    expect(canvas).to_be_visible(timeout=60_000)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 70, box["y"] + 60)
    page.mouse.down()
    for x, y in [(210, 60), (140, 240)]:  # a 7
        page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
    page.mouse.up()
    expect(page.get_by_text("what the model sees (28x28)")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stMetricLabel").get_by_text("Prediction")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "app-predict.png"), full_page=False)
    assert "Traceback" not in page.content()
