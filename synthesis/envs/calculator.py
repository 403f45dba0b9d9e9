"""A calculator tool: a safe arithmetic expression evaluator (``ast`` parse, whitelist walk, never ``eval``).

Accepts numbers (``1,234.5`` thousands separators, ``12%`` as 0.12), ``+ - * / // % **``, parentheses and the
functions ``abs round min max sqrt log ln log10 exp pow``, the constants ``pi`` and ``e``. Anything else —
names, attributes, subscripts, calls to other functions, strings, lambdas — is refused with a message. Sizes are
bounded (expression length, node count, exponent, result magnitude) so hostile input cannot hang the worker.
Hand-written because no installed library evaluates untrusted arithmetic safely.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

from ..rewards.program import ProgramError, _power

MAX_CHARS = 400
MAX_NODES = 200
MAX_DEPTH = 40
MAX_MAGNITUDE = 1e100


class CalcError(ValueError):
    pass


def _log(x: float, base: float | None = None) -> float:
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise CalcError("log of a non-positive number")
    return math.log(x) if base is None else math.log(x, base)


def _sqrt(x: float) -> float:
    if x < 0:
        raise CalcError("square root of a negative number")
    return math.sqrt(x)


def _exp(x: float) -> float:
    if x > 230:
        raise CalcError("exp argument too large")
    return math.exp(x)


FUNCS: dict[str, tuple[int, int, Any]] = {
    "abs": (1, 1, abs), "round": (1, 2, lambda x, n=0: round(x, int(n))), "min": (1, 32, min), "max": (1, 32, max),
    "sqrt": (1, 1, _sqrt), "log": (1, 2, _log), "ln": (1, 1, _log), "log10": (1, 1, lambda x: _log(x, 10)),
    "exp": (1, 1, _exp), "pow": (2, 2, lambda a, b: _pow(a, b)),
}
CONSTS = {"pi": math.pi, "e": math.e}
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%(?!\s*[\d(.a-zA-Z])")


def _pow(a: float, b: float) -> float:
    """The verifier's guarded power (exponent cap, 0**-n, overflow), with the calculator's error type."""
    try:
        return _power(a, b)
    except ProgramError as e:
        raise CalcError(str(e)) from None


def evaluate(expression: str) -> float:
    """Evaluate an arithmetic expression; raises CalcError with the reason for anything not allowed."""
    if not isinstance(expression, str):
        raise CalcError("expression must be a string")
    text = expression.strip()
    if not text:
        raise CalcError("empty expression")
    if len(text) > MAX_CHARS:
        raise CalcError(f"expression longer than {MAX_CHARS} characters")
    text = _PERCENT.sub(r"(\1/100)", _THOUSANDS.sub("", text.replace("×", "*").replace("÷", "/").replace("^", "**")))
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CalcError("not an arithmetic expression") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalcError(f"expression has more than {MAX_NODES} parts")
    value = _eval(tree.body, 0)
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise CalcError("result is not a finite number of sensible size")
    return value


def _num(v: float) -> float:
    if not math.isfinite(v) or abs(v) > MAX_MAGNITUDE:
        raise CalcError("intermediate result out of range")
    return v


def _eval(node: ast.AST, depth: int) -> float:
    if depth > MAX_DEPTH:
        raise CalcError("expression nested too deeply")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise CalcError(f"only numbers are allowed, got {type(node.value).__name__}")
        try:
            return _num(float(node.value))
        except OverflowError:
            raise CalcError("number too large") from None
    if isinstance(node, ast.Name):
        if node.id in CONSTS:
            return CONSTS[node.id]
        raise CalcError(f"unknown name {node.id!r}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        v = _eval(node.operand, depth + 1)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, depth + 1), _eval(node.right, depth + 1)
        op = node.op
        if isinstance(op, ast.Add):
            return _num(a + b)
        if isinstance(op, ast.Sub):
            return _num(a - b)
        if isinstance(op, ast.Mult):
            return _num(a * b)
        if isinstance(op, (ast.Div, ast.FloorDiv, ast.Mod)):
            if b == 0:
                raise CalcError("division by zero")
            return _num(a / b if isinstance(op, ast.Div) else a // b if isinstance(op, ast.FloorDiv) else a % b)
        if isinstance(op, ast.Pow):
            return _num(_pow(a, b))
        raise CalcError(f"operator {type(op).__name__} is not allowed")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCS or node.keywords:
            raise CalcError("only the functions " + ", ".join(FUNCS) + " can be called")
        lo, hi, fn = FUNCS[node.func.id]
        if not lo <= len(node.args) <= hi:
            raise CalcError(f"{node.func.id}() takes {lo}..{hi} arguments")
        args = [_eval(a, depth + 1) for a in node.args]
        try:
            return _num(float(fn(*args)))
        except (OverflowError, ValueError, TypeError) as e:
            raise CalcError(f"{node.func.id}: {e}") from None
    raise CalcError(f"{type(node).__name__} is not allowed in an arithmetic expression")


def format_result(v: float) -> str:
    return f"{v:.10g}"
