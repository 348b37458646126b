"""Regularization and normalization: dropout, dropout2d, stochastic_depth, batchnorm2d, batchnorm1d,
layernorm, layernorm2d."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from playground.layers.base import Elementwise, ShapeError, call_source, unless
from playground.layers.shapes import Shape, fmt
from playground.layers.types import Channels, Features


class Dropout(Elementwise):
    """Zero each element with probability p while training (torch.nn.Dropout)."""

    type: Literal["dropout"] = "dropout"
    p: float = Field(0.5, ge=0.0, le=1.0, description="Probability of zeroing an element.")
    example = {"type": "dropout", "p": 0.25}
    variants = ({"type": "dropout"}, {"type": "dropout", "p": 0.0})

    def build(self, x: Shape):
        from torch import nn
        return nn.Dropout(self.p)


class Dropout2d(Elementwise):
    """Zero whole channels with probability p while training (torch.nn.Dropout2d)."""

    type: Literal["dropout2d"] = "dropout2d"
    p: float = Field(0.5, ge=0.0, le=1.0, description="Probability of zeroing a channel.")
    input_ranks = (3,)
    example = {"type": "dropout2d", "p": 0.2}
    variants = ({"type": "dropout2d"},)

    def build(self, x: Shape):
        from torch import nn
        return nn.Dropout2d(self.p)


class _BatchNorm(Elementwise):
    """Shared fields, shape rule and counts of batch normalization."""

    num_features: Channels | None = Field(
        None, description="Channels normalized; inferred from the input when left out, checked when given.")
    eps: float = Field(1e-5, gt=0.0, le=1.0, description="Added to the variance for numerical stability.")
    momentum: float | None = Field(
        0.1, ge=0.0, le=1.0, description="Running-statistics update rate; null for a cumulative average.")
    affine: bool = Field(True, description="Learn a per-channel scale and shift.")
    track_running_stats: bool = Field(True, description="Keep running mean and variance for evaluation.")

    def output_shape(self, x: Shape) -> Shape:
        if self.num_features is not None and self.num_features != x[0]:
            raise ShapeError.inferable(
                "num_features", x[0], f"num_features={self.num_features}, but its input {fmt(x)} has {x[0]} channels.")
        return x

    def _kwargs(self) -> dict:
        return dict(eps=self.eps, momentum=self.momentum, affine=self.affine,
                    track_running_stats=self.track_running_stats)

    def param_count(self, x: Shape) -> int:
        return 2 * x[0] if self.affine else 0


class BatchNorm2d(_BatchNorm):
    """Batch normalization over the channels of a CxHxW input (torch.nn.BatchNorm2d)."""

    type: Literal["batchnorm2d"] = "batchnorm2d"
    input_ranks = (3,)
    example = {"type": "batchnorm2d"}
    variants = ({"type": "batchnorm2d", "affine": False}, {"type": "batchnorm2d", "num_features": 6},
                {"type": "batchnorm2d", "eps": 0.001, "momentum": 0.3, "track_running_stats": False})

    def build(self, x: Shape):
        from torch import nn
        return nn.BatchNorm2d(x[0], **self._kwargs())


class BatchNorm1d(_BatchNorm):
    """Batch normalization over the features of a flat input (torch.nn.BatchNorm1d)."""

    type: Literal["batchnorm1d"] = "batchnorm1d"
    input_ranks = (1, 2)
    input_words = "a flat (features,) vector or a CxL sequence"   # over the first axis, as torch's
    example = {"type": "batchnorm1d"}
    variants = ({"type": "batchnorm1d", "affine": False}, {"type": "batchnorm1d", "momentum": None, "eps": 0.01})

    def build(self, x: Shape):
        from torch import nn
        return nn.BatchNorm1d(x[0], **self._kwargs())


class StochasticDepth(Elementwise):
    """Drop the whole input of a residual branch while training, per sample or per batch, and scale what
    survives by 1 / (1 - p); identity in eval (torchvision.ops.StochasticDepth; EfficientNet, ConvNeXt)."""

    type: Literal["stochastic_depth"] = "stochastic_depth"
    p: float = Field(..., ge=0.0, le=1.0, description="Probability of zeroing the input (torchvision requires it).")
    mode: Literal["row", "batch"] = Field(
        ..., description="'row' zeroes each sample of the batch on its own; 'batch' the whole batch at once.")
    example = {"type": "stochastic_depth", "p": 0.2, "mode": "row"}
    variants = ({"type": "stochastic_depth", "p": 0.5, "mode": "batch"},
                {"type": "stochastic_depth", "p": 0.0, "mode": "row"})

    def build(self, x: Shape):
        from playground.layers import modules
        return modules.StochasticDepth(self.p, self.mode)

    def source(self, x: Shape) -> str:
        return call_source("StochasticDepth", p=self.p, mode=self.mode)

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        return (_module_source("StochasticDepth"),)


class _LayerNorm(Elementwise):
    """Shared fields and counts of layer normalization over one axis."""

    eps: float = Field(1e-5, gt=0.0, le=1.0, description="Added to the variance for numerical stability "
                       "(torch's default 1e-5; ConvNeXt uses 1e-6).")
    elementwise_affine: bool = Field(True, description="Learn a per-element scale and shift (weight and bias).")

    def _size(self) -> int | None:
        raise NotImplementedError

    def _axis(self) -> int:
        """The axis normalized: the last (layernorm) or the channels (layernorm2d)."""
        return -1

    def _check(self, x: Shape, field: str, what: str) -> None:
        given, n = self._size(), x[self._axis()]
        if given is not None and given != n:
            raise ShapeError.inferable(field, n, f"{field}={given}, but its input {fmt(x)} has {n} {what}.")

    def _options(self) -> dict:
        return dict(eps=unless(self.eps, 1e-5), elementwise_affine=unless(self.elementwise_affine, True))

    def param_count(self, x: Shape) -> int:
        return 2 * x[self._axis()] if self.elementwise_affine else 0


class LayerNorm(_LayerNorm):
    """Layer normalization over the last axis: a vector's features, each token's, each pixel's channels
    of an HxWxC map (torch.nn.LayerNorm(D))."""

    type: Literal["layernorm"] = "layernorm"
    normalized_shape: Features | None = Field(
        None, description="Features normalized (the last axis); inferred from the input when left out, checked "
                          "when given.")
    input_ranks = (1, 2, 3)
    map_layout = "last"
    example = {"type": "layernorm"}
    variants = ({"type": "layernorm", "normalized_shape": 16, "eps": 1e-6},
                {"type": "layernorm", "elementwise_affine": False})

    def _size(self) -> int | None:
        return self.normalized_shape

    def output_shape(self, x: Shape) -> Shape:
        self._check(x, "normalized_shape", "features" if len(x) == 1 else "features on its last axis")
        return x

    def build(self, x: Shape):
        from torch import nn
        return nn.LayerNorm(x[-1], eps=self.eps, elementwise_affine=self.elementwise_affine)


class LayerNorm2d(_LayerNorm):
    """Layer normalization over the channels of a CxHxW map, at each pixel (torchvision's
    convnext.LayerNorm2d: weight and bias of C, as its state dict has them)."""

    type: Literal["layernorm2d"] = "layernorm2d"
    num_channels: Channels | None = Field(
        None, description="Channels normalized; inferred from the input when left out, checked when given.")
    input_ranks = (3,)
    example = {"type": "layernorm2d"}
    variants = ({"type": "layernorm2d", "eps": 1e-6}, {"type": "layernorm2d", "num_channels": 6},
                {"type": "layernorm2d", "elementwise_affine": False, "eps": 0.01})

    def _size(self) -> int | None:
        return self.num_channels

    def _axis(self) -> int:
        return 0

    def output_shape(self, x: Shape) -> Shape:
        self._check(x, "num_channels", "channels")
        return x

    def build(self, x: Shape):
        from playground.layers import modules
        return modules.LayerNorm2d(x[0], eps=self.eps, elementwise_affine=self.elementwise_affine)

    def source(self, x: Shape) -> str:
        return call_source("LayerNorm2d", x[0], **self._options())

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        return (_module_source("LayerNorm2d"),)


def _module_source(name: str) -> str:
    """The code of a class in playground.layers.modules, for files that must not need playground."""
    import inspect

    from playground.layers import modules

    return inspect.getsource(getattr(modules, name))
