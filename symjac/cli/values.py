"""Option values of the ``symjac`` commands, read into numbers and names or refused.

Each reader raises :class:`~symjac.cli.errors.CliError` (exit 2) with a message
that names the option and shows a value it takes; none of them imports torch
(NOTE: cli-torch-free in :mod:`symjac.cli`).

>>> parse_sizes("1,2,2,1"), check_activation("Linear")
([1, 2, 2, 1], 'identity')
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from typing import Any

from symjac import limits
from symjac.cli.errors import EXIT_USAGE, CliError

#: the seeds torch.manual_seed takes
SEED_RANGE = (0, 2**64 - 1)


def split_names(values: Sequence[str]) -> list[str]:
    """Names given apart or together (``--wrt``, ``--params``), split at commas and spaces.

    >>> split_names(["x1", "x2,x3 x4"])
    ['x1', 'x2', 'x3', 'x4']
    """
    names: list[str] = []
    for value in values:
        names.extend(part for part in re.split(r"[\s,]+", value) if part)
    return names


def parse_point(items: Sequence[str], variables: Sequence[str]) -> dict[str, Any]:
    """``--at``: ``["x1=1", "x2=1/2"]`` -> exact values by name (all variables required).

    >>> parse_point(["x1=1", "x2=1/2"], ["x1", "x2"])
    {'x1': 1, 'x2': 1/2}
    """
    from symjac.parsing import parse_number

    values: dict[str, Any] = {}
    for item in items:
        for piece in (p for p in re.split(r"[\s,]+(?=[A-Za-z_]\w*\s*=)", item) if p):
            name, sep, text = piece.partition("=")
            name = name.strip()
            if not sep or not name or not text.strip():
                raise CliError(
                    f"--at takes VAR=VALUE pairs such as x1=1 x2=0.5, got {piece!r}", EXIT_USAGE
                )
            if name not in variables:
                raise CliError(
                    f"--at gives a value for {name!r}, which is not a variable; "
                    f"the variables (--wrt) are {', '.join(variables)}",
                    EXIT_USAGE,
                )
            if name in values:
                raise CliError(f"--at gives {name!r} twice; give each variable once", EXIT_USAGE)
            try:
                values[name] = parse_number(text.strip())
            except ValueError as err:
                raise CliError(f"--at {name}: {err}", EXIT_USAGE) from None
    missing = [v for v in variables if v not in values]
    if missing:
        raise CliError(
            f"--at gives no value for {', '.join(missing)}; give every variable, "
            f"e.g. --at {' '.join(f'{v}=1' for v in variables)}",
            EXIT_USAGE,
        )
    return {v: values[v] for v in variables}


def parse_sizes(text: str) -> list[int]:
    """``--sizes``: layer widths, input first, checked against :mod:`symjac.limits` before
    any layer exists.

    >>> parse_sizes("[1, 2, 1]")
    [1, 2, 1]
    """
    try:
        sizes = [int(s) for s in re.split(r"[\s,]+", text.strip().strip("[]")) if s]
    except ValueError:
        raise CliError(
            f"--sizes must be comma-separated layer widths such as 1,2,2,1, got {text!r}",
            EXIT_USAGE,
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise CliError(
            f"--sizes needs at least two positive widths (input and output), such as 1,2,2,1, got {text!r}",
            EXIT_USAGE,
        )
    # before any layer exists: --sizes 1,100000,100000,1 would build a 40 GB nn.Linear
    pairs = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    limits.check_weights(pairs, f"--sizes {limits.sizes_text(sizes)}")
    return sizes


def parse_seed(text: str) -> int:
    """``--seed``: an integer in torch.manual_seed's range, or argparse's one-line error.

    >>> parse_seed("7")
    7
    """
    low, high = SEED_RANGE
    try:
        seed = int(text)
    except ValueError:
        seed = None
    if seed is None or not low <= seed <= high:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from {low} to 2**64 - 1 (torch.manual_seed's range), "
            f"got {text[:40]!r}"
        )
    return seed


def check_seed(seed: int) -> None:
    """Refuse a seed outside torch.manual_seed's range with ``ValueError`` (the Python helpers).

    >>> check_seed(-1)
    Traceback (most recent call last):
    ValueError: seed must be from 0 to 2**64 - 1 (torch.manual_seed's range), got -1
    """
    if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        shown = seed if abs(seed) < 10**30 else f"a number of {seed.bit_length()} bits"
        raise ValueError(
            f"seed must be from 0 to 2**64 - 1 (torch.manual_seed's range), got {shown}"
        )


def check_activation(name: str) -> str:
    """``--activation``: the name symjac knows it by (``linear`` and ``none`` mean identity).

    >>> check_activation("Tanh")
    'tanh'
    """
    from symjac.activations import ACTIVATIONS

    key = name.lower()
    if key in ("linear", "none"):
        key = "identity"
    if key not in ACTIVATIONS:
        raise CliError(
            f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}",
            EXIT_USAGE,
        )
    return key


def x_value(text: str, n_in: int) -> list[float]:
    """``--at`` of ``mlp`` and ``--input`` of ``check``: ``n_in`` finite numbers.

    >>> x_value("0.5, 1", 2)
    [0.5, 1.0]
    """
    try:
        values = [float(v) for v in re.split(r"[\s,]+", text.strip()) if v]
    except ValueError:
        raise CliError(
            f"expected {n_in} comma-separated number(s) such as {','.join(['1.0'] * n_in)}, got {text!r}",
            EXIT_USAGE,
        ) from None
    if len(values) != n_in:
        raise CliError(
            f"the network takes {n_in} input(s) but {len(values)} value(s) were given ({text!r}); "
            f"give {n_in}, e.g. {','.join(['1.0'] * n_in)}",
            EXIT_USAGE,
        )
    if not all(math.isfinite(v) for v in values):
        raise CliError(f"input values must be finite numbers, got {text!r}", EXIT_USAGE)
    return values


def weight_count(sizes: Sequence[int]) -> int:
    """Weights (not biases) of a fully connected network of ``sizes``.

    >>> weight_count([1, 2, 2, 1])
    8
    """
    return sum(a * b for a, b in zip(sizes, sizes[1:]))
