"""The static check's own rules, at their boundaries: budgets, the summary's
totals, rank messages, empty outputs, names."""

from __future__ import annotations

from typing import Literal

import pytest

import playground
from playground import SpecError
from playground.format.spec import spec_model
from playground.layers import Elementwise
from playground.layers.shapes import Shape

ACTIVATIONS = 784 + 5760 + 1440 + 1440 + 1280 + 320 + 320 + 320 + 10   # mnist_cnn, values per sample


def _spec(mnist_text, budget: str = ""):
    return playground.load_spec(mnist_text.replace("train:\n", f"budget: {{{budget}}}\ntrain:\n") if budget
                                else mnist_text)


def test_summary_totals(mnist_text):
    s = playground.summarize(_spec(mnist_text))
    assert (s.total_params, s.total_macs, s.activation_values, s.num_classes) == (8490, 467200, ACTIVATIONS, 10)
    assert s.activation_bytes() == ACTIVATIONS * 4 and s.activation_bytes(64) == ACTIVATIONS * 4 * 64
    assert s.input_shape == (1, 28, 28) and s.output_shape == (10,) and s.name == "mnist_cnn"
    assert [r.label for r in s.rows][:2] == ["conv2d 'conv1'", "maxpool2d"]
    assert [r.input_shape for r in s.rows][:2] == [(1, 28, 28), (10, 24, 24)]


def test_the_parameter_budget_is_inclusive(mnist_text):
    assert playground.summarize(_spec(mnist_text, "max_params: 8490")).total_params == 8490
    with pytest.raises(SpecError) as info:
        _spec(mnist_text, "max_params: 8489")
    (p,) = info.value.problems
    assert p.path == ("layers", 3) and p.reason == "budget"
    assert "the model has 8,490 parameters, over budget.max_params=8,489; this layer alone has 5,020." in p.message
    assert p.fix == ("Make this layer smaller (fewer channels or features, or pool before it), "
                     "or raise budget.max_params.")


def test_the_activation_budget_is_inclusive(mnist_text):
    mib = ACTIVATIONS * 4 * 64 / 2**20
    assert playground.summarize(_spec(mnist_text, f"max_activation_mb: {mib!r}"))
    with pytest.raises(SpecError) as info:
        _spec(mnist_text, f"max_activation_mb: {mib * 0.999!r}")
    (p,) = info.value.problems
    assert p.path == ("layers", 0) and p.reason == "budget"
    assert "activations take 3 MiB per batch of 64" in p.message and "10x24x24 is the largest" in p.message
    assert p.fix == ("Shrink the feature maps (stride, pooling), lower data.batch_size, "
                     "or raise budget.max_activation_mb.")


@pytest.mark.parametrize("layers,message,fix", [
    ([{"type": "conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "linear", "out_features": 10}],
     "linear needs a flat (features,) vector, an LxD token sequence or an HxWxC map (channels last), but its input "
     "is a CxHxW feature map (4x26x26).",
     "Insert `- {type: flatten}` before it (it would flatten 4x26x26 to 2704); or, to apply it to every pixel's "
     "channels, `- {type: permute, dims: [0, 2, 3, 1]}`."),
    ([{"type": "flatten"}, {"type": "maxpool2d", "kernel_size": 2}],
     "maxpool2d needs a CxHxW feature map, but its input is a flat (features,) vector (784).",
     "Move it before the layer that flattens the feature map, or use a layer that accepts a flat (features,) vector."),
    ([{"type": "flatten"}, {"type": "batchnorm2d"}],
     "batchnorm2d needs a CxHxW feature map, but its input is a flat (features,) vector (784).", "Move it before"),
    ([{"type": "batchnorm1d"}], "batchnorm1d needs a flat (features,) vector or a CxL sequence, but its input is "
     "a CxHxW feature map (1x28x28).", "Insert `- {type: flatten}` before it (it would flatten 1x28x28 to 784)."),
])
def test_rank_messages(layers, message, fix):
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "r", "layers": layers})
    (p,) = info.value.problems
    assert p.reason == "rank" and p.message == message and p.fix.startswith(fix)
    assert p.path == ("layers", len(layers) - 1)


class Vanish(Elementwise):
    """Claims an empty output (a broken test plugin)."""

    type: Literal["vanish"] = "vanish"

    def output_shape(self, x):
        return Shape((x[0], 0, x[2]))


def test_an_empty_output_dimension_is_refused(registry):
    registry.register(Vanish)
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "v", "layers": [{"type": "vanish"}, {"type": "flatten"},
                                                       {"type": "linear", "out_features": 10}]})
    (p,) = info.value.problems
    assert p.path == ("layers", 0) and p.reason == "shape" and p.label == "vanish"
    assert p.message == "its output shape 1x0x28 has an empty dimension."
    assert p.fix == "Check this layer's sizes against its input."


def test_duplicate_names_point_at_the_second_use():
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "d", "layers": [{"type": "relu", "name": "a"}, {"type": "tanh", "name": "b"},
                                                       {"type": "flatten", "name": "a"},
                                                       {"type": "linear", "out_features": 10}]})
    (p,) = info.value.problems
    assert p.path == ("layers", 2, "name") and p.reason == "name"
    assert p.message == "name 'a' is already used by layers[0]."
    assert p.fix == "Give every layer a different name, or leave names out."


def test_the_input_must_match_the_dataset():
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "i", "input": {"channels": 3, "height": 28, "width": 28},
                              "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 10}]})
    (p,) = info.value.problems
    assert p.reason == "input" and p.message == "input is 3x28x28, but mnist images are 1x28x28."
    assert p.fix == "Set input: {channels: 1, height: 28, width: 28}, or leave it out."


def test_errors_keep_the_rows_before_the_failure(mnist_text):
    with pytest.raises(SpecError) as info:
        playground.load_spec(mnist_text.replace("in_features: 320", "in_features: 300"))
    assert [r.index for r in info.value.rows] == list(range(7))


class Needs4d(Elementwise):
    """Wants a rank-4 input (a test plugin)."""

    type: Literal["needs4d"] = "needs4d"
    input_ranks = (4,)


class Picky(Elementwise):
    """Refuses any input without naming a field (a test plugin)."""

    type: Literal["picky"] = "picky"

    def output_shape(self, x):
        from playground.layers.base import ShapeError
        raise ShapeError("never fits.", fix="Remove it.")


def test_ranks_without_words_are_named_by_number(registry):
    registry.register(Needs4d)
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "r", "layers": [{"type": "needs4d"}]})
    (p,) = info.value.problems
    assert p.message == "needs4d needs a rank-4 input, but its input is a CxHxW feature map (1x28x28)."
    assert p.fix.startswith("Move it before the layer that flattens")
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "r", "layers": [{"type": "flatten"}, {"type": "flatten"},
                                                       {"type": "needs4d"}]})
    assert "but its input is a flat (features,) vector (784)" in info.value.problems[0].message


def test_a_shape_error_without_a_field_points_at_the_layer(registry):
    registry.register(Picky)
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "p", "layers": [{"type": "relu"}, {"type": "picky"}]})
    (p,) = info.value.problems
    assert (p.path, p.message, p.fix, p.reason) == (("layers", 1), "never fits.", "Remove it.", "shape")


def test_a_kernel_that_does_not_fit_is_a_shape_problem(mnist_text):
    with pytest.raises(SpecError) as info:
        playground.load_spec(mnist_text.replace("kernel_size: 5}", "kernel_size: 50}", 1))
    assert [p.reason for p in info.value.problems] == ["shape"]


@pytest.mark.parametrize("layers,fix", [
    ([{"type": "conv2d", "out_channels": 3, "kernel_size": 3}],
     "End the model with a layer that outputs 10 values, e.g. `- {type: linear, out_features: 10}` after a flatten."),
    ([{"type": "flatten"}, {"type": "linear", "out_features": 4}, {"type": "relu"}],
     "End the model with a layer that outputs 10 values, e.g. `- {type: linear, out_features: 10}`."),
])
def test_the_class_count_fix_says_whether_to_flatten_first(layers, fix):
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "c", "layers": layers})
    assert info.value.problems[0].fix == fix


def test_a_plugin_may_return_a_plain_tuple(registry):
    class Tupled(Elementwise):
        """Returns its shape as a plain tuple (a test plugin)."""

        type: Literal["tupled"] = "tupled"

        def output_shape(self, x):
            return (x[0], x[1], x[2])

    registry.register(Tupled)
    with pytest.raises(SpecError) as info:   # the tuple becomes a Shape that flatten can describe
        playground.load_spec({"name": "t", "layers": [{"type": "tupled"}, {"type": "flatten"},
                                                       {"type": "linear", "in_features": 5, "out_features": 10}]})
    assert "in_features=5, but its input 1x28x28 flattens to 784." in info.value.problems[0].message


class Reshape(Elementwise):
    """Claims whatever output shape it is told (a test plugin)."""

    type: Literal["reshape"] = "reshape"
    to: list[int]

    def output_shape(self, x):
        return Shape(tuple(self.to))


@pytest.mark.parametrize("to,after,message", [
    ([], [], "its output shape () has an empty dimension."),
    ([1, 1, 28, 28], [{"type": "conv2d", "out_channels": 2, "kernel_size": 3}],
     "conv2d needs a CxHxW feature map, but its input is a rank-4 tensor (1x1x28x28)."),
])
def test_unusual_shapes_are_named_plainly(registry, to, after, message):
    registry.register(Reshape)
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "u", "layers": [{"type": "reshape", "to": to}, *after]})
    assert info.value.problems[0].message == message


def test_a_sequence_at_the_end_is_told_to_flatten_first(registry):
    registry.register(Reshape)
    with pytest.raises(SpecError) as info:
        playground.load_spec({"name": "s", "layers": [{"type": "reshape", "to": [10, 3]}]})
    assert info.value.problems[0].fix == (
        "End the model with a layer that outputs 10 values, e.g. `- {type: linear, out_features: 10}` after a flatten.")


def test_a_spec_built_without_the_loader_is_still_checked():
    from playground.check.analysis import analyze
    from playground.layers.registry import get_registry

    spec = spec_model(get_registry()).model_validate(   # no file, no line map
        {"name": "m", "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 7}]})
    with pytest.raises(SpecError) as info:
        analyze(spec)
    (p,) = info.value.problems
    assert (p.path, p.reason, p.line) == (("layers", 1, "out_features"), "classes", None)


def test_every_layer_receives_a_shape_even_after_a_plain_tuple(registry):
    class Tupled(Elementwise):
        """Returns its shape as a plain tuple (a test plugin)."""

        type: Literal["tupled"] = "tupled"

        def output_shape(self, x):
            return tuple(x)

    class Reads(Elementwise):
        """Relies on the Shape it is given (a test plugin)."""

        type: Literal["reads"] = "reads"

        def output_shape(self, x):
            assert x.flattened_from is None   # a Shape attribute; a plain tuple has none
            return x

    registry.register(Tupled)
    registry.register(Reads)
    spec = playground.load_spec({"name": "t", "layers": [{"type": "tupled"}, {"type": "reads"}, {"type": "flatten"},
                                                          {"type": "linear", "out_features": 10}]})
    assert playground.summarize(spec).rows[1].output_shape == (1, 28, 28)
