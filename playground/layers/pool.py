"""Pooling over CxHxW inputs: maxpool2d, avgpool2d, adaptive_avgpool2d."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from playground.layers.base import Layer, ShapeError, call_source, unless
from playground.layers.shapes import Shape, fmt, pair, pool_out
from playground.layers.types import Kernel, KernelInt, Padding


class _Pool2d(Layer):
    """Shared fields and shape rule of max and average pooling."""

    kernel_size: Kernel = Field(description="Window size: an int, or [height, width].")
    stride: Kernel | None = Field(None, description="Step between windows; defaults to kernel_size.")
    padding: Padding = Field(0, description="Implicit padding on each side; at most half the kernel size.")
    ceil_mode: bool = Field(False, description="Round the output size up instead of down.")

    input_ranks = (3,)

    @field_validator("padding")
    @classmethod
    def _half_kernel(cls, padding, info: ValidationInfo):
        kernel = info.data.get("kernel_size")
        if kernel is not None:
            (kh, kw), (ph, pw) = pair(kernel), pair(padding)
            if ph > kh // 2 or pw > kw // 2:
                raise ValueError(f"padding must be at most half of kernel_size={kernel} "
                                 f"(at most {kh // 2}x{kw // 2})")
        return padding

    def _dilation(self) -> tuple[int, int]:
        return (1, 1)

    def output_shape(self, x: Shape) -> Shape:
        c, h, w = x
        kh, kw = pair(self.kernel_size)
        sh, sw = pair(self.stride if self.stride is not None else self.kernel_size)
        ph, pw = pair(self.padding)
        dh, dw = self._dilation()
        oh = pool_out(h, kh, sh, ph, dh, self.ceil_mode)
        ow = pool_out(w, kw, sw, pw, dw, self.ceil_mode)
        if oh < 1 or ow < 1:
            raise ShapeError(
                f"kernel_size={self.kernel_size} does not fit its {fmt(x)} input: "
                f"the output would be {oh}x{ow}.",
                fix="Use a smaller kernel_size, or remove an earlier pooling layer.",
                field="kernel_size")
        return Shape((c, oh, ow))


class MaxPool2d(_Pool2d):
    """2-D max pooling (torch.nn.MaxPool2d)."""

    type: Literal["maxpool2d"] = "maxpool2d"
    dilation: Kernel = Field(1, description="Spacing between window elements.")

    example = {"type": "maxpool2d", "kernel_size": 2}
    variants = ({"type": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
                {"type": "maxpool2d", "kernel_size": [2, 3], "stride": 1, "dilation": 2})

    def _dilation(self) -> tuple[int, int]:
        return pair(self.dilation)

    def build(self, x: Shape):
        from torch import nn
        return nn.MaxPool2d(pair(self.kernel_size),
                            stride=pair(self.stride) if self.stride is not None else None,
                            padding=pair(self.padding), dilation=pair(self.dilation),
                            ceil_mode=self.ceil_mode)

    def source(self, x: Shape) -> str:   # as written, defaults left out
        return call_source("nn.MaxPool2d", self.kernel_size, stride=self.stride, padding=unless(self.padding, 0),
                           dilation=unless(self.dilation, 1), ceil_mode=self.ceil_mode or None)


class AvgPool2d(_Pool2d):
    """2-D average pooling (torch.nn.AvgPool2d)."""

    type: Literal["avgpool2d"] = "avgpool2d"
    count_include_pad: bool = Field(True, description="Count the zero padding in the average.")

    example = {"type": "avgpool2d", "kernel_size": 2}
    variants = ({"type": "avgpool2d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                 "count_include_pad": False},
                {"type": "avgpool2d", "kernel_size": [3, 2], "stride": [1, 2]})

    def build(self, x: Shape):
        from torch import nn
        return nn.AvgPool2d(pair(self.kernel_size),
                            stride=pair(self.stride) if self.stride is not None else None,
                            padding=pair(self.padding), ceil_mode=self.ceil_mode,
                            count_include_pad=self.count_include_pad)

    def source(self, x: Shape) -> str:
        return call_source("nn.AvgPool2d", self.kernel_size, stride=self.stride, padding=unless(self.padding, 0),
                           ceil_mode=self.ceil_mode or None,
                           count_include_pad=None if self.count_include_pad else False)


class AdaptiveAvgPool2d(Layer):
    """Average pooling to a fixed output size (torch.nn.AdaptiveAvgPool2d)."""

    type: Literal["adaptive_avgpool2d"] = "adaptive_avgpool2d"
    output_size: KernelInt | tuple[KernelInt, KernelInt] = Field(
        description="Output height and width: an int, or [height, width]; 1 gives global average pooling.")

    input_ranks = (3,)
    example = {"type": "adaptive_avgpool2d", "output_size": 1}
    variants = ({"type": "adaptive_avgpool2d", "output_size": [3, 2]},)

    def output_shape(self, x: Shape) -> Shape:
        oh, ow = pair(self.output_size)
        return Shape((x[0], oh, ow))

    def build(self, x: Shape):
        from torch import nn
        return nn.AdaptiveAvgPool2d(pair(self.output_size))
