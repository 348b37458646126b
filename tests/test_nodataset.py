"""Specs that name no dataset (`data: {dataset: none}`): any input, any output
shape, checked and built like the rest; training refuses them with a located
error before reading anything. And counts are strict: a boolean or a float
where a count belongs is an error at that field."""

from __future__ import annotations

import pytest
import torch

import playground
from playground import SpecError
from playground.train.cli import main as train_main

ALEXNET_HEAD = """\
name: big
input: {channels: 3, height: 224, width: 224}
data: {dataset: none}
layers:
  - {type: conv2d, out_channels: 64, kernel_size: 11, stride: 4, padding: 2}
  - {type: relu}
  - {type: adaptive_avgpool2d, output_size: 6}
  - {type: flatten}
  - {type: linear, out_features: 1000}
"""


def test_any_input_and_any_class_count_without_a_dataset():
    spec = playground.load_spec(ALEXNET_HEAD)
    summary = playground.summarize(spec)
    assert summary.input_shape == (3, 224, 224) and summary.output_shape == (1000,)
    assert summary.num_classes is None
    model = playground.build(spec)
    assert model(torch.randn(2, 3, 224, 224)).shape == (2, 1000)


def test_a_model_may_end_in_a_feature_map_without_a_dataset():
    text = ALEXNET_HEAD.replace("  - {type: flatten}\n  - {type: linear, out_features: 1000}\n", "")
    assert playground.summarize(playground.load_spec(text)).output_shape == (64, 6, 6)


def test_the_same_spec_on_a_dataset_keeps_the_dataset_checks():
    with pytest.raises(SpecError, match="input is 3x224x224, but mnist images are 1x28x28"):
        playground.load_spec(ALEXNET_HEAD.replace("dataset: none", "dataset: mnist"))


def test_no_dataset_needs_an_input():
    with pytest.raises(SpecError) as info:
        playground.load_spec(ALEXNET_HEAD.replace("input: {channels: 3, height: 224, width: 224}\n", ""))
    (p,) = info.value.problems
    assert p.path == ("input",) and "input is required when data.dataset is none" in p.message


def test_train_refuses_a_spec_without_a_dataset_before_reading_anything(tmp_path, capsys):
    spec = tmp_path / "big.yaml"
    spec.write_text(ALEXNET_HEAD)
    missing = tmp_path / "no-data-here"
    assert train_main([str(spec), "--data-dir", str(missing), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{spec}:3: data.dataset: this spec names no dataset (dataset: none)")
    assert "Pick a dataset to train on: data: {dataset: mnist}" in err
    assert not missing.exists() and not (tmp_path / "run").exists()


def test_the_trainer_refuses_it_too():
    from playground.train.engine import Trainer

    with pytest.raises(SpecError, match="names no dataset"):
        Trainer(playground.load_spec(ALEXNET_HEAD))


@pytest.mark.parametrize("field,value", [
    ("out_channels", True), ("out_channels", 4.0), ("kernel_size", False), ("stride", 2.0),
    ("padding", True), ("groups", True),
])
def test_counts_are_strict(field, value):
    layer = {"type": "conv2d", "out_channels": 4, "kernel_size": 3, field: value}
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "n", "data": {"dataset": "none"},
                              "input": {"channels": 1, "height": 8, "width": 8}, "layers": [layer]})
    (p,) = info.value.problems
    assert p.path == ("layers", 0, field), p
    assert p.message.startswith("Input should be a valid integer.")


def test_input_sizes_are_strict():
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "n", "input": {"channels": True, "height": 28, "width": 28},
                              "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 10}]})
    assert info.value.problems[0].path == ("input", "channels")


def test_depthwise_convolution_infers_its_channels():
    spec = playground.load_spec(ALEXNET_HEAD.replace(
        "  - {type: relu}\n", "  - {type: conv2d, groups: depthwise, kernel_size: 3, padding: 1, bias: false}\n"))
    row = playground.summarize(spec).rows[1]
    assert row.output_shape == (64, 55, 55) and row.params == 64 * 9
    conv = playground.build(spec)[1]
    assert (conv.in_channels, conv.out_channels, conv.groups) == (64, 64, 64)


def test_a_plain_convolution_still_needs_out_channels():
    with pytest.raises(SpecError) as info:
        playground.load_spec(ALEXNET_HEAD.replace("out_channels: 64, ", ""))
    (p,) = info.value.problems
    assert p.path == ("layers", 0) and "out_channels is required" in p.message
