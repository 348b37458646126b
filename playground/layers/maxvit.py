"""MaxViT's attention: partition_attention (torchvision.models.maxvit.PartitionAttentionLayer).

MaxViT (Tu et al. 2022) alternates, after each MBConv, two transformer layers
on a CxHxW map: *window* attention (the paper's block attention: each token
attends within its non-overlapping P x P window) and *grid* attention (each
token attends to the tokens a stride of H / P apart, a sparse P x P grid over
the whole map). Each is pre-norm attention with a relative position bias, then
a pre-norm MLP, both added to their input after stochastic depth. The module
is torchvision's own, so it is exact by construction; the MBConv between them
is written with existing layers (specs/zoo/maxvit_t.yaml).

MACs count what FlopCounterMode counts on the module: the qkv and merge
linears (4·HW·C²), attention's two products per window (q·kᵀ and the weighted
sum of v: 2·HW·P²·C; with P = 1 the second is an elementwise product, not
counted) and the MLP's two linears (2·r·HW·C²); layer norm, softmax, the
bias lookup and the scaling count nothing.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from playground.layers.base import Layer, ShapeError
from playground.layers.shapes import Shape, divisors, fmt, nearest_divisor
from playground.layers.types import Channels

IMPORT = "from torchvision.models.maxvit import PartitionAttentionLayer"


class PartitionAttention(Layer):
    """MaxViT's window or grid attention on a CxHxW map: relative-position multi-head attention within
    partition_size x partition_size windows (window) or over a sparse grid of that size (grid), then an MLP,
    each pre-norm and residual with stochastic depth (torchvision.models.maxvit.PartitionAttentionLayer)."""

    type: Literal["partition_attention"] = "partition_attention"
    partition_type: Literal["window", "grid"] = Field(
        ..., description="window: attention within each partition_size x partition_size window (the paper's "
                         "block attention); grid: over a partition_size x partition_size grid spread over the "
                         "whole map. torchvision's names.")
    partition_size: Channels = Field(..., description="The window's or grid's side P (MaxViT-T: 7); must divide "
                                                      "the map's height and width.")
    head_dim: Channels = Field(..., description="Features per attention head; must divide the channels "
                                                "(MaxViT-T: 32).")
    mlp_ratio: Channels = Field(4, description="The MLP's hidden width as a multiple of the channels.")
    attention_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout after the attention's merge "
                                                                      "projection while training.")
    mlp_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout after the MLP while training.")
    stochastic_depth: float = Field(0.0, ge=0.0, le=1.0, description="Stochastic-depth rate of both residual "
                                    "branches (mode row; torchvision's p_stochastic_dropout), rising over the "
                                    "network in MaxViT.")
    input_ranks = (3,)
    example = {"type": "partition_attention", "partition_type": "window", "partition_size": 1, "head_dim": 3}
    variants = (
        {"type": "partition_attention", "partition_type": "window", "partition_size": 1, "head_dim": 2,
         "mlp_ratio": 2, "attention_dropout": 0.1, "mlp_dropout": 0.2, "stochastic_depth": 0.3},
        {"type": "partition_attention", "partition_type": "window", "partition_size": 1, "head_dim": 6,
         "mlp_ratio": 1},
        {"type": "partition_attention", "partition_type": "window", "partition_size": 4, "head_dim": 3},
        {"type": "partition_attention", "partition_type": "grid", "partition_size": 4, "head_dim": 2},
        {"type": "partition_attention", "partition_type": "grid", "partition_size": 2, "head_dim": 6,
         "mlp_ratio": 2, "stochastic_depth": 0.2},
    )
    # Windows and grids need a square map they divide: the harness's own samples (6x13x11) take only P = 1.
    sample_inputs = ((6, 8, 8),)

    def output_shape(self, x: Shape) -> Shape:
        c, h, w = x
        if c % self.head_dim:
            near = nearest_divisor(c, self.head_dim)
            raise ShapeError(f"head_dim={self.head_dim} does not divide its input's {c} channels ({fmt(x)}): "
                             "each head takes head_dim of them.",
                             fix=f"Use head_dim: {near} (it divides {c}), or change the channels before it.",
                             field="head_dim")
        p = self.partition_size
        if h % p or w % p:
            common = divisors(math.gcd(h, w))
            near = min(common, key=lambda d: (abs(d - p), -d))
            raise ShapeError(f"partition_size={p} does not divide its input's height and width ({fmt(x)}): "
                             f"the map is cut into {p}x{p} partitions.",
                             fix=f"Use partition_size: {near} (it divides {h} and {w}), or change the input "
                                 f"size so that every map this layer sees is a multiple of {p}.",
                             field="partition_size")
        if self.partition_type == "grid" and h != w:
            raise ShapeError(f"grid attention needs a square map; its input is {fmt(x)}: torchvision's "
                             "PartitionAttentionLayer takes the grid's stride from the height alone "
                             "(H // partition_size), so a wider or taller map gives partitions its relative "
                             "position bias does not fit.",
                             fix="Make the map square (height = width), or use partition_type: window.",
                             field="partition_type")
        return x

    def _arguments(self, x: Shape) -> dict:
        c, h, w = x
        return dict(in_channels=c, head_dim=self.head_dim, partition_size=self.partition_size,
                    partition_type=self.partition_type, grid_size=(h, w), mlp_ratio=self.mlp_ratio,
                    attention_dropout=self.attention_dropout, mlp_dropout=self.mlp_dropout,
                    p_stochastic_dropout=self.stochastic_depth)

    def build(self, x: Shape):
        from torch import nn
        from torchvision.models.maxvit import PartitionAttentionLayer

        return PartitionAttentionLayer(**self._arguments(x), activation_layer=nn.GELU, norm_layer=nn.LayerNorm)

    def source(self, x: Shape) -> str:
        a = {k: repr(v) for k, v in self._arguments(x).items()}
        lines = [("in_channels", "head_dim", "partition_size", "partition_type", "grid_size"),
                 ("mlp_ratio", "activation_layer", "norm_layer"),
                 ("attention_dropout", "mlp_dropout", "p_stochastic_dropout")]
        a.update(activation_layer="nn.GELU", norm_layer="nn.LayerNorm")
        body = "".join("    " + ", ".join(f"{k}={a[k]}" for k in line) + ",\n" for line in lines)
        return f"PartitionAttentionLayer(\n{body})"

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        return (IMPORT,)

    def param_count(self, x: Shape) -> int:
        c = x[0]
        heads, hidden, p = c // self.head_dim, c * self.mlp_ratio, self.partition_size
        attention = 2 * c + (3 * c * c + 3 * c) + (c * c + c) + (2 * p - 1) ** 2 * heads   # norm, qkv, merge, bias
        mlp = 2 * c + (c * hidden + hidden) + (hidden * c + c)                             # norm, two linears
        return attention + mlp

    def macs(self, x: Shape, y: Shape) -> int:
        c, h, w = x
        tokens, window = h * w, self.partition_size ** 2   # grid partitions hold P*P tokens too
        # q·kᵀ, and the weighted sum of v; over windows of one token, torch.einsum sums over a
        # dimension of 1, an elementwise product that FlopCounterMode does not count.
        products = 2 if window > 1 else 1
        return tokens * (4 * c * c + products * window * c + 2 * self.mlp_ratio * c * c)


MAXVIT_LAYERS = (PartitionAttention,)
