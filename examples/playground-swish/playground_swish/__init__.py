"""An example third-party layer plugin: swish, x * sigmoid(beta * x).

Installed, it adds ``{type: swish}`` to every spec, the JSON schema, the
check CLI and the app, with no change to playground itself.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from playground.layers import Elementwise
from playground.shapes import Shape


class SwishModule(nn.Module):
    def __init__(self, beta: float, trainable: bool):
        super().__init__()
        beta_t = torch.tensor(float(beta))
        if trainable:
            self.beta = nn.Parameter(beta_t)
        else:
            self.register_buffer("beta", beta_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.beta * x)


class Swish(Elementwise):
    """Swish activation, x * sigmoid(beta * x) (SiLU when beta is 1)."""

    type: Literal["swish"] = "swish"
    beta: float = Field(1.0, gt=0.0, le=100.0, description="Sharpness; 1 gives SiLU.")
    trainable: bool = Field(False, description="Learn beta as a parameter.")

    example = {"type": "swish", "beta": 1.0}

    def build(self, x: Shape) -> nn.Module:
        return SwishModule(self.beta, self.trainable)

    # For `python -m playground.export --format python`: how to construct the
    # module, and the class that expression needs, copied into the file.
    def source(self, x: Shape) -> str:
        return f"SwishModule({self.beta!r}, {self.trainable!r})"

    def source_definitions(self, x: Shape) -> tuple[str, ...]:
        import inspect

        return (inspect.getsource(SwishModule),)

    def param_count(self, x: Shape) -> int:
        return 1 if self.trainable else 0
