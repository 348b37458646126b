"""The Streamlit page, driven headless with streamlit.testing.v1.AppTest: what
it shows, and that no click loses or overwrites the user's work."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Literal

import pandas as pd
import pytest
from conftest import ROOT, SPECS
from pydantic import Field
from streamlit.testing.v1 import AppTest
from tinydata import TINY

from playground.layers import BUILTINS, Elementwise

TIMEOUT = 120  # the first run may import torch


@pytest.fixture
def folders(tmp_path, monkeypatch):
    specs = tmp_path / "specs"
    shutil.copytree(SPECS, specs)
    monkeypatch.setenv("PLAYGROUND_SPECS_DIR", str(specs))
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("PLAYGROUND_SWEEPS_DIR", str(tmp_path / "sweeps"))
    return tmp_path


@pytest.fixture
def app(folders):
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()


def _session_runs(at):
    """The Train tab's table of this session's runs (the Runs tab has its own)."""
    return next(d.value for d in at.dataframe if "outcome" in d.value.columns)


def _table(at):
    """The shape table (HTML, see views.table_html) as a DataFrame of its cell texts."""
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self.rows[-1].append(self.cell)
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    (html,) = [h.proto.body for h in at.get("html") if 'class="pg-table"' in h.proto.body]
    parser = Cells()
    parser.feed(html)
    return pd.DataFrame(parser.rows[1:], columns=parser.rows[0])


def _text(at) -> str:
    return at.text_area(key="yaml_text").value


def _data_field(widgets, name: str):
    """The Train tab's widget for data.<name> (its key names the value it shows)."""
    return next(w for w in widgets if (w.key or "").startswith(f"data_{name}-"))


def _type(at, text: str) -> None:
    at.text_area(key="yaml_text").set_value(text).run()


def _button(widgets, label):
    return next(b for b in widgets if b.label == label)


def _by_label(widgets, label):
    return next(w for w in widgets if w.label == label)


def _open_layer(at, index: int) -> None:
    at.session_state[f"open-{index}"] = True
    at.run()


def _no_exceptions(at):
    assert not at.exception, [e.value for e in at.exception]


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# -- what the page shows ------------------------------------------------------------

def test_default_spec_renders_eight_layers_ending_in_ten(app):
    _no_exceptions(app)
    table = _table(app)
    assert list(table["type"]) == ["conv2d", "maxpool2d", "relu", "conv2d", "maxpool2d", "relu", "flatten", "linear"]
    assert list(table["output shape"]) == ["10x24x24", "10x12x12", "10x12x12", "20x8x8", "20x4x4", "20x4x4",
                                           "320", "10"]
    assert list(table["params"]) == ["260", "0", "0", "5,020", "0", "0", "0", "3,210"]  # the CLI's numbers
    assert not app.error
    assert any("**Total**: 8,490 parameters" in c.value for c in app.caption)
    assert "mnist_cnn" in _text(app)


def test_bad_in_features_names_the_layer_marks_its_row_and_opens_it(app):
    _type(app, _text(app).replace("in_features: 320", "in_features: 300"))
    _no_exceptions(app)
    message = app.error[0].value
    assert "layers\\[7\\] (linear 'fc').in\\_features: in\\_features=300, but its input 20x4x4 flattens to 320." \
        in message
    assert "  \n" in message  # the fix on its own line, as prose that wraps (not a code block)
    assert "```" not in message
    table = _table(app)
    assert table["status"].iloc[7] == "✗ error"
    assert list(table["output shape"].iloc[:7]) == ["10x24x24", "10x12x12", "10x12x12", "20x8x8", "20x4x4",
                                                    "20x4x4", "320"]
    assert (table["output shape"].iloc[7], table["params"].iloc[7], table["MACs"].iloc[7]) == ("—", "—", "—")
    assert any(t.label == "✗ 7: linear 'fc' → ?" for t in app.toggle)
    assert app.session_state["open-7"] is True  # the failing layer opens once


def test_error_before_any_shape_keeps_names_and_types(app):
    _type(app, _text(app).replace("out_channels: 10, kernel_size: 5", "out_channels: 10, kernel_size: 50"))
    _no_exceptions(app)
    table = _table(app)
    assert list(table["name"]) == ["conv1", "", "", "conv2", "", "", "", "fc"]
    assert list(table["type"])[-1] == "linear" and table["status"].iloc[0] == "✗ error"
    assert set(table["output shape"]) == {"—"}
    assert len(app.get("graphviz_chart")) == 1  # the diagram stays


@pytest.mark.parametrize("text", ["name: [\n", "- just\n- a list\n",
                                  "name: x\nlayers: [{type: conv2d, out_channels: x}]\n",
                                  "name: !!python/object:os.system x\n", "\t\x00",
                                  "name: x\nlayers: [{type: conv2d, name: '$x$ *y*', out_channels: -1}]\n"])
def test_malformed_input_shows_the_checks_message_not_an_exception(app, text):
    from playground.app import editing, views

    _type(app, text)
    _no_exceptions(app)
    expected = views.error_markdown(str(editing.check_text(text).error))  # the same words as playground.check
    assert app.error[0].value == expected and expected


def test_thirty_layers_all_in_the_table(app):  # (no inner scrollbar: checked in the browser test)
    layers = "".join("  - {type: relu}\n" for _ in range(28))
    _type(app, "name: long\nlayers:\n" + layers + "  - {type: flatten}\n  - {type: linear, out_features: 10}\n")
    _no_exceptions(app)
    assert len(_table(app)) == 30


# -- the layer editor -------------------------------------------------------------

def test_adding_a_layer_keeps_the_yaml_as_written_and_opens_it(app):
    before = _text(app)
    app.selectbox(key="add_type").set_value("dropout")
    app.button(key="add_layer").click().run()
    _no_exceptions(app)
    after = _text(app)
    assert after == before.replace("out_features: 10}\n", "out_features: 10}\n  - {type: dropout, p: 0.25}\n")
    table = _table(app)
    assert len(table) == 9 and table["type"].iloc[-1] == "dropout"
    assert app.session_state["open-8"] is True


def test_inserting_a_layer_carries_open_sections_along(app):
    _open_layer(app, 3)
    app.selectbox(key="add_type").set_value("relu")
    app.number_input(key="add_pos").set_value(0).run()
    app.button(key="add_layer").click().run()
    _no_exceptions(app)
    assert list(_table(app)["type"].iloc[:2]) == ["relu", "conv2d"]
    assert app.session_state["open-0"] is True      # the new layer
    assert app.session_state["open-4"] is True      # conv2, still open, one further down
    assert app.session_state["open-3"] is False


def test_field_edits_keep_the_widget_and_its_section(app):
    _open_layer(app, 0)
    widget = app.number_input(key="f-0-out_channels-int")
    assert widget.value == 10
    widget.set_value(12).run()
    _no_exceptions(app)
    assert "{type: conv2d, name: conv1, out_channels: 12, kernel_size: 5}" in _text(app)
    assert "data:\n  dataset: mnist\n" in _text(app)  # block sections stay block
    assert "but its input 12x12x12 has 12 channels" in app.error[0].value
    assert app.number_input(key="f-0-out_channels-int").value == 12  # same key: focus stays on it
    assert app.session_state["open-0"] is True


def test_emptying_an_optional_count_removes_the_key(app):
    _open_layer(app, 7)
    field = app.number_input(key="f-7-in_features-int")
    assert field.value == 320 and field.placeholder == "inferred"
    field.set_value(None).run()
    _no_exceptions(app)
    assert "- {type: linear, name: fc, out_features: 10}" in _text(app)
    assert not app.error and _table(app)["output shape"].iloc[-1] == "10"


def test_fields_show_their_defaults(app):
    _open_layer(app, 0)
    stride = app.text_input(key="f-0-stride-yaml")
    assert stride.value == "" and stride.placeholder == "default 1"
    assert app.text_input(key="f-0-kernel_size-yaml").value == "5"
    assert app.checkbox(key="f-0-bias-bool").value is True


def test_widgets_follow_text_typed_in_the_yaml(app):
    _open_layer(app, 0)
    _type(app, _text(app).replace("out_channels: 10, kernel_size: 5", "out_channels: 16, kernel_size: [3, 5]"))
    assert app.number_input(key="f-0-out_channels-int").value == 16
    assert app.text_input(key="f-0-kernel_size-yaml").value == "[3, 5]"
    app.text_input(key="f-0-kernel_size-yaml").set_value("3").run()
    assert "out_channels: 16, kernel_size: 3}" in _text(app)


def test_delete_and_move_layers(app):
    _open_layer(app, 6)
    app.button(key="del-6").click().run()  # the flatten
    _no_exceptions(app)
    assert "Insert `- {type: flatten}`" in app.error[0].value
    _open_layer(app, 2)
    app.button(key="up-2").click().run()  # relu above the first pool
    assert list(_table(app)["type"].iloc[:3]) == ["conv2d", "relu", "maxpool2d"]
    assert app.session_state["open-1"] is True and app.session_state["open-2"] is False


def test_editor_keeps_comments(app):
    text = _text(app).replace("  - {type: relu}\n  - {type: conv2d",
                              "  - {type: relu}   # keep me\n  - {type: conv2d", 1)
    _type(app, text)
    _open_layer(app, 4)
    app.button(key="del-4").click().run()
    assert "  - {type: relu}   # keep me\n" in _text(app)
    assert _text(app).startswith("# yaml-language-server")


class Square(Elementwise):
    """x squared (a test plugin)."""

    type: Literal["square"] = "square"
    scale: float = Field(1.0, gt=0, le=10, description="Multiplier.")
    example = {"type": "square"}


def test_a_plugin_type_gets_widgets_with_no_app_change(registry, folders):
    registry.register(Square)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.selectbox(key="add_type").set_value("square")
    at.button(key="add_layer").click().run()
    _no_exceptions(at)
    widget = at.number_input(key="f-8-scale-float")
    assert any("**scale**: Multiplier." in m.value for m in at.markdown)   # the card's field help
    widget.set_value(2.5).run()
    assert "{type: square, scale: 2.5}" in _text(at)


# -- opening, saving, undo --------------------------------------------------------

def test_save_is_safe(app, folders):
    before = _snapshot(folders / "specs")
    app.text_input(key="save_name").set_value("../escape").run()
    _button(app.sidebar.button, "Save").click().run()
    assert "not a safe file name" in app.sidebar.error[0].value
    app.text_input(key="save_name").set_value("mnist_cnn").run()
    _button(app.sidebar.button, "Save").click().run()
    assert "already exists" in app.sidebar.error[0].value
    assert _snapshot(folders / "specs") == before
    app.text_input(key="save_name").set_value("my_net").run()
    _button(app.sidebar.button, "Save").click().run()
    assert (folders / "specs" / "my_net.yaml").read_text() == _text(app)
    assert not (folders / "escape.yaml").exists()
    assert any("my_net.yaml" in c.value for c in app.sidebar.caption)  # now open as the saved file


def test_save_name_follows_the_opened_spec_and_overwrite_asks_first(app, folders):
    specs = folders / "specs"
    before = _snapshot(specs)
    app.checkbox(key="save_overwrite").check().run()
    app.selectbox(key="spec_pick").set_value("lenet5.yaml").run()
    assert app.text_input(key="save_name").value == "lenet5"
    assert app.checkbox(key="save_overwrite").value is False  # opening clears it
    _type(app, _text(app).replace("out_features: 120", "out_features: 100"))
    app.checkbox(key="save_overwrite").check().run()
    _button(app.sidebar.button, "Save").click().run()
    assert _snapshot(specs) == before  # nothing written yet: a confirmation names the file
    assert any("specs/lenet5.yaml exists" in w.value for w in app.sidebar.warning)
    _button(app.sidebar.button, "Replace lenet5.yaml").click().run()
    _no_exceptions(app)
    after = _snapshot(specs)
    assert after["lenet5.yaml"].decode() == _text(app)
    assert {k: v for k, v in after.items() if k != "lenet5.yaml"} == \
        {k: v for k, v in before.items() if k != "lenet5.yaml"}
    assert app.checkbox(key="save_overwrite").value is False  # clears after every save


def test_cancelled_overwrite_writes_nothing(app, folders):
    before = _snapshot(folders / "specs")
    app.checkbox(key="save_overwrite").check().run()
    _type(app, _text(app).replace("lr: 0.01", "lr: 0.02"))
    _button(app.sidebar.button, "Save").click().run()
    _button(app.sidebar.button, "Cancel").click().run()
    assert _snapshot(folders / "specs") == before
    assert app.checkbox(key="save_overwrite").value is False
    assert not any(b.label.startswith("Replace") for b in app.sidebar.button)


def test_open_shows_what_is_open_and_reopens_from_disk(app):
    assert app.selectbox(key="spec_pick").placeholder == "mnist_cnn.yaml"
    original = _text(app)
    _type(app, original.replace("lr: 0.01", "lr: 0.02"))
    assert app.selectbox(key="spec_pick").placeholder == "mnist_cnn.yaml (edited)"
    app.selectbox(key="spec_pick").set_value("mnist_cnn.yaml").run()  # the same file again
    assert _text(app) == original
    assert app.selectbox(key="spec_pick").placeholder == "mnist_cnn.yaml"
    assert app.selectbox(key="spec_pick").value is None
    _button(app.sidebar.button, "↶ Undo").click().run()  # the edits are not lost
    assert "lr: 0.02" in _text(app)


def test_undo_and_redo_walk_the_history(app):
    first = _text(app)
    typed = first.replace("lr: 0.01", "lr: 0.03")
    _type(app, typed)
    app.selectbox(key="spec_pick").set_value("lenet5.yaml").run()
    app.selectbox(key="add_type").set_value("dropout")
    app.button(key="add_layer").click().run()
    with_dropout = _text(app)
    undo = lambda: _button(app.sidebar.button, "↶ Undo").click().run()  # noqa: E731
    redo = lambda: _button(app.sidebar.button, "↷ Redo").click().run()  # noqa: E731
    undo()
    assert "lenet5" in _text(app) and "dropout" not in _text(app)
    undo()
    assert _text(app) == typed         # back to the typing, not to an older spec
    undo()
    assert _text(app) == first
    assert _button(app.sidebar.button, "↶ Undo").disabled
    redo()
    redo()
    redo()
    assert _text(app) == with_dropout
    assert _button(app.sidebar.button, "↷ Redo").disabled
    undo()
    _type(app, _text(app) + "# new\n")   # a new edit drops what was ahead
    assert _button(app.sidebar.button, "↷ Redo").disabled


# -- training and prediction --------------------------------------------------------

def _train(at, name="tiny"):
    _button(at.button, f"Train {name}").click().run()
    _no_exceptions(at)
    job = at.session_state["job"]
    job.join(timeout=60)
    at.run()
    at.run()
    _no_exceptions(at)
    return job


def _tiny_page(folders, data, text: str = TINY):
    """The page with the tiny spec open and the data folder set."""
    (folders / "specs" / "tiny.yaml").write_text(text)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.selectbox(key="spec_pick").set_value("tiny.yaml").run()
    at.text_input(key="data_dir").set_value(str(data)).run()
    return at


def test_train_from_the_page_then_predict(folders, data_dir):
    at = _tiny_page(folders, data_dir)
    _by_label(at.number_input, "Epochs").set_value(2)
    _by_label(at.selectbox, "Device").set_value("cpu")
    job = _train(at)
    assert job.snapshot().status == "completed"
    run_dirs = list((folders / "runs").iterdir())
    assert len(run_dirs) == 1 and (run_dirs[0] / "checkpoint.pt").exists()
    info = json.loads((run_dirs[0] / "run.json").read_text())
    accuracy = f"{100 * info['test_accuracy']:.2f}%"
    runs_table = _session_runs(at)
    assert list(runs_table["spec"]) == ["tiny"] and list(runs_table["test accuracy"]) == [accuracy]
    assert runs_table["outcome"].iloc[0].startswith("Finished in ")
    assert runs_table["outcome"].iloc[0].endswith(f": {accuracy} test accuracy.")
    assert any(p.proto.text.startswith("Finished in ") for p in at.get("progress"))
    # predict: the newest run, with the same accuracy as everywhere else
    assert at.selectbox(key="predict_run").value == str(run_dirs[0])
    assert any(c.value.startswith("tiny on mnist: Finished") and accuracy in c.value for c in at.caption)
    at.toggle(key="browse_toggle").set_value(True).run()
    _no_exceptions(at)
    assert any("test images misclassified" in c.value for c in at.caption)
    # a second run gets its own row, and Predict moves to it (nothing was picked by hand)
    _train(at)
    assert len(_session_runs(at)) == 2
    newest = max((folders / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    assert at.selectbox(key="predict_run").value == str(newest)


def test_a_picked_run_stays_picked(folders, data_dir):
    at = _tiny_page(folders, data_dir)
    _by_label(at.number_input, "Epochs").set_value(1)
    _train(at)
    first = at.selectbox(key="predict_run").value
    _train(at)
    at.selectbox(key="predict_run").set_value(first).run()   # an explicit switch to the older run
    _train(at)
    assert at.selectbox(key="predict_run").value == first
    assert any(c.value.startswith("A newer run exists") for c in at.caption)


def test_what_belongs_to_one_spec_does_not_follow_the_next_one_opened(folders, data_dir):
    at = _tiny_page(folders, data_dir)                       # tiny.yaml, its data folder set
    _open_layer(at, 0)
    assert at.session_state["open-0"] is True
    at.selectbox(key="spec_pick").set_value("lenet5.yaml").run()
    _no_exceptions(at)
    default = os.environ.get("PLAYGROUND_DATA", "data")
    assert at.text_input(key="data_dir").value == default       # the default, not tiny's
    assert at.session_state["open-0"] is False                  # lenet5's first card starts closed
    assert any(f"Data folder: {default} (was " in s.value for s in at.sidebar.success)
    at.selectbox(key="spec_pick").set_value("tiny.yaml").run()
    assert at.text_input(key="data_dir").value == str(data_dir)   # tiny's own, as it was set


def test_predict_picks_the_newest_finished_run_sweep_trials_too_and_reads_a_runs_own_data_root(folders, data_dir):
    from playground.app import editing
    from playground.check.analysis import load_checked
    from playground.format.datasets import data_root
    from playground.train.engine import Trainer

    at = _tiny_page(folders, data_dir)
    _by_label(at.number_input, "Epochs").set_value(1)
    finished = Path(_train(at).snapshot().run_dir)
    stopped = Path(_train(at).snapshot().run_dir)
    info = json.loads((stopped / "run.json").read_text())
    (stopped / "run.json").write_text(json.dumps({**info, "status": "stopped", "epochs_trained": 0.11}))
    at.run()
    assert at.selectbox(key="predict_run").value == str(finished)     # not the 0.11-epoch stopped one
    assert any(c.value.startswith(f"A newer run exists: {stopped.name} (stopped)") for c in at.caption)
    # a run trained elsewhere (the command line) with its own data root; the page's folder is elsewhere
    spec, summary = load_checked(editing.file_text(TINY), data_root=data_root(str(data_dir)),
                                 overrides={"train.epochs": 1})
    trial = folders / "sweeps" / "by-hand" / "trial-000"
    list(Trainer(spec, summary=summary, out=trial, data_dir=str(data_dir), download=False).events())
    at.text_input(key="data_dir").set_value(str(folders / "nothing-here")).run()
    options = at.selectbox(key="predict_run").options
    assert "sweep by-hand / trial-000" in options                        # sweep trials can be picked
    at.selectbox(key="predict_run").set_value(str(trial)).run()
    at.toggle(key="browse_toggle").set_value(True).run()
    _no_exceptions(at)
    captions = " ".join(c.value for c in at.caption)
    assert f"Test images from the run's own data root, {data_dir}." in captions
    assert "test images misclassified" in captions and not at.error


def test_missing_data_points_to_the_data_folder_field(folders):
    at = _tiny_page(folders, folders / "nothing-here")
    at.checkbox(key="train_download").uncheck()
    job = _train(at)
    assert job.snapshot().status == "failed"
    errors = " ".join(e.value for e in at.error)
    assert "point the Data folder field on the Train tab at" in errors and "--data-dir" not in errors


def test_bad_training_settings_show_the_spec_error(app):
    _by_label(app.number_input, "Learning rate").set_value(0.0)
    _button(app.button, "Train mnist_cnn").click().run()
    _no_exceptions(app)
    assert any("train.lr: Input should be greater than 0" in e.value for e in app.error)
    assert app.session_state["job"] is None


def test_training_form_follows_the_spec_but_keeps_what_the_user_set(app):
    assert _by_label(app.number_input, "Epochs").value == 10
    _by_label(app.number_input, "Epochs").set_value(3).run()
    app.selectbox(key="spec_pick").set_value("fashion_bn.yaml").run()
    assert _by_label(app.number_input, "Batch size").value == 128   # untouched: follows the spec
    assert _by_label(app.number_input, "Learning rate").value == 0.001
    assert _by_label(app.number_input, "Epochs").value == 3          # set by the user: kept
    _type(app, _text(app).replace("batch_size: 128", "batch_size: 256"))
    assert _by_label(app.number_input, "Batch size").value == 256


@pytest.mark.parametrize("type_name", [cls.type_name() for cls in BUILTINS])
def test_every_layer_type_gets_a_card_whose_widgets_write_back(app, type_name):
    from playground.app.forms import field_forms
    from playground.layers.registry import get_registry

    app.selectbox(key="add_type").set_value(type_name)
    app.button(key="add_layer").click().run()
    _no_exceptions(app)
    assert app.session_state["open-8"] is True
    example = get_registry()[type_name].example or {}
    for form in field_forms(get_registry()[type_name]):
        kind = form.widget_kind(example.get(form.name))
        key = f"f-8-{form.name}-{kind}"
        assert key in app.session_state, key
    name = app.text_input(key="f-8-name-text")
    name.set_value("added").run()
    _no_exceptions(app)
    first = _text(app).splitlines()[13]   # a container is written in block style, its layers one per line
    assert first.startswith((f"  - {{type: {type_name}", f"  - type: {type_name}")) and "name: added" in _text(app)
    from playground.format.yamlsource import parse

    added = parse(_text(app)).data["layers"][8]
    assert (added["type"], added["name"]) == (type_name, "added")


def test_stopping_from_the_page_says_how_far_it_got(folders, data_dir):
    import time

    at = _tiny_page(folders, data_dir, TINY.replace("epochs: 3", "epochs: 500"))
    _button(at.button, "Train tiny").click().run()
    job = at.session_state["job"]
    deadline = time.time() + 60
    while time.time() < deadline and not job.snapshot().metrics:
        time.sleep(0.05)
    job.stop()
    job.join(timeout=60)
    at.run()
    at.run()
    _no_exceptions(at)
    info = json.loads((job.snapshot().run_dir / "run.json").read_text())
    assert info["status"] == "stopped" and info["epochs_trained"] >= 1
    outcome = _session_runs(at)["outcome"].iloc[0]
    assert outcome.startswith("Stopped ") and f"{100 * info['test_accuracy']:.2f}% test accuracy of the weights kept" \
        in outcome


# -- blocks --------------------------------------------------------------------------

def test_blocks_show_as_a_collapsible_tree(app):
    _type(app, (SPECS / "zoo" / "resnet18.yaml").read_text())
    _no_exceptions(app)
    table = _table(app)   # depth 1 by default: each stage, and its residual blocks
    assert list(table["#"][:7]) == ["0", "1", "2", "3", "4", "4.0", "4.1"]
    assert list(table["type"][4:7]) == ["sequential", "· residual", "· residual"]
    assert list(table["params"][4:7]) == ["147,968", "73,984", "73,984"]
    app.select_slider(key="table_depth-2").set_value(0).run()
    assert len(_table(app)) == 11
    app.select_slider(key="table_depth-2").set_value(2).run()
    assert "· · conv2d" in list(_table(app)["type"])
    chart = app.get("graphviz_chart")[0].proto.spec
    assert "subgraph cluster_" in chart and 'label="+"' in chart   # residual blocks drawn as clusters


def test_an_error_inside_a_block_marks_the_nested_row(app):
    head = "name: nested\ndata: {dataset: none}\ninput: {channels: 3, height: 8, width: 8}\nlayers:\n"
    text = head + ("  - type: residual\n    body:\n"
                   "      - {type: conv2d, out_channels: 3, kernel_size: 3, padding: 1}\n"
                   "      - {type: batchnorm2d, num_features: 4}\n")
    _type(app, text)
    _no_exceptions(app)
    assert "layers\\[0\\].body\\[1\\] (batchnorm2d).num\\_features" in app.error[0].value
    table = _table(app)
    assert list(table["#"]) == ["0", "0.body.0", "0.body.1"]
    assert list(table["status"]) == ["not checked", "not checked", "✗ error"]


def test_a_blocks_layers_are_edited_in_its_card(app):
    head = "name: nested\ndata: {dataset: none}\ninput: {channels: 3, height: 8, width: 8}\nlayers:\n"
    _type(app, head + "  - type: residual\n    body:\n      - {type: relu}\n")
    _open_layer(app, 0)
    body = app.text_area(key="f-0-body-layers")
    assert body.value == "- {type: relu}"
    body.set_value("- {type: conv2d, out_channels: 3, kernel_size: 3, padding: 1}\n- {type: relu6}").run()
    _no_exceptions(app)
    from playground.format.yamlsource import parse

    layer = parse(_text(app)).data["layers"][0]
    assert layer["body"] == [{"type": "conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1},
                             {"type": "relu6"}]
    assert list(_table(app)["#"]) == ["0", "0.body.0", "0.body.1"]
    assert not app.error


def test_a_spec_without_a_dataset_is_not_offered_for_training(app):
    _type(app, (SPECS / "zoo" / "alexnet.yaml").read_text())
    _no_exceptions(app)
    assert any("names no dataset" in i.value for i in app.info)
    assert not any(b.label.startswith("Train ") for b in app.button)


def test_a_color_model_is_browsed_not_drawn_on(folders, tmp_path, monkeypatch):
    from tinydata import write_cifar

    data = write_cifar(tmp_path / "cifar", monkeypatch=monkeypatch)
    text = ("name: colors\ndata: {dataset: cifar10, batch_size: 50}\nlayers:\n"
            "  - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2}\n  - {type: relu}\n"
            "  - {type: flatten}\n  - {type: linear, out_features: 10}\ntrain: {epochs: 1, device: cpu}\n")
    at = _tiny_page(folders, data, text.replace("name: colors", "name: tiny"))
    assert _train(at).snapshot().status == "completed"
    _no_exceptions(at)
    assert any("Drawing is for models of 28x28 grayscale digits; this one takes 3x32x32 images" in i.value
               for i in at.info)
    at.toggle(key="browse_toggle").set_value(True).run()
    _no_exceptions(at)
    assert any("of 60 test images misclassified" in c.value for c in at.caption)
    assert any(c.value.startswith("Confusion matrix: each row is a true class") for c in at.caption)
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    (heatmap,) = [s for s in specs if isinstance(s.get("mark"), dict) and s["mark"].get("type") == "rect"]
    assert heatmap["encoding"]["color"]["field"] == "share" and heatmap["encoding"]["y"]["field"] == "true"


def test_an_image_folder_is_chosen_previewed_and_normalized_from_the_data_panel(app, tmp_path):
    """Dataset, folder and normalization are set from the Train tab's Data panel;
    each change lands in the YAML (with undo) and the folder's classes and
    sample pictures show before any training."""
    from tinydata import write_image_folder

    write_image_folder(tmp_path / "pics")
    app.text_input(key="data_dir").set_value(str(tmp_path)).run()
    _data_field(app.selectbox, "dataset").set_value("image_folder").run()
    assert "dataset: image_folder" in _text(app)
    assert any("needs a path" in e.value for e in app.error) or "Fix the spec first" in str(app.warning)
    _data_field(app.text_input, "path").set_value("pics").run()
    text = _text(app)
    assert text.index("dataset: image_folder") < text.index("path: pics") < text.index("batch_size")
    _no_exceptions(app)
    frame = next(d.value for d in app.dataframe if "class" in d.value.columns)
    assert list(frame["class"]) == ["circle", "square", "triangle"]
    assert list(frame["train"]) == [13, 13, 12] and list(frame["test"]) == [4, 4, 4]   # files, before decoding
    assert len(app.get("image")) == 5 and any("3 classes, 38 train files" in c.value for c in app.caption)
    assert any("cut.jpg is not a readable image" in c.value for c in app.caption)   # 6 samples, one broken
    # the check looks in the page's data folder too: the tutorial's 10 outputs are not the folder's 3 classes
    assert any("the image folder pics has 3 classes" in e.value for e in app.error)
    _data_field(app.text_input, "mean").set_value("[0.5, 0.4, 0.3]").run()
    assert "mean: [0.5, 0.4, 0.3]" in _text(app)
    _button(app.sidebar.button, "↶ Undo").click().run()
    assert "mean: [0.5, 0.4, 0.3]" not in _text(app) and _data_field(app.text_input, "mean").value == "0.1307"
    _type(app, _text(app).replace("path: pics", "path: nowhere"))
    assert _data_field(app.text_input, "path").value == "nowhere"
    assert any("does not exist" in w.value for w in app.warning)


def test_the_open_spec_offers_each_export_format_while_it_is_valid(app):
    labels = [b.label for b in app.button]
    assert {"ONNX", "TorchScript", "torch.export (.pt2)", "PyTorch source (.py)"} <= set(labels)
    _button(app.button, "PyTorch source (.py)").click().run()
    _no_exceptions(app)
    (offer,) = [b for b in app.get("download_button") if b.proto.label.startswith("Download mnist_cnn.py")]
    assert all(not b.disabled for b in app.button if (b.key or "").startswith("export-spec-"))   # enabled again
    edited = _text(app).replace("out_features: 10}", "out_features: 12}")
    _type(app, edited)
    assert not [b for b in app.get("download_button") if b.proto.label.startswith("Download mnist_cnn")]  # stale
    _type(app, edited.replace("in_features: 320", "in_features: 300"))
    labels = [b.label for b in app.button]
    assert "ONNX" not in labels   # nothing to export until the spec checks


def test_the_runs_tab_lists_every_run_folder(folders):
    from playground.runs import folders as runs

    base = folders / "runs"
    for name, acc in (("a-20261128-100000", 0.9), ("b-20261128-110000", 0.95)):
        run = base / name
        run.mkdir(parents=True)
        runs.write_spec(run, {"name": name[0], "layers": [{"type": "flatten"}], "data": {"dataset": "mnist"}})
        runs.write_metrics(run, [{"epoch": 1, "train_loss": 0.3, "test_loss": 0.2, "test_accuracy": acc}])
        runs.write_info(run, {"spec": name[0], "status": "completed", "started": name[2:]})
    (base / "c-20261128-120000").mkdir()
    (base / "c-20261128-120000" / "run.json").write_text("{")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    _no_exceptions(at)
    frame = next(d.value for d in at.dataframe if "best acc" in d.value.columns)
    assert list(frame["run"]) == ["b-20261128-110000", "a-20261128-100000", "c-20261128-120000"]
    assert list(frame["best acc"])[:2] == ["95.00%", "90.00%"] and "damaged" in frame["status"].iloc[2]


# -- sweeps --------------------------------------------------------------------------

NAMED = "# a tiny net to sweep\n" + TINY.replace("- {type: conv2d,", "- {type: conv2d, name: conv,")


def _sweep(at, sets: str, epochs: int = 1):
    at.text_area(key="sweep_sets").set_value(sets)
    at.number_input(key="sweep_epochs").set_value(epochs)
    _button(at.button, "Sweep tiny").click().run()
    _no_exceptions(at)
    return at.session_state["sweep_job"]


def test_a_sweep_from_the_page_shows_its_trials_best_first_and_applies_the_best(folders, data_dir):
    at = _tiny_page(folders, data_dir, NAMED)
    job = _sweep(at, "train.lr=[0.01, 0.1]\nlayers.conv.kernel_size=[5, 40]")
    job.join(timeout=120)
    at.run()
    _no_exceptions(at)
    trials = next(d.value for d in at.dataframe if "trial" in d.value.columns)
    assert list(trials.columns) == ["trial", "status", "test accuracy", "train.lr", "layers.conv.kernel_size",
                                    "run folder"]
    assert sorted(trials["status"]) == ["✓ complete"] * 2 + ["✗ refused by the check"] * 2   # 40 no longer fits
    assert set(trials[trials["status"] == "✗ refused by the check"]["layers.conv.kernel_size"]) == {"40"}
    assert list(trials["status"][:2]) == ["✓ complete"] * 2
    accuracies = [float(a.rstrip("%")) for a in trials["test accuracy"][:2]]
    assert accuracies == sorted(accuracies, reverse=True)                     # best first
    assert any(p.proto.text.startswith("Finished: 4 of 4 trials; best: trial") for p in at.get("progress"))
    assert len(list((folders / "sweeps").glob("*/trial-*"))) == 2            # refused ones train nothing
    in_order = [r.params for r in sorted(job.snapshot().rows, key=lambda r: r.number)]
    assert in_order == [{"train.lr": lr, "layers.conv.kernel_size": k} for lr in (0.01, 0.1) for k in (5, 40)]
    best = job.snapshot().best
    before = _text(at)
    _button(at.button, f"Apply the best values to the open spec (trial {best.number}: train.lr = "
                       f"{best.params['train.lr']}, layers.conv.kernel_size = 5)").click().run()
    after = _text(at)
    assert after.startswith("# a tiny net to sweep\n") and f"lr: {best.params['train.lr']}" in after
    assert "name: conv, out_channels: 4, kernel_size: 5" in after              # the user's own text, edited
    _button(at.sidebar.button, "↶ Undo").click().run()
    assert _text(at) == before
    # the Runs tab offers the sweep's folder, its trials as runs
    sweep = next((folders / "sweeps").iterdir())
    at.selectbox(key="runs_base").set_value(str(sweep)).run()
    frame = next(d.value for d in at.dataframe if "best acc" in d.value.columns)
    assert sorted(frame["run"]) == sorted(p.name for p in sweep.glob("trial-*"))


def test_sweep_fields_survive_an_invalid_spec_and_a_bad_field_starts_nothing(folders, data_dir):
    at = _tiny_page(folders, data_dir, NAMED)
    at.text_area(key="sweep_sets").set_value("train.lrr=[0.1]").run()
    good = _text(at)
    _type(at, good.replace("layers:", "layers: ["))     # briefly not even YAML
    _type(at, good)
    assert at.text_area(key="sweep_sets").value == "train.lrr=[0.1]"          # the typed fields are kept
    _button(at.button, "Sweep tiny").click().run()
    assert at.session_state["sweep_job"] is None
    errors = " ".join(e.value for e in at.error)
    assert "unknown key 'lrr'" in errors and "Did you mean 'lr'" in errors
    assert not (folders / "sweeps").exists()


def test_a_stopped_sweep_can_be_continued_and_training_waits_for_it(folders, data_dir):
    import time

    at = _tiny_page(folders, data_dir, NAMED)
    job = _sweep(at, "train.lr=[0.01, 0.05]", epochs=500)
    deadline = time.time() + 60
    while time.time() < deadline and not job.snapshot().step:
        time.sleep(0.05)
    at.run()
    assert _button(at.button, "Train tiny").disabled and _button(at.button, "Sweep tiny").disabled
    job.stop()
    job.join(timeout=60)
    at.run()
    _no_exceptions(at)
    s = job.snapshot()
    assert s.status == "stopped" and [r.status for r in s.rows] == ["interrupted"]
    assert any(p.proto.text.startswith("Stopped: 0 of 2 trials") for p in at.get("progress"))
    assert not _button(at.button, "Train tiny").disabled
    _button(at.button, "Continue the sweep").click().run()
    again = at.session_state["sweep_job"]
    assert again is not job and again.plan == job.plan                       # the same study and folder
    again.stop()
    again.join(timeout=60)


def test_a_sweep_without_its_data_points_to_the_data_folder_field_and_continues_with_the_corrected_one(
        folders, data_dir):
    at = _tiny_page(folders, folders / "nothing-here", NAMED)
    at.checkbox(key="train_download").uncheck()                   # the page's download setting holds for sweeps
    job = _sweep(at, "train.lr=[0.01, 0.1]")
    job.join(timeout=60)
    at.run()
    _no_exceptions(at)
    assert job.snapshot().status == "failed" and not (folders / "nothing-here").exists()
    errors = " ".join(e.value for e in at.error)
    assert "point the Data folder field on the Train tab at" in errors and "--data-dir" not in errors
    trials = next(d.value for d in at.dataframe if "trial" in d.value.columns)
    assert list(trials["status"]) == ["✗ failed"] and list(trials["run folder"]) == ["—"]   # it holds no run
    at.text_input(key="data_dir").set_value(str(data_dir)).run()   # fixed on the Train tab
    captions = " ".join(c.value for c in at.caption)
    assert f"It uses the Data folder as it is now: {data_dir} (changed since this sweep started)" in captions
    _button(at.button, "Continue the sweep").click().run()
    again = at.session_state["sweep_job"]
    assert again.plan.data_dir == str(data_dir) and again.plan.study == job.plan.study
    again.join(timeout=120)
    at.run()
    _no_exceptions(at)
    s = again.snapshot()
    assert s.status == "completed" and sorted(r.status for r in s.rows) == ["complete", "complete"]


def test_an_error_inside_a_template_is_shown_and_fixed_in_the_templates_card(app):
    text = (SPECS / "zoo" / "resnet18.yaml").read_text()
    conv2 = "- {type: conv2d, name: conv2, out_channels: $width,"
    _type(app, text.replace(conv2, conv2.replace("conv2, ", "conv2, in_channels: 64, ")))
    _no_exceptions(app)
    assert app.session_state["open-block-basic"] is True                  # the template's card opened
    card_layers = app.text_area(key="block-layers-basic")
    assert "in_channels: 64" in card_layers.value
    assert any("fails in 6 of 8 uses of block 'basic'" in e.value for e in app.error)
    assert any("The problem is in block 'basic'" in w.value for w in app.warning)   # the use's card points there
    diagram = app.get("graphviz_chart")[0].proto.spec
    assert "subgraph cluster_" in diagram and 'color="#c0392b"' in diagram   # the blocks drawn, the use red
    card_layers.set_value(card_layers.value.replace("in_channels: 64", "in_channels: $width")).run()
    _no_exceptions(app)
    assert "            in_channels: $width\n" in _text(app) and "in_channels: 64" not in _text(app)
    assert not app.error and "11,689,512 parameters" in " ".join(c.value for c in app.caption)


def test_a_data_value_the_browser_holds_from_the_last_spec_is_not_written_into_the_next(app):
    """The browser sends every widget's value with each action; one sent before it drew the
    newly opened spec still holds the last spec's. mnist_cnn's mean, sent after lenet5 (which
    writes none) opened, once went into lenet5's text; it belongs to a widget that is gone."""
    stale = _data_field(app.text_input, "mean")
    assert stale.value == "0.1307"
    app.selectbox(key="spec_pick").set_value("lenet5.yaml").run()
    assert "mean:" not in _text(app) and _data_field(app.text_input, "mean").value == ""
    # what the browser sends: the values of the widgets drawn now, and the stale one's with them
    # (AppTest's public API sends only the widgets of one tree)
    states = app._tree.get_widget_states()
    sent = states.widgets.add()
    sent.id, sent.string_value = stale.id, "0.1307"
    app._run(states)
    _no_exceptions(app)
    assert "mean:" not in _text(app) and "(edited)" not in " ".join(c.value for c in app.sidebar.markdown)
    _data_field(app.text_input, "mean").set_value("0.2").run()    # typed into the widget drawn now: written
    assert "mean: 0.2" in _text(app)


def test_freezing_by_picking_layers_writes_the_spec_and_the_table_marks_the_frozen_rows(app):
    """The Train tab's Start-from panel: picked layers go into train.freeze (the text keeps the
    rest as it was), the shape table marks the rows they freeze, and a weights source typed
    there goes into init.weights; clearing the pick removes the key again."""
    freeze = next(w for w in app.multiselect if (w.key or "").startswith("train_freeze-"))
    assert "conv1" in freeze.options and "all" in freeze.options
    before = _text(app)
    freeze.set_value(["conv1"]).run()
    _no_exceptions(app)
    text = _text(app)
    assert "  freeze: [conv1]\n" in text and text.replace("  freeze: [conv1]\n", "") == before   # all else kept
    table = _table(app)
    status = dict(zip(table["name"], table["status"], strict=False))
    assert status["conv1"] == "ok · frozen" and status["conv2"] == "ok"
    assert any("parameters frozen" in c.value for c in app.caption)
    assert any("8,490 parameters (34kB; 8,230 trainable, 260 frozen)" in c.value for c in app.caption)
    weights = next(w for w in app.text_input if (w.key or "").startswith("init_weights-"))
    weights.set_value("runs/somewhere").run()
    assert "init: {weights: runs/somewhere}" in _text(app)
    next(w for w in app.multiselect if (w.key or "").startswith("train_freeze-")).set_value([]).run()
    assert "freeze" not in _text(app)


def test_a_zoo_spec_starts_from_torchvisions_weights_at_a_click(app):
    app.selectbox(key="spec_pick").set_value("zoo/resnet18.yaml").run()
    _button(app.button, "Start from torchvision's weights for resnet18").click().run()
    _no_exceptions(app)
    import playground

    assert playground.load_spec(_text(app)).init.weights == "torchvision:ResNet18_Weights.IMAGENET1K_V1"
