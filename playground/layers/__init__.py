"""The built-in layer plugins. They load through the ``playground.layers``
entry point group, exactly like third-party plugins (see pyproject.toml)."""

from playground.layers.activation import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from playground.layers.base import Elementwise, Layer, ShapeError
from playground.layers.conv import Conv2d
from playground.layers.dense import Flatten, Linear
from playground.layers.norm import BatchNorm1d, BatchNorm2d, Dropout
from playground.layers.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

BUILTINS = (
    Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d,
    ReLU, LeakyReLU, GELU, Tanh, Sigmoid,
    Flatten, Linear, Dropout, BatchNorm2d, BatchNorm1d,
)

__all__ = ["BUILTINS", "Elementwise", "Layer", "ShapeError", *(cls.__name__ for cls in BUILTINS)]
