"""conv2d and conv_transpose2d: 2-D convolutions over a CxHxW input
(torch.nn.Conv2d, torch.nn.ConvTranspose2d).

A depthwise convolution is ``{type: conv2d, groups: depthwise, kernel_size: 3}``:
one filter per input channel, with the channel count inferred, never repeated.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from playground.layers.base import Layer, ShapeError, call_source, unless
from playground.layers.shapes import Shape, conv_out, fmt, pair
from playground.layers.types import Channels, Kernel, Padding


class Conv2d(Layer):
    """2-D convolution (torch.nn.Conv2d)."""

    type: Literal["conv2d"] = "conv2d"
    in_channels: Channels | None = Field(
        None, description="Input channels; inferred from the previous layer when left out, checked when given.")
    out_channels: Channels | None = Field(
        None, description="Number of filters, i.e. output channels. Required, except with groups: depthwise, "
                          "where it defaults to the input channels.")
    kernel_size: Kernel = Field(description="Window size: an int, or [height, width].")
    stride: Kernel = Field(1, description="Step between windows: an int, or [height, width].")
    padding: Padding | Literal["same", "valid"] = Field(
        0, description="Zero padding on each side: an int, [height, width], 'same' (stride 1 only) or 'valid' (= 0).")
    dilation: Kernel = Field(1, description="Spacing between kernel elements.")
    groups: Channels | Literal["depthwise"] = Field(
        1, description="Blocked connections; in_channels and out_channels must both divide by it. "
                       "'depthwise': one group per input channel.")
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
        {"type": "conv2d", "groups": "depthwise", "kernel_size": 3, "stride": 2, "padding": 1, "bias": False},
        {"type": "conv2d", "groups": "depthwise", "out_channels": 12, "kernel_size": 3},
    )

    @model_validator(mode="after")
    def _out_channels_required(self):
        if self.out_channels is None and self.groups != "depthwise":
            raise ValueError("out_channels is required (it may be left out only with groups: depthwise, "
                             "where it is the input's channel count); add `out_channels: 16`")
        return self

    def _groups(self, c: int) -> int:
        return c if self.groups == "depthwise" else self.groups

    def _out(self, c: int) -> int:
        return self.out_channels if self.out_channels is not None else c

    def _padding(self) -> tuple[int, int] | None:
        """Per-axis padding, or None for 'same'."""
        if self.padding == "same":
            return None
        return (0, 0) if self.padding == "valid" else pair(self.padding)

    def output_shape(self, x: Shape) -> Shape:
        c, h, w = x
        check_in_channels(self.in_channels, x)
        groups, out = self._groups(c), self._out(c)
        for what, n in (("in_channels", c), ("out_channels", out)):
            if n % groups:
                raise ShapeError(
                    f"groups={self.groups}{f' ({groups})' if groups != self.groups else ''} "
                    f"does not divide {what}={n}.",
                    fix=f"Pick groups that divides both {c} input and {out} output channels.",
                    field="out_channels" if self.groups == "depthwise" else "groups")
        kh, kw = pair(self.kernel_size)
        sh, sw = pair(self.stride)
        dh, dw = pair(self.dilation)
        padding = self._padding()
        if padding is None:
            if (sh, sw) != (1, 1):
                raise ShapeError("padding='same' needs stride 1.",
                                 fix="Set stride: 1, or give padding as a number.", field="padding")
            return Shape((out, h, w))
        ph, pw = padding
        oh, ow = conv_out(h, kh, sh, ph, dh), conv_out(w, kw, sw, pw, dw)
        if oh < 1 or ow < 1:
            raise ShapeError(
                f"kernel_size={self.kernel_size} (dilation {self.dilation}, padding {self.padding}) "
                f"does not fit its {fmt(x)} input: the output would be {oh}x{ow}.",
                fix="Use a smaller kernel_size, add padding, or remove a pooling layer before it.",
                field="kernel_size")
        return Shape((out, oh, ow))

    def build(self, x: Shape):
        from torch import nn
        return nn.Conv2d(x[0], self._out(x[0]), pair(self.kernel_size), stride=pair(self.stride),
                         padding=self.padding if isinstance(self.padding, str) else pair(self.padding),
                         dilation=pair(self.dilation), groups=self._groups(x[0]), bias=self.bias)

    def source(self, x: Shape) -> str:   # the settings as written, defaults left out
        groups = self._groups(x[0])
        return call_source("nn.Conv2d", x[0], self._out(x[0]), kernel_size=self.kernel_size,
                           stride=unless(self.stride, 1), padding=unless(self.padding, 0),
                           dilation=unless(self.dilation, 1), groups=unless(groups, 1),
                           bias=unless(self.bias, True))

    def param_count(self, x: Shape) -> int:
        kh, kw = pair(self.kernel_size)
        out = self._out(x[0])
        weights = out * (x[0] // self._groups(x[0])) * kh * kw
        return weights + (out if self.bias else 0)

    def macs(self, x: Shape, y: Shape) -> int:
        kh, kw = pair(self.kernel_size)
        return y[0] * y[1] * y[2] * (x[0] // self._groups(x[0])) * kh * kw


def check_in_channels(in_channels: int | None, x: Shape) -> None:
    if in_channels is not None and in_channels != x[0]:
        raise ShapeError.inferable("in_channels", x[0], f"in_channels={in_channels}, but its input {fmt(x)} has "
                                   f"{x[0]} channels.")


class ConvTranspose2d(Layer):
    """2-D transposed convolution, the gradient of conv2d: upsamples by its stride (torch.nn.ConvTranspose2d)."""

    type: Literal["conv_transpose2d"] = "conv_transpose2d"
    in_channels: Channels | None = Field(
        None, description="Input channels; inferred from the previous layer when left out, checked when given.")
    out_channels: Channels = Field(description="Number of output channels.")
    kernel_size: Kernel = Field(description="Window size: an int, or [height, width].")
    stride: Kernel = Field(1, description="Upsampling step: an int, or [height, width].")
    padding: Padding = Field(0, description="Removed from each side of the output: an int, or [height, width].")
    output_padding: Padding = Field(
        0, description="Added to one side of the output to pick among the sizes a stride allows; "
                       "smaller than stride or dilation.")
    dilation: Kernel = Field(1, description="Spacing between kernel elements.")
    groups: Channels = Field(1, description="Blocked connections; in and out channels must both divide by it.")
    bias: bool = Field(True, description="Learn an additive bias per output channel.")

    input_ranks = (3,)
    example = {"type": "conv_transpose2d", "out_channels": 8, "kernel_size": 2, "stride": 2}
    variants = (
        {"type": "conv_transpose2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1,
         "output_padding": 1},
        {"type": "conv_transpose2d", "out_channels": 4, "kernel_size": [3, 2], "groups": 2, "bias": False,
         "dilation": 2},
    )

    def output_shape(self, x: Shape) -> Shape:
        c, h, w = x
        check_in_channels(self.in_channels, x)
        for what, n in (("in_channels", c), ("out_channels", self.out_channels)):
            if n % self.groups:
                raise ShapeError(f"groups={self.groups} does not divide {what}={n}.",
                                 fix=f"Pick groups that divides both {c} and {self.out_channels}.", field="groups")
        (kh, kw), (sh, sw), (ph, pw) = pair(self.kernel_size), pair(self.stride), pair(self.padding)
        (oph, opw), (dh, dw) = pair(self.output_padding), pair(self.dilation)
        if oph >= max(sh, dh) or opw >= max(sw, dw):
            raise ShapeError(f"output_padding={self.output_padding} must be smaller than stride={self.stride} "
                             f"or dilation={self.dilation}.",
                             fix="Lower output_padding (0 or 1 for stride 2).", field="output_padding")
        oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
        ow = (w - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
        if oh < 1 or ow < 1:
            raise ShapeError(f"padding={self.padding} removes more than its {fmt(x)} input gives: "
                             f"the output would be {oh}x{ow}.", fix="Lower padding.", field="padding")
        return Shape((self.out_channels, oh, ow))

    def build(self, x: Shape):
        from torch import nn
        return nn.ConvTranspose2d(x[0], self.out_channels, pair(self.kernel_size), stride=pair(self.stride),
                                  padding=pair(self.padding), output_padding=pair(self.output_padding),
                                  groups=self.groups, bias=self.bias, dilation=pair(self.dilation))

    def source(self, x: Shape) -> str:
        return call_source("nn.ConvTranspose2d", x[0], self.out_channels, kernel_size=self.kernel_size,
                           stride=unless(self.stride, 1), padding=unless(self.padding, 0),
                           output_padding=unless(self.output_padding, 0), groups=unless(self.groups, 1),
                           bias=unless(self.bias, True), dilation=unless(self.dilation, 1))


    def param_count(self, x: Shape) -> int:
        kh, kw = pair(self.kernel_size)
        return x[0] * (self.out_channels // self.groups) * kh * kw + (self.out_channels if self.bias else 0)

    def macs(self, x: Shape, y: Shape) -> int:
        kh, kw = pair(self.kernel_size)
        return x[0] * x[1] * x[2] * (self.out_channels // self.groups) * kh * kw
