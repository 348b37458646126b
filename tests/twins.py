"""Two models said to be one: PyTorch's (the oracle) and ours. Their tensors
are copied by position, so the state dicts must agree in shapes and order, and
outputs are compared from the same seed, so that dropout and stochastic depth
draw alike in train mode."""

from __future__ import annotations

import torch
from torch import nn


def copy_by_position(ours: nn.Module, theirs: nn.Module) -> None:
    """Load ``theirs``'s tensors into ``ours``, the n-th into the n-th."""
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert [tuple(v.shape) for v in mine.values()] == [tuple(v.shape) for v in reference.values()], \
        "state-dict shapes differ in order"
    ours.load_state_dict(dict(zip(mine, reference.values(), strict=True)))


def seeded(model: nn.Module, x: torch.Tensor, seed: int) -> torch.Tensor:
    """``model(x)`` with the random state set to ``seed`` first, without gradients."""
    torch.manual_seed(seed)
    with torch.no_grad():
        return model(x)
