"""Regularization and normalization: dropout, dropout2d, batchnorm2d, batchnorm1d."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from playground.layers.base import Elementwise, ShapeError
from playground.layers.shapes import Shape, fmt
from playground.layers.types import Channels


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
            raise ShapeError(
                f"num_features={self.num_features}, but its input {fmt(x)} has {x[0]} channels.",
                fix=f"Set num_features: {x[0]}, or leave it out to infer it.", field="num_features")
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
    example = {"type": "batchnorm1d"}
    variants = ({"type": "batchnorm1d", "affine": False}, {"type": "batchnorm1d", "momentum": None, "eps": 0.01})

    def build(self, x: Shape):
        from torch import nn
        return nn.BatchNorm1d(x[0], **self._kwargs())
