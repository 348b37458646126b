"""Swin Transformer's layers on an HxWxC (channels-last) map: shifted_window_attention and patch_merging.

Both build torchvision's own modules (torchvision.models.swin_transformer:
ShiftedWindowAttention / ShiftedWindowAttentionV2, PatchMerging /
PatchMergingV2), so a spec of torchvision's swin_t ... swin_v2_b is exact by
construction; the exported Python source imports them from torchvision.

Windowed attention pads H and W up to multiples of the window (zeros on the
bottom and right), cuts the map into windows of N = wh*ww pixels and runs
multi-head self-attention inside each, with a learned relative position bias;
``shift_size`` rolls the map first (the shifted windows of every second block,
with a mask so that pixels brought together by the roll do not attend to each
other). torchvision drops the shift along an axis whose window covers the
whole (padded) map. Version 2 is Swin V2's cosine attention: a learned
``logit_scale`` per head, the bias made by a small MLP (``cpb_mlp``, 2 -> 512 ->
heads) from log-spaced relative coordinates.

MACs are the matrix products FlopCounterMode counts, per sample, on the padded
map of T = ceil(H/wh)*wh * ceil(W/ww)*ww pixels: the qkv and proj linears
(3TC² + TC²), q·kᵀ and attn·v in every window (2·T·N·C); V2's cpb_mlp on its
(2wh-1)(2ww-1) table (512·(2 + heads) each), which runs once per forward
whatever the batch: counted once, as at batch 1 (torchvision's GFLOPS).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from playground.layers.attention import check_heads
from playground.layers.base import Layer, ShapeError, call_source
from playground.layers.shapes import Shape, pair
from playground.layers.types import Channels, Kernel, Padding

CPB_HIDDEN = 512   # torchvision's cpb_mlp: Linear(2, 512), ReLU, Linear(512, heads, bias=False)


def _padded(size: int, window: int) -> int:
    return -(-size // window) * window


class ShiftedWindowAttention(Layer):
    """Swin's (shifted) window multi-head self-attention over an HxWxC map, with a relative position bias
    (torchvision's ShiftedWindowAttention; version 2: ShiftedWindowAttentionV2's cosine attention)."""

    type: Literal["shifted_window_attention"] = "shifted_window_attention"
    window_size: Kernel = Field(..., description="Window side in pixels, or [height, width] (Swin: 7; V2: 8).")
    shift_size: Padding = Field(0, description="Cyclic shift before windowing, or [height, width]; less than the "
                                               "window (Swin: 0 on even blocks, window_size // 2 on odd ones).")
    num_heads: Channels = Field(..., description="Attention heads; must divide the map's C channels.")
    qkv_bias: bool = Field(True, description="Learn a bias in the qkv projection (V2 keeps its key part at 0).")
    proj_bias: bool = Field(True, description="Learn a bias in the output projection.")
    attention_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the attention weights while "
                                                                       "training.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the output while training.")
    version: Literal[1, 2] = Field(1, description="1: Swin's scaled dot-product attention and a learned bias "
                                                  "table; 2: Swin V2's cosine attention with logit_scale and cpb_mlp.")
    input_ranks = (3,)
    map_layout = "last"
    example = {"type": "shifted_window_attention", "window_size": [4, 4], "shift_size": [0, 0], "num_heads": 2}
    variants = (
        {"type": "shifted_window_attention", "window_size": [4, 4], "shift_size": [2, 2], "num_heads": 3},
        {"type": "shifted_window_attention", "window_size": [3, 5], "shift_size": [1, 2], "num_heads": 1,
         "qkv_bias": False, "proj_bias": False},
        {"type": "shifted_window_attention", "window_size": [4, 4], "shift_size": [2, 2], "num_heads": 2,
         "version": 2},
        {"type": "shifted_window_attention", "window_size": [3, 3], "shift_size": [0, 0], "num_heads": 6, "version": 2,
         "qkv_bias": False, "attention_dropout": 0.1, "dropout": 0.2},
        {"type": "shifted_window_attention", "window_size": [16, 16], "shift_size": [8, 8], "num_heads": 1},
    )

    def _windows(self) -> tuple[list[int], list[int]]:
        return list(pair(self.window_size)), list(pair(self.shift_size))

    def output_shape(self, x: Shape) -> Shape:
        window, shift = pair(self.window_size), pair(self.shift_size)
        if any(s >= w for s, w in zip(shift, window, strict=True)):
            raise ShapeError(f"shift_size={list(shift)} is not less than window_size={list(window)} on each axis.",
                             fix=f"Shift by half the window, as Swin does: shift_size: {window[0] // 2} "
                                 "(or 0 for the unshifted blocks).", field="shift_size")
        check_heads(self.num_heads, x[2], x, "channels")
        return x

    def _class(self):
        from torchvision.models import swin_transformer as swin
        return swin.ShiftedWindowAttention if self.version == 1 else swin.ShiftedWindowAttentionV2

    def build(self, x: Shape):
        window, shift = self._windows()
        return self._class()(x[2], window, shift, self.num_heads, qkv_bias=self.qkv_bias,
                             proj_bias=self.proj_bias, attention_dropout=self.attention_dropout,
                             dropout=self.dropout)

    def source(self, x: Shape) -> str:
        window, shift = self._windows()
        name = "ShiftedWindowAttention" if self.version == 1 else "ShiftedWindowAttentionV2"
        return call_source(name, x[2], window, shift, self.num_heads,
                           qkv_bias=None if self.qkv_bias else False, proj_bias=None if self.proj_bias else False,
                           attention_dropout=self.attention_dropout or None, dropout=self.dropout or None)

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        name = "ShiftedWindowAttention" if self.version == 1 else "ShiftedWindowAttentionV2"
        return (f"from torchvision.models.swin_transformer import {name}",)

    def _table(self) -> int:
        wh, ww = pair(self.window_size)
        return (2 * wh - 1) * (2 * ww - 1)

    def param_count(self, x: Shape) -> int:
        c, heads = x[2], self.num_heads
        n = 3 * c * c + (3 * c if self.qkv_bias else 0) + c * c + (c if self.proj_bias else 0)
        if self.version == 1:
            return n + self._table() * heads                             # relative_position_bias_table
        return n + heads + (2 * CPB_HIDDEN + CPB_HIDDEN) + CPB_HIDDEN * heads   # logit_scale, cpb_mlp

    def macs(self, x: Shape, y: Shape) -> int:
        h, w, c = x
        wh, ww = pair(self.window_size)
        tokens = _padded(h, wh) * _padded(w, ww)
        n = wh * ww
        macs = 4 * tokens * c * c + 2 * tokens * n * c                   # qkv, proj; q·kᵀ and attn·v
        return macs + self.macs_once(x, y)

    def macs_once(self, x: Shape, y: Shape) -> int:
        if self.version == 1:
            return 0
        return self._table() * CPB_HIDDEN * (2 + self.num_heads)         # cpb_mlp, once per forward


class PatchMerging(Layer):
    """Swin's patch merging: each 2x2 block of an HxWxC map's pixels concatenated (4C), normalized and reduced
    to 2C by a linear without bias, giving ceil(H/2) x ceil(W/2) x 2C (torchvision's PatchMerging; version 2:
    PatchMergingV2, which reduces first and normalizes the 2C)."""

    type: Literal["patch_merging"] = "patch_merging"
    version: Literal[1, 2] = Field(1, description="1: norm(4C) then reduction (Swin); 2: reduction then "
                                                  "norm(2C) (Swin V2). LayerNorm with eps 1e-5 either way.")
    input_ranks = (3,)
    map_layout = "last"
    example = {"type": "patch_merging"}
    variants = ({"type": "patch_merging", "version": 2},)

    def output_shape(self, x: Shape) -> Shape:
        h, w, c = x
        return Shape((-(-h // 2), -(-w // 2), 2 * c), channels_last=True)

    def build(self, x: Shape):
        from torch import nn
        from torchvision.models import swin_transformer as swin

        cls = swin.PatchMerging if self.version == 1 else swin.PatchMergingV2
        module = cls(x[2], nn.LayerNorm)
        module.version = self.version   # which class, for readers (torchvision's modules carry no version)
        return module

    def _name(self) -> str:
        return "PatchMerging" if self.version == 1 else "PatchMergingV2"

    def source(self, x: Shape) -> str:
        return call_source(self._name(), x[2])

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        return (f"from torchvision.models.swin_transformer import {self._name()}",)

    def param_count(self, x: Shape) -> int:
        c = x[2]
        return 8 * c * c + 2 * (4 * c if self.version == 1 else 2 * c)   # reduction, then norm's weight and bias

    def macs(self, x: Shape, y: Shape) -> int:
        c = x[2]
        return y[0] * y[1] * 4 * c * 2 * c   # the reduction, 4C -> 2C, at each output pixel


SWIN_LAYERS = (ShiftedWindowAttention, PatchMerging)
