"""Pure shape arithmetic: small functions over tuples of ints, no tensors.

A shape never includes the batch dimension: (C, H, W) for feature maps,
(F,) for flat vectors. Every layer plugin's shape rule is built from these.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


class Shape(tuple):
    """A shape without the batch dimension; a tuple that may remember what it
    was flattened from, so messages can say "20x4x4 flattens to 320"."""

    flattened_from: tuple[int, ...] | None

    def __new__(cls, dims: Iterable[int], flattened_from: Iterable[int] | None = None):
        self = super().__new__(cls, (int(d) for d in dims))
        self.flattened_from = tuple(flattened_from) if flattened_from is not None else None
        return self


def fmt(shape: Iterable[int]) -> str:
    """(20, 4, 4) -> '20x4x4'."""
    return "x".join(str(d) for d in shape)


def describe_features(x: Shape) -> str:
    """How a flat input came to be: 'has 320 features' or '20x4x4 flattens to 320'."""
    if getattr(x, "flattened_from", None):
        return f"{fmt(x.flattened_from)} flattens to {x[0]}"
    return f"has {x[0]} features"


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
