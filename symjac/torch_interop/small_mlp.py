"""The seed document's network, as it wrote it (kept apart so torch loads only when needed)."""

from __future__ import annotations

import torch
from torch import nn


class SmallMLP(nn.Module):
    """``[1, 2, 2, 1]`` fully connected network with tanh after the first two layers."""

    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Linear(1, 2)
        self.l2 = nn.Linear(2, 2)
        self.l3 = nn.Linear(2, 1)
        self.act = torch.tanh

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act(self.l1(x))
        b = self.act(self.l2(a))
        p = self.l3(b)
        return p
