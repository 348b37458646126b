"""conv2d: 2-D convolution over a CxHxW input (torch.nn.Conv2d)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from playground.layers.base import Layer, ShapeError
from playground.layers.types import Channels, Kernel, Padding
from playground.shapes import Shape, conv_out, fmt, pair


class Conv2d(Layer):
    """2-D convolution (torch.nn.Conv2d)."""

    type: Literal["conv2d"] = "conv2d"
    in_channels: Channels | None = Field(
        None, description="Input channels; inferred from the previous layer when left out, checked when given.")
    out_channels: Channels = Field(description="Number of filters, i.e. output channels.")
    kernel_size: Kernel = Field(description="Window size: an int, or [height, width].")
    stride: Kernel = Field(1, description="Step between windows: an int, or [height, width].")
    padding: Padding | Literal["same", "valid"] = Field(
        0, description="Zero padding on each side: an int, [height, width], 'same' (stride 1 only) or 'valid' (= 0).")
    dilation: Kernel = Field(1, description="Spacing between kernel elements.")
    groups: Channels = Field(1, description="Blocked connections; in_channels and out_channels must both divide by it.")
    bias: bool = Field(True, description="Learn an additive bias per output channel.")

    input_ranks = (3,)
    example = {"type": "conv2d", "out_channels": 8, "kernel_size": 3}
    variants = (
        {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "groups": 2},
        {"type": "conv2d", "out_channels": 6, "kernel_size": 3, "groups": 6, "bias": False},
        {"type": "conv2d", "out_channels": 4, "kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 0]},
        {"type": "conv2d", "out_channels": 5, "kernel_size": 3, "dilation": 2, "padding": "same"},
        {"type": "conv2d", "out_channels": 3, "kernel_size": 4, "stride": 3, "padding": 2, "bias": False},
        {"type": "conv2d", "in_channels": 6, "out_channels": 2, "kernel_size": 1, "padding": "valid"},
    )

    def _padding(self) -> tuple[int, int] | None:
        """Per-axis padding, or None for 'same'."""
        if self.padding == "same":
            return None
        return (0, 0) if self.padding == "valid" else pair(self.padding)

    def output_shape(self, x: Shape) -> Shape:
        c, h, w = x
        if self.in_channels is not None and self.in_channels != c:
            raise ShapeError(
                f"in_channels={self.in_channels}, but its input {fmt(x)} has {c} channels.",
                fix=f"Set in_channels: {c}, or leave it out to infer it.", field="in_channels")
        for what, n in (("in_channels", c), ("out_channels", self.out_channels)):
            if n % self.groups:
                raise ShapeError(
                    f"groups={self.groups} does not divide {what}={n}.",
                    fix=f"Pick groups that divides both {c} input and {self.out_channels} output channels.",
                    field="groups")
        kh, kw = pair(self.kernel_size)
        sh, sw = pair(self.stride)
        dh, dw = pair(self.dilation)
        padding = self._padding()
        if padding is None:
            if (sh, sw) != (1, 1):
                raise ShapeError("padding='same' needs stride 1.",
                                 fix="Set stride: 1, or give padding as a number.", field="padding")
            return Shape((self.out_channels, h, w))
        ph, pw = padding
        oh, ow = conv_out(h, kh, sh, ph, dh), conv_out(w, kw, sw, pw, dw)
        if oh < 1 or ow < 1:
            raise ShapeError(
                f"kernel_size={self.kernel_size} (dilation {self.dilation}, padding {self.padding}) "
                f"does not fit its {fmt(x)} input: the output would be {oh}x{ow}.",
                fix="Use a smaller kernel_size, add padding, or remove a pooling layer before it.",
                field="kernel_size")
        return Shape((self.out_channels, oh, ow))

    def build(self, x: Shape):
        from torch import nn
        return nn.Conv2d(x[0], self.out_channels, pair(self.kernel_size), stride=pair(self.stride),
                         padding=self.padding if isinstance(self.padding, str) else pair(self.padding),
                         dilation=pair(self.dilation), groups=self.groups, bias=self.bias)

    def param_count(self, x: Shape) -> int:
        kh, kw = pair(self.kernel_size)
        weights = self.out_channels * (x[0] // self.groups) * kh * kw
        return weights + (self.out_channels if self.bias else 0)

    def macs(self, x: Shape, y: Shape) -> int:
        kh, kw = pair(self.kernel_size)
        return y[0] * y[1] * y[2] * (x[0] // self.groups) * kh * kw
