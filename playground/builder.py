"""build: a checked spec -> torch.nn.Module whose children are the layers in spec order.

Containers build through the same walk, so module attribute names follow the
spec's names and nesting: ``stage2.0.body.conv1.weight``.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from playground.analysis import analyze, check_layer
from playground.layers.base import Container, Layer
from playground.shapes import Shape
from playground.spec import SpecBase


class Model(nn.Sequential):
    """The layers of a spec, applied in order. Children are named after the
    layers' ``name`` or, for unnamed layers, their index (as in nn.Sequential)."""

    def __init__(self, spec: SpecBase, modules: OrderedDict[str, nn.Module]):
        super().__init__(modules)
        self.spec_name = spec.name


def _chain(layers: list[Layer], x: Shape) -> tuple[OrderedDict[str, nn.Module], Shape]:
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    for j, layer in enumerate(layers):
        modules[layer.name or str(j)], x = build_layer(layer, x)
    return modules, x


def build_layer(layer: Layer, x: Shape) -> tuple[nn.Module, Shape]:
    """The module of one checked layer on input shape ``x``, and its output shape."""
    if isinstance(layer, Container):
        def chain(where, layers, x_):
            modules, y_ = _chain(layers, x_)
            return nn.Sequential(modules), y_

        return layer.build(x, chain), Shape(check_layer(layer, x).output_shape)
    return layer.build(x), layer.output_shape(x)


def build(spec: SpecBase) -> Model:
    """Check the spec (SpecError if it does not fit), then build its model."""
    summary = analyze(spec)
    modules, _ = _chain(spec.layers, Shape(summary.input_shape))
    return Model(spec, modules)
