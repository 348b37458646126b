"""The torch.nn modules the containers build: residual sums, channel concatenation,
gates. No Python control flow on tensor values, so torch.jit.script and
torch.export work on every built model."""

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
