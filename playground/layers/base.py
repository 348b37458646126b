"""The layer plugin contract.

A layer plugin is one pydantic model class:

* its fields are the layer's parameters, named after the ``torch.nn``
  constructor arguments, with a ``type: Literal["..."]`` tag, bounds and a
  description on every field (unknown keys are refused);
* ``output_shape(x)`` is the pure shape rule: input shape -> output shape, or
  a ``ShapeError`` that says what was expected and how to fix it;
* ``build(x)`` returns the ``torch.nn.Module`` for input shape ``x``;
* ``param_count(x)`` and ``macs(x, y)`` count parameters and
  multiply-accumulates per sample, by arithmetic. MACs count what
  torchvision's documented GFLOPS column counts: convolutions and linear
  layers (the matrix products); pooling, normalization and activations are 0.

Shapes never include the batch dimension. torch is imported only inside
``build`` so that checking a spec stays fast and light.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from playground.shapes import Shape

if TYPE_CHECKING:
    from torch import nn

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

# Bounds shared by the built-in plugins; generous for real work, small enough
# that arithmetic on them never overflows a budget check.
MAX_CHANNELS = 1 << 16
MAX_FEATURES = 1 << 20
MAX_KERNEL = 1 << 10


class ShapeError(Exception):
    """Raised by a shape rule. ``field`` names the parameter at fault, if one is."""

    def __init__(self, message: str, fix: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.field = field


class Layer(BaseModel):
    """Base class of every layer plugin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        max_length=64,
        description="Optional unique name; becomes the module's attribute name (e.g. conv1).",
    )

    # Ranks (without batch) this layer accepts; None accepts any rank >= 1.
    input_ranks: ClassVar[tuple[int, ...] | None] = None
    # A small valid configuration: the layer editor's starting point and the
    # plugin test harness's sample.
    example: ClassVar[dict[str, Any]] = {}
    # More configurations the plugin test harness checks against PyTorch (shape,
    # parameters, MACs): the non-default settings a bug would hide in.
    variants: ClassVar[tuple[dict[str, Any], ...]] = ()

    @classmethod
    def type_name(cls) -> str:
        """The value of this plugin's ``type`` literal."""
        annotation = cls.model_fields["type"].annotation
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is not typing.Literal or len(args) != 1 \
                or not isinstance(args[0], str):
            raise TypeError(f"{cls.__qualname__}.type must be Literal['<name>'], got {annotation!r}")
        return args[0]

    @classmethod
    def describe(cls) -> str:
        """First line of the class docstring: the plugin's one-line help."""
        return (cls.__doc__ or cls.type_name()).strip().splitlines()[0]

    def label(self) -> str:
        """'linear' or "linear 'fc'" for messages and tables."""
        return f"{self.type} '{self.name}'" if self.name else self.type

    def output_shape(self, x: Shape) -> Shape:
        raise NotImplementedError

    def build(self, x: Shape) -> nn.Module:
        raise NotImplementedError

    def param_count(self, x: Shape) -> int:
        return 0

    def macs(self, x: Shape, y: Shape) -> int:
        return 0


class Elementwise(Layer):
    """Base for layers whose output has the input's shape and no parameters."""

    def output_shape(self, x: Shape) -> Shape:
        return x
