"""A model with a custom autograd.Function whose backward forgot a factor (docs example)."""

import torch
from torch import nn


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return x * x * grad  # wrong: the derivative of x**3 is 3 x**2


class RightCube(Cube):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x * x * grad


class Net(nn.Module):
    def __init__(self, fn=Cube):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(1, 2)
        self.out = nn.Linear(2, 1)
        self.fn = fn

    def forward(self, x):
        return self.out(self.fn.apply(self.lin(x)))


def build():
    return Net(Cube)


def build_right():
    return Net(RightCube)
