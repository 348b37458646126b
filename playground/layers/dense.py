"""flatten and linear: from feature maps to class scores.

A ``linear`` layer needs a flat (features,) input. playground does not
flatten implicitly: a ``linear`` right after a CxHxW feature map is an error
whose fix is to insert ``{type: flatten}``, so the spec always shows where
the feature map becomes a vector (and ``linear`` keeps torch.nn.Linear's
meaning).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from playground.layers.base import Layer, ShapeError
from playground.layers.shapes import Shape, describe_features, numel
from playground.layers.types import Features


class Flatten(Layer):
    """Flatten every dimension but the batch into one (torch.nn.Flatten)."""

    type: Literal["flatten"] = "flatten"
    example = {"type": "flatten"}

    def output_shape(self, x: Shape) -> Shape:
        return Shape((numel(x),), flattened_from=x if len(x) > 1 else None)

    def build(self, x: Shape):
        from torch import nn
        return nn.Flatten()


class Linear(Layer):
    """Fully connected layer, y = xW^T + b (torch.nn.Linear)."""

    type: Literal["linear"] = "linear"
    in_features: Features | None = Field(
        None, description="Input features; inferred from the previous layer when left out, checked when given.")
    out_features: Features = Field(description="Output features (the class count, for the last layer).")
    bias: bool = Field(True, description="Learn an additive bias.")

    input_ranks = (1,)
    example = {"type": "linear", "out_features": 10}
    variants = ({"type": "linear", "out_features": 7, "bias": False},
                {"type": "linear", "out_features": 1})

    def output_shape(self, x: Shape) -> Shape:
        (n,) = x
        if self.in_features is not None and self.in_features != n:
            raise ShapeError(
                f"in_features={self.in_features}, but its input {describe_features(x)}.",
                fix=f"Set in_features: {n}, or leave it out to infer it.", field="in_features")
        return Shape((self.out_features,))

    def build(self, x: Shape):
        from torch import nn
        return nn.Linear(x[0], self.out_features, bias=self.bias)

    def param_count(self, x: Shape) -> int:
        return x[0] * self.out_features + (self.out_features if self.bias else 0)

    def macs(self, x: Shape, y: Shape) -> int:
        return x[0] * self.out_features
