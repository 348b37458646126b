"""Containers: layers that hold lists of layers, so a spec can branch and merge.

* ``sequential``: a named group of layers, applied in order (a stage, a block).
* ``residual``: after(body(x) + shortcut(x)); the shortcut is the identity, a
  ``projection`` (1x1 convolution with the body's stride, then batch norm, as
  in torchvision's ResNet), or a list of layers; ``after`` (usually a relu)
  is applied to the sum and is empty by default.
* ``concat``: named branches on the same input, concatenated along the
  channels (Inception; DenseNet's "input plus new features" with an
  ``identity`` branch).
* ``split``: the input's channels cut into equal parts, one per named branch,
  the results concatenated (ShuffleNetV2's ``x.chunk(2, dim=1)`` unit).
* ``gate``: x * body(x), broadcast (squeeze-and-excitation: a Cx1x1 gate).

Layers are never referenced by position: branches have names, and what a
container holds is written inside it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from playground.layers.base import Container, Layer, ShapeError, nested
from playground.layers.conv import Conv2d
from playground.layers.norm import BatchNorm2d
from playground.layers.shapes import Shape, fmt


class Sequential(Container):
    """A named group of layers applied in order (torch.nn.Sequential): a stage or a block."""

    type: Literal["sequential"] = "sequential"
    layers: list[LayerItem] = Field(min_length=1, description="The layers, applied in order.")  # noqa: F821

    layer_fields = ("layers",)
    example = {"type": "sequential", "layers": [{"type": "conv2d", "out_channels": 8, "kernel_size": 3},
                                                {"type": "relu"}]}

    def output_shape(self, x: Shape, chain) -> Shape:
        return chain(("layers",), self.layers, x)

    def build(self, x: Shape, chain):
        module, _ = chain(("layers",), self.layers, x)
        return module

    def source(self, x: Shape, chain) -> str:
        return chain(("layers",), self.layers, x)[0]


def _stride_between(n_in: int, n_out: int) -> int | None:
    """The stride of a 1x1 window that takes n_in positions to n_out, or None."""
    for s in range(1, n_in + 1):
        if (n_in - 1) // s + 1 == n_out:
            return s
    return None


class Residual(Container):
    """output = after(body(x) + shortcut(x)): a residual block (ResNet)."""

    type: Literal["residual"] = "residual"
    body: list[LayerItem] = Field(min_length=1, description="The layers of the residual branch.")  # noqa: F821
    shortcut: Literal["identity", "projection"] | Annotated[list[LayerItem], Field(min_length=1)] = Field(  # noqa: F821
        "identity", description="identity (x itself), projection (1x1 conv2d with the body's stride, "
                                "then batchnorm2d), or a list of layers.")
    after: list[LayerItem] = Field(  # noqa: F821
        default_factory=list, description="Layers applied to the sum, e.g. [{type: relu}] (ResNet); none by default.")
    shortcut_first: bool = Field(
        False, description="Register the shortcut's layers before the body's, so their tensors come first in the "
                           "state dict (torchvision's RegNet registers its projection before the bottleneck).")

    layer_fields = ("body", "shortcut", "after")
    merge = "+"
    after_fields = ("after",)
    example = {"type": "residual", "body": [
        {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "batchnorm2d"}],
        "shortcut": "projection", "after": [{"type": "relu"}]}

    def merges_input(self) -> bool:
        return self.shortcut == "identity"

    def _projection(self, x: Shape, y: Shape) -> list[Layer]:
        if len(x) != 3 or len(y) != 3:
            raise ShapeError(f"a projection shortcut needs CxHxW feature maps; the body takes {fmt(x)} "
                             f"to {fmt(y)}.", fix="Give the shortcut as a list of layers.", field="shortcut")
        strides = [_stride_between(a, b) for a, b in zip(x[1:], y[1:], strict=True)]
        if None in strides:
            raise ShapeError(f"no 1x1 convolution stride takes {fmt(x)} to the body's {fmt(y)}.",
                             fix="Give the shortcut as a list of layers that produces the body's shape.",
                             field="shortcut")
        return [Conv2d(out_channels=y[0], kernel_size=1, stride=tuple(strides), bias=False), BatchNorm2d()]

    def _shortcut(self, x: Shape, y: Shape) -> list[Layer] | None:
        if self.shortcut == "identity":
            return None
        return self._projection(x, y) if self.shortcut == "projection" else self.shortcut

    def output_shape(self, x: Shape, chain) -> Shape:
        y = chain(("body",), self.body, x)
        layers = self._shortcut(x, y)
        s = x if layers is None else chain(("shortcut",), layers, x)
        if s != y:
            what = "the input" if layers is None else "the shortcut"
            fix = ("Set `shortcut: projection` (a 1x1 conv2d and batchnorm2d that match it), or change the "
                   "body to keep its input's shape." if layers is None and len(x) == 3 else
                   "Make both branches produce the same shape.")
            raise ShapeError(f"cannot add the body's output {fmt(y)} to {what} {fmt(s)}: the shapes differ.",
                             fix=fix, field="shortcut" if layers is not None else None)
        return chain(("after",), self.after, y) if self.after else y

    def build(self, x: Shape, chain):
        from playground.layers import modules

        body, y = chain(("body",), self.body, x)
        layers = self._shortcut(x, y)
        shortcut = modules.identity() if layers is None else chain(("shortcut",), layers, x)[0]
        after = chain(("after",), self.after, y)[0] if self.after else modules.identity()
        return modules.Residual(body, shortcut, after, shortcut_first=self.shortcut_first)

    def source(self, x: Shape, chain) -> str:
        body, y = chain(("body",), self.body, x)
        layers = self._shortcut(x, y)
        shortcut = "nn.Identity()" if layers is None else chain(("shortcut",), layers, x)[0]
        after = chain(("after",), self.after, y)[0] if self.after else "nn.Identity()"
        first = "    shortcut_first=True,\n" if self.shortcut_first else ""
        return (f"Residual(\n    body={nested(body)},\n    shortcut={nested(shortcut)},\n"
                f"    after={nested(after)},\n{first})")

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        return (_module_source("Residual"),)


class Concat(Container):
    """Named branches applied to the same input, concatenated along the channels (Inception, DenseNet)."""

    type: Literal["concat"] = "concat"
    branches: dict[str, Annotated[list[LayerItem], Field(min_length=1)]] = Field(  # noqa: F821
        min_length=2, description="Branch name -> its layers; every branch gets the same input.")

    layer_fields = ("branches",)
    merge = "concat"
    example = {"type": "concat", "branches": {
        "a": [{"type": "conv2d", "out_channels": 4, "kernel_size": 1}],
        "b": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}]}}

    def output_shape(self, x: Shape, chain) -> Shape:
        _channels_first(self, x)
        shapes = {name: chain(("branches", name), layers, x) for name, layers in self.branches.items()}
        return _concatenated(shapes)

    def build(self, x: Shape, chain):
        from playground.layers import modules

        return modules.Concat({name: chain(("branches", name), layers, x)[0]
                               for name, layers in self.branches.items()})

    def source(self, x: Shape, chain) -> str:
        branches = "".join(f"\n    {name!r}: {nested(chain(('branches', name), layers, x)[0])},"
                           for name, layers in self.branches.items())
        return f"Concat({{{branches}\n}})"

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        return (_module_source("Concat"),)


def _channels_first(layer: Layer, x: Shape) -> None:
    if x.channels_last:
        raise ShapeError(f"{layer.type} joins along the channels of a CxHxW map, but its input is an HxWxC map "
                         f"(channels last, {fmt(x)}).", fix="Insert `- {type: permute, dims: [0, 3, 1, 2]}` before it.")


def _concatenated(shapes: dict[str, Shape]) -> Shape:
    """The channel concatenation of the branches' outputs, or the ShapeError naming the branch that differs."""
    (first, y0), *rest = shapes.items()
    for name, y in rest:
        if len(y) != len(y0) or y[1:] != y0[1:]:
            raise ShapeError(
                f"branch '{name}' gives {fmt(y)}, but branch '{first}' gives {fmt(y0)}: concatenating "
                f"along the channels needs every other dimension equal.",
                fix="Change the branch's stride, padding or pooling so its height and width match.",
                field=("branches", name))
    return Shape((sum(y[0] for y in shapes.values()), *y0[1:]))


class Split(Container):
    """The input's channels cut into equal parts, one per named branch in order (torch.chunk); each part
    through its branch; the results concatenated along the channels (ShuffleNetV2's stride-1 unit, whose
    first branch is the identity)."""

    type: Literal["split"] = "split"
    branches: dict[str, Annotated[list[LayerItem], Field(min_length=1)]] = Field(  # noqa: F821
        min_length=2, description="Branch name -> its layers; branch i gets the i-th equal part of the channels.")

    layer_fields = ("branches",)
    merge = "concat"
    example = {"type": "split", "branches": {
        "keep": [{"type": "identity"}],
        "mix": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "relu"}]}}

    def output_shape(self, x: Shape, chain) -> Shape:
        _channels_first(self, x)
        k = len(self.branches)
        if x[0] % k:
            raise ShapeError(f"{k} branches cut its input's {x[0]} channels ({fmt(x)}) into unequal parts.",
                             fix=f"Give it {x[0]} channels that {k} divides, e.g. {x[0] - x[0] % k or k}.",
                             field="branches")
        return _concatenated({name: chain(("branches", name), layers, self._part(x))
                              for name, layers in self.branches.items()})

    def _part(self, x: Shape) -> Shape:
        return Shape((x[0] // len(self.branches), *x[1:]))

    def build(self, x: Shape, chain):
        from playground.layers import modules

        return modules.Split({name: chain(("branches", name), layers, self._part(x))[0]
                              for name, layers in self.branches.items()})

    def source(self, x: Shape, chain) -> str:
        branches = "".join(f"\n    {name!r}: {nested(chain(('branches', name), layers, self._part(x))[0])},"
                           for name, layers in self.branches.items())
        return f"Split({{{branches}\n}})"

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        return (_module_source("Split"),)


class Gate(Container):
    """output = x * body(x), broadcast: squeeze-and-excitation and other attention gates."""

    type: Literal["gate"] = "gate"
    body: list[LayerItem] = Field(  # noqa: F821
        min_length=1, description="The layers computing the gate; its shape must broadcast over the input's.")

    layer_fields = ("body",)
    merge = "×"
    example = {"type": "gate", "body": [   # a channel gate for any channel count
        {"type": "adaptive_avgpool2d", "output_size": 1}, {"type": "conv2d", "groups": "depthwise", "kernel_size": 1},
        {"type": "sigmoid"}]}

    def merges_input(self) -> bool:
        return True

    def output_shape(self, x: Shape, chain) -> Shape:
        g = chain(("body",), self.body, x)
        if len(g) != len(x) or any(a not in (1, b) for a, b in zip(g, x, strict=True)):
            raise ShapeError(
                f"the gate's output {fmt(g)} does not broadcast over its input {fmt(x)}: each dimension must "
                f"equal the input's or be 1.",
                fix=f"End the body with {x[0]} channels (e.g. a 1x1 conv2d with out_channels: {x[0]}), "
                    f"pooled to 1x1 or at the input's size.", field="body")
        return x

    def build(self, x: Shape, chain):
        from playground.layers import modules

        return modules.Gate(chain(("body",), self.body, x)[0])

    def source(self, x: Shape, chain) -> str:
        return f"Gate({chain(('body',), self.body, x)[0]})"

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        return (_module_source("Gate"),)


def _module_source(name: str) -> str:
    """The code of a class in playground.layers.modules, for files that must not need playground."""
    import inspect

    from playground.layers import modules

    return inspect.getsource(getattr(modules, name))


CONTAINERS = (Sequential, Residual, Concat, Split, Gate)
