"""Safe parsing of expression strings into SymPy, without ``eval``.

NOTE: safe-parsing
    ``sympy.sympify`` and ``parse_expr`` run Python ``eval`` on their input, so
    ``"__import__('os').system(...)"`` executes. symjac never hands user text to
    them. Instead the text is (1) checked for size, characters, literal sizes
    and nesting *before* Python sees it, (2) parsed by :func:`ast.parse` into a
    syntax tree, whose size and depth are checked, (3) walked with a whitelist
    of node types (numbers, names, ``+ - * / **``, unary ``-``, ``^`` as power,
    and calls of the functions in :data:`symjac.functions.PARSER_FUNCTIONS`),
    building SymPy objects directly. Every name must be one the caller declared
    (variables, parameters) or a known constant, so no attribute, import or
    lambda can ever be reached.

NOTE: bounded-constants
    SymPy evaluates numbers eagerly (``9**9**9`` is computed in full) and its
    evaluation of huge constants overflows or hangs (``sin(exp(exp(1000)))``).
    So the walk checks every constant *before* it reaches a SymPy constructor
    that might evaluate it: a numeric exponent, and the argument of an
    exponential-type function (``exp sinh cosh sigmoid softplus``), must lie in
    ``[-max_exponent, max_exponent]``; an exact rational result must be
    estimated to have at most ``max_constant_digits`` digits before it is
    computed; every other constant is evaluated to 15 digits and must be
    real and smaller than ``10**max_constant_digits``. Sums and products are
    built flat, so a long sum is not a deep tree.

>>> import sympy
>>> x = sympy.Symbol("x", real=True)
>>> parse_expression("x^2 + 3*x", {"x": x})
x**2 + 3*x
>>> parse_expression("__import__('os')", {"x": x})
Traceback (most recent call last):
...
symjac.exceptions.ParseError: unknown function '__import__'; known functions: ...
"""

from __future__ import annotations

import ast
import keyword
import math
import re
import sys
import threading
import unicodedata
from collections.abc import Mapping
from fractions import Fraction
from functools import partial

import sympy

from symjac import limits
from symjac._sympy_fast import float_parts, float_precision
from symjac.activations import ACTIVATIONS, Z, get_activation
from symjac.exceptions import LimitError, ParseError
from symjac.functions import PARSER_CONSTANTS, PARSER_FUNCTIONS

__all__ = ["parse_expression", "parse_number"]

# a decimal literal as Python reads it (underscores allowed), not inside a name
_NUMBER = re.compile(
    r"(?<![\w.])(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?", re.ASCII
)
_IMPLICIT_MUL = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?)([A-Za-z_]\w*)")
_SPACE_CALL = re.compile(r"\b([A-Za-z_]\w*)\s+([A-Za-z_(]\w*)")
_WORD = re.compile(r"[A-Za-z_]\w*")
#: functions whose value grows like exp(argument): their numeric argument is an exponent
_EXP_LIKE = frozenset({"exp", "sinh", "cosh", "sigmoid", "softplus"})
_LOG2_10 = math.log2(10)
_HINT = "write a formula such as 'x**2 + sin(y)'"
#: characters Python would read without complaint but with a meaning a formula does not
#: have: '#' silently drops the rest of the line as a comment, so 'x**2 # + 3*x' would be
#: answered for x**2; the others are never part of a formula
_SILENT_CHARS = {
    "#": "'#' would start a Python comment and silently drop the rest; "
    "expressions have no comments, remove it and what follows",
    "\\": "'\\' is not part of a formula; write the expression on one line without it",
    "$": "'$' is not part of a formula; write plain text such as 'x**2', not LaTeX",
    "?": "'?' is not part of a formula; " + _HINT,
    "`": "'`' is not part of a formula; " + _HINT,
}


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _fail(message: str, text: str, piece: str | None = None) -> ParseError:
    return ParseError(f"{message} in {_short(text)!r}", text=_short(text, 200), piece=piece)


#: the network side's activations by name (relu, gelu, silu, ...), callable with one argument;
#: names the function table already has (tanh, sigmoid, softplus) are read from the table
_ACTIVATION_CALLS = frozenset(ACTIVATIONS) - frozenset(PARSER_FUNCTIONS)


def _activation(name: str, arg: sympy.Expr) -> sympy.Expr:
    return get_activation(name).expr.xreplace({Z: arg})


def _known() -> str:
    names = {name for name in PARSER_FUNCTIONS if name.islower()} | _ACTIVATION_CALLS
    return ", ".join(sorted(names))


def _literal_digits(literal: str) -> int:
    """Digits of a decimal literal's mantissa, leading zeros of the fraction included."""
    mantissa = re.split("[eE]", literal.replace("_", ""))[0]
    digits = mantissa.replace(".", "").lstrip("0")
    if "." in mantissa:
        whole, _, frac = mantissa.partition(".")
        if not whole.strip("0"):
            # 0.000001 has a denominator of 10**6: count the zeros after the point too
            digits = frac.rstrip("0") or ""
    return max(len(digits), 1)


def _prescan(text: str) -> None:
    lim = limits.current()
    if not isinstance(text, str):
        raise TypeError(
            f"expected an expression string such as 'x**2 + 1', got {type(text).__name__}"
        )
    if len(text) > lim.max_length:
        raise LimitError(
            f"expression has {len(text)} characters; the limit is {lim.max_length} "
            "(split it into smaller expressions or raise symjac.limits.override(max_length=...))"
        )
    if not text.strip():
        raise ParseError(f"empty expression; {_HINT}", text=text)
    for char in text:
        if not char.isascii():
            name = unicodedata.name(char, f"U+{ord(char):04X}")
            raise _fail(
                f"non-ASCII character {char!r} ({name}); expressions use plain ASCII "
                "letters, digits and operators (look-alike letters are refused), retype it",
                text,
                char,
            )
        if not (char.isprintable() or char in " \t"):
            raise _fail(f"control character {char!r}; write the expression on one line", text, char)
        if char in _SILENT_CHARS:
            raise _fail(_SILENT_CHARS[char], text, char)
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > lim.max_depth:
        raise LimitError(
            f"expression nests {deepest} brackets deep; the limit is {lim.max_depth} "
            "(simplify the expression or raise symjac.limits.override(max_depth=...))"
        )
    # a run of signs nests one unary operator per sign in the syntax tree
    for run in re.findall(r"[-+~\s]{2,}", text):
        signs = sum(1 for c in run if c in "+-~")
        if signs > lim.max_depth:
            raise LimitError(
                f"expression has a run of {signs} signs; the nesting limit is {lim.max_depth} "
                "(cancel the signs or raise symjac.limits.override(max_depth=...))"
            )
    for literal in _NUMBER.findall(text):
        digits = _literal_digits(literal)
        if digits > lim.max_digits:
            raise LimitError(
                f"number literal with {digits} digits; the limit is {lim.max_digits} digits "
                "(round it or raise symjac.limits.override(max_digits=...))"
            )


def _syntax_hint(text: str, err: SyntaxError) -> str:
    for word in _WORD.findall(text):
        if keyword.iskeyword(word) and word not in ("True", "False", "None"):
            return f"{word!r} is a Python keyword, not part of a formula; {_HINT}"
    m = _IMPLICIT_MUL.search(text)
    if m:
        return (
            f"invalid syntax at {m.group(0)!r}: multiplication must be written out, "
            f"e.g. '{m.group(1)}*{m.group(2)}'"
        )
    m = _SPACE_CALL.search(text)
    if m and m.group(1) in PARSER_FUNCTIONS:
        return (
            f"invalid syntax at {m.group(0)!r}: call functions with parentheses, "
            f"e.g. '{m.group(1)}({m.group(2)})'"
        )
    if m:
        return (
            f"invalid syntax at {m.group(0)!r}: two names side by side; "
            f"write the operator between them, e.g. '{m.group(1)}*{m.group(2)}'"
        )
    if re.search(r"(?<![=<>!])=(?!=)", text):
        return "'=' is an assignment; write only the right-hand side, e.g. 'x**2 + 1'"
    stripped = text.rstrip()
    if stripped.endswith(tuple("+-*/^(,")):
        return (
            f"incomplete expression: it ends with {stripped[-1]!r}; "
            "add the missing operand or remove the operator"
        )
    if err.msg and ("never closed" in err.msg or "EOF" in err.msg or "incomplete" in err.msg):
        return "incomplete expression: a bracket is never closed; add the missing ')'"
    if err.msg and "unmatched" in err.msg:
        return f"{err.msg}; remove it or add the matching '('"
    if err.msg and "too many nested" in err.msg:
        return f"{err.msg}; simplify the expression"
    column = f" at column {err.offset}" if err.offset else ""
    return f"invalid syntax{column} ({err.msg}); {_HINT}"


def _mag2(value: sympy.Float) -> int:
    """An upper bound on log2 of ``|value|`` from its binary representation."""
    _sign, man, exp, bc = float_parts(value)
    return exp + bc if man else -(10**9)


class _Builder:
    """Walks a whitelisted Python AST and builds the SymPy expression."""

    def __init__(self, text: str, names: Mapping[str, sympy.Expr]):
        self.text = text
        self.names = names
        self.lim = limits.current()
        self.values: dict[sympy.Expr, sympy.Expr] = {}

    def piece(self, node: ast.AST) -> str:
        # the text is one line of ASCII (see _prescan), so byte offsets are indices;
        # ast.get_source_segment would re-split the whole text on every call
        start = getattr(node, "col_offset", None)
        end = getattr(node, "end_col_offset", None)
        if start is None or end is None:
            return type(node).__name__
        return self.text[start:end]

    def build(self, node: ast.AST) -> sympy.Expr:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise _fail(self._refusal(node), self.text, self.piece(node))
        try:
            result = method(node)
        except (ParseError, LimitError):
            raise
        except RecursionError:
            raise
        except (ArithmeticError, ValueError, TypeError, MemoryError) as err:
            # SymPy evaluated something it could not finish (see NOTE: bounded-constants)
            raise LimitError(
                f"SymPy could not evaluate {_short(self.piece(node), 40)!r} "
                f"({type(err).__name__}); use smaller constants"
            ) from None
        return self.check_constant(result, node)

    def _refusal(self, node: ast.AST) -> str:
        what = {
            "Compare": "comparisons (x > 0) are not expressions with a derivative",
            "BoolOp": "'and'/'or' are not allowed",
            "Attribute": f"attribute access {_short(self.piece(node), 40)!r} is not allowed",
            "Subscript": f"indexing {_short(self.piece(node), 40)!r} is not allowed; "
            "name variables x1, x2",
            "Lambda": "lambda is not allowed",
            "IfExp": "conditional expressions are not allowed",
            "JoinedStr": "f-strings are not allowed",
            "NamedExpr": "assignment is not allowed",
            "Tuple": "a tuple is not one expression; pass several expressions as a list",
            "List": "a list is not one expression; pass several expressions as a list",
            "ListComp": "comprehensions are not allowed",
            "SetComp": "comprehensions are not allowed",
            "DictComp": "comprehensions are not allowed",
            "GeneratorExp": "comprehensions are not allowed",
            "Starred": "*arguments are not allowed",
            "Await": "await is not allowed",
            "Yield": "yield is not allowed",
        }.get(type(node).__name__)
        if what is None:
            what = f"{type(node).__name__} syntax ({_short(self.piece(node), 40)!r}) is not allowed"
        return what + "; allowed: numbers, names, + - * / ** ^, and calls of " + _known()

    # -- constants ------------------------------------------------------------
    def approx(self, expr: sympy.Expr) -> sympy.Expr:
        """30 digits of a constant, from the memoized values of its arguments.

        Evaluating each node from its arguments' values (not the whole subtree
        again) keeps checking every constant of a deep expression linear.
        """
        value = self.values.get(expr)
        if value is None:
            if expr.is_Atom or not expr.args:
                value = expr.evalf(30)
            else:
                value = expr.func(*(self.approx(arg) for arg in expr.args)).evalf(30)
            self.values[expr] = value
        return value

    def evaluate(self, expr: sympy.Expr, node: ast.AST, *, exact: bool = False) -> sympy.Expr:
        """A constant's value (``exact``: SymPy's own 15 digits), or LimitError if it fails."""
        try:
            value = expr.evalf(15, maxn=100) if exact else self.approx(expr)
        except Exception as err:  # SymPy's evaluation of an extreme constant
            raise LimitError(
                f"constant {_short(self.piece(node), 40)!r} cannot be evaluated "
                f"({type(err).__name__}); use smaller constants"
            ) from None
        self.refuse_nonreal(value, node, evaluated=True)
        if not isinstance(value, (sympy.Float, sympy.Rational)):
            raise LimitError(
                f"constant {_short(self.piece(node), 40)!r} cannot be evaluated to a number "
                f"(got {_short(str(value), 40)}); use simpler constants"
            )
        return value

    def refuse_nonreal(self, value: sympy.Expr, node: ast.AST, *, evaluated: bool) -> None:
        """Refuse an infinite, undefined or complex constant (or its evaluated ``value``)."""
        piece = _short(self.piece(node), 40)
        if value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            why = (
                "is not a finite number; keep arguments in the domain of each function"
                if evaluated
                else "is infinite or undefined (a division by zero or a function outside its "
                "domain); fix that part"
            )
            raise _fail(f"{piece!r} {why}", self.text, self.piece(node))
        if value.has(sympy.I):
            noun = "a complex number" if evaluated else "complex-valued"
            raise _fail(
                f"{piece!r} is {noun} ({_short(str(value), 40)}); "
                "symjac works with real numbers, keep arguments in the real domain",
                self.text,
                self.piece(node),
            )

    def check_constant(self, result: sympy.Expr, node: ast.AST) -> sympy.Expr:
        """Refuse complex, infinite and too large constants (NOTE: bounded-constants)."""
        if not isinstance(result, sympy.Expr):
            raise _fail("not a real-valued expression", self.text, self.piece(node))
        if result.is_Rational:
            self.check_rational(result, node)
            return result
        self.refuse_nonreal(result, node, evaluated=False)
        if result.is_Atom or not result.is_number:
            return result
        value = self.evaluate(result, node)
        bound = self.lim.max_constant_digits
        if isinstance(value, sympy.Float) and _mag2(value) > bound * _LOG2_10 + 1:
            raise LimitError(
                f"constant {_short(self.piece(node), 40)!r} is larger than 10**{bound}; "
                "use smaller constants or raise symjac.limits.override(max_constant_digits=...)"
            )
        return result

    def check_rational(self, value: sympy.Rational, node: ast.AST) -> None:
        bound = self.lim.max_constant_digits
        bits = max(int(value.p).bit_length(), int(value.q).bit_length())
        if bits > bound * _LOG2_10 + 1:
            raise LimitError(
                f"{_short(self.piece(node), 40)!r} is a number with about "
                f"{int(bits / _LOG2_10)} digits; the limit is {bound} "
                "(use smaller constants or raise symjac.limits.override(max_constant_digits=...))"
            )

    def rational_digits(self, terms: list[sympy.Expr], node: ast.AST, what: str) -> None:
        """Estimate the digits of the exact number a sum or product will compute."""
        bound = self.lim.max_constant_digits
        total = 0.0
        common = 1  # a sum's denominator divides the lcm of its terms' denominators
        for term in terms:
            for part in sympy.Add.make_args(term) if what == "sum" else [term]:
                coeff = part.as_coeff_Mul()[0]
                if not coeff.is_Rational:
                    continue
                if what == "product":
                    total += math.log10(coeff.q) + (math.log10(abs(coeff.p)) if coeff.p else 0)
                elif coeff.q != 1:
                    common = math.lcm(common, int(coeff.q))
                    total = common.bit_length() / _LOG2_10
                if total > bound:
                    raise LimitError(
                        f"{_short(self.piece(node), 40)!r} would compute an exact {what} with "
                        f"more than {bound} digits, the limit (use simpler constants or raise "
                        "symjac.limits.override(max_constant_digits=...))"
                    )

    def check_exponent(self, exponent: sympy.Expr, node: ast.AST, what: str) -> None:
        """A numeric exponent (or argument of exp) must be in [-max_exponent, max_exponent]."""
        if not exponent.is_number:
            return
        lim = self.lim.max_exponent
        value = exponent if exponent.is_Rational else self.evaluate(exponent, node)
        if isinstance(value, sympy.Float):
            big = _mag2(value) > 64 or abs(float(value)) > lim
        else:
            big = abs(value) > lim
        if big:
            raise LimitError(
                f"{what} {_short(str(exponent), 30)} in {_short(self.piece(node), 40)!r} "
                f"exceeds the limit {lim} in absolute value "
                "(raise it with symjac.limits.override(max_exponent=...))"
            )

    # -- leaves ---------------------------------------------------------------
    def _Constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = {bool: "a boolean", complex: "a complex number", str: "a string"}.get(
                type(value), type(value).__name__
            )
            if isinstance(value, bytes):
                kind = "a bytes literal"
            raise _fail(
                f"constant {_short(repr(value), 30)} is {kind}, not a real number; "
                "write numbers like 2, 0.5 or 1e-3",
                self.text,
                repr(value),
            )
        source = self.piece(node).replace("_", "")
        if isinstance(value, int):
            # hexadecimal, octal and binary literals escape the decimal-digit prescan
            digits = int(value.bit_length() / _LOG2_10) + 1
            if digits > self.lim.max_digits:
                raise LimitError(
                    f"number literal with about {digits} digits; the limit is "
                    f"{self.lim.max_digits} digits (raise symjac.limits.override(max_digits=...))"
                )
            return sympy.Integer(value)
        # exact value of the decimal as written: 0.1 is 1/10, not the nearest double
        mantissa, _, exponent = source.lower().partition("e")
        if exponent and abs(int(exponent)) > self.lim.max_exponent:
            raise LimitError(
                f"number {source!r} has exponent {exponent}; the limit is "
                f"{self.lim.max_exponent} (raise symjac.limits.override(max_exponent=...))"
            )
        if float(source) in (float("inf"), 0.0) and mantissa.strip("0.") != "":
            raise _fail(
                f"number {source!r} is outside the float64 range; use a smaller exponent",
                self.text,
                source,
            )
        frac = Fraction(mantissa) * Fraction(10) ** int(exponent or 0)
        return sympy.Rational(frac.numerator, frac.denominator)

    def _Name(self, node: ast.Name) -> sympy.Expr:
        if node.id in self.names:
            return self.names[node.id]
        if node.id in PARSER_CONSTANTS:
            return PARSER_CONSTANTS[node.id]
        if node.id in ("nan", "inf", "oo", "NaN", "zoo", "infinity", "Infinity"):
            raise _fail(
                f"{node.id!r} is not a finite number; use finite values", self.text, node.id
            )
        if node.id in PARSER_FUNCTIONS:
            raise _fail(
                f"function {node.id!r} must be called with parentheses, e.g. '{node.id}(x)'",
                self.text,
                node.id,
            )
        if not self.names:
            raise _fail(
                f"a constant cannot contain the name {node.id!r}; "
                "give a number such as 1/3, 0.25 or sqrt(2)",
                self.text,
                node.id,
            )
        declared = ", ".join(sorted(self.names))
        raise _fail(
            f"unknown name {node.id!r} (declared: {declared}); add it to the variables "
            "(or parameters) of the map",
            self.text,
            node.id,
        )

    # -- operators ------------------------------------------------------------
    def _UnaryOp(self, node: ast.UnaryOp) -> sympy.Expr:
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.build(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        symbol = "not" if isinstance(node.op, ast.Not) else "~"
        raise _fail(
            f"operator {symbol!r} is not allowed; use + - * / and ** (or ^)", self.text, symbol
        )

    def _BinOp(self, node: ast.BinOp) -> sympy.Expr:
        op = node.op
        if isinstance(op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            # flatten chains so a long sum is built in one Add, not as a deep tree
            product = isinstance(op, (ast.Mult, ast.Div))
            kind = (ast.Mult, ast.Div) if product else (ast.Add, ast.Sub)
            terms: list[sympy.Expr] = []
            current: ast.AST = node
            while isinstance(current, ast.BinOp) and isinstance(current.op, kind):
                right = self.build(current.right)
                if isinstance(current.op, ast.Div):
                    right = self._reciprocal(right, current)
                elif isinstance(current.op, ast.Sub):
                    right = -right
                terms.append(right)
                current = current.left
            terms.append(self.build(current))
            terms.reverse()
            self.rational_digits(terms, node, "product" if product else "sum")
            return sympy.Mul(*terms) if product else sympy.Add(*terms)
        if isinstance(op, ast.Pow):
            base = self.build(node.left)
            exponent = self.build(node.right)
            return self._power(base, exponent, node)
        symbol = {
            ast.Mod: "%",
            ast.FloorDiv: "//",
            ast.MatMult: "@",
            ast.BitXor: "^",
            ast.BitAnd: "&",
            ast.BitOr: "|",
            ast.LShift: "<<",
            ast.RShift: ">>",
        }.get(type(op), type(op).__name__)
        raise _fail(
            f"operator {symbol!r} is not allowed; use + - * / and ** (or ^)", self.text, symbol
        )

    def _reciprocal(self, denominator: sympy.Expr, node: ast.BinOp) -> sympy.Expr:
        zero = denominator.is_zero if denominator.is_Atom else denominator == 0
        if not zero and denominator.is_number and not denominator.is_Atom:
            # a constant with no nonzero digit to 100 places (log(4) - 2*log(2)) is zero
            value = self.evaluate(denominator, node.right)
            if value == 0 or (isinstance(value, sympy.Float) and _mag2(value) < -60):
                # small: ask SymPy for digits until it finds one or gives up (it is zero)
                value = self.evaluate(denominator, node.right, exact=True)
                zero = value == 0 or (isinstance(value, sympy.Float) and float_precision(value) < 5)
        if zero:
            raise _fail(
                f"division by zero: {_short(self.piece(node.right), 40)!r} is zero; "
                "change the denominator",
                self.text,
                self.piece(node),
            )
        return self._power(denominator, sympy.Integer(-1), node)

    def _power(self, base: sympy.Expr, exponent: sympy.Expr, node: ast.AST) -> sympy.Expr:
        if exponent.is_number:
            zero = base.is_zero if base.is_Atom else base == 0
            if zero and exponent.is_negative:
                raise _fail(
                    "zero to a negative power (division by zero); change the base or exponent",
                    self.text,
                    self.piece(node),
                )
            self.check_exponent(exponent, node, "exponent")
            if base.is_Rational and exponent.is_Rational:
                magnitude = max(abs(base.p), abs(base.q), 2)
                digits = float(abs(exponent)) * math.log10(magnitude)
                bound = self.lim.max_constant_digits
                if digits > bound:
                    raise LimitError(
                        f"{_short(self.piece(node), 40)!r} would be a number with about "
                        f"{int(digits)} digits; the limit is {bound} (use smaller constants or "
                        "raise symjac.limits.override(max_constant_digits=...))"
                    )
        if base == sympy.E:
            self.check_exponent(exponent, node, "exponent")
        return sympy.Pow(base, exponent)

    def _Call(self, node: ast.Call) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            raise _fail(
                f"only named functions can be called, not {_short(self.piece(node.func), 40)!r}; "
                f"known functions: {_known()}",
                self.text,
                self.piece(node.func),
            )
        name = node.func.id
        if name not in PARSER_FUNCTIONS and name not in _ACTIVATION_CALLS:
            raise _fail(f"unknown function {name!r}; known functions: {_known()}", self.text, name)
        if node.keywords:
            raise _fail(
                f"{name}() takes no keyword arguments; pass the argument alone, e.g. '{name}(x)'",
                self.text,
                name,
            )
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise _fail(
                f"{name}() cannot take *arguments; write the arguments out", self.text, name
            )
        constructor, arity = PARSER_FUNCTIONS.get(name) or (partial(_activation, name), 1)
        count = len(node.args)
        if (arity is None and count < 2) or (arity is not None and count != arity):
            wanted = (
                "2 or more arguments" if arity is None else f"{arity} argument" + "s" * (arity != 1)
            )
            example = "x, y" if arity != 1 else "x"
            raise _fail(
                f"{name}() takes {wanted}, got {count}; e.g. '{name}({example})'", self.text, name
            )
        args = [self.build(arg) for arg in node.args]
        if name in _EXP_LIKE or name in _ACTIVATION_CALLS:
            # several activations hold exp (elu, silu): bound the argument like exp's
            self.check_exponent(args[0], node, f"argument of {name}")
        return constructor(*args)


def _bound(value: int, cap: int, what: str, name: str) -> None:
    """A parser limit: ``expression <what>`` names the cap and the way to raise it."""
    if value > cap:
        raise LimitError(
            f"expression {what.format(cap)} or raise symjac.limits.override({name}=...))"
        )


def _count_nodes(tree: ast.AST) -> None:
    lim = limits.current()
    count = calls = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    families = ((ast.Add, ast.Sub), (ast.Mult, ast.Div))
    while stack:
        node, depth = stack.pop()
        _bound(depth, lim.max_depth, "nests deeper than {} levels (simplify it", "max_depth")
        if isinstance(node, ast.expr):
            count += 1
            _bound(count, lim.max_nodes, "has more than {} syntax nodes (split it", "max_nodes")
        if isinstance(node, ast.Call):
            calls += 1
            _bound(calls, lim.max_functions, "calls functions more than {} times; each costs "
                   "SymPy milliseconds to build, differentiate and evaluate (split it",
                   "max_functions")  # fmt: skip
        # flat +/- and * / chains are built without recursion; everything else nests
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.expr):
                continue
            chained = (
                isinstance(node, ast.BinOp)
                and child is node.left
                and isinstance(child, ast.BinOp)
                and any(isinstance(node.op, fam) and isinstance(child.op, fam) for fam in families)
            )
            stack.append((child, depth if chained else depth + 1))


_RECURSION_LOCK = threading.Lock()
#: the most Python frames ast.parse may use; each is a little C stack, so this is capped
_MAX_AST_RECURSION = 30_000


def _ast_parse(source: str) -> ast.Expression:
    """``ast.parse`` with room for a flat chain of one operator per two characters.

    CPython builds the tree of ``x+x+...+x`` recursively (one level per ``+``)
    and checks the depth against the interpreter's recursion limit, so a
    legitimate long sum fails at about 1000 terms. The limit is raised for the
    parse (never lowered, under a lock) to what the length allows, up to a cap.
    """
    wanted = min(len(source) // 2 + 200, _MAX_AST_RECURSION)
    with _RECURSION_LOCK:
        previous = sys.getrecursionlimit()
        if wanted <= previous:
            return ast.parse(source, mode="eval")
        sys.setrecursionlimit(wanted + previous)
        try:
            return ast.parse(source, mode="eval")
        finally:
            sys.setrecursionlimit(previous)


def parse_expression(text: str, names: Mapping[str, sympy.Expr]) -> sympy.Expr:
    """Parse ``text`` into a SymPy expression over the given ``names``, safely.

    ``names`` maps each allowed identifier to its SymPy object (the map's
    variables and parameters). ``^`` is a power, as in mathematics. Anything
    outside the whitelist, or a complex or infinite constant, raises
    :class:`~symjac.exceptions.ParseError` (a ``ValueError``) naming the piece;
    an input over a size limit (:mod:`symjac.limits`) raises
    :class:`~symjac.exceptions.LimitError`. See NOTE: safe-parsing and
    NOTE: bounded-constants.

    >>> import sympy
    >>> x1, x2 = sympy.symbols("x1 x2", real=True)
    >>> parse_expression("x1^2 + 3*x1*x2 + x2**2", {"x1": x1, "x2": x2})
    x1**2 + 3*x1*x2 + x2**2
    >>> parse_expression("0.1*tanh(x1)", {"x1": x1})
    tanh(x1)/10
    >>> parse_expression("2x1", {"x1": x1})
    Traceback (most recent call last):
    ...
    symjac.exceptions.ParseError: invalid syntax at '2x1': multiplication must be written out, e.g. '2*x1' in '2x1'
    >>> parse_expression("9**9**9", {})
    Traceback (most recent call last):
    ...
    symjac.exceptions.LimitError: exponent 387420489 in '9**9**9' exceeds the limit 1000 in absolute value (raise it with symjac.limits.override(max_exponent=...))
    """
    if not isinstance(names, Mapping):
        raise TypeError(f"names must be a mapping of name -> Symbol, got {type(names).__name__}")
    _prescan(text)
    # '^' is a power in mathematics; Python would read it as xor, with the wrong precedence
    source = text.strip().replace("^", "**")
    try:
        tree = _ast_parse(source)
    except SyntaxError as err:
        raise _fail(_syntax_hint(text, err), text) from None
    except (RecursionError, MemoryError, ValueError):
        raise LimitError(
            f"expression {_short(text)!r} nests too deeply for Python's parser; "
            "split it into smaller expressions"
        ) from None
    _count_nodes(tree)
    builder = _Builder(source, names)
    try:
        result = builder.build(tree.body)
    except RecursionError:
        raise LimitError(
            f"expression {_short(text)!r} is too deeply nested to build; "
            "split it or lower symjac.limits max_depth"
        ) from None
    if result.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise _fail("the expression evaluates to an infinity or NaN; fix its constants", text)
    return result


def parse_number(text: str) -> sympy.Expr:
    """Parse a constant such as ``"1/3"``, ``"0.25"`` or ``"sqrt(2)"`` exactly.

    >>> parse_number("0.1"), parse_number("2*pi")
    (1/10, 2*pi)
    >>> parse_number("sqrt(-1)")
    Traceback (most recent call last):
    ...
    symjac.exceptions.ParseError: 'sqrt(-1)' is complex-valued (I); symjac works with real numbers, keep arguments in the real domain in 'sqrt(-1)'
    """
    return parse_expression(text, {})
