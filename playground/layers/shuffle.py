"""Channel rearrangement: channel_shuffle (ShuffleNet)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from playground.layers.base import Elementwise, ShapeError, call_source
from playground.layers.shapes import Shape, divisors, fmt
from playground.layers.types import Channels


class ChannelShuffle(Elementwise):
    """Interleave the channels of a CxHxW map across groups, so grouped convolutions mix
    (torchvision's shufflenetv2.channel_shuffle; torch.nn.ChannelShuffle)."""

    type: Literal["channel_shuffle"] = "channel_shuffle"
    groups: Channels = Field(..., description="Groups the channels are split into; must divide the channels.")
    input_ranks = (3,)
    example = {"type": "channel_shuffle", "groups": 2}
    variants = ({"type": "channel_shuffle", "groups": 3}, {"type": "channel_shuffle", "groups": 1},
                {"type": "channel_shuffle", "groups": 6})

    def output_shape(self, x: Shape) -> Shape:
        channels = x[0]
        if channels % self.groups:
            gap = min(abs(d - self.groups) for d in divisors(channels))
            nearest = " or ".join(str(d) for d in divisors(channels) if abs(d - self.groups) == gap)
            raise ShapeError(
                f"groups={self.groups} does not divide its input's {channels} channels ({fmt(x)}).",
                fix=f"Use groups: {nearest} (the nearest that divide{'s' * (' or ' not in nearest)} {channels}), "
                    "or change the channels before it.", field="groups")
        return x

    def build(self, x: Shape):
        from playground.layers import modules
        return modules.ChannelShuffle(self.groups)

    def source(self, x: Shape) -> str:
        return call_source("ChannelShuffle", self.groups)

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        import inspect

        from playground.layers import modules

        return (inspect.getsource(modules.ChannelShuffle),)
