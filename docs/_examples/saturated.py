"""A model whose float32 autograd Jacobian is wrong: tanh saturates at z = 10 x.

Used by the docs page "Command line" (``symjac check saturated:build``).
"""

from __future__ import annotations

import torch


def build() -> torch.nn.Module:
    """``tanh(10 x)``: at x = 1 its derivative is 10 sech^2(10), but float32 autograd gives 0."""
    model = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Tanh())
    with torch.no_grad():
        model[0].weight.fill_(10.0)
        model[0].bias.zero_()
    return model
