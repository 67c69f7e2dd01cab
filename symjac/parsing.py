"""Safe parsing of expression strings into SymPy, without ``eval``.

NOTE: safe-parsing
    ``sympy.sympify`` and ``parse_expr`` run Python ``eval`` on their input, so
    ``"__import__('os').system(...)"`` executes. symjac never hands user text to
    them. Instead the text is (1) checked for size, characters and nesting
    *before* Python sees it, (2) parsed by :func:`ast.parse` into a syntax tree,
    (3) walked with a whitelist of node types (numbers, names, ``+ - * / **``,
    unary ``-``, ``^`` as power, and calls of the functions in
    :data:`symjac.functions.PARSER_FUNCTIONS`), building SymPy objects directly.
    Every name must be one the caller declared (variables, parameters) or a
    known constant, so no attribute, import or lambda can ever be reached.
    Numeric exponents and literals are bounded (:mod:`symjac.limits`) because
    SymPy evaluates ``9**9**9`` eagerly. Sums and products are built flat.

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
import re
import unicodedata
from collections.abc import Mapping
from fractions import Fraction

import sympy

from symjac import limits
from symjac.exceptions import LimitError, ParseError
from symjac.functions import PARSER_CONSTANTS, PARSER_FUNCTIONS

__all__ = ["parse_expression", "parse_number"]

_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?")
_IMPLICIT_MUL = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?)([A-Za-z_]\w*)")
_SPACE_CALL = re.compile(r"\b([A-Za-z_]\w*)\s+([A-Za-z_(]\w*)")


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _fail(message: str, text: str, piece: str | None = None) -> ParseError:
    return ParseError(f"{message} in {_short(text)!r}", text=_short(text, 200), piece=piece)


def _known() -> str:
    return ", ".join(sorted({name for name in PARSER_FUNCTIONS if name.islower()}))


def _prescan(text: str) -> None:
    lim = limits.current()
    if not isinstance(text, str):
        raise TypeError(f"expected an expression string, got {type(text).__name__}")
    if len(text) > lim.max_length:
        raise LimitError(
            f"expression has {len(text)} characters; the limit is {lim.max_length} "
            "(raise it with symjac.limits.override(max_length=...))"
        )
    if not text.strip():
        raise ParseError("empty expression; write a formula such as 'x**2 + 1'", text=text)
    for char in text:
        if not char.isascii():
            name = unicodedata.name(char, f"U+{ord(char):04X}")
            raise _fail(
                f"non-ASCII character {char!r} ({name}); expressions use plain ASCII "
                "letters, digits and operators (look-alike letters are refused)",
                text,
                char,
            )
        if not (char.isprintable() or char in " \t"):
            raise _fail(f"control character {char!r}; remove it", text, char)
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
                f"expression has a run of {signs} signs; the nesting limit is {lim.max_depth}"
            )
    for literal in _NUMBER.findall(text):
        mantissa = re.split("[eE]", literal)[0]
        digits = sum(c.isdigit() for c in mantissa.lstrip("0.")) if mantissa.strip("0.") else 1
        if digits > lim.max_digits:
            raise LimitError(
                f"number literal with {digits} digits; the limit is {lim.max_digits} digits"
            )


def _syntax_hint(text: str, err: SyntaxError) -> str:
    m = _IMPLICIT_MUL.search(text)
    if m:
        return (
            f"invalid syntax at {m.group(0)!r}: multiplication must be written out, "
            f"e.g. '{m.group(1)}*{m.group(2)}'"
        )
    m = _SPACE_CALL.search(text)
    if m and m.group(1) in PARSER_FUNCTIONS:
        return f"invalid syntax at {m.group(0)!r}: call functions with parentheses, e.g. '{m.group(1)}({m.group(2)})'"
    if re.search(r"(?<![=<>!])=(?!=)", text):
        return "'=' is an assignment; write only the right-hand side, e.g. 'x**2 + 1'"
    if err.msg and ("EOF" in err.msg or "was never closed" in err.msg or "incomplete" in err.msg):
        return "incomplete expression: an operator or bracket is missing its operand"
    if text.rstrip().endswith(tuple("+-*/^(,")):
        return "incomplete expression: it ends with an operator"
    return f"invalid syntax ({err.msg})"


class _Builder:
    """Walks a whitelisted Python AST and builds the SymPy expression."""

    def __init__(self, text: str, names: Mapping[str, sympy.Expr]):
        self.text = text
        self.names = names
        self.lim = limits.current()

    def piece(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or type(node).__name__

    def build(self, node: ast.AST) -> sympy.Expr:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise _fail(self._refusal(node), self.text, self.piece(node))
        return method(node)

    def _refusal(self, node: ast.AST) -> str:
        what = {
            "Compare": "comparisons (x > 0) are not expressions with a derivative",
            "BoolOp": "'and'/'or' are not allowed",
            "Attribute": f"attribute access {self.piece(node)!r} is not allowed",
            "Subscript": f"indexing {self.piece(node)!r} is not allowed; name variables x1, x2",
            "Lambda": "lambda is not allowed",
            "IfExp": "conditional expressions are not allowed",
            "JoinedStr": "f-strings are not allowed",
            "NamedExpr": "assignment is not allowed",
            "Tuple": "a tuple is not one expression; pass several expressions as a list",
            "List": "a list is not one expression; pass several expressions as a list",
        }.get(type(node).__name__)
        if what is None:
            what = f"{type(node).__name__} syntax ({self.piece(node)!r}) is not allowed"
        return what + "; allowed: numbers, names, + - * / ** ^, and calls of " + _known()

    # -- leaves ---------------------------------------------------------------
    def _Constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(
                f"constant {value!r} is not a real number; write numbers like 2, 0.5 or 1e-3",
                self.text,
                repr(value),
            )
        source = self.piece(node)
        if isinstance(value, int):
            return sympy.Integer(value)
        # exact value of the decimal as written: 0.1 is 1/10, not the nearest double
        mantissa, _, exponent = source.lower().partition("e")
        if exponent and abs(int(exponent)) > self.lim.max_exponent:
            raise LimitError(
                f"number {source!r} has exponent {exponent}; the limit is {self.lim.max_exponent}"
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
        if node.id in ("nan", "inf", "oo", "NaN", "zoo", "infinity"):
            raise _fail(
                f"{node.id!r} is not a finite number; use finite values", self.text, node.id
            )
        if node.id in PARSER_FUNCTIONS:
            raise _fail(
                f"function {node.id!r} must be called with parentheses, e.g. '{node.id}(x)'",
                self.text,
                node.id,
            )
        declared = ", ".join(sorted(self.names)) or "none"
        raise _fail(
            f"unknown name {node.id!r} (declared: {declared}); add it to the variables "
            "(or parameters) of the map",
            self.text,
            node.id,
        )

    # -- operators ------------------------------------------------------------
    def _UnaryOp(self, node: ast.UnaryOp) -> sympy.Expr:
        operand = self.build(node.operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        raise _fail(f"operator {self.piece(node)[:1]!r} is not allowed", self.text)

    def _BinOp(self, node: ast.BinOp) -> sympy.Expr:
        op = node.op
        if isinstance(op, (ast.Add, ast.Sub, ast.Mult)):
            # flatten chains so a long sum is built in one Add, not as a deep tree
            kind = ast.Mult if isinstance(op, ast.Mult) else (ast.Add, ast.Sub)
            terms: list[sympy.Expr] = []
            while isinstance(node, ast.BinOp) and isinstance(node.op, kind):
                right = self.build(node.right)
                terms.append(-right if isinstance(node.op, ast.Sub) else right)
                node = node.left  # type: ignore[assignment]
            terms.append(self.build(node))
            terms.reverse()
            return sympy.Mul(*terms) if kind is ast.Mult else sympy.Add(*terms)
        left = self.build(node.left)
        right = self.build(node.right)
        if isinstance(op, ast.Div):
            if right.is_zero:
                raise _fail("division by zero", self.text, self.piece(node))
            return left / right
        if isinstance(op, ast.Pow):
            return self._power(left, right, node)
        symbol = {ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@"}.get(
            type(op), type(op).__name__
        )
        raise _fail(
            f"operator {symbol!r} is not allowed; use + - * / and ** (or ^)", self.text, symbol
        )

    def _power(self, base: sympy.Expr, exponent: sympy.Expr, node: ast.AST) -> sympy.Expr:
        lim = self.lim
        if exponent.is_number:
            if exponent.is_real is False:
                raise _fail("complex exponent", self.text, self.piece(node))
            size = abs(exponent)
            if not size.is_finite or size > lim.max_exponent:
                raise LimitError(
                    f"exponent {_short(str(exponent), 30)} in {_short(self.piece(node), 40)!r} "
                    f"exceeds the limit {lim.max_exponent} "
                    "(raise it with symjac.limits.override(max_exponent=...))"
                )
            if base.is_number and base.is_Rational and exponent.is_Rational:
                magnitude = max(abs(base.p), abs(base.q), 2)
                digits = float(abs(exponent)) * len(str(magnitude))
                if digits > lim.max_digits * 10:
                    raise LimitError(
                        f"{_short(self.piece(node), 40)!r} would be a number with about "
                        f"{int(digits)} digits; the limit is {lim.max_digits * 10}"
                    )
            if base.is_zero and exponent.is_negative:
                raise _fail(
                    "zero to a negative power (division by zero)", self.text, self.piece(node)
                )
        return sympy.Pow(base, exponent)

    def _Call(self, node: ast.Call) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            raise _fail(
                f"only named functions can be called, not {self.piece(node.func)!r}; "
                f"known functions: {_known()}",
                self.text,
                self.piece(node.func),
            )
        name = node.func.id
        if name not in PARSER_FUNCTIONS:
            raise _fail(f"unknown function {name!r}; known functions: {_known()}", self.text, name)
        if node.keywords:
            raise _fail(f"{name}() takes no keyword arguments", self.text, name)
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise _fail(f"{name}() cannot take *arguments", self.text, name)
        constructor, arity = PARSER_FUNCTIONS[name]
        count = len(node.args)
        if (arity is None and count < 2) or (arity is not None and count != arity):
            wanted = (
                "2 or more arguments" if arity is None else f"{arity} argument" + "s" * (arity != 1)
            )
            raise _fail(f"{name}() takes {wanted}, got {count}", self.text, name)
        args = [self.build(arg) for arg in node.args]
        return constructor(*args)


def _count_nodes(tree: ast.AST, text: str) -> None:
    lim = limits.current()
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > lim.max_nodes:
            raise LimitError(
                f"expression has more than {lim.max_nodes} syntax nodes "
                "(raise it with symjac.limits.override(max_nodes=...))"
            )
        # flat +, -, * chains are built without recursion; everything else nests
        for child in ast.iter_child_nodes(node):
            chained = (
                isinstance(node, ast.BinOp)
                and child is node.left
                and isinstance(child, ast.BinOp)
                and type(child.op) is type(node.op)
            )
            stack.append((child, depth if chained else depth + 1))
        if depth > lim.max_depth:
            raise LimitError(f"expression nests deeper than {lim.max_depth} levels")


def parse_expression(text: str, names: Mapping[str, sympy.Expr]) -> sympy.Expr:
    """Parse ``text`` into a SymPy expression over the given ``names``, safely.

    ``names`` maps each allowed identifier to its SymPy object (the map's
    variables and parameters). ``^`` is a power, as in mathematics. Anything
    outside the whitelist raises :class:`~symjac.exceptions.ParseError` (a
    ``ValueError``) naming the piece; an input over a size limit raises
    :class:`~symjac.exceptions.LimitError`. See NOTE: safe-parsing.

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
    """
    _prescan(text)
    # '^' is a power in mathematics; Python would read it as xor, with the wrong precedence
    source = text.strip().replace("^", "**")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise _fail(_syntax_hint(text, err), text) from None
    except (RecursionError, MemoryError, ValueError):
        raise LimitError(f"expression {_short(text)!r} is too deeply nested to parse") from None
    _count_nodes(tree, text)
    builder = _Builder(source, names)
    try:
        result = builder.build(tree.body)
    except RecursionError:
        raise LimitError(f"expression {_short(text)!r} is too deeply nested") from None
    if not isinstance(result, sympy.Expr):
        raise _fail("not a real-valued expression", text)
    if result.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise _fail("the expression evaluates to an infinity or NaN", text)
    return result


def parse_number(text: str) -> sympy.Expr:
    """Parse a constant such as ``"1/3"``, ``"0.25"`` or ``"sqrt(2)"`` exactly.

    >>> parse_number("0.1"), parse_number("2*pi")
    (1/10, 2*pi)
    """
    return parse_expression(text, {})
