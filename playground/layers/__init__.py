"""The built-in layer plugins. They load through the ``playground.layers``
entry point group, exactly like third-party plugins (see pyproject.toml)."""

from playground.layers.activation import (
    GELU,
    Hardsigmoid,
    Hardswish,
    Identity,
    LeakyReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Tanh,
)
from playground.layers.base import Container, Elementwise, Layer, ShapeError
from playground.layers.blocks import Concat, Gate, Residual, Sequential
from playground.layers.conv import Conv2d, ConvTranspose2d
from playground.layers.dense import Flatten, Linear
from playground.layers.norm import BatchNorm1d, BatchNorm2d, Dropout, Dropout2d
from playground.layers.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from playground.layers.resample import Upsample

BUILTINS = (
    Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d,
    ReLU, LeakyReLU, GELU, Tanh, Sigmoid,
    Flatten, Linear, Dropout, BatchNorm2d, BatchNorm1d,
    ReLU6, SiLU, Hardswish, Hardsigmoid, Identity, Dropout2d, ConvTranspose2d, Upsample,
    Sequential, Residual, Concat, Gate,
)

__all__ = ["BUILTINS", "Container", "Elementwise", "Layer", "ShapeError", *(cls.__name__ for cls in BUILTINS)]
