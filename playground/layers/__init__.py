"""Layers: the plugin contract, shape arithmetic, the registry and the built-in layers.

- ``base``: ``Layer``, ``Elementwise``, ``Container`` and ``ShapeError``: what a plugin subclasses
- ``source``: how a layer is written as Python source (``Layer.source``), ``Unsupported``
- ``shapes``: pure shape arithmetic (``Shape``, ``conv_out``, ``pool_out``, ...)
- ``types``: the bounded field types layers share (channels, kernels, padding)
- ``registry``: type name -> plugin class, filled from the ``playground.layers`` entry points
- ``modules``: the torch modules torch.nn lacks (residual sum, concat, split, gate, a reordered
  sequence; LayerNorm2d, StochasticDepth, ChannelShuffle, Permute, the token layers, SelfAttention)
- the built-in layers, one file per family: ``activation``, ``conv``, ``dense``, ``norm``, ``pool``,
  ``resample``, ``shuffle``, ``tokens`` (permute, class token, position embedding, token pooling,
  layer scale), ``attention``, ``swin`` (Swin's shifted window attention and patch merging, torchvision's
  own modules), ``maxvit`` (MaxViT's window and grid partition_attention, torchvision's module);
  ``blocks``: the containers (sequential, residual, concat, split, gate)

The built-in layers (``BUILTINS``) load through the ``playground.layers``
entry point group, exactly like third-party plugins (see pyproject.toml).
Imports only ``playground.core``: the format and everything above build on it.
"""

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
from playground.layers.attention import SelfAttention
from playground.layers.base import Container, Elementwise, Layer, ShapeError
from playground.layers.blocks import Concat, Gate, Residual, Sequential, Split
from playground.layers.conv import Conv2d, ConvTranspose2d
from playground.layers.dense import Flatten, Linear
from playground.layers.maxvit import PartitionAttention
from playground.layers.norm import (
    BatchNorm1d,
    BatchNorm2d,
    Dropout,
    Dropout2d,
    LayerNorm,
    LayerNorm2d,
    StochasticDepth,
)
from playground.layers.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from playground.layers.resample import Upsample
from playground.layers.shapes import Shape
from playground.layers.shuffle import ChannelShuffle
from playground.layers.source import Unsupported
from playground.layers.swin import PatchMerging, ShiftedWindowAttention
from playground.layers.tokens import ClassToken, LayerScale, MeanTokens, Permute, PosEmbedding, TakeToken

BUILTINS = (
    Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d,
    ReLU, LeakyReLU, GELU, Tanh, Sigmoid,
    Flatten, Linear, Dropout, BatchNorm2d, BatchNorm1d,
    ReLU6, SiLU, Hardswish, Hardsigmoid, Identity, Dropout2d, ConvTranspose2d, Upsample,
    LayerNorm2d, LayerNorm, StochasticDepth, ChannelShuffle,
    Permute, ClassToken, PosEmbedding, TakeToken, MeanTokens, LayerScale, SelfAttention,
    PartitionAttention,
    ShiftedWindowAttention, PatchMerging,
    Sequential, Residual, Concat, Split, Gate,
)

__all__ = ["BUILTINS", "Container", "Elementwise", "Layer", "Shape", "ShapeError", "Unsupported",
           *(cls.__name__ for cls in BUILTINS)]
