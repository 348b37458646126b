"""The torch modules playground builds that torch.nn lacks: the containers'
(residual sums, channel concatenation, gates) and three layers' from
torchvision (LayerNorm2d, StochasticDepth, channel shuffle), with the same
computation and state-dict keys as torchvision's. No Python control flow on
tensor values, so torch.jit.script and torch.export work on every built
model; each class needs only torch, so the readable-source export copies it
as it is."""

from __future__ import annotations

import torch
from torch import nn


def identity() -> nn.Module:
    return nn.Identity()


class Residual(nn.Module):
    """after(body(x) + shortcut(x))."""

    def __init__(self, body: nn.Module, shortcut: nn.Module, after: nn.Module):
        super().__init__()
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
