"""build: a checked spec -> torch.nn.Module whose children are the layers in spec order.

Containers build through the same walk, so module attribute names follow the
spec's names and nesting: ``stage2.0.body.conv1.weight``.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from playground.check.analysis import LayerRow, Summary, analyze, check_layer
from playground.format.spec import SpecBase
from playground.layers.base import Layer
from playground.layers.shapes import Shape


class Model(nn.Sequential):
    """The layers of a spec, applied in order. Children are named after the
    layers' ``name`` or, for unnamed layers, their index (as in nn.Sequential)."""

    def __init__(self, spec: SpecBase, modules: OrderedDict[str, nn.Module]):
        super().__init__(modules)
        self.spec_name = spec.name


def _model(spec: SpecBase, modules: OrderedDict[str, nn.Module]) -> nn.Module:
    order = registration_order(spec.layers)
    if order is None:
        return Model(spec, modules)
    from playground.layers.modules import Reordered

    model = Reordered(OrderedDict((name, modules[name]) for name in order), list(modules))
    model.spec_name = spec.name
    return model


def _chain(layers: list[Layer], rows, record: dict | None = None) -> OrderedDict[str, nn.Module]:
    """The modules of ``layers``, from the check's rows for them (their input shapes), in run order."""
    return OrderedDict((layer.name or str(j), _module(layer, row, record))
                       for j, (layer, row) in enumerate(zip(layers, rows, strict=True)))


def registration_order(layers: list[Layer]) -> list[str] | None:
    """The names of ``layers`` in the order their modules are registered, where a layer's
    ``register_before`` moves it before an earlier sibling; None when that is the run order."""
    names = [layer.name or str(j) for j, layer in enumerate(layers)]
    if not any(layer.register_before for layer in layers):
        return None
    order = list(names)
    for name, layer in zip(names, layers, strict=True):
        if layer.register_before:
            order.remove(name)
            order.insert(order.index(layer.register_before), name)
    return order


def sequence(layers: list[Layer], modules: OrderedDict[str, nn.Module]) -> nn.Module:
    """An nn.Sequential of ``modules`` (run order), registered in the order ``register_before`` asks for."""
    from playground.layers.modules import Reordered

    order = registration_order(layers)
    if order is None:
        return nn.Sequential(modules)
    return Reordered(OrderedDict((name, modules[name]) for name in order), list(modules))


def _module(layer: Layer, row: LayerRow, record: dict | None = None) -> nn.Module:
    """The module of ``layer`` from its row; ``record`` (when given) gets each row's module by its path."""
    x = Shape(row.input_shape)
    if not layer.holds_layers:
        module = layer.build(x)
    else:
        def chain(where, layers, _x):   # the rows of what the container holds at `where`, in order
            prefix = (*row.path, *where)
            rows = [c for c in row.children if c.path[:-1] == prefix]
            return sequence(layers, _chain(layers, rows, record)), Shape(rows[-1].output_shape)

        module = layer.build(x, chain)
    if record is not None:
        record[row.path] = module
    return module


def build_layer(layer: Layer, x: Shape) -> tuple[nn.Module, Shape]:
    """The module of one layer (a container with all it holds) on input shape
    ``x``, and its output shape; SpecError if it does not fit."""
    row = check_layer(layer, x)
    return _module(layer, row), Shape(row.output_shape)


def build(spec: SpecBase, summary: Summary | None = None, record: dict | None = None) -> nn.Module:
    """The spec's model, built from the check's rows: every shape is worked out
    once. ``summary`` is the check's result where the caller has it; else the
    spec is checked here (SpecError if it does not fit). ``record``: a dict that
    gets each row's module, by the row's spec path."""
    summary = summary if summary is not None else analyze(spec)
    return _model(spec, _chain(spec.layers, summary.rows, record))
