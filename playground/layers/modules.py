"""The torch modules playground builds that torch.nn lacks: the containers'
(residual sums, channel concatenation, gates) and three layers' from
torchvision (LayerNorm2d, StochasticDepth, channel shuffle), with the same
computation and state-dict keys as torchvision's. No Python control flow on
tensor values, so torch.jit.script and torch.export work on every built
model; each class needs only torch, so the readable-source export copies it
as it is."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


def identity() -> nn.Module:
    return nn.Identity()


class Residual(nn.Module):
    """after(body(x) + shortcut(x)). ``shortcut_first`` registers the shortcut before the body, so its
    tensors come first in the state dict (torchvision's RegNet: ``proj`` before ``f``)."""

    def __init__(self, body: nn.Module, shortcut: nn.Module, after: nn.Module, shortcut_first: bool = False):
        super().__init__()
        if shortcut_first:
            self.shortcut = shortcut
        self.body = body
        self.shortcut = shortcut
        self.after = after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(self.body(x) + self.shortcut(x))     # NxCxHxW + NxCxHxW


class Concat(nn.Module):
    """Every branch on the same input, concatenated along the channels (dim 1)."""

    def __init__(self, branches: dict[str, nn.Module]):
        super().__init__()
        self.branches = nn.ModuleDict(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        for branch in self.branches.values():
            outs.append(branch(x))                  # N x C_i x H x W
        return torch.cat(outs, dim=1)               # N x sum(C_i) x H x W


class Split(nn.Module):
    """The input's channels cut into as many equal parts as there are branches (torch.chunk); part i
    through branch i; the results concatenated along the channels (ShuffleNetV2's stride-1 unit)."""

    def __init__(self, branches: dict[str, nn.Module]):
        super().__init__()
        self.branches = nn.ModuleDict(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = x.chunk(len(self.branches), dim=1)  # each N x C/k x ...
        outs: list[torch.Tensor] = []
        for i, branch in enumerate(self.branches.values()):
            outs.append(branch(parts[i]))
        return torch.cat(outs, dim=1)


class Reordered(nn.Sequential):
    """An nn.Sequential whose children are registered (and come in the state dict) in one order and
    run in another, ``run_order`` (names). TorchScript gets a plain nn.Sequential in run order."""

    def __init__(self, modules: dict[str, nn.Module], run_order: list[str]):
        super().__init__(modules)
        self.run_order = list(run_order)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.run_order:
            x = self._modules[name](x)
        return x

    def __prepare_scriptable__(self) -> nn.Module:
        return nn.Sequential(OrderedDict((name, self._modules[name]) for name in self.run_order))


class Gate(nn.Module):
    """x * body(x), broadcast (a Nx C x1x1 gate over NxCxHxW)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.body(x)


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of N x C x H x W, as torchvision.models.convnext.LayerNorm2d:
    channels-last, layer_norm over C, back. Parameters ``weight`` and ``bias``, C each."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)                   # N x H x W x C
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)                # N x C x H x W


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: while training, zero the whole input ('batch') or each
    sample ('row') with probability p and scale what survives by 1 / (1 - p); identity in eval."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival_rate = 1.0 - self.p
        if self.mode == "row":
            size = [x.shape[0]] + [1] * (x.ndim - 1)
        else:
            size = [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device)
        noise = noise.bernoulli_(survival_rate)
        if survival_rate > 0.0:
            noise.div_(survival_rate)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle of N x C x H x W in ``groups`` groups: channel g * (C / groups) + i
    moves to i * groups + g (torchvision.models.shufflenetv2.channel_shuffle). torch.nn.ChannelShuffle
    computes the same, but aten::channel_shuffle has no ONNX export; this is views and a transpose."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unflatten(1, (self.groups, -1))       # N x groups x C/groups x H x W
        return x.transpose(1, 2).flatten(1, 2)      # N x C x H x W, interleaved

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class Permute(nn.Module):
    """torch.permute with the batch first (torchvision.ops.Permute): [0, 2, 3, 1] takes N x C x H x W
    to channels-last N x H x W x C."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = list(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class ClassToken(nn.Module):
    """A learned token put in front of N x L x D tokens (ViT's class_token, zeros at first): N x (L+1) x D."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)   # N x (L+1) x D


class PosEmbedding(nn.Module):
    """A learned position embedding added to N x L x D tokens (ViT's pos_embedding, normal std 0.02)."""

    def __init__(self, length: int, dim: int, std: float = 0.02) -> None:
        super().__init__()
        self.std = std
        self.embedding = nn.Parameter(torch.empty(1, length, dim).normal_(std=std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.embedding                   # N x L x D


class TakeToken(nn.Module):
    """One token of N x L x D: N x D (ViT's class token, index 0)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.index]

    def extra_repr(self) -> str:
        return f"index={self.index}"


class MeanTokens(nn.Module):
    """The mean over the tokens of N x L x D: N x D."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


class LayerScale(nn.Module):
    """A learned per-channel scale (ConvNeXt's layer_scale: C x 1 x 1 on a map; D over the last axis)."""

    def __init__(self, shape: list[int], init: float) -> None:
        super().__init__()
        self.init = init
        self.scale = nn.Parameter(torch.ones(shape) * init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x


class SelfAttention(nn.Module):
    """Multi-head self-attention over N x L x D tokens: torch.nn.MultiheadAttention (batch first;
    in_proj_weight, in_proj_bias, out_proj) on query = key = value = x, without the attention weights,
    so it runs on scaled_dot_product_attention's fused kernels (and the fast path in inference)."""

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.attention = nn.MultiheadAttention(dim, num_heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.attention(x, x, x, need_weights=False)
        return out                                  # N x L x D
