"""End to end in a real browser: `streamlit run app.py` on a loopback port,
driven by Playwright in Debian's Chromium (no browser download), used as a
person uses it: opening and saving specs, typing with undo and redo, editing
fields with the keyboard, breaking a layer, training on a tiny dataset and
drawing a digit, sweeping and comparing the trials. Each test checks that no click loses or overwrites work.
Screenshots go to tests/artifacts/.

Skipped where Playwright or /usr/bin/chromium is missing, unless
PLAYGROUND_E2E=1 (as in .ci/run), which makes their absence a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import ROOT, SPECS
from pageserver import page_server
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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The page as `make app` starts it (pageserver), its folders in a temporary one."""
    assert not MISSING, f"PLAYGROUND_E2E=1 but missing: {MISSING}"
    tmp = tmp_path_factory.mktemp("e2e")
    shutil.copytree(SPECS, tmp / "specs")
    env = {"PLAYGROUND_SPECS_DIR": str(tmp / "specs"), "PLAYGROUND_RUNS_DIR": str(tmp / "runs"),
           "PLAYGROUND_SWEEPS_DIR": str(tmp / "sweeps"), "PLAYGROUND_DATA": str(write_dataset(tmp / "data"))}
    try:
        with page_server(env, tmp / "streamlit.log") as (url, _):
            yield url, tmp
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def page(server, request):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        page.goto(server[0], wait_until="domcontentloaded")
        _expect(page.get_by_text("7: linear 'fc' → 10")).to_be_visible(timeout=90_000)
        yield page
        _nothing_cut_when_narrow(page, request.node.name)
        browser.close()


# Every visible button label (its text: an icon button has none), table cell and metric
# value that does not fit its box: drawn cut.
CUT_TEXT = """() => [...document.querySelectorAll(
        'button p, .pg-table td, .pg-table th, [data-testid="stMetricValue"], [data-testid="stMetricValue"] *')]
    .filter(e => e.offsetParent !== null && e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.innerText.trim().slice(0, 60))"""


def _nothing_cut_when_narrow(page, test: str) -> None:
    """Where each test leaves the page, the same page at the narrow of the two widths
    the tests use (1280 px; the rest run at 1500): no label, cell or metric is cut."""
    if page.is_closed():
        return
    _idle(page)
    page.set_viewport_size({"width": 1280, "height": 1300})
    page.wait_for_timeout(400)   # the layout follows the new width
    cut = page.evaluate(CUT_TEXT)
    if cut:
        page.screenshot(path=str(ARTIFACTS / f"cut-{test[:60]}.png"), full_page=False)
    assert not cut, f"drawn cut at 1280 px after {test}: {cut}"


@pytest.fixture
def specs(server):
    return server[1] / "specs"


def _expect(locator):
    from playwright.sync_api import expect
    return expect(locator)


def _editor(page):
    return page.get_by_role("textbox", name="Spec (YAML)")


def _type_yaml(page, text: str) -> None:
    editor = _editor(page)
    editor.fill(text)
    editor.press("Control+Enter")  # commit the text area


def _wait_for_yaml(page, predicate, timeout: float = 30.0) -> str:
    deadline = time.time() + timeout
    while True:
        text = _editor(page).input_value()
        if predicate(text) or time.time() > deadline:
            return text
        page.wait_for_timeout(200)


def _card(page, index: int):
    return page.locator(f".st-key-layer-{index}")


def _open_card(page, index: int, title: str):
    card = _card(page, index)
    card.get_by_text(title).click()
    _expect(card.get_by_role("button", name="✕ delete")).to_be_visible(timeout=30_000)
    return card


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _no_horizontal_overflow(page, selector: str) -> list:
    return page.evaluate(f"""() => [...document.querySelectorAll('{selector}')]
        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText.slice(0, 60))""")


def test_shapes_then_an_error_in_a_real_browser(page):
    _expect(page.get_by_text("0: conv2d 'conv1' → 10x24x24")).to_be_visible()
    _expect(page.get_by_text("Input 1x28x28 → output 10", exact=False)).to_be_visible()
    _expect(page.locator(".pg-table")).to_be_visible(timeout=30_000)
    _expect(page.locator('[data-testid="stGraphVizChart"] svg')).to_be_visible(timeout=30_000)
    page.wait_for_timeout(500)  # let the grid paint before the picture
    page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=False)

    _type_yaml(page, _editor(page).input_value().replace("in_features: 320", "in_features: 300"))
    banner = page.locator('[data-testid="stAlert"]').filter(has_text="flattens to 320").first
    _expect(banner).to_be_visible(timeout=30_000)
    _expect(page.get_by_text("✗ 7: linear 'fc' → ?")).to_be_visible()
    _expect(banner).to_contain_text("Set in_features: 320, or leave it out to infer it.")
    assert _no_horizontal_overflow(page, '[data-testid="stAlert"], [data-testid="stAlert"] *') == []
    box = banner.bounding_box()
    assert box["x"] + box["width"] <= page.viewport_size["width"]  # wrapped, not cut at the right edge
    assert box["height"] > 60  # the message takes several lines
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    svg = page.locator('[data-testid="stGraphVizChart"] svg')
    for name in ("0: conv1", "conv2d", "3: conv2", "6: flatten", "7: fc", "linear", "output"):
        _expect(svg).to_contain_text(name)
    _expect(svg).not_to_contain_text("layer 7")
    page.screenshot(path=str(ARTIFACTS / "app-error.png"), full_page=False)
    assert "Traceback" not in page.content()


def test_open_from_the_sidebar_then_overwrite_only_after_confirming(page, specs):
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="lenet5.yaml").click()
    _expect(sidebar.get_by_text("Open now: lenet5.yaml")).to_be_visible(timeout=30_000)
    save_name = sidebar.get_by_role("textbox", name="Save as (in specs/)")
    _expect(save_name).to_have_value("lenet5")
    before = _snapshot(specs)

    edited = _editor(page).input_value().replace("out_features: 120", "out_features: 100")
    _type_yaml(page, edited)
    _expect(sidebar.get_by_text("Open now: lenet5.yaml (edited)")).to_be_visible(timeout=30_000)
    overwrite = sidebar.get_by_role("checkbox", name="Overwrite if it exists")
    sidebar.get_by_text("Overwrite if it exists").click()
    _expect(overwrite).to_be_checked()
    sidebar.get_by_role("button", name="Save", exact=True).click()
    _expect(sidebar.get_by_text("specs/lenet5.yaml exists. Replace it")).to_be_visible(timeout=30_000)
    assert _snapshot(specs) == before  # nothing written before the confirmation
    sidebar.get_by_role("button", name="Replace lenet5.yaml").click()
    _expect(sidebar.get_by_text("Saved specs/lenet5.yaml.")).to_be_visible(timeout=30_000)
    _expect(overwrite).not_to_be_checked()
    after = _snapshot(specs)
    assert after["lenet5.yaml"].decode() == edited
    assert {k: v for k, v in after.items() if k != "lenet5.yaml"} == \
        {k: v for k, v in before.items() if k != "lenet5.yaml"}


def test_an_upload_is_shown_as_such_and_can_be_undone(page, tmp_path):
    original = _editor(page).input_value()
    upload = tmp_path / "my_upload.yaml"
    upload.write_text(original.replace("name: mnist_cnn", "name: uploaded_net"))
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.locator('input[type="file"]').set_input_files(str(upload))
    _expect(sidebar.get_by_text("Open now: uploaded my_upload.yaml")).to_be_visible(timeout=30_000)
    _expect(sidebar.get_by_role("textbox", name="Save as (in specs/)")).to_have_value("my_upload")
    assert "name: uploaded_net" in _wait_for_yaml(page, lambda t: "name: uploaded_net" in t)
    page.get_by_role("button", name="↶ Undo").click()
    assert _wait_for_yaml(page, lambda t: t == original) == original


def test_type_then_undo_and_redo(page):
    original = _editor(page).input_value()
    typed = original.replace("lr: 0.01", "lr: 0.03")
    _type_yaml(page, typed)
    page.get_by_role("heading", name="Layer editor").click()  # somewhere neutral
    undo = page.get_by_role("button", name="↶ Undo")
    _expect(undo).to_be_enabled(timeout=30_000)
    undo.click()
    assert _wait_for_yaml(page, lambda t: t == original) == original
    page.get_by_role("button", name="↷ Redo").click()
    assert _wait_for_yaml(page, lambda t: t == typed) == typed


def test_keyboard_edits_keep_focus_and_tab_moves_on(page):
    card = _open_card(page, 0, "0: conv2d 'conv1' → 10x24x24")
    field = card.get_by_role("spinbutton", name="out_channels")
    field.click()
    field.fill("12")
    page.keyboard.press("Tab")
    _expect(card.get_by_text("0: conv2d 'conv1' → 12x24x24")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1000)  # the rerun has drawn the page again
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "kernel_size"
    _expect(card.get_by_role("spinbutton", name="out_channels")).to_have_value("12")  # the card stayed open
    page.keyboard.type("3")
    page.keyboard.press("Tab")
    text = _wait_for_yaml(page, lambda t: "out_channels: 12, kernel_size: 3}" in t)
    assert "  - {type: conv2d, name: conv1, out_channels: 12, kernel_size: 3}\n" in text
    assert "data:\n  dataset: mnist\n" in text  # the rest is as it was written
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "stride"


def test_emptying_in_features_removes_the_key(page):
    card = _open_card(page, 7, "7: linear 'fc' → 10")
    field = card.get_by_role("spinbutton", name="in_features")
    _expect(field).to_have_value("320")
    field.fill("")
    field.press("Tab")
    text = _wait_for_yaml(page, lambda t: "in_features" not in t)
    assert "  - {type: linear, name: fc, out_features: 10}\n" in text
    _expect(field).to_have_attribute("placeholder", "inferred")
    _expect(page.get_by_text("Input 1x28x28 → output 10", exact=False)).to_be_visible()


def test_thirty_layers_show_without_an_inner_scrollbar(page):
    layers = "".join("  - {type: relu}\n" for _ in range(28))
    _type_yaml(page, "name: long\nlayers:\n" + layers + "  - {type: flatten}\n  - {type: linear, out_features: 10}\n")
    _expect(page.get_by_text("29: linear → 10")).to_be_visible(timeout=30_000)
    table = page.locator(".pg-table")
    _expect(table.locator("tbody tr")).to_have_count(30)
    assert table.evaluate("t => t.scrollHeight - t.clientHeight") <= 1   # all 30 rows, no inner scrollbar


def _shown_image(page, caption: str):
    """The uint8 image an st.image with ``caption`` shows, fetched as the browser got it."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    img = page.get_by_test_id("stImage").filter(has_text=caption).locator("img")
    data = img.evaluate("""async im => {
        const bytes = new Uint8Array(await (await fetch(im.src)).arrayBuffer());
        let s = ""; for (const b of bytes) s += String.fromCharCode(b); return btoa(s); }""")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("L"))


def test_train_then_draw_a_digit(page, server):
    page.get_by_role("tab", name="Train").click()
    epochs = page.get_by_label("Epochs", exact=True)
    _expect(epochs).to_be_visible(timeout=90_000)
    epochs.fill("2")
    epochs.press("Enter")
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Train mnist_cnn").click()
    _expect(page.get_by_text("This session's runs")).to_be_visible(timeout=120_000)
    _expect(page.get_by_text("Finished in ", exact=False).first).to_be_visible()

    page.get_by_role("tab", name="Predict").click()
    canvas = page.get_by_role("tabpanel", name="Predict").locator("canvas").last
    _expect(canvas).to_be_visible(timeout=60_000)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 70, box["y"] + 60)
    page.mouse.down()
    for x, y in [(210, 60), (140, 240)]:  # a 7
        page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
    page.mouse.up()
    _expect(page.get_by_text("what the model sees (28x28)")).to_be_visible(timeout=30_000)
    _expect(page.get_by_test_id("stMetricLabel").get_by_text("Prediction")).to_be_visible()
    clear = page.get_by_role("button", name="Clear the drawing")
    page.set_viewport_size({"width": 1280, "height": 1300})   # the narrow width: its label was cut there
    page.wait_for_timeout(500)
    assert clear.evaluate("b => [b, ...b.querySelectorAll('*')].every(e => e.scrollWidth <= e.clientWidth + 1)")
    page.set_viewport_size({"width": 1500, "height": 1300})
    _expect(page.get_by_text("probability", exact=False).first).to_be_visible()
    # the predicted class, checked independently: the image the page shows, fed to the
    # run's checkpoint in this process. The page's process need not compute the same bits
    # (see test_export.CROSS_PROCESS): its class is one whose logit is within 2 tol of the
    # top one here (a single class unless two are that close), and its percentage, rounded
    # to two decimals, within 0.005 of ours plus what a move of tol in the logits can do
    # to a softmax probability (at most 2 tol).
    import re

    import torch
    from test_export import CROSS_PROCESS

    from playground.train import data as datamod
    from playground.train.inference import load_run, predict_proba

    seen = _shown_image(page, "what the model sees")[::5, ::5]   # shown 5x enlarged
    assert seen.shape == (28, 28) and seen.max() > 0
    (run_dir,) = list((server[1] / "runs").iterdir())
    run = load_run(run_dir, "cpu")
    image = torch.as_tensor(seen.copy())[None]
    probs = predict_proba(run, image)[0]
    with torch.no_grad():
        logits = run.model(datamod.to_tensor(image, run.spec.data.mean, run.spec.data.std, run.device))[0]
    tol = CROSS_PROCESS * float(logits.abs().max())
    possible = [run.classes[i] for i in range(len(logits)) if logits[i] >= logits.max() - 2 * tol]
    assert run.classes[int(probs.argmax())] in possible
    shown = page.get_by_test_id("stMetricValue")
    _expect(shown).to_have_text(re.compile("^(" + "|".join(map(re.escape, possible)) + ")$"))
    shown_percent = page.get_by_text(re.compile(r"\d+\.\d\d% probability"))
    _expect(shown_percent).to_be_visible()
    percent = float(shown_percent.inner_text().split("%")[0])
    ours = 100 * float(probs[run.classes.index(shown.inner_text().strip())])
    assert abs(percent - ours) <= 0.005 + 100 * 2 * tol + 1e-9, (percent, ours)
    page.get_by_role("button", name="Clear the drawing").click()
    _expect(page.get_by_text("what the model sees (28x28)")).to_be_hidden(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "app-predict.png"), full_page=False)
    assert "Traceback" not in page.content()


def test_a_block_is_drawn_as_a_cluster_and_its_layers_edited_in_its_card(page):
    text = ("name: nested\ndata: {dataset: none}\ninput: {channels: 3, height: 8, width: 8}\nlayers:\n"
            "  - type: residual\n    name: res\n    body:\n      - {type: relu}\n")
    _type_yaml(page, text)
    svg = page.locator('[data-testid="stGraphVizChart"] svg')
    _expect(svg).to_contain_text("0: res", timeout=30_000)   # the cluster's label
    _expect(svg).to_contain_text("0.body.0: relu")
    _expect(svg.locator("g.cluster")).to_have_count(1)
    card = _open_card(page, 0, "0: residual 'res' → 3x8x8")
    body = card.get_by_role("textbox", name="body")
    _expect(body).to_have_value("- {type: relu}")
    body.fill("- {type: conv2d, out_channels: 3, kernel_size: 3, padding: 1}\n- {type: relu6}")
    body.press("Control+Enter")
    edited = _wait_for_yaml(page, lambda t: "relu6" in t)
    assert "      - {type: conv2d, out_channels: 3, kernel_size: 3, padding: 1}\n      - {type: relu6}\n" in edited
    _expect(svg).to_contain_text("0.body.1: relu6", timeout=30_000)
    page.get_by_role("heading", name="Layer editor").click()  # somewhere neutral
    page.get_by_role("button", name="↶ Undo").click()       # the edit inside the block is one step back
    assert _wait_for_yaml(page, lambda t: t == text) == text
    assert "Traceback" not in page.content()


def test_the_open_spec_downloads_as_source_and_onnx_without_touching_the_text(page):
    """An export button makes the file (every export button disabled meanwhile),
    then offers it: a download, and the text being edited as it was."""
    import onnx

    _type_yaml(page, _editor(page).input_value().replace("# ", "# my note: ", 1))
    before = _wait_for_yaml(page, lambda t: "my note" in t)
    # The server has run with the new text (a click during that rerun would hit the old buttons).
    _expect(page.get_by_text("mnist_cnn.yaml (edited)").first).to_be_visible(timeout=30_000)
    for label, ext, check in [
            ("PyTorch source (.py)", "py", lambda data: b"class MnistCnn(nn.Sequential):" in data),
            ("ONNX", "onnx", lambda data: onnx.load_from_string(data).graph.input[0].name == "images")]:
        page.get_by_role("button", name=label, exact=True).click()
        offer = page.get_by_role("button", name=f"Download mnist_cnn.{ext}", exact=False)
        _expect(offer).to_be_visible(timeout=90_000)
        with page.expect_download(timeout=90_000) as info:
            offer.click()
        download = info.value
        assert download.suggested_filename == f"mnist_cnn.{ext}"
        assert check(Path(download.path()).read_bytes())
    assert _editor(page).input_value() == before
    assert "Traceback" not in page.content()


def test_a_slow_export_shows_its_progress_and_cannot_be_clicked_twice(page):
    _open_spec(page, "zoo/resnet18.yaml")
    page.get_by_role("button", name="torch.export (.pt2)", exact=True).click()   # about 6 s for ResNet-18
    _expect(page.get_by_text("Exporting resnet18 as torch.export (.pt2)...")).to_be_visible(timeout=30_000)
    for label in ("ONNX", "TorchScript", "torch.export (.pt2)", "PyTorch source (.py)"):
        _expect(page.get_by_role("button", name=label, exact=True)).to_be_disabled()
    _expect(page.get_by_role("button", name="Download resnet18.pt2", exact=False)).to_be_visible(timeout=120_000)
    _expect(page.get_by_role("button", name="ONNX", exact=True)).to_be_enabled()
    assert "Traceback" not in page.content()


def _tick_row(page, grid, row: int, then) -> None:
    """Tick a row of a Streamlit dataframe (a canvas grid: its row-selection
    column comes first, rows 35 px high under a 35 px header), until ``then``
    (a locator the selection brings) shows; a click during a rerun is lost."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(5):
        box = grid.bounding_box()   # None while a rerun redraws the grid
        if box is not None:
            page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 * row + 17)
            try:
                _expect(then).to_be_visible(timeout=10_000)
                return
            except (AssertionError, PlaywrightTimeout):
                pass
        page.wait_for_timeout(1000)
    _expect(then).to_be_visible()


def test_a_sweep_then_its_trials_compared_and_one_opened_without_losing_the_open_text(page, server):
    _type_yaml(page, _editor(page).input_value().replace("# ", "# my work: ", 1))
    mine = _wait_for_yaml(page, lambda t: "my work" in t)
    page.get_by_role("tab", name="Sweep").click()
    fields = page.get_by_role("textbox", name="Fields to vary")
    _expect(fields).to_be_visible(timeout=30_000)
    fields.fill("train.lr=[0.01, 0.05]")
    fields.press("Control+Enter")
    epochs = page.get_by_label("Epochs per trial", exact=True)
    epochs.fill("1")
    epochs.press("Enter")
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Sweep mnist_cnn").click()
    _expect(page.get_by_text("Finished: 2 of 2 trials; best: trial", exact=False)).to_be_visible(timeout=180_000)
    _expect(page.get_by_role("button", name="Apply the best values to the open spec", exact=False)).to_be_visible(
        timeout=30_000)
    _expect(page.get_by_role("button", name="Stop the sweep")).to_be_hidden()
    page.screenshot(path=str(ARTIFACTS / "app-sweep.png"), full_page=False)
    page.get_by_role("tab", name="Edit").click()
    assert _wait_for_yaml(page, lambda t: t == mine) == mine           # sweeping never touches the open text

    page.get_by_role("tab", name="Runs").click()
    panel = page.get_by_role("tabpanel", name="Runs")
    _expect(panel.get_by_text("Run folders in")).to_be_visible(timeout=30_000)
    panel.get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name="sweep mnist_cnn-", exact=False).click()
    _expect(panel.get_by_text("2 run folders under", exact=False)).to_be_visible(timeout=30_000)
    grid = panel.get_by_test_id("stDataFrame")
    _expect(grid).to_have_count(1, timeout=30_000)   # the runs/ table drawn before is gone once the rerun ends
    _expect(grid).to_be_visible(timeout=30_000)
    _tick_row(page, grid, 0, panel.get_by_role("button", name="in the editor", exact=False))
    _tick_row(page, grid, 1, panel.get_by_text("What differs in their specs"))
    diff = panel.locator("code").filter(has_text="train.lr")
    _expect(diff).to_contain_text("0.01")
    _expect(diff).to_contain_text("0.05")
    page.screenshot(path=str(ARTIFACTS / "app-runs-compare.png"), full_page=False)
    panel.get_by_role("button", name="Open the spec of trial-000 in the editor").click()
    page.wait_for_timeout(1500)
    page.get_by_role("tab", name="Edit").click()
    opened = _wait_for_yaml(page, lambda t: t != mine)
    (trial,) = (server[1] / "sweeps").glob("*/trial-000")
    assert opened == (trial / "spec.yaml").read_text()                 # the trial's resolved spec
    page.get_by_role("button", name="↶ Undo").click()                  # and the user's text comes back
    assert _wait_for_yaml(page, lambda t: t == mine) == mine
    assert "Traceback" not in page.content()


def _open_spec(page, name: str) -> None:
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").first.click()
    page.keyboard.type(name)   # the list is long: typing filters it
    page.get_by_role("option", name=name, exact=True).click()
    _expect(sidebar.get_by_text(f"Open now: {name}", exact=True)).to_be_visible(timeout=30_000)
    _idle(page)   # the sidebar is drawn first: the main area's buttons are the new spec's only once the run ends


def _idle(page) -> None:
    """Wait for the server's run of the page to end (Streamlit marks the app's state)."""
    _expect(page.locator('[data-test-script-state="notRunning"]')).to_have_count(1, timeout=60_000)


CUT_CELLS = """() => [...document.querySelectorAll('.pg-table td, .pg-table th')]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"""
TABLE_OVERFLOW = """() => [...document.querySelectorAll('.pg-table')].map(e => e.scrollWidth - e.clientWidth)"""
# Each drawn layer's position (its label up to ':'), its box's centre, and the clusters' boxes, in SVG units.
DRAWN = """svg => {
    const box = g => { const b = g.querySelector('path, polygon, ellipse').getBBox();
                       return [b.x, b.y, b.x + b.width, b.y + b.height]; };
    const first = g => (g.querySelector('text') || {textContent: ''}).textContent;
    return {nodes: [...svg.querySelectorAll('g.node')].map(g => [first(g).split(':')[0], box(g),
                    Math.min(...[...g.querySelectorAll('text')].map(t => t.getBoundingClientRect().height)),
                    g.querySelector('path, polygon, ellipse').outerHTML.slice(0, 300)]),
            clusters: [...svg.querySelectorAll('g.cluster')].map(g => [first(g).split(':')[0], box(g)])};
}"""


def _settled(page, svg) -> dict:
    """The diagram once it stands still (the rerun has drawn it; d3-graphviz animates a change)."""
    page.wait_for_timeout(1000)
    drawn = svg.evaluate(DRAWN)
    for _ in range(30):
        page.wait_for_timeout(500)
        again = svg.evaluate(DRAWN)
        if again == drawn:
            return drawn
        drawn = again
    return drawn


def _inside(point, box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


@pytest.mark.parametrize("name,number", [("zoo/resnet18.yaml", "2,099,712"), ("zoo/googlenet.yaml", None),
                                         ("zoo/mobilenet_v2.yaml", "10,838,016")])
def test_big_networks_read_whole_in_the_table_and_the_diagram_at_two_widths(page, name, number):
    """Numbers, types and positions are never cut; every layer is drawn inside
    the blocks that hold it and no other, with labels big enough to read."""
    _open_spec(page, name)
    table = page.locator(".pg-table")
    _expect(table).to_be_visible(timeout=30_000)
    slider = page.get_by_role("slider", name="Nesting shown")
    svg = page.locator('[data-testid="stGraphVizChart"] svg')
    for width in (1500, 1280):
        page.set_viewport_size({"width": width, "height": 1300})
        for depth in ("1", "max"):
            if depth == "max":
                slider.focus()
                page.keyboard.press("End")
                _expect(slider).to_have_value(slider.get_attribute("max"), timeout=30_000)
            drawn = _settled(page, svg)
            if number:
                _expect(table).to_contain_text(number)
            assert page.evaluate(CUT_CELLS) == [], (name, width, depth)
            assert max(page.evaluate(TABLE_OVERFLOW)) <= 1, (name, width, depth)
            clusters = drawn["clusters"]
            for position, node_box, text_px, shape in drawn["nodes"]:
                assert node_box[2] > node_box[0], (name, width, depth, position, "drawn without its box", shape)
                centre = ((node_box[0] + node_box[2]) / 2, (node_box[1] + node_box[3]) / 2)
                if position in ("input", "output") or not position[0].isdigit():
                    holders = set() if position in ("input", "output") else None
                else:
                    holders = {c for c, _ in clusters if position.startswith(c + ".")}
                if holders is not None:
                    inside = {c for c, box in clusters if _inside(centre, box)}
                    assert inside == holders, (name, width, depth, position)
                if depth == "1":
                    assert text_px >= 9, (name, width, position, text_px)   # legible, not shrunk to fit
        page.screenshot(path=str(ARTIFACTS / f"app-{Path(name).stem}-{width}.png"), full_page=True)
        slider.focus()
        page.keyboard.press("Home")
        page.keyboard.press("ArrowRight")   # back to depth 1 for the next width
        _expect(slider).to_have_value("1", timeout=30_000)
    assert "Traceback" not in page.content()


def _save_over(page, confirm_text: str) -> None:
    """Tick “Overwrite if it exists”, Save, and wait for the confirmation that says ``confirm_text``."""
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Overwrite if it exists").click()
    _expect(sidebar.get_by_role("checkbox", name="Overwrite if it exists")).to_be_checked()
    sidebar.get_by_role("button", name="Save", exact=True).click()
    _expect(sidebar.get_by_text(confirm_text, exact=False)).to_be_visible(timeout=30_000)


def test_two_sessions_on_one_file_never_overwrite_each_other_unasked(server, specs):
    """A and B open lenet5.yaml; B saves a change. A is told the file changed,
    sees B's change in a comparison, and replaces it only after a confirmation
    that says so; B is then told in turn. Reloading brings the file's text, and
    undo A's own."""
    from playwright.sync_api import sync_playwright

    original = (specs / "lenet5.yaml").read_text()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # the narrow of the two widths the big-network test uses (the other tests use the wide one)
        a, b = (browser.new_context(viewport={"width": 1280, "height": 1000}).new_page() for _ in range(2))
        for page in (a, b):
            page.goto(server[0], wait_until="domcontentloaded")
            _expect(page.get_by_text("7: linear 'fc' → 10")).to_be_visible(timeout=90_000)
            _open_spec(page, "lenet5.yaml")
            assert _wait_for_yaml(page, lambda t: t == original) == original
        theirs = _editor(b).input_value() + "# B was here\n"
        _type_yaml(b, theirs)
        _expect(b.get_by_text("Open now: lenet5.yaml (edited)")).to_be_visible(timeout=30_000)
        _save_over(b, "specs/lenet5.yaml exists. Replace it")
        b.get_by_role("button", name="Replace lenet5.yaml").click()
        _expect(b.get_by_text("Saved specs/lenet5.yaml.")).to_be_visible(timeout=30_000)
        assert (specs / "lenet5.yaml").read_text() == theirs

        mine = _editor(a).input_value().replace("out_features: 84", "out_features: 80")
        _type_yaml(a, mine)
        sidebar = a.get_by_test_id("stSidebar")
        _expect(sidebar.get_by_text("specs/lenet5.yaml changed on disk since you opened it")).to_be_visible(
            timeout=30_000)
        _save_over(a, "changed on disk since you opened it: replacing it loses that change")
        assert (specs / "lenet5.yaml").read_text() == theirs          # nothing written before the confirmation
        sidebar.get_by_text("Compare with the file").click()
        diff = sidebar.locator("code")
        _expect(diff).to_contain_text("-# B was here", timeout=30_000)                       # B's, A would undo
        _expect(diff).to_contain_text("+  - {type: linear, name: f6, out_features: 80}")    # A's own
        a.screenshot(path=str(ARTIFACTS / "app-two-sessions.png"), full_page=False)
        sidebar.get_by_role("button", name="Replace lenet5.yaml").click()
        _expect(sidebar.get_by_text("Saved specs/lenet5.yaml.")).to_be_visible(timeout=30_000)
        assert (specs / "lenet5.yaml").read_text() == mine

        _type_yaml(b, theirs + "# more\n")   # B's next action: B is told
        b_sidebar = b.get_by_test_id("stSidebar")
        _expect(b_sidebar.get_by_text("specs/lenet5.yaml changed on disk since you opened it")).to_be_visible(
            timeout=30_000)
        b_sidebar.get_by_role("button", name="Reload lenet5.yaml from disk").click()
        assert _wait_for_yaml(b, lambda t: t == mine) == mine
        _expect(b_sidebar.get_by_text("changed on disk")).to_be_hidden(timeout=30_000)
        b.get_by_role("button", name="↶ Undo").click()              # B's own text comes back
        assert _wait_for_yaml(b, lambda t: t == theirs + "# more\n") == theirs + "# more\n"
        assert "Traceback" not in a.content() + b.content()
        browser.close()
    (specs / "lenet5.yaml").write_text(original)


def test_freeze_layers_by_picking_them_and_see_the_table_mark_them_then_undo(page):
    """The Train tab's Start-from panel as a person uses it: open it, pick conv1 in Freeze; the
    text gets train.freeze (nothing else changes), the Edit tab's table marks conv1 frozen and
    conv2 not, and Undo takes the edit back."""
    before = _editor(page).input_value()
    page.get_by_role("tab", name="Train").click()
    _idle(page)
    page.get_by_text("Start from weights").click()
    freeze = page.get_by_test_id("stMultiSelect").filter(has_text="Freeze (train.freeze)")
    _expect(freeze).to_be_visible(timeout=30_000)
    _idle(page)
    option = page.get_by_role("option", name="conv1", exact=True)
    picked = page.get_by_text("parameters frozen", exact=False)
    for _ in range(5):   # the list opens on a click into its box once the page has settled, and a
        freeze.click()   # redraw of the list (under load) can take an option away before it is clicked
        try:
            option.click(timeout=5_000)
            _expect(picked).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            page.keyboard.press("Escape")
        except Exception as e:   # playwright's TimeoutError of the click
            if type(e).__name__ != "TimeoutError":
                raise
            page.keyboard.press("Escape")
    try:
        _expect(picked).to_be_visible(timeout=30_000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "app-freeze-picked.png"), full_page=False)
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="Edit").click()
    text = _wait_for_yaml(page, lambda t: "freeze: [conv1]" in t)
    assert text.replace("  freeze: [conv1]\n", "") == before
    table = page.locator(".pg-table")
    _expect(table.locator("tr.frozen")).to_have_count(1, timeout=30_000)
    _expect(table.locator("tr.frozen")).to_contain_text("conv1")
    _expect(table.locator("tr:has(td:text-is('conv2'))")).not_to_have_class("frozen")
    page.screenshot(path=str(ARTIFACTS / "app-frozen-rows.png"), full_page=False)
    page.get_by_role("button", name="↶ Undo").click()
    assert _wait_for_yaml(page, lambda t: t == before) == before
    _expect(table.locator("tr.frozen")).to_have_count(0, timeout=30_000)
