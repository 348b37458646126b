"""flatten and linear: from feature maps to class scores, and over tokens.

A ``linear`` layer works over its input's last axis, as torch.nn.Linear
does: a flat (features,) vector, each token of an LxD sequence, or each pixel
of an HxWxC map whose channels a ``permute`` moved last. playground does not
flatten implicitly: a ``linear`` right after a CxHxW feature map is an error
whose fix is to insert ``{type: flatten}``, so the spec always shows where
the feature map becomes a vector (torch would silently apply it to the width).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from playground.layers.base import Layer, ShapeError
from playground.layers.shapes import Shape, describe_features, fmt, numel
from playground.layers.types import Features


class Flatten(Layer):
    """Flatten dimensions start_dim..end_dim into one; by default every dimension but the batch
    (torch.nn.Flatten). ViT's patches: start_dim 2 takes a DxHxW map to D x (H*W)."""

    type: Literal["flatten"] = "flatten"
    start_dim: int = Field(1, ge=1, le=8, description="First dimension flattened, counting the batch as 0 "
                                                      "(torch's default 1: all but the batch).")
    end_dim: int = Field(-1, ge=-8, le=8, description="Last dimension flattened, counting the batch as 0; "
                                                     "negative from the end (torch's default -1: the last).")
    example = {"type": "flatten"}
    variants = ({"type": "flatten", "start_dim": 2}, {"type": "flatten", "start_dim": 1, "end_dim": 2},
                {"type": "flatten", "start_dim": 2, "end_dim": -1})

    def _span(self, x: Shape) -> tuple[int, int]:
        """Which axes of ``x`` (without the batch) are flattened: [first, last]."""
        rank = len(x) + 1
        end = self.end_dim if self.end_dim >= 0 else rank + self.end_dim
        if not 1 <= self.start_dim < rank:
            raise ShapeError(f"start_dim={self.start_dim}, but its input {fmt(x)} has dimensions 1 to {rank - 1} "
                             "(the batch is 0).", fix=f"Set start_dim between 1 and {rank - 1}.", field="start_dim")
        if not self.start_dim <= end < rank:
            raise ShapeError(f"end_dim={self.end_dim} is not between start_dim={self.start_dim} and the last "
                             f"dimension of its input {fmt(x)} ({rank - 1}).",
                             fix="Set end_dim: -1 (the last dimension).", field="end_dim")
        return self.start_dim - 1, end - 1

    def output_shape(self, x: Shape) -> Shape:
        first, last = self._span(x)
        dims = (*x[:first], numel(x[first:last + 1]), *x[last + 1:])
        if len(dims) == 1:
            return Shape(dims, flattened_from=x if len(x) > 1 else None)
        if dims == tuple(x):
            return x
        return Shape(dims, flattened_from=x)   # D x (H*W): not yet tokens (a permute makes them L x D)

    def build(self, x: Shape):
        from torch import nn
        return nn.Flatten(self.start_dim, self.end_dim)


class Linear(Layer):
    """Fully connected layer, y = xW^T + b (torch.nn.Linear)."""

    type: Literal["linear"] = "linear"
    in_features: Features | None = Field(
        None, description="Input features; inferred from the previous layer when left out, checked when given.")
    out_features: Features = Field(description="Output features (the class count, for the last layer).")
    bias: bool = Field(True, description="Learn an additive bias.")

    input_ranks = (1, 2, 3)      # a vector; each of L tokens; each pixel of an HxWxC map
    map_layout = "last"
    example = {"type": "linear", "out_features": 10}
    variants = ({"type": "linear", "out_features": 7, "bias": False},
                {"type": "linear", "out_features": 1})

    def output_shape(self, x: Shape) -> Shape:
        n = x[-1]
        if self.in_features is not None and self.in_features != n:
            has = describe_features(x) if len(x) == 1 else f"{fmt(x)} has {n} features on its last axis"
            raise ShapeError.inferable("in_features", n, f"in_features={self.in_features}, but its input {has}.")
        if len(x) == 1:
            return Shape((self.out_features,))
        return x.with_last(self.out_features)

    def build(self, x: Shape):
        from torch import nn
        return nn.Linear(x[-1], self.out_features, bias=self.bias)

    def param_count(self, x: Shape) -> int:
        return x[-1] * self.out_features + (self.out_features if self.bias else 0)

    def macs(self, x: Shape, y: Shape) -> int:
        return numel(x[:-1]) * x[-1] * self.out_features
