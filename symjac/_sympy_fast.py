"""SymPy's canonical trees built from their parts: every use of private SymPy API in symjac.

NOTE: sympy-fallback
    The fast layer builder (NOTE: fast-layer in symjac.chain) assembles the trees SymPy's
    evaluation would produce directly from their canonical parts, and that needs SymPy's
    internals (``Add._from_args``, ``_addsort``, ``_assumptions``, ``DomainMatrix.from_rep``,
    a matrix's ``_rep``...). They live here and nowhere else. Each primitive has two
    implementations behind one interface, :class:`Construction`: :data:`FAST` (the
    internals) and :data:`PUBLIC` (the public constructors, which evaluate, so they are
    slower but build the same trees, ``==`` and ``srepr``; tests/test_sympy_fast.py checks
    it on whole networks). :func:`construction` picks one:

    * :data:`PUBLIC` when ``SYMJAC_SYMPY_FALLBACK=1`` was set at import, or inside
      ``with forced_fallback():`` (for tests; CI runs the chain's tests both ways);
    * :data:`PUBLIC` when SymPy's version is not one the fast path was tested with
      (:data:`TESTED_SYMPY`; pyproject.toml pins SymPy below the next, untested, minor
      version, so this guards installs that ignore the pin), or when a self-check
      (each fast primitive against its public twin, run once on first use) fails;
    * :data:`PUBLIC` for the rest of the process once a fast build raises
      (:func:`build` then redoes that build with the public constructors).

>>> import sympy
>>> x = sympy.Symbol("x")
>>> with forced_fallback():
...     slow = construction().mul(sympy.Integer(3), x)
>>> slow == FAST.mul(sympy.Integer(3), x) == 3 * x
True
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import sympy
from sympy.core.add import Add, _addsort
from sympy.core.mul import Mul
from sympy.core.power import Pow
from sympy.polys.domains import EXRAW
from sympy.polys.matrices import DomainMatrix
from sympy.polys.matrices.sdm import SDM

__all__ = [
    "FAST",
    "PUBLIC",
    "TESTED_SYMPY",
    "Construction",
    "build",
    "construction",
    "fallback_reason",
    "forced_fallback",
    "refresh",
    "version_tested",
]

#: the SymPy minor versions the fast path is tested with (pyproject.toml: >=1.12,<1.15)
TESTED_SYMPY = ((1, 12), (1, 13), (1, 14))
#: set to anything but "" or "0" to build every tree with SymPy's public constructors
ENV_VAR = "SYMJAC_SYMPY_FALLBACK"
_FORCED_BY_ENV = os.environ.get(ENV_VAR, "") not in ("", "0")

T = TypeVar("T")

_ONE, _MINUS_ONE, _TWO = sympy.S.One, sympy.S.NegativeOne, sympy.Integer(2)
_object_new = object.__new__
_sort_key = functools.cmp_to_key(sympy.Basic.compare)


def version_tested(version: str) -> bool:
    """Whether SymPy ``version`` (``"1.14.0"``, ``"1.15.dev0"``...) is one the fast path was
    tested with (NOTE: sympy-fallback).

    >>> version_tested("1.14.0"), version_tested("1.15.0"), version_tested("banana")
    (True, False, False)
    """
    match = re.match(r"(\d+)\.(\d+)", version)
    return match is not None and (int(match[1]), int(match[2])) in TESTED_SYMPY


class Construction:
    """The primitives the fast layer builder needs, with SymPy's public constructors.

    Every method builds what SymPy's evaluation builds, from parts already in canonical
    form. This class is :data:`PUBLIC`; :data:`FAST` overrides each method with SymPy's
    internals (NOTE: sympy-fallback). The methods are static, so that a builder's inner
    loop can hold them as plain functions.

    >>> import sympy
    >>> x, y = sympy.symbols("x y")
    >>> PUBLIC.add([sympy.Integer(3), x, PUBLIC.mul(sympy.Integer(-2), y)])
    x - 2*y + 3
    """

    name = "public"

    @staticmethod
    def rational(p: int, q: int) -> Any:
        """``Rational(p, q)`` for coprime ``p`` and ``q > 0``.

        >>> PUBLIC.rational(-3, 4)
        -3/4
        """
        return sympy.Rational(p, q)

    @staticmethod
    def mul(a: Any, b: Any) -> Any:
        """The commutative product ``a*b`` of two factors already in SymPy's order.

        >>> PUBLIC.mul(sympy.S.NegativeOne, sympy.Symbol("x"))
        -x
        """
        return Mul(a, b)

    @staticmethod
    def add2(a: Any, b: Any) -> Any:
        """The commutative sum ``a + b`` of two terms already in SymPy's order.

        >>> PUBLIC.add2(sympy.S.One, sympy.Symbol("x"))
        x + 1
        """
        return Add(a, b)

    @staticmethod
    def add(args: Sequence[Any]) -> Any:
        """The sum of two or more terms already in SymPy's order (the number first).

        >>> PUBLIC.add([sympy.S.One, sympy.Symbol("x"), sympy.Symbol("y")])
        x + y + 1
        """
        return Add(*args)

    @staticmethod
    def tanh(z: Any) -> Any:
        """``tanh(z)``, unevaluated.

        >>> PUBLIC.tanh(-sympy.Symbol("x"))
        tanh(-x)
        """
        return sympy.tanh(z, evaluate=False)

    @staticmethod
    def square(t: Any) -> Any:
        """``t**2`` for a ``tanh`` node (no evaluation applies to it).

        >>> PUBLIC.square(PUBLIC.tanh(sympy.Symbol("x")))
        tanh(x)**2
        """
        return Pow(t, _TWO)

    @staticmethod
    def sort_terms(terms: list[Any]) -> None:
        """Sort ``x`` and ``c*x`` terms (``c`` rational) in place into ``Add``'s order.

        >>> x, y = sympy.symbols("x y")
        >>> terms = [PUBLIC.mul(sympy.Integer(2), x), y]
        >>> PUBLIC.sort_terms(terms)
        >>> terms
        [y, 2*x]
        """
        terms.sort(key=_sort_key)

    @staticmethod
    def assumptions_key(symbol: Any) -> Any:
        """A hashable key, equal for two symbols exactly when their assumptions are.

        >>> key = PUBLIC.assumptions_key
        >>> key(sympy.Symbol("x", real=True)) == key(sympy.Symbol("y", real=True))
        True
        """
        return tuple(sorted(symbol.assumptions0.items()))

    @staticmethod
    def rational_rows(matrix: Any) -> list[list[Any]]:
        """A matrix's entries as a list of rows.

        >>> PUBLIC.rational_rows(sympy.ImmutableMatrix([[1, sympy.Rational(1, 2)]]))
        [[1, 1/2]]
        """
        return matrix.tolist()

    @staticmethod
    def immutable_matrix(
        dod: dict[int, dict[int, Any]], flat: list[Any], rows: int, cols: int
    ) -> Any:
        """The ImmutableMatrix with entries ``flat`` (row-major); ``dod`` holds the same
        nonzero entries as ``{row: {col: entry}}``.

        >>> PUBLIC.immutable_matrix({0: {1: sympy.S.One}}, [sympy.S.Zero, sympy.S.One], 1, 2)
        Matrix([[0, 1]])
        """
        return sympy.ImmutableMatrix(rows, cols, flat)


@functools.cache
def _class_rank(cls: type) -> int | None:
    # the position Basic.compare gives a class (ordering_of_classes), None when unlisted
    from sympy.core.basic import ordering_of_classes

    name = cls.__name__
    return ordering_of_classes.index(name) if name in ordering_of_classes else None


_SYMBOL_RANK = _class_rank(sympy.Symbol)
_MUL_RANK = _class_rank(Mul)
_TANH_NARGS = sympy.tanh(sympy.Symbol("z"), evaluate=False).nargs


def _term_key(term: Any) -> tuple[Any, ...] | None:
    """A sort key equal to Basic.compare's order on ``x`` and ``c*x`` terms (c rational)."""
    if term.is_Symbol:
        return (_SYMBOL_RANK, term.name)
    c, x = term.args
    rank = _class_rank(type(c))
    if rank is None:
        return None
    # Basic.compare: class, then the length of the hashable content, then its items
    return (_MUL_RANK, rank, c.p, c.q, x.name)


def _fast_rational(p: int, q: int) -> Any:
    # Rational(p, q) without re-normalising (the same object kind)
    if q == 1:
        return sympy.Integer(p)
    if p == 1 and q == 2:
        return sympy.S.Half
    obj = sympy.Expr.__new__(sympy.Rational)
    obj.p, obj.q = p, q
    return obj


def _node(cls: type, args: tuple[Any, ...]) -> Any:
    # cls._from_args(args, True) (Basic.__new__, then is_commutative) without its call
    # overhead: a commutative Add or Mul whose arguments are already in SymPy's order
    obj = _object_new(cls)
    obj._assumptions = cls.default_assumptions
    obj._mhash = None
    obj._args = args
    obj.is_commutative = True
    return obj


class _Fast(Construction):
    # each primitive the way SymPy's constructors build the node, minus their overhead
    # (NOTE: fast-layer in symjac.chain)
    name = "fast"
    rational = staticmethod(_fast_rational)

    @staticmethod
    def mul(a: Any, b: Any) -> Any:
        return _node(Mul, (a, b))

    @staticmethod
    def add2(a: Any, b: Any) -> Any:
        return _node(Add, (a, b))

    @staticmethod
    def add(args: Sequence[Any]) -> Any:
        return _node(Add, tuple(args))

    @staticmethod
    def tanh(z: Any) -> Any:
        # what tanh(z, evaluate=False) builds (Application.__new__: the node, then its
        # ``nargs``), without its cache lookup, which hashes the whole sum
        obj = sympy.Basic.__new__(sympy.tanh, z)
        obj.nargs = _TANH_NARGS
        return obj

    @staticmethod
    def square(t: Any) -> Any:
        obj = sympy.Expr.__new__(Pow, t, _TWO)
        obj.is_commutative = True
        return obj

    @staticmethod
    def sort_terms(terms: list[Any]) -> None:
        keys = [_term_key(t) for t in terms]
        if any(k is None for k in keys):
            _addsort(terms)
            return
        order = sorted(range(len(terms)), key=keys.__getitem__)
        terms[:] = [terms[i] for i in order]

    @staticmethod
    def assumptions_key(symbol: Any) -> Any:
        return symbol._assumptions0

    @staticmethod
    def rational_rows(matrix: Any) -> list[list[Any]]:
        # ImmutableMatrix.tolist() builds each Rational through the full constructor; the
        # entries of a QQ/ZZ matrix are already normalised fractions
        rep = getattr(matrix, "_rep", None)
        domain = str(getattr(rep, "domain", ""))
        if domain not in ("QQ", "ZZ"):
            return matrix.tolist()
        rows, cols = matrix.shape
        if domain == "ZZ":
            flat = [sympy.Integer(int(a)) for a in rep.to_list_flat()]
        else:
            flat = [
                _fast_rational(int(a.numerator), int(a.denominator)) for a in rep.to_list_flat()
            ]
        return [flat[i * cols : (i + 1) * cols] for i in range(rows)]

    @staticmethod
    def immutable_matrix(
        dod: dict[int, dict[int, Any]], flat: list[Any], rows: int, cols: int
    ) -> Any:
        # what ImmutableMatrix(rows, cols, flat) builds (a sparse EXRAW representation),
        # without comparing every entry to 0 and without converting the entries to EXRAW
        # twice (ImmutableMatrix._fromrep does rep.to_sympy())
        obj = sympy.Basic.__new__(
            sympy.ImmutableMatrix,
            sympy.Integer(rows),
            sympy.Integer(cols),
            sympy.Tuple(*flat, sympify=False),
        )
        obj._rows, obj._cols = rows, cols
        obj._rep = DomainMatrix.from_rep(SDM(dod, (rows, cols), EXRAW))
        return obj


#: SymPy's public constructors (NOTE: sympy-fallback)
PUBLIC = Construction()
#: SymPy's internals, used only while the version guard and the self-check allow
FAST: Construction = _Fast()

#: None: not checked yet; "": the fast path is fine; else why it is off for the process
_reason: str | None = None
_forced: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "symjac_sympy_fallback", default=None
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if not isinstance(a, sympy.Basic):
        return a == b
    return type(a) is type(b) and a == b and sympy.srepr(a) == sympy.srepr(b)


def _samples(c: Construction) -> list[Any]:
    """Small trees built by each primitive of ``c``, for the self-check."""
    x, y = sympy.symbols("x y", real=True)
    three, half = sympy.Integer(3), sympy.Rational(-1, 2)
    t = c.tanh(c.add2(x, y))
    terms = [y, c.mul(three, x), c.mul(half, sympy.Symbol("w", real=True))]
    c.sort_terms(terms)
    zero = sympy.S.Zero
    return [
        [c.rational(-3, 4), c.rational(1, 2), c.rational(5, 1)],
        c.add([three, x, c.mul(half, y)]),
        c.add2(_ONE, c.mul(_MINUS_ONE, c.square(t))),
        [t, t.nargs],
        terms,
        c.assumptions_key(x) == c.assumptions_key(y),
        c.rational_rows(sympy.ImmutableMatrix([[1, sympy.Rational(2, 3)], [-4, 0]])),
        c.rational_rows(sympy.ImmutableMatrix([[1, 2]])),
        c.immutable_matrix({0: {1: t}}, [zero, t, zero, zero], 2, 2),
    ]


def _self_check() -> str:
    """Each fast primitive against its public twin; "" when all agree."""
    try:
        fast, public = _samples(FAST), _samples(PUBLIC)
        for i, (a, b) in enumerate(zip(fast, public)):
            if not _same(a, b):
                return f"self-check {i} disagrees: {a!r} != {b!r}"
    except Exception as exc:  # SymPy's internals changed: any failure means the public path
        return f"self-check failed: {type(exc).__name__}: {exc}"
    return ""


def refresh() -> str:
    """Run the version guard and the self-check again (once per process on first use,
    NOTE: sympy-fallback); returns why the fast path is off, ``""`` when it is on.

    >>> refresh()
    ''
    """
    global _reason
    version = sympy.__version__
    if not version_tested(version):
        _reason = f"SymPy {version} is not a tested version ({TESTED_SYMPY})"
    else:
        _reason = _self_check()
    return _reason


def fallback_reason() -> str:
    """Why trees are built with the public constructors (``""`` when they are not).

    >>> with forced_fallback():
    ...     fallback_reason()
    'forced'
    """
    forced = _forced.get()
    if forced is None:
        forced = _FORCED_BY_ENV
    if forced:
        return "forced"
    return refresh() if _reason is None else _reason


def construction() -> Construction:
    """The primitives to build with now: :data:`FAST` or :data:`PUBLIC` (NOTE: sympy-fallback).

    >>> with forced_fallback():
    ...     construction().name
    'public'
    """
    return PUBLIC if fallback_reason() else FAST


@contextlib.contextmanager
def forced_fallback(enabled: bool = True) -> Iterator[None]:
    """Build with SymPy's public constructors inside the block (with ``enabled=False``:
    with the fast primitives, whatever ``SYMJAC_SYMPY_FALLBACK`` says, where the version
    guard and the self-check allow them). For tests (NOTE: sympy-fallback).

    >>> with forced_fallback(False):
    ...     construction().name
    'fast'
    """
    token = _forced.set(bool(enabled))
    try:
        yield
    finally:
        _forced.reset(token)


def build(make: Callable[[Construction], T]) -> T:
    """``make(construction())``; when the fast primitives raise, the public constructors
    from then on, for this call too (NOTE: sympy-fallback).

    >>> build(lambda c: c.rational(6, 1))
    6
    """
    global _reason
    ops = construction()
    if ops is PUBLIC:
        return make(PUBLIC)
    try:
        return make(ops)
    except Exception as exc:  # SymPy's internals changed under us
        _reason = f"a fast build failed: {type(exc).__name__}: {exc}"
        return make(PUBLIC)


def float_parts(value: Any) -> tuple[int, int, int, int]:
    """``(sign, mantissa, exponent, bitcount)`` of a SymPy Float (its mpmath tuple).

    >>> float_parts(sympy.Float(0.5))
    (0, 1, -1, 1)
    """
    try:
        return tuple(value._mpf_)  # type: ignore[return-value]
    except (AttributeError, TypeError):  # public route: through mpmath's own number
        import mpmath

        return tuple(mpmath.mpf(str(value))._mpf_)  # type: ignore[return-value]


def float_precision(value: Any) -> int:
    """The binary precision a SymPy Float carries (SymPy's ``_prec``; 53 for a double).

    >>> float_precision(sympy.Float(0.5))
    53
    """
    prec = getattr(value, "_prec", None)
    if isinstance(prec, int):
        return prec
    return round(getattr(value, "precision", 53))  # public twin where it exists
