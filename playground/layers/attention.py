"""Attention over token sequences: self_attention (multi-head, torch.nn.MultiheadAttention).

MACs count the four projections (4·L·D²) and attention's two matrix products
(QKᵀ and the weighted sum of V: 2·L²·D), as FlopCounterMode does on the math
kernel and torchvision's documented GFLOPS do; softmax counts nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from playground.layers.base import Layer, ShapeError, call_source, unless
from playground.layers.shapes import Shape, label, nearest_divisor
from playground.layers.types import Channels


def check_heads(num_heads: int, n: int, x: Shape, what: str) -> None:
    """ShapeError at num_heads unless it divides the ``n`` features (or channels) of ``x``."""
    if n % num_heads:
        raise ShapeError(f"num_heads={num_heads} does not divide its input's {n} {what} ({label(x)}): each head "
                         "takes an equal share.",
                         fix=f"Use num_heads: {nearest_divisor(n, num_heads)} (it divides {n}), or change the "
                             f"{what} before it.", field="num_heads")


class SelfAttention(Layer):
    """Multi-head self-attention over an LxD token sequence: each token attends to all (torch.nn.MultiheadAttention
    with batch_first and query = key = value, its in_proj_weight / in_proj_bias / out_proj as ViT's; on
    scaled_dot_product_attention's fused kernels)."""

    type: Literal["self_attention"] = "self_attention"
    num_heads: Channels = Field(..., description="Attention heads; must divide the tokens' D features (ViT-B: 12).")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the attention weights while training.")
    bias: bool = Field(True, description="Learn biases in the input and output projections.")
    input_ranks = (2,)
    example = {"type": "self_attention", "num_heads": 2}
    variants = ({"type": "self_attention", "num_heads": 1, "bias": False},
                {"type": "self_attention", "num_heads": 4, "dropout": 0.1})

    def output_shape(self, x: Shape) -> Shape:
        check_heads(self.num_heads, x[1], x, "features")
        return x

    def build(self, x: Shape):
        from playground.layers import modules
        return modules.SelfAttention(x[1], self.num_heads, dropout=self.dropout, bias=self.bias)

    def source(self, x: Shape) -> str:
        return call_source("SelfAttention", x[1], self.num_heads, dropout=unless(self.dropout, 0.0),
                           bias=unless(self.bias, True))

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        import inspect

        from playground.layers import modules

        return (inspect.getsource(modules.SelfAttention),)

    def param_count(self, x: Shape) -> int:
        d = x[1]
        return 4 * d * d + (4 * d if self.bias else 0)

    def macs(self, x: Shape, y: Shape) -> int:
        n, d = x
        return 4 * n * d * d + 2 * n * n * d


ATTENTION_LAYERS = (SelfAttention,)
