"""upsample: resize a CxHxW feature map by a scale factor or to a size (torch.nn.Upsample)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from playground.layers.base import MAX_KERNEL, Layer, call_source
from playground.layers.shapes import Shape, pair
from playground.layers.types import Kernel

Scale = Annotated[float, Field(gt=0, le=MAX_KERNEL)]


class Upsample(Layer):
    """Resize by scale_factor or to size, nearest or bilinear (torch.nn.Upsample)."""

    type: Literal["upsample"] = "upsample"
    scale_factor: Scale | tuple[Scale, Scale] | None = Field(
        None, description="Multiplier for height and width (an output size is rounded down); or give size.")
    size: Kernel | None = Field(None, description="Output height and width: an int, or [height, width].")
    mode: Literal["nearest", "bilinear"] = Field("nearest", description="How new pixels are computed.")
    align_corners: bool | None = Field(
        None, description="bilinear only: align the corner pixels of input and output.")

    input_ranks = (3,)
    example = {"type": "upsample", "scale_factor": 2}
    variants = ({"type": "upsample", "size": [20, 7], "mode": "bilinear", "align_corners": True},
                {"type": "upsample", "scale_factor": [1.5, 2], "mode": "bilinear"})

    @model_validator(mode="after")
    def _one_of_scale_or_size(self):
        if (self.scale_factor is None) == (self.size is None):
            raise ValueError("give exactly one of scale_factor (e.g. 2) and size (e.g. [32, 32])")
        if self.align_corners is not None and self.mode == "nearest":
            raise ValueError("align_corners applies to mode: bilinear only; remove it")
        return self

    def output_shape(self, x: Shape) -> Shape:
        c, h, w = x
        if self.size is not None:
            return Shape((c, *pair(self.size)))
        fh, fw = self.scale_factor if isinstance(self.scale_factor, tuple) else (self.scale_factor,) * 2
        return Shape((c, math.floor(h * fh), math.floor(w * fw)))

    def build(self, x: Shape):
        from torch import nn
        if self.size is not None:
            return nn.Upsample(size=pair(self.size), mode=self.mode, align_corners=self.align_corners)
        return nn.Upsample(scale_factor=self.scale_factor, mode=self.mode, align_corners=self.align_corners)

    def source(self, x: Shape) -> str:   # torch's repr leaves align_corners out
        size = {"size": self.size} if self.size is not None else {"scale_factor": self.scale_factor}
        return call_source("nn.Upsample", **size, mode=self.mode, align_corners=self.align_corners)
