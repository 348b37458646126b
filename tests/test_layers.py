"""One harness for every registered layer plugin: its contract, and its shape,
parameter and MAC arithmetic against what PyTorch really does, for its
example and for every variant it lists (groups, dilation, stride, padding,
bias off...): PyTorch's module and its FlopCounterMode are the oracle."""

from __future__ import annotations

import typing

import pytest
import torch
from pydantic import ValidationError
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from playground import SpecError
from playground.check.analysis import check_layer
from playground.check.builder import build_layer
from playground.layers import BUILTINS, Container
from playground.layers.registry import get_registry
from playground.layers.shapes import Shape

SAMPLE_INPUTS = {1: Shape((16,)), 2: Shape((6, 12)), 3: Shape((6, 13, 11))}
CHANNELS_LAST = Shape((13, 11, 6), channels_last=True)   # the same map, its channels last
TYPES = [cls.type_name() for cls in BUILTINS]


def test_harness_covers_the_registry():
    assert sorted(get_registry().names()) == sorted(TYPES)


@pytest.fixture(params=TYPES)
def plugin(request):
    return get_registry()[request.param]


def test_contract(plugin):
    name = plugin.type_name()
    assert plugin.model_config.get("extra") == "forbid"
    for field_name, field in plugin.model_fields.items():
        if field_name != "type":
            assert field.description, f"{name}.{field_name} has no description"
    layer = plugin.model_validate(plugin.example)
    assert layer.type == name
    assert plugin.describe()
    with pytest.raises(ValidationError, match="no_such_key"):
        plugin.model_validate({**plugin.example, "no_such_key": 1})
    for variant in plugin.variants:
        assert plugin.model_validate(variant).type == name


def _inputs(plugin):
    """The sample inputs a plugin is tried on: one per rank it takes, a map in the layout(s) it takes."""
    if issubclass(plugin, Container):   # their examples hold feature-map layers
        return [SAMPLE_INPUTS[r] for r in plugin.input_ranks or (3,)]
    shapes = [SAMPLE_INPUTS[r] for r in plugin.input_ranks or (1, 2, 3) if r != 3 or plugin.map_layout != "last"]
    if 3 in (plugin.input_ranks or (3,)) and plugin.map_layout != "first":
        shapes.append(CHANNELS_LAST)
    return shapes + [Shape(s, channels_last=plugin.map_layout == "last") for s in plugin.sample_inputs]


def _fitting(layer, shapes):
    """The sample inputs the check accepts for this configuration."""
    fits = []
    for x_shape in shapes:
        try:
            check_layer(layer, x_shape)
        except SpecError:
            continue
        fits.append(x_shape)
    assert fits, f"{layer} fits none of the sample inputs"
    return fits


CONFIGS = [(cls.type_name(), config) for cls in BUILTINS for config in (cls.example, *cls.variants)]


# A container's fields hold layers, not constructor arguments (tests/test_blocks.py).
LEAF_CONFIGS = [(t, c) for t, c in CONFIGS if not issubclass(get_registry().plugin(t).cls, Container)]


def test_the_harness_sees_non_default_configurations():
    conv = [c for t, c in CONFIGS if t == "conv2d"]
    assert any(c.get("groups", 1) > 1 for c in conv) and any(c.get("bias") is False for c in conv)
    assert any("dilation" in c for c in conv) and any("stride" in c for c in conv)
    assert any("padding" in c for c in conv)


@pytest.mark.parametrize("train_mode", [True, False])
@pytest.mark.parametrize("type_name,config", CONFIGS, ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={v[k]}" for k in v if k != "type") or "example")
def test_arithmetic_matches_pytorch(type_name, config, train_mode):
    plugin = get_registry()[type_name]
    layer = plugin.model_validate(config)
    checked = 0
    for x_shape in _inputs(plugin):
        x = torch.randn(3, *x_shape)  # batch of 3
        try:
            row = check_layer(layer, x_shape)   # containers: with every layer they hold
        except SpecError:   # a size given for another input, flatten's start_dim 2 on a vector
            continue
        checked += 1
        y_shape = row.output_shape
        module, built_shape = build_layer(layer, x_shape)
        module.train(train_mode)
        # Autograd on and attention on its math kernel: fused attention kernels have no FlopCounterMode formula.
        with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
            y = module(x).detach()
        assert tuple(y.shape) == (3, *y_shape) == (3, *built_shape)
        assert row.params == sum(p.numel() for p in module.parameters())
        flops = counter.get_total_flops()
        macs = row.macs
        assert isinstance(macs, int) and macs >= 0
        # MACs count what PyTorch's counter counts (convolutions, matrix products), all of it: per
        # sample, but for what a forward spends once whatever the batch
        once = layer.macs_once(x_shape, y_shape) if not layer.holds_layers else 0
        assert flops == 2 * ((macs - once) * 3 + once)
    assert checked, f"{type_name} {config} fits none of the sample inputs"


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode,size", [
    (2, None, 0, 1, False, 28), (3, 2, 1, 1, True, 14), (3, 2, 0, 1, True, 8), (2, 2, 1, 1, True, 5),
    (3, 1, 1, 2, False, 9), (5, 3, 2, 1, True, 17), ((2, 3), (1, 2), (1, 0), 1, True, 7),
])
def test_pool_formula_matches_pytorch(kernel, stride, padding, dilation, ceil_mode, size):
    registry = get_registry()
    for name in ("maxpool2d", "avgpool2d"):
        params = dict(type=name, kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
        if name == "maxpool2d":
            params["dilation"] = dilation
        layer = registry[name].model_validate(params)
        x_shape = Shape((2, size, size + 1))
        y = layer.build(x_shape)(torch.randn(1, *x_shape))
        assert tuple(y.shape[1:]) == layer.output_shape(x_shape)


@pytest.mark.parametrize("kwargs,size", [
    (dict(kernel_size=3, padding="same"), 10), (dict(kernel_size=(3, 5), stride=(2, 1), padding=(1, 2)), 11),
    (dict(kernel_size=3, dilation=2, padding="valid"), 9), (dict(kernel_size=4, stride=3, groups=2), 12),
])
def test_conv_formula_matches_pytorch(kwargs, size):
    layer = get_registry()["conv2d"].model_validate(dict(type="conv2d", out_channels=4, **kwargs))
    x_shape = Shape((2, size, size + 2))
    y = layer.build(x_shape)(torch.randn(1, *x_shape))
    assert tuple(y.shape[1:]) == layer.output_shape(x_shape)


def test_literal_tags_are_unique_strings():
    for cls in BUILTINS:
        (tag,) = typing.get_args(cls.model_fields["type"].annotation)
        assert tag == cls.type_name()


@pytest.mark.parametrize("config,x_shape,expected", [
    ({"type": "conv2d", "out_channels": 3, "kernel_size": 28}, (1, 28, 28), (3, 1, 1)),
    ({"type": "conv2d", "out_channels": 3, "kernel_size": [5, 4], "stride": 3}, (2, 5, 4), (3, 1, 1)),
    ({"type": "conv2d", "out_channels": 2, "kernel_size": 3, "dilation": 2}, (1, 5, 5), (2, 1, 1)),
    ({"type": "maxpool2d", "kernel_size": 4}, (2, 4, 4), (2, 1, 1)),
    ({"type": "avgpool2d", "kernel_size": 3, "stride": 5}, (2, 3, 7), (2, 1, 1)),
])
def test_windows_that_exactly_fit_give_one_pixel(config, x_shape, expected):
    layer = get_registry()[config["type"]].model_validate(config)
    assert layer.output_shape(Shape(x_shape)) == expected
    assert tuple(layer.build(Shape(x_shape))(torch.randn(1, *x_shape)).shape[1:]) == expected


@pytest.mark.parametrize("config,x_shape", [
    ({"type": "conv2d", "out_channels": 3, "kernel_size": 29}, (1, 28, 28)),
    ({"type": "conv2d", "out_channels": 2, "kernel_size": 3, "dilation": 3}, (1, 6, 6)),
    ({"type": "maxpool2d", "kernel_size": 5}, (2, 4, 4)),
])
def test_windows_one_pixel_too_big_are_refused_like_pytorch(config, x_shape):
    from playground.layers.base import ShapeError

    layer = get_registry()[config["type"]].model_validate(config)
    with pytest.raises(ShapeError):
        layer.output_shape(Shape(x_shape))
    with pytest.raises(RuntimeError):
        layer.build(Shape(x_shape))(torch.randn(1, *x_shape))


def test_flatten_remembers_what_it_flattened():
    flatten = get_registry()["flatten"].model_validate({"type": "flatten"})
    assert flatten.output_shape(Shape((20, 4, 4))).flattened_from == (20, 4, 4)
    assert flatten.output_shape(Shape((6, 9))).flattened_from == (6, 9)
    assert flatten.output_shape(Shape((320,))).flattened_from is None   # nothing to tell


@pytest.mark.parametrize("type_name,config", LEAF_CONFIGS, ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={v[k]}" for k in v if k != "type") or "example")
def test_fields_reach_the_pytorch_module(type_name, config):
    """Fields are named after the torch.nn constructor arguments, so the built
    module must carry each one as given (pairs as tuples)."""
    plugin = get_registry()[type_name]
    layer = plugin.model_validate(config)
    x_shape = _fitting(layer, _inputs(plugin))[-1]
    module = layer.build(x_shape)
    checked = 0
    for field in plugin.model_fields:
        value = getattr(layer, field)
        if field in ("type", "name", "register_before") or value is None or not hasattr(module, field):
            continue
        got = getattr(module, field)
        if field == "bias":  # a parameter, or None when switched off
            got = got is not None
        if value == "depthwise":  # one group per input channel
            value = x_shape[0]
        if isinstance(value, (list, tuple)):
            value, got = tuple(value), tuple(got)
        elif isinstance(got, (tuple, list)) and not isinstance(value, str):
            value, got = (value,) * len(got), tuple(got)
        assert got == value, (field, got, value)
        checked += 1
    assert checked or not [f for f in plugin.model_fields if f not in ("type", "name", "register_before")]


def test_shape_errors_read_as_their_message():
    from playground.layers.base import ShapeError

    err = ShapeError("kernel_size=5 does not fit", fix="Use 3.", field="kernel_size")
    assert str(err) == "kernel_size=5 does not fit" and (err.fix, err.field) == ("Use 3.", "kernel_size")


def test_a_plugin_type_tag_must_be_one_string_literal():
    from typing import Literal

    from playground.layers.base import Layer

    class TwoTags(Layer):
        type: Literal["a", "b"] = "a"

    class NotAString(Layer):
        type: Literal[1] = 1

    class Plain(Layer):
        type: str = "x"

    for cls in (TwoTags, NotAString, Plain):
        with pytest.raises(TypeError, match="must be Literal"):
            cls.type_name()

    class Undocumented(Layer):
        type: Literal["undocumented"] = "undocumented"

    Undocumented.__doc__ = None
    assert Undocumented.describe() == "undocumented"


@pytest.mark.parametrize("config,x_shape,field,message,fix", [
    ({"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": "same", "stride": 2}, (1, 8, 8), "padding",
     "padding='same' needs stride 1.", "Set stride: 1, or give padding as a number."),
    ({"type": "conv2d", "out_channels": 2, "kernel_size": [9, 1]}, (1, 8, 8), "kernel_size",   # one axis too small
     "kernel_size=(9, 1) (dilation 1, padding 0) does not fit its 1x8x8 input: the output would be 0x8.",
     "Use a smaller kernel_size, add padding, or remove a pooling layer before it."),
    ({"type": "maxpool2d", "kernel_size": [1, 9]}, (1, 8, 8), "kernel_size",
     "kernel_size=(1, 9) does not fit its 1x8x8 input: the output would be 8x0.",
     "Use a smaller kernel_size, or remove an earlier pooling layer."),
])
def test_shape_errors_word_for_word(config, x_shape, field, message, fix):
    """Exact texts: a message that only contains the right words could still be wrong."""
    from playground.layers.base import ShapeError

    layer = get_registry()[config["type"]].model_validate(config)
    with pytest.raises(ShapeError) as info:
        layer.output_shape(Shape(x_shape))
    assert (info.value.field, info.value.message, info.value.fix) == (field, message, fix)


@pytest.mark.parametrize("type_name,config", CONFIGS, ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={v[k]}" for k in v if k != "type") or "example")
def test_source_builds_the_same_module(type_name, config):
    """What the readable-source export writes for a layer builds a module that
    takes the built one's state_dict strictly and gives the same outputs."""
    from torch import nn

    from playground.export.source import _Writer

    plugin = get_registry()[type_name]
    layer = plugin.model_validate(config)
    for x_shape in _fitting(layer, _inputs(plugin)):
        module, _ = build_layer(layer, x_shape)
        writer = _Writer()
        expression = writer.layer(layer, check_layer(layer, x_shape))
        namespace = {"nn": nn, "torch": torch, "OrderedDict": __import__("collections").OrderedDict}
        for code in writer.definitions:
            exec(code, namespace)
        rebuilt = eval(expression, namespace)
        rebuilt.load_state_dict(module.state_dict(), strict=True)
        x = torch.randn(3, *x_shape)
        module.eval(), rebuilt.eval()
        with torch.no_grad():
            assert torch.equal(rebuilt(x), module(x)), expression
