"""One pass from spec to run: a spec is read once, checked once, with the data
root the run really uses, and every problem found after an override still
names the spec's file and line.

The scene of the bug: $PLAYGROUND_DATA holds a 3-class ``shapes/`` and the
folder given with --data-dir a 4-class one; a correct 4-class spec must pass
``check``, ``train`` and loading its run, and a 3-class one must be refused
there, with the 4 classes of the folder that is really used."""

from __future__ import annotations

import pytest
from tinydata import write_image_folder

import playground
from playground.check.cli import main as check_main
from playground.format.loader import read_spec, with_overrides
from playground.train.cli import main as train_main

SPEC = """\
name: four
input: {channels: 3, height: 16, width: 16}
data: {dataset: image_folder, path: shapes, batch_size: 8, test_batch_size: 8}
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
  - {type: relu}
  - {type: flatten}
  - {type: linear, name: fc, out_features: 4}
train: {epochs: 1, lr: 0.05, seed: 1, device: cpu}
"""


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """(the default root with 3 classes, the --data-dir root with 4)."""
    default, given = tmp_path / "default", tmp_path / "given"
    write_image_folder(default / "shapes", n_train=3, n_test=2, broken=False)
    write_image_folder(given / "shapes", n_train=3, n_test=2, classes=("a", "b", "c", "d"), broken=False)
    monkeypatch.setenv("PLAYGROUND_DATA", str(default))
    return default, given


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "four.yaml"
    path.write_text(SPEC)
    return path


def test_check_counts_the_classes_under_the_data_dir_given(roots, spec_file, capsys):
    default, given = roots
    assert check_main([str(spec_file), "--data-dir", str(given)]) == 0
    assert "four: 4 layers" in capsys.readouterr().out
    assert check_main([str(spec_file)]) == 2   # under the default root the folder has 3 classes
    err = capsys.readouterr().err
    assert f"{spec_file}:8: layers[3] (linear 'fc').out_features" in err and "has 3 classes" in err


def test_train_counts_the_classes_under_the_data_dir_given(roots, spec_file, tmp_path, capsys):
    default, given = roots
    out = tmp_path / "run"
    assert train_main([str(spec_file), "--data-dir", str(given), "--out", str(out), "--no-download"]) == 0
    assert (out / "checkpoint.pt").exists()
    three = tmp_path / "three.yaml"
    three.write_text(SPEC.replace("out_features: 4", "out_features: 3"))
    assert train_main([str(three), "--data-dir", str(given), "--out", str(tmp_path / "r3")]) == 2
    err = capsys.readouterr().err
    assert f"{three}:8: layers[3] (linear 'fc').out_features: out_features=3" in err and "has 4 classes" in err
    assert not (tmp_path / "r3").exists()   # refused before any folder was made


def test_a_run_loads_with_the_data_root_it_was_trained_on(roots, spec_file, tmp_path):
    from playground.train.inference import load_run

    default, given = roots
    out = tmp_path / "run"
    assert train_main([str(spec_file), "--data-dir", str(given), "--out", str(out), "--no-download"]) == 0
    run = load_run(out)   # $PLAYGROUND_DATA still names the 3-class folder
    assert run.summary.num_classes == 4 and run.data_root == given
    assert load_run(out, data_dir=given).summary.output_shape == (4,)
    with pytest.raises(playground.SpecError, match="has 3 classes"):
        load_run(out, data_dir=default)   # asked for another folder: checked against that one


def test_a_problem_found_after_an_override_keeps_the_file_and_line(roots, spec_file):
    default, given = roots
    spec = read_spec(spec_file, overrides={"train.epochs": 3, "data.batch_size": 4})
    assert spec.train.epochs == 3 and spec.data.batch_size == 4
    with pytest.raises(playground.SpecError) as info:   # the class count, found after the override
        playground.summarize(spec, default)
    assert str(info.value).startswith(f"{spec_file}:8: layers[3] (linear 'fc').out_features")
    overridden = with_overrides(playground.load_spec(spec_file, data_root=given), epochs=2, lr=0.1)
    assert overridden.train.lr == 0.1
    with pytest.raises(playground.SpecError) as info:
        playground.summarize(overridden, default)
    assert str(info.value).startswith(f"{spec_file}:8: layers[3] (linear 'fc').out_features")


def test_a_bad_override_names_its_field_and_not_the_line_it_replaced(spec_file):
    with pytest.raises(playground.SpecError) as info:
        read_spec(spec_file, overrides={"train.lr": -1.0})
    text = str(info.value)
    assert text.startswith(f"{spec_file}: train.lr: ") and "Received: lr=-1.0" in text
    with pytest.raises(playground.SpecError, match="cannot override train.nothing.deeper"):
        read_spec(spec_file, overrides={"train.nothing.deeper": 1})


def test_a_batch_that_does_not_divide_among_processes_is_located_after_an_override(roots, spec_file):
    from playground.train import distributed

    default, given = roots
    two = distributed.World(0, 2, 0, "gloo")
    spec, _ = playground.load_checked(spec_file, data_root=given, overrides={"train.epochs": 2})
    spec = spec.model_copy(update={"data": spec.data.model_copy(update={"batch_size": 7})})
    assert str(distributed.batch_error(spec, two)).startswith(
        f"{spec_file}:3: data.batch_size: data.batch_size=7 does not divide among 2")   # the file's own line
    spec, _ = playground.load_checked(spec_file, data_root=given, overrides={"data.batch_size": 7})
    assert str(distributed.batch_error(spec, two)).startswith(
        f"{spec_file}: data.batch_size: data.batch_size=7 does not divide among 2")   # --batch-size's value


def test_train_reads_and_checks_the_spec_once(roots, spec_file, tmp_path, monkeypatch):
    """The command reads the file once and runs the shape check once."""
    from playground.check import analysis
    from playground.format import loader

    default, given = roots
    calls = {"read": 0, "check": 0}
    real_read, real_analyze = loader._read, analysis._analyze

    def counting_read(*a, **k):
        calls["read"] += 1
        return real_read(*a, **k)

    def counting_analyze(*a, **k):
        calls["check"] += 1
        return real_analyze(*a, **k)

    monkeypatch.setattr(loader, "_read", counting_read)
    monkeypatch.setattr(analysis, "_analyze", counting_analyze)
    assert train_main([str(spec_file), "--data-dir", str(given), "--out", str(tmp_path / "run"), "--epochs", "1",
                       "--no-download"]) == 0
    assert calls == {"read": 1, "check": 1}
