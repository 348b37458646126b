"""build: a checked spec -> torch.nn.Module whose children are the layers in spec order."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from playground.analysis import analyze
from playground.shapes import Shape
from playground.spec import SpecBase


class Model(nn.Sequential):
    """The layers of a spec, applied in order. Children are named after the
    layers' ``name`` or, for unnamed layers, their index (as in nn.Sequential)."""

    def __init__(self, spec: SpecBase, modules: OrderedDict[str, nn.Module]):
        super().__init__(modules)
        self.spec_name = spec.name


def build(spec: SpecBase) -> Model:
    """Check the spec (SpecError if it does not fit), then build its model."""
    summary = analyze(spec)
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    for layer, row in zip(spec.layers, summary.rows, strict=True):
        modules[layer.name or str(row.index)] = layer.build(Shape(row.input_shape))
    return Model(spec, modules)
