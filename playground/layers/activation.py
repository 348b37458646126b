"""Element-wise activations: relu, relu6, leaky_relu, gelu, silu, hardswish,
hardsigmoid, tanh, sigmoid; and identity. Any input rank."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from playground.layers.base import Elementwise
from playground.layers.shapes import Shape


class ReLU(Elementwise):
    """Rectified linear unit, max(0, x) (torch.nn.ReLU)."""

    type: Literal["relu"] = "relu"
    example = {"type": "relu"}

    def build(self, x: Shape):
        from torch import nn
        return nn.ReLU()


class LeakyReLU(Elementwise):
    """ReLU with a small slope for negative inputs (torch.nn.LeakyReLU)."""

    type: Literal["leaky_relu"] = "leaky_relu"
    negative_slope: float = Field(0.01, ge=0.0, le=1.0, description="Slope for x < 0.")
    example = {"type": "leaky_relu", "negative_slope": 0.1}

    def build(self, x: Shape):
        from torch import nn
        return nn.LeakyReLU(self.negative_slope)


class GELU(Elementwise):
    """Gaussian error linear unit (torch.nn.GELU)."""

    type: Literal["gelu"] = "gelu"
    approximate: Literal["none", "tanh"] = Field("none", description="'tanh' uses the faster tanh approximation.")
    example = {"type": "gelu"}
    variants = ({"type": "gelu", "approximate": "tanh"},)

    def build(self, x: Shape):
        from torch import nn
        return nn.GELU(approximate=self.approximate)


class Tanh(Elementwise):
    """Hyperbolic tangent (torch.nn.Tanh)."""

    type: Literal["tanh"] = "tanh"
    example = {"type": "tanh"}

    def build(self, x: Shape):
        from torch import nn
        return nn.Tanh()


class Sigmoid(Elementwise):
    """Logistic sigmoid, 1 / (1 + exp(-x)) (torch.nn.Sigmoid)."""

    type: Literal["sigmoid"] = "sigmoid"
    example = {"type": "sigmoid"}

    def build(self, x: Shape):
        from torch import nn
        return nn.Sigmoid()


class ReLU6(Elementwise):
    """ReLU capped at 6, min(max(0, x), 6) (torch.nn.ReLU6; MobileNetV2)."""

    type: Literal["relu6"] = "relu6"
    example = {"type": "relu6"}

    def build(self, x: Shape):
        from torch import nn
        return nn.ReLU6()


class SiLU(Elementwise):
    """Sigmoid-weighted linear unit, x * sigmoid(x), a.k.a. swish (torch.nn.SiLU)."""

    type: Literal["silu"] = "silu"
    example = {"type": "silu"}

    def build(self, x: Shape):
        from torch import nn
        return nn.SiLU()


class Hardswish(Elementwise):
    """Piecewise-linear swish, x * relu6(x + 3) / 6 (torch.nn.Hardswish; MobileNetV3)."""

    type: Literal["hardswish"] = "hardswish"
    example = {"type": "hardswish"}

    def build(self, x: Shape):
        from torch import nn
        return nn.Hardswish()


class Hardsigmoid(Elementwise):
    """Piecewise-linear sigmoid, relu6(x + 3) / 6 (torch.nn.Hardsigmoid; squeeze-and-excitation gates)."""

    type: Literal["hardsigmoid"] = "hardsigmoid"
    example = {"type": "hardsigmoid"}

    def build(self, x: Shape):
        from torch import nn
        return nn.Hardsigmoid()


class Identity(Elementwise):
    """Passes its input through unchanged (torch.nn.Identity): a concat branch that keeps the input."""

    type: Literal["identity"] = "identity"
    example = {"type": "identity"}

    def build(self, x: Shape):
        from torch import nn
        return nn.Identity()
