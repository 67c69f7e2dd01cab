"""A pytest plugin (entry point ``pytest11``): the fixture ``jacobian_check``.

Installed with symjac, so any test can ask for it::

    def test_my_model(jacobian_check):
        jacobian_check(MyModel(), [0.5, -1.0], dtypes=["float64"])

``jacobian_check(target, x, ...)`` is :func:`symjac.testing.assert_jacobian_agrees`
(same arguments, ``order=2`` for Hessians too; raises ``AssertionError`` with the worst
entries); the fixture
also keeps every :class:`~symjac.Report` it made in ``jacobian_check.reports``.
This module imports nothing heavy, so loading the plugin costs nothing.

>>> check = JacobianCheck()
>>> check.reports
[]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

__all__ = ["JacobianCheck", "jacobian_check"]


class JacobianCheck:
    """The callable behind the ``jacobian_check`` fixture.

    >>> import symjac
    >>> check = JacobianCheck()
    >>> check(symjac.examples.planar(), [1.0, 2.0], dtypes="float64").ok, len(check.reports)
    (True, 1)
    """

    def __init__(self) -> None:
        self.reports: list[Any] = []

    def __call__(
        self,
        target: Any,
        x: Any,
        dtypes: Any = ("float32", "float64"),
        rtol: float | None = None,
        ulps: float | None = None,
        *,
        methods: Sequence[str] | None = None,
        err_msg: str = "",
        allow_skipped: bool = False,
        order: int = 1,
    ) -> Any:
        from symjac.testing import assert_jacobian_agrees

        report = assert_jacobian_agrees(
            target,
            x,
            dtypes,
            rtol,
            ulps,
            methods=methods,
            err_msg=err_msg,
            allow_skipped=allow_skipped,
            order=order,
        )
        self.reports.append(report)
        return report


@pytest.fixture
def jacobian_check() -> JacobianCheck:
    """Assert that every torch Jacobian of a target agrees with the exact one.

    See :class:`JacobianCheck`.
    """
    return JacobianCheck()
