"""A safe calculator for agents: arithmetic parsed with `ast` and evaluated node by node, never `eval`.

    evaluate("4821 + 377 * (2 - 5)")      # -> 3690
    evaluate("sqrt(2) ^ 2")               # `^` is a power here, as on a calculator -> 2.0000000000000004
    evaluate("__import__('os')")          # CalculatorError: names and calls other than the math functions

Only numbers, + - * / // % ** (and ^), unary +/-, and a short list of math functions and constants are
allowed. Every argument that makes work is bounded before the work starts: powers and results (so `9**9**9` is
refused before it can eat the machine) and round()'s digits (`round(1, -10**9)` would never return).
"""

from __future__ import annotations

import ast
import math
import operator

from llmlab.errors import LabError

MAX_INPUT_CHARS = 500
MAX_INT_BITS = 10_000                # about 3,000 decimal digits: far past any answer a question needs
MAX_DEPTH = 50                       # nested operations; deeper input is refused, not recursed into
MAX_DIGITS = int(MAX_INT_BITS * 0.30103) + 1   # round()'s ndigits: round(1, -10**9) would build 10**(10**9)

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: pow, ast.BitXor: pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
FUNCTIONS = {"sqrt": math.sqrt, "abs": abs, "round": round, "min": min, "max": max, "log": math.log,
             "log10": math.log10, "log2": math.log2, "exp": math.exp, "sin": math.sin, "cos": math.cos,
             "tan": math.tan, "floor": math.floor, "ceil": math.ceil}
CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


class CalculatorError(LabError):
    """The expression is not plain arithmetic, or its value would be too large to compute."""


def evaluate(expression: str) -> int | float:
    """The value of an arithmetic expression, or a CalculatorError that says what was refused."""
    text = expression.strip().replace("×", "*").replace("÷", "/").replace("−", "-")
    if not text:
        raise CalculatorError("the expression is empty", hint="write arithmetic such as 12 * (3 + 4)")
    if len(text) > MAX_INPUT_CHARS:
        raise CalculatorError(f"the expression has {len(text)} characters (limit {MAX_INPUT_CHARS})",
                              hint="split the computation into smaller steps")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise CalculatorError(f"{expression!r} is not an arithmetic expression",
                              hint="use numbers, + - * / ** ( ) and functions such as sqrt(2)") from None
    return _eval(tree.body, 0)


def format_number(value: int | float) -> str:
    """Integers exactly; floats to 12 significant digits (so 0.1 + 0.2 reads 0.3)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.12g}"


def calculate(expression: str) -> str:
    """The calculator tool's function: the value as text."""
    return format_number(evaluate(expression))


def _eval(node: ast.AST, depth: int) -> int | float:
    if depth > MAX_DEPTH:
        raise CalculatorError(f"the expression nests deeper than {MAX_DEPTH} levels", hint="simplify it")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalculatorError(f"{node.value!r} is not a number", hint="the calculator takes numbers only")
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand, depth + 1))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, depth + 1), _eval(node.right, depth + 1)
        if isinstance(node.op, ast.Pow | ast.BitXor):
            _check_power(left, right)
        try:
            value = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise CalculatorError("division by zero", hint="check the divisor") from None
        except OverflowError:
            raise CalculatorError("the result is too large for a float", hint="use smaller numbers") from None
        return _check_size(value)
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise CalculatorError(f"unknown name {node.id!r}",
                              hint="only numbers, the constants pi, e, tau and the functions "
                                   + ", ".join(sorted(FUNCTIONS)) + " are allowed")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
        if node.keywords:
            raise CalculatorError(f"{node.func.id}() takes plain arguments", hint=f"write {node.func.id}(x)")
        args = [_eval(a, depth + 1) for a in node.args]
        if node.func.id == "round" and len(args) == 2:
            _check_digits(args[1])
        try:
            value = FUNCTIONS[node.func.id](*args)
        except (ValueError, TypeError) as exc:
            shown = ", ".join(format_number(a) for a in args)
            raise CalculatorError(f"{node.func.id}({shown}) is undefined: {exc}",
                                  hint="check the function's domain and its number of arguments") from None
        except OverflowError:         # exp(1000), floor of an infinite float
            raise CalculatorError(f"{node.func.id}() of these arguments is too large for a float",
                                  hint="use smaller numbers") from None
        return _check_size(value)
    what = {ast.Attribute: "attribute access", ast.Call: "calls other than the math functions",
            ast.Subscript: "indexing", ast.Lambda: "lambdas", ast.Compare: "comparisons",
            ast.BoolOp: "and/or", ast.BinOp: "this operator (bit operations)"}.get(type(node),
                                                                                   type(node).__name__)
    raise CalculatorError(f"{what} is not arithmetic",
                          hint="use numbers, + - * / // % ** ( ) and math functions")


def _check_power(base: int | float, exponent: int | float) -> None:
    """Refuse a power whose result would pass MAX_INT_BITS before computing it: |b|^x has x·log2|b| bits."""
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        try:
            bits = exponent * math.log2(abs(base))
        # an exponent past 1e308 (operands may have 3,000 digits): (10**999)**(10**999)
        except OverflowError:
            bits = math.inf
        if bits > MAX_INT_BITS:
            digits = f"about {int(bits * 0.30103):,}" if math.isfinite(bits) else "more than 10**308"
            raise CalculatorError(f"{base}**{exponent} would have {digits} digits",
                                  hint=f"the calculator keeps results under {int(MAX_INT_BITS * 0.30103):,} "
                                       f"digits")
    if abs(exponent) > 1e6:
        raise CalculatorError(f"the exponent {exponent} is too large", hint="use a smaller power")


def _check_digits(ndigits: int | float) -> None:
    """round(x, n) computes 10**|n|: past the digits any result may have, there is nothing left to round."""
    if isinstance(ndigits, int) and abs(ndigits) > MAX_DIGITS:
        raise CalculatorError(f"round() to {ndigits} digits is out of range",
                              hint=f"round to between -{MAX_DIGITS} and {MAX_DIGITS} digits")


def _check_size(value: int | float) -> int | float:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculatorError(f"the result has about {int(value.bit_length() * 0.30103):,} digits",
                              hint=f"the calculator keeps results under {int(MAX_INT_BITS * 0.30103):,} "
                                   f"digits")
    if isinstance(value, complex):
        raise CalculatorError("the result is a complex number", hint="the calculator works with real numbers")
    if isinstance(value, float) and not math.isfinite(value):
        # float arithmetic overflows to inf silently (1e308 * 10); there is no inf or nan to write as input
        raise CalculatorError("the result is too large for a float", hint="use smaller numbers")
    return value
