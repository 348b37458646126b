"""One family of errors: every error a person sees is a PlaygroundError that
carries its exit status and its one-screen text, and every command prints it
the same way."""

from __future__ import annotations

import pytest

from playground.check.cli import main as check_main
from playground.core import texts
from playground.core.errors import PlaygroundError, Setting, SpecError, fail
from playground.export.cli import main as export_main
from playground.export.formats import ExportError
from playground.layers.registry import PluginError
from playground.runs.folders import RunError
from playground.runs.plots import PlotError
from playground.sweep.cli import main as sweep_main
from playground.sweep.planning import SweepError
from playground.train.cli import main as train_main
from playground.train.data import DataError
from playground.train.devices import DeviceError
from playground.train.engine import TrainingError
from playground.train.evaluate import main as evaluate_main

BROKEN = """\
name: broken
layers:
  - {type: conv2d, out_channels: 10, kernel_size: 5}
  - {type: flatten}
  - {type: linear, in_features: 300, out_features: 10}
"""


@pytest.mark.parametrize(("cls", "status"), [
    (SpecError, 2), (PluginError, 2), (RunError, 2), (DataError, 2), (DeviceError, 2), (SweepError, 2),
    (ExportError, 2), (PlotError, 2), (TrainingError, 1)])
def test_every_error_a_person_sees_is_one_family(cls, status):
    assert issubclass(cls, PlaygroundError) and cls.exit_status == status
    if cls is not SpecError:
        err = cls("something is wrong")
        assert err.render() == "error: something is wrong" and str(err) == "something is wrong"


def test_a_spec_error_is_printed_as_its_place_first():
    err = fail(("layers", 2, "in_features"), "in_features=300, but its input flattens to 5760.", "Set 5760.")
    assert err.render() == str(err) == "layers[2].in_features: in_features=300, but its input flattens to 5760.\n" \
                                       "  Set 5760."


def test_a_setting_is_worded_by_each_front_end():
    err = DataError("MNIST is missing.\n  Point ", Setting("data_root"), " at it.")
    assert str(err) == "MNIST is missing.\n  Point the data root (data_dir=, else $PLAYGROUND_DATA) at it."
    assert err.render(texts.COMMAND_LINE) == "error: MNIST is missing.\n  Point --data-dir (or PLAYGROUND_DATA) at it."
    assert err.message({"data_root": "the Data folder field"}) == \
        "MNIST is missing.\n  Point the Data folder field at it."


def test_every_command_prints_a_broken_spec_the_same_way(tmp_path, capsys):
    spec = tmp_path / "broken.yaml"
    spec.write_text(BROKEN)
    outputs = []
    for command in (lambda: check_main([str(spec)]),
                    lambda: train_main([str(spec), "--out", str(tmp_path / "run")]),
                    lambda: export_main([str(spec), "--format", "python", "--out", str(tmp_path / "x.py")])):
        assert command() == 2
        outputs.append(capsys.readouterr().err)
    assert outputs[0].startswith(f"{spec}:5: layers[2] (linear).in_features: in_features=300")
    assert outputs[1] == outputs[0]
    assert outputs[2] == "error: " + outputs[0]   # export wraps what it cannot export, whatever the cause
    assert not (tmp_path / "run").exists() and not (tmp_path / "x.py").exists()


def test_every_command_prints_a_missing_run_folder_the_same_way(tmp_path, capsys):
    missing = tmp_path / "nothing"
    for command in (lambda: evaluate_main([str(missing)]),
                    lambda: train_main(["--resume", str(missing)])):
        assert command() == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and str(missing) in err and "Traceback" not in err


def test_a_sweep_with_a_bad_set_is_one_error_line(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(BROKEN.replace("in_features: 300, ", ""))
    assert sweep_main([str(spec), "--set", "train.lr=oops"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --set 'train.lr=oops': VALUES is a YAML list") and err.count("\n") == 1


def test_a_sweep_of_a_broken_spec_names_the_file_and_line(tmp_path, capsys):
    spec = tmp_path / "broken.yaml"
    spec.write_text(BROKEN)
    assert sweep_main([str(spec), "--set", "train.lr=[0.01, 0.02]", "--out", str(tmp_path / "sweep")]) == 2
    assert capsys.readouterr().err.startswith(f"{spec}:5: layers[2] (linear).in_features: in_features=300")
    spec.write_text("name: x\nlayers: !!python/object:os.system [ls]\n")   # the spec reader refuses tags
    assert sweep_main([str(spec), "--set", "train.lr=[0.01, 0.02]", "--out", str(tmp_path / "sweep")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{spec}:2: ") and "Traceback" not in err
    assert not (tmp_path / "sweep").exists()


def test_a_layer_name_a_module_cannot_take_says_the_rule_and_a_name_that_works(tmp_path, capsys):
    spec = tmp_path / "names.yaml"
    spec.write_text(BROKEN.replace("{type: flatten}", '{type: flatten, name: "to.vector"}'))
    assert check_main([str(spec)]) == 2
    assert capsys.readouterr().err == (
        f"{spec}:4: layers[1] (flatten 'to.vector').name: name 'to.vector' cannot name a module of the built model: "
        "a module name is ASCII letters, digits and underscores, not starting with a digit, at most 64 characters.\n"
        "  Rename it, e.g. name: to_vector.\n")
