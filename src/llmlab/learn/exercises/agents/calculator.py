"""Exercise `calculator`: the agent's calculator tool — arithmetic read with `ast` and evaluated node by node,
never with `eval`, with every costly argument bounded BEFORE the work starts.

Check it with `llmlab learn check agents calculator` (seeded random expressions against llmlab's calculator,
then hostile input: 9**9**9, round(1, -10**9), attribute access, __import__, lambdas, nesting 200 deep). Your
evaluate runs in a child process with 2 s per expression: one that hangs fails the check, it does not hang it.

A model writes the tool's input, so treat it as hostile: `eval("__import__('os').system(...)")` runs a
program, and `9**9**9` is plain arithmetic that would compute for hours (369 million digits). Allow only what
a calculator has; refuse everything else with CalculatorError(message, hint=...) — the agent shows the message
to the model as the observation, so say what was refused.

Given: CalculatorError; the limits MAX_INPUT_CHARS (500), MAX_INT_BITS (10,000), MAX_DEPTH (50), MAX_DIGITS;
_BINARY {ast.Add: operator.add, ..., ast.Pow: pow, ast.BitXor: pow} (`^` is a power, as on a calculator),
_UNARY {ast.UAdd, ast.USub}; FUNCTIONS {"sqrt": math.sqrt, "abs": abs, "round": round, "min", "max", "log",
...}; CONSTANTS {"pi", "e", "tau"}; _check_size(value) (refuses an int past MAX_INT_BITS, a complex result, an
inf float; returns the value), format_number(value) (an int as is, a float to 12 significant digits: for
messages).
"""

from __future__ import annotations

import ast  # noqa: F401 - for your code
import math  # noqa: F401 - for your code

from llmlab.agents.calculator import (  # noqa: F401 - for your code
    _BINARY,
    _UNARY,
    CONSTANTS,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_INPUT_CHARS,
    MAX_INT_BITS,
    CalculatorError,
    _check_size,
    format_number,
)


def evaluate(expression: str) -> int | float:
    """The value of an arithmetic expression, or a CalculatorError that says what was refused.

    1. text = expression.strip() with "×" -> "*", "÷" -> "/", "−" (unicode minus) -> "-"
    2. refuse an empty text, and one longer than MAX_INPUT_CHARS (each character can add a level of nesting)
    3. tree = ast.parse(text, mode="eval"); a SyntaxError becomes a CalculatorError (raise it `from None`)
    4. return _eval(tree.body, 0)

    Examples: "4821 + 377 * (2 - 5)" -> 3690;  "2 ^ 10" -> 1024;  "7 / 2" -> 3.5;  "3 × 4" -> 12
              ""  -> CalculatorError("the expression is empty", hint=...)
    """
    raise NotImplementedError("evaluate")


def _eval(node: ast.AST, depth: int) -> int | float:
    """The value of one node, walking down; refuse anything that is not arithmetic.

    depth > MAX_DEPTH                      -> refuse (before looking at the node: no RecursionError, ever)
    ast.Constant                           -> its value if an int or float, and not a bool (True is an int!)
    ast.UnaryOp with op in _UNARY          -> _UNARY[type(op)](_eval(operand, depth + 1))
    ast.BinOp with op in _BINARY           -> left, right = _eval(...), _eval(...), each at depth + 1;
                                              a power (ast.Pow or ast.BitXor): _check_power(left, right)
                                              FIRST; then the operation; ZeroDivisionError and OverflowError
                                              become CalculatorError; return _check_size(value)
    ast.Name                               -> CONSTANTS[id], else refuse (unknown name)
    ast.Call of a plain name in FUNCTIONS  -> no keyword arguments; args = [_eval(a, depth + 1) ...];
                                              round with two arguments: _check_digits(args[1]) FIRST;
                                              ValueError / TypeError (sqrt(-1), log(0), wrong arguments) and
                                              OverflowError (exp(1000)) become CalculatorError;
                                              _check_size(value)
    anything else                          -> refuse: attributes ((1).__class__), other calls
    (__import__('os')),
                                              subscripts, lambdas, comparisons, and/or, bit operations (1 &
                                              3), ...

    Example: "-(2 + 3) ** 2" is UnaryOp(USub, BinOp(BinOp(2 + 3) ** 2)) -> -25;  "(1).__class__" -> refused
    """
    raise NotImplementedError("_eval")


def _check_power(base: int | float, exponent: int | float) -> None:
    """Refuse a power whose result would be too large, before computing it.

    An int result |b|^x has about x · log2|b| bits: with int base and int exponent, exponent > 0 and |base| >
    1, refuse when x · log2|b| > MAX_INT_BITS. Refuse any |exponent| > 1e6 too (a float power that large is
    inf or 0, and 1 ** 10**100 is pointless work). Return None when the power is fine.

    Examples: (2, 10) fine;  (2, 10_001) refused (10,001 bits);  (10, 3_000) fine (9,966 bits);
              (9, 387_420_489) refused — this is 9**9**9 after its inner power 9**9 was computed.
    """
    raise NotImplementedError("_check_power")


def _check_digits(ndigits: int | float) -> None:
    """round(x, n) computes 10 ** |n|: refuse an int n with |n| > MAX_DIGITS before round() runs.

    Example: round(1, -10**9) would build 10**(10**9) and never return -> refused;  round(3.14159, 2) fine.
    """
    raise NotImplementedError("_check_digits")
