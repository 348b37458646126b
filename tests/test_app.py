"""The Streamlit page, driven headless with streamlit.testing.v1.AppTest."""

from __future__ import annotations

import shutil
from typing import Literal

import pytest
from conftest import ROOT, SPECS
from pydantic import Field
from streamlit.testing.v1 import AppTest
from test_training import TINY
from tinydata import write_dataset

from playground.layers import Elementwise

TIMEOUT = 120  # the first run may import torch


@pytest.fixture
def folders(tmp_path, monkeypatch):
    specs = tmp_path / "specs"
    shutil.copytree(SPECS, specs)
    monkeypatch.setenv("PLAYGROUND_SPECS_DIR", str(specs))
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


@pytest.fixture
def app(folders):
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()


def _table(at):
    return at.dataframe[0].value


def _by_label(widgets, label):
    return next(w for w in widgets if w.label == label)


def _no_exceptions(at):
    assert not at.exception, [e.value for e in at.exception]


def test_default_spec_renders_eight_layers_ending_in_ten(app):
    _no_exceptions(app)
    table = _table(app)
    assert len(table) == 8
    assert list(table["type"]) == ["conv2d", "maxpool2d", "relu", "conv2d", "maxpool2d", "relu", "flatten", "linear"]
    assert table["output shape"].iloc[-1] == "(10,)"
    assert not app.error
    assert "mnist_cnn" in app.text_area(key="yaml_text").value


def test_bad_in_features_names_the_layer_and_marks_its_row(app):
    text = app.text_area(key="yaml_text").value.replace("in_features: 320", "in_features: 300")
    app.text_area(key="yaml_text").set_value(text).run()
    _no_exceptions(app)
    message = app.error[0].value
    assert "layers[7] (linear 'fc').in_features: in_features=300, but its input 20x4x4 flattens to 320." in message
    table = _table(app)
    assert table["status"].iloc[7] == "✗ error"
    assert list(table["output shape"].iloc[:7]) == ["(10, 24, 24)", "(10, 12, 12)", "(10, 12, 12)",
                                                    "(20, 8, 8)", "(20, 4, 4)", "(20, 4, 4)", "(320,)"]
    assert any(e.label.startswith("✗ 7: linear") for e in app.expander)


@pytest.mark.parametrize("text", ["name: [\n", "- just\n- a list\n",
                                  "name: x\nlayers: [{type: conv2d, out_channels: x}]\n",
                                  "name: !!python/object:os.system x\n", "\t\x00"])
def test_malformed_input_shows_an_error_not_an_exception(app, text):
    app.text_area(key="yaml_text").set_value(text).run()
    _no_exceptions(app)
    assert app.error


def test_adding_a_layer_updates_yaml_and_table(app):
    app.selectbox(key="add_type").set_value("dropout")
    app.button(key="add_layer").click().run()
    _no_exceptions(app)
    assert "{type: dropout, p: 0.25}" in app.text_area(key="yaml_text").value
    table = _table(app)
    assert len(table) == 9 and table["type"].iloc[-1] == "dropout"
    assert app.text_area(key="yaml_text").value.startswith("# yaml-language-server")  # header kept


def test_field_widget_edits_flow_to_the_check(app):
    rev = app.session_state["rev"]
    app.number_input(key=f"f{rev}-0-out_channels").set_value(12).run()
    _no_exceptions(app)
    assert "out_channels: 12" in app.text_area(key="yaml_text").value
    assert "in_channels=10, but its input 12x12x12 has 12 channels" in app.error[0].value


def test_delete_and_move_layers(app):
    rev = app.session_state["rev"]
    app.button(key=f"del{rev}-6").click().run()  # the flatten
    _no_exceptions(app)
    assert "Insert `- {type: flatten}`" in app.error[0].value
    rev = app.session_state["rev"]
    app.button(key=f"up{rev}-2").click().run()  # relu above the first pool
    assert list(_table(app)["type"].iloc[:3]) == ["conv2d", "relu", "maxpool2d"]


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
    rev = at.session_state["rev"]
    widget = at.number_input(key=f"f{rev}-8-scale")
    assert widget.help.startswith("Multiplier.")
    widget.set_value(2.5).run()
    assert "{type: square, scale: 2.5}" in at.text_area(key="yaml_text").value


def test_save_is_safe(app, folders):
    app.text_input(key="save_name").set_value("../escape").run()
    save = next(b for b in app.sidebar.button if b.label == "Save")
    save.click().run()
    assert "not a safe file name" in app.sidebar.error[0].value
    app.text_input(key="save_name").set_value("mnist_cnn").run()
    next(b for b in app.sidebar.button if b.label == "Save").click().run()
    assert "already exists" in app.sidebar.error[0].value
    app.text_input(key="save_name").set_value("my_net").run()
    next(b for b in app.sidebar.button if b.label == "Save").click().run()
    assert (folders / "specs" / "my_net.yaml").read_text() == app.text_area(key="yaml_text").value
    assert not (folders / "escape.yaml").exists()


def test_open_another_spec(app):
    app.selectbox(key="spec_choice").set_value("lenet5.yaml").run()
    assert len(_table(app)) == 12


def test_train_from_the_page_then_predict(folders):
    data = write_dataset(folders / "data")
    (folders / "specs" / "tiny.yaml").write_text(TINY)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.selectbox(key="spec_choice").set_value("tiny.yaml").run()
    at.text_input(key="data_dir").set_value(str(data))
    _by_label(at.number_input, "Epochs").set_value(2)
    _by_label(at.selectbox, "Device").set_value("cpu")
    at.button[[b.label for b in at.button].index("Train tiny")].click().run()
    _no_exceptions(at)
    job = at.session_state["job"]
    job.join(timeout=60)
    assert job.snapshot().status == "completed"
    at.run()
    at.run()
    _no_exceptions(at)
    runs_table = at.dataframe[-1].value
    assert list(runs_table["spec"]) == ["tiny"] and runs_table["status"].iloc[0] == "completed"
    run_dirs = list((folders / "runs").iterdir())
    assert len(run_dirs) == 1 and (run_dirs[0] / "checkpoint.pt").exists()
    # predict: the run is offered, and test images come with predictions, mistakes first
    assert at.selectbox(key="predict_run").value == str(run_dirs[0])
    at.toggle(key="browse_toggle").set_value(True).run()
    _no_exceptions(at)
    assert any("test accuracy" in c.value for c in at.caption)
    # a second run gets its own row too
    at.button[[b.label for b in at.button].index("Train tiny")].click().run()
    at.session_state["job"].join(timeout=60)
    at.run()
    at.run()
    assert len(at.dataframe[-1].value) == 2


def test_opening_another_spec_can_be_undone(app):
    edited = app.text_area(key="yaml_text").value.replace("out_channels: 20", "out_channels: 24")
    app.text_area(key="yaml_text").set_value(edited).run()
    app.selectbox(key="spec_choice").set_value("lenet5.yaml").run()
    assert "lenet5" in app.text_area(key="yaml_text").value
    next(b for b in app.sidebar.button if b.label.startswith("↶ Undo")).click().run()
    assert app.text_area(key="yaml_text").value == edited


def test_bad_training_settings_show_the_spec_error(app):
    _by_label(app.number_input, "Learning rate").set_value(0.0)
    app.button[[b.label for b in app.button].index("Train mnist_cnn")].click().run()
    _no_exceptions(app)
    assert any("train.lr: Input should be greater than 0" in e.value for e in app.error)
    assert app.session_state["job"] is None


def test_training_form_follows_the_spec(app):
    assert _by_label(app.number_input, "Epochs").value == 10
    app.selectbox(key="spec_choice").set_value("fashion_bn.yaml").run()
    assert _by_label(app.number_input, "Batch size").value == 128
    assert _by_label(app.number_input, "Learning rate").value == 0.001
