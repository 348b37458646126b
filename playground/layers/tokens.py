"""Tokens and layouts: permute, class_token, pos_embedding, take_token, mean_tokens, layer_scale.

A map becomes tokens explicitly, as ViT writes it: a patch convolution
(``conv2d`` with kernel and stride of the patch size), ``flatten`` from
dimension 2 (D x L) and ``permute [0, 2, 1]`` (L x D). Swin and ConvNeXt keep
a map and move its channels last with ``permute [0, 2, 3, 1]``, so that
``linear`` and ``layernorm`` (which work over the last axis) apply to every
pixel's channels; ``permute [0, 3, 1, 2]`` moves them back. Dims count the
batch as 0, as torch.permute does, and the batch stays first.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from playground.layers.base import Layer, ShapeError, call_source, unless
from playground.layers.shapes import Shape, fmt, layout


def _module_source(name: str) -> str:
    import inspect

    from playground.layers import modules

    return inspect.getsource(getattr(modules, name))


class _ModuleLayer(Layer):
    """A layer whose module is a class of playground.layers.modules, written into exported source as is."""

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        return (_module_source(type(self.build(x)).__name__),)


class Permute(_ModuleLayer):
    """Reorder the dimensions, the batch staying first (torch.permute; torchvision.ops.Permute): [0, 2, 3, 1]
    moves a map's channels last (HxWxC), [0, 3, 1, 2] back; [0, 2, 1] turns D x L into L x D tokens."""

    type: Literal["permute"] = "permute"
    dims: list[int] = Field(..., min_length=2, max_length=8,
                            description="The new order of the dimensions, counting the batch as 0 (which stays "
                                        "first): [0, 2, 3, 1] for channels last.")
    map_layout = "any"
    example = {"type": "permute", "dims": [0, 2, 3, 1]}
    variants = ({"type": "permute", "dims": [0, 3, 1, 2]}, {"type": "permute", "dims": [0, 1, 3, 2]},
                {"type": "permute", "dims": [0, 1, 2, 3]})

    def output_shape(self, x: Shape) -> Shape:
        rank = len(x) + 1
        if sorted(self.dims) != list(range(rank)) or self.dims[0] != 0:
            order = list(range(rank))
            raise ShapeError(f"dims={self.dims} is not an order of its input's {rank} dimensions {order} (the batch "
                             f"0 and {fmt(x)}) with the batch first.",
                             fix=f"Give each of {order} once, 0 first, e.g. dims: {[0, *order[:0:-1]]}.", field="dims")
        axes = [d - 1 for d in self.dims[1:]]             # the new order of x's own axes
        dims = tuple(x[a] for a in axes)
        if len(x) != 3:
            return Shape(dims)
        channels = axes.index(2 if x.channels_last else 0)
        if channels == 1:
            raise ShapeError(f"dims={self.dims} puts the channels of its {layout(x)} input ({fmt(x)}) in the "
                             "middle; a map keeps its channels first (CxHxW) or last (HxWxC).",
                             fix="Use dims: [0, 2, 3, 1] (channels last) or [0, 3, 1, 2] (channels first).",
                             field="dims")
        return Shape(dims, channels_last=channels == 2)

    def build(self, x: Shape):
        from playground.layers import modules
        return modules.Permute(self.dims)

    def source(self, x: Shape) -> str:
        return call_source("Permute", self.dims)


class ClassToken(_ModuleLayer):
    """A learned token put in front of an LxD sequence, giving (L+1)xD (ViT's class_token, zeros at first)."""

    type: Literal["class_token"] = "class_token"
    input_ranks = (2,)
    example = {"type": "class_token"}

    def output_shape(self, x: Shape) -> Shape:
        return Shape((x[0] + 1, x[1]))

    def build(self, x: Shape):
        from playground.layers import modules
        return modules.ClassToken(x[1])

    def source(self, x: Shape) -> str:
        return call_source("ClassToken", x[1])

    def param_count(self, x: Shape) -> int:
        return x[1]


class PosEmbedding(_ModuleLayer):
    """A learned position embedding (LxD, one vector per token) added to an LxD sequence (ViT's
    pos_embedding, drawn from a normal with std 0.02)."""

    type: Literal["pos_embedding"] = "pos_embedding"
    std: float = Field(0.02, gt=0.0, le=1.0, description="Standard deviation of the initial values (ViT: 0.02).")
    input_ranks = (2,)
    example = {"type": "pos_embedding"}
    variants = ({"type": "pos_embedding", "std": 0.5},)

    def output_shape(self, x: Shape) -> Shape:
        return x

    def build(self, x: Shape):
        from playground.layers import modules
        return modules.PosEmbedding(x[0], x[1], std=self.std)

    def source(self, x: Shape) -> str:
        return call_source("PosEmbedding", x[0], x[1], std=unless(self.std, 0.02))

    def param_count(self, x: Shape) -> int:
        return x[0] * x[1]


class TakeToken(_ModuleLayer):
    """One token of an LxD sequence, as a D vector (ViT's classifier reads the class token, index 0)."""

    type: Literal["take_token"] = "take_token"
    index: int = Field(0, ge=-(1 << 20), le=1 << 20, description="Which token (0: the first; -1: the last).")
    input_ranks = (2,)
    example = {"type": "take_token"}
    variants = ({"type": "take_token", "index": -1}, {"type": "take_token", "index": 2})

    def output_shape(self, x: Shape) -> Shape:
        if not -x[0] <= self.index < x[0]:
            raise ShapeError(f"index={self.index}, but its input {fmt(x)} has {x[0]} tokens.",
                             fix=f"Use an index from 0 to {x[0] - 1} (or -1 for the last).", field="index")
        return Shape((x[1],))

    def build(self, x: Shape):
        from playground.layers import modules
        return modules.TakeToken(self.index)

    def source(self, x: Shape) -> str:
        return call_source("TakeToken", self.index)


class MeanTokens(_ModuleLayer):
    """The mean over the tokens of an LxD sequence, a D vector (a transformer's pooled output)."""

    type: Literal["mean_tokens"] = "mean_tokens"
    input_ranks = (2,)
    example = {"type": "mean_tokens"}

    def output_shape(self, x: Shape) -> Shape:
        return Shape((x[1],))

    def build(self, x: Shape):
        from playground.layers import modules
        return modules.MeanTokens()

    def source(self, x: Shape) -> str:
        return "MeanTokens()"


class LayerScale(_ModuleLayer):
    """A learned scale per channel, starting at ``init`` (ConvNeXt's layer_scale, 1e-6): a Cx1x1 parameter on a
    CxHxW map; one of D over the last axis of a vector, tokens or an HxWxC map."""

    type: Literal["layer_scale"] = "layer_scale"
    init: float = Field(1e-6, gt=0.0, le=1e3, description="The scale's initial value (ConvNeXt: 1e-6).")
    map_layout = "any"
    input_ranks = (1, 2, 3)
    example = {"type": "layer_scale"}
    variants = ({"type": "layer_scale", "init": 0.5},)

    def output_shape(self, x: Shape) -> Shape:
        return x

    def _shape(self, x: Shape) -> list[int]:
        return [x[0], 1, 1] if len(x) == 3 and not x.channels_last else [x[-1]]

    def build(self, x: Shape):
        from playground.layers import modules
        return modules.LayerScale(self._shape(x), self.init)

    def source(self, x: Shape) -> str:
        return call_source("LayerScale", self._shape(x), self.init)

    def param_count(self, x: Shape) -> int:
        return x[0] if len(x) == 3 and not x.channels_last else x[-1]


TOKEN_LAYERS = (Permute, ClassToken, PosEmbedding, TakeToken, MeanTokens, LayerScale)
