"""Pure shape arithmetic: small functions over tuples of ints, no tensors.

A shape never includes the batch dimension: (F,) for flat vectors, (L, D)
for token sequences (L tokens of D features), (C, H, W) for feature maps, or
(H, W, C) for a map whose channels were moved last (``channels_last``: after a
``permute``, so that linear and layer norm work on every pixel's channels, as
Swin and ConvNeXt do). Every layer plugin's shape rule is built from these.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


class Shape(tuple):
    """A shape without the batch dimension; a tuple that may remember what it
    was flattened from, so messages can say "20x4x4 flattens to 320", and
    whether a rank-3 map holds its channels last (HxWxC)."""

    flattened_from: tuple[int, ...] | None
    channels_last: bool

    def __new__(cls, dims: Iterable[int], flattened_from: Iterable[int] | None = None, channels_last: bool = False):
        if isinstance(dims, Shape) and flattened_from is None and not channels_last:   # a copy keeps all
            flattened_from, channels_last = dims.flattened_from, dims.channels_last
        self = super().__new__(cls, (int(d) for d in dims))
        self.flattened_from = tuple(flattened_from) if flattened_from is not None else None
        self.channels_last = bool(channels_last) and len(self) == 3
        return self

    def with_last(self, n: int) -> Shape:
        """This shape with its last axis n long, the layout kept (a linear over the last axis)."""
        return Shape((*self[:-1], n), channels_last=self.channels_last)

    def __reduce__(self):
        return (Shape, (tuple(self), self.flattened_from, self.channels_last))


def layout(x: Shape) -> str:
    """'CxHxW' / 'HxWxC' / 'LxD' / 'F': what the axes of ``x`` are, for messages and tables."""
    if len(x) == 3:
        return "HxWxC" if getattr(x, "channels_last", False) else "CxHxW"
    return {1: "F", 2: "LxD"}.get(len(x), f"rank {len(x)}")


def fmt(shape: Iterable[int]) -> str:
    """(20, 4, 4) -> '20x4x4'."""
    return "x".join(str(d) for d in shape)


def label(shape: Iterable[int]) -> str:
    """A shape as tables and diagrams show it: '20x4x4', '320', '197x768 tokens', '56x56x96 HWC'
    (a map's D x (H*W) flattening, before it is turned into tokens, shows plain: '768x196')."""
    text = fmt(shape)
    if getattr(shape, "channels_last", False):
        return f"{text} HWC"
    tokens = len(tuple(shape)) == 2 and getattr(shape, "flattened_from", None) is None   # not D x (H*W)
    return f"{text} tokens" if tokens else text


def describe_features(x: Shape) -> str:
    """How a flat input came to be: 'has 320 features' or '20x4x4 flattens to 320'."""
    if getattr(x, "flattened_from", None):
        return f"{fmt(x.flattened_from)} flattens to {x[0]}"
    return f"has {x[0]} features"


def divisors(n: int) -> list[int]:
    """The numbers that divide n evenly, smallest first (group, head and window counts)."""
    return [d for d in range(1, n + 1) if n % d == 0]


def nearest_divisor(n: int, k: int) -> int:
    """The divisor of n nearest to k (the smaller on a tie): the fix for a count that does not divide."""
    return min(divisors(n), key=lambda d: (abs(d - k), d))


def numel(shape: Iterable[int]) -> int:
    return math.prod(shape)


def pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """5 -> (5, 5); (3, 5) -> (3, 5)."""
    if isinstance(value, int):
        return (value, value)
    a, b = value
    return (int(a), int(b))


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window along one axis
    (the formula in torch.nn.Conv2d's documentation)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool_out(size: int, kernel: int, stride: int, padding: int = 0, dilation: int = 1,
             ceil_mode: bool = False) -> int:
    """Output length of a max/avg pooling window along one axis, ceil_mode included."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    # With ceil_mode the last window must start inside the input or the left padding.
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out
