"""A safe interpreter for financial reasoning programs. Nothing is ever passed to ``eval``/``exec``.

Two layouts:

* FinQA's DSL: ``subtract(60.94, 25.14), divide(#0, 25.14)`` with ``#N`` step references, ``const_*``
  constants, ``greater`` (yes/no) and the table operations ``table_max/min/sum/average(row name, none)``.
* Program-of-Thoughts arithmetic (ConvFinQA PoT layout): ``x0 = 60.94 - 25.14; ans = x0 / 25.14``, parsed
  with :mod:`ast` and evaluated node by node over a whitelist (numbers, names, + - * / ** %, unary minus,
  ``abs/min/max/round``); the result is ``ans`` (or the last assignment).

Semantics follow FinQA's reference executor (``str_to_num``, ``process_row``): ``62%`` is 0.62, ``1,234`` is
1234, a table row is found by its first cell and its other cells are read as numbers.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Sequence

MAX_PROGRAM_CHARS = 10_000
MAX_STEPS = 64
MAX_NODES = 2_000
MAX_EXPONENT = 1_000
Value = float | str  # a number, or "yes"/"no" from a comparison


class ProgramError(ValueError):
    """The program does not parse, refers to something undefined, or cannot be evaluated."""


# -- FinQA DSL ----------------------------------------------------------------------------------
BINARY_OPS = {"add", "subtract", "multiply", "divide", "exp", "greater"}
TABLE_OPS = {"table_max", "table_min", "table_sum", "table_average"}
_STEP = re.compile(r"\s*([a-z_]+)\s*\(([^()]*)\)\s*(?:,|$)")


def str_to_num(text: str) -> float | None:
    """FinQA's number reading: commas dropped, ``%`` → /100, ``const_m1`` → -1, ``$`` stripped."""
    t = text.strip().replace(",", "").replace("$", "").strip()
    if t.startswith("const_"):
        c = t[len("const_"):]
        neg = c.startswith("m")
        c = c[1:] if neg else c
        try:
            v = float(c.replace("_", "."))
        except ValueError:
            return None
        return -v if neg else v
    pct = t.endswith("%")
    if pct:
        t = t[:-1].strip()
    try:
        v = float(t)
    except ValueError:
        return None
    if not math.isfinite(v):
        return None
    return v / 100.0 if pct else v


def parse_finqa(program: str) -> list[tuple[str, list[str]]]:
    """Split a FinQA program into ``[(op, [arg, ...]), ...]``; the whole string must be consumed."""
    if not isinstance(program, str) or not program.strip():
        raise ProgramError("empty program")
    if len(program) > MAX_PROGRAM_CHARS:
        raise ProgramError(f"program longer than {MAX_PROGRAM_CHARS} characters")
    text = program.strip().removesuffix("EOF").strip().rstrip(",")
    steps, pos = [], 0
    while pos < len(text):
        m = _STEP.match(text, pos)
        if not m or m.end() == pos:
            raise ProgramError(f"cannot parse program at character {pos}: {text[pos:pos + 40]!r}")
        op, args = m.group(1), [a.strip() for a in m.group(2).split(",")]
        if op not in BINARY_OPS | TABLE_OPS:
            raise ProgramError(f"unknown operation {op!r}")
        if len(args) != 2:
            raise ProgramError(f"{op} takes 2 arguments, got {len(args)}")
        steps.append((op, args))
        pos = m.end()
        if len(steps) > MAX_STEPS:
            raise ProgramError(f"more than {MAX_STEPS} steps")
    if not steps:
        raise ProgramError("empty program")
    return steps


def _cell_number(cell: str) -> float | None:
    # FinQA's process_row: "$ 1,234 ( 5 )" → 1234 (footnote markers in parentheses dropped)
    t = cell.replace("$", "").strip().split("(")[0].strip()
    return str_to_num(t)


def _norm_row_name(s: str) -> str:
    return " ".join(str(s).lower().split())


def table_row(table: Sequence[Sequence[str]] | None, name: str) -> list[float]:
    if not table:
        raise ProgramError(f"table operation on row {name!r} but no table was given")
    want = _norm_row_name(name)
    for row in table:
        if row and _norm_row_name(row[0]) == want:
            nums = [_cell_number(str(c)) for c in row[1:]]
            if any(n is None for n in nums) or not nums:
                raise ProgramError(f"table row {name!r} has non-numeric cells: {list(row[1:])}")
            return nums  # type: ignore[return-value]
    raise ProgramError(f"no table row named {name!r}")


def run_finqa(program: str, table: Sequence[Sequence[str]] | None = None) -> Value:
    """Execute a FinQA DSL program; returns the last step's value (a float, or 'yes'/'no')."""
    results: list[Value] = []
    for i, (op, args) in enumerate(parse_finqa(program)):
        if op in TABLE_OPS:
            nums = table_row(table, args[0])
            res: Value = {"table_max": max, "table_min": min, "table_sum": sum,
                          "table_average": lambda xs: sum(xs) / len(xs)}[op](nums)
        else:
            a, b = (_arg(x, results, i) for x in args)
            res = _binary(op, a, b)
        results.append(res)
    return results[-1]


def _arg(token: str, results: list[Value], step: int) -> float:
    if token.startswith("#"):
        try:
            k = int(token[1:])
        except ValueError:
            raise ProgramError(f"bad step reference {token!r}") from None
        if not 0 <= k < step:
            raise ProgramError(f"step {step} refers to {token}, which is not an earlier step")
        v = results[k]
        if isinstance(v, str):
            raise ProgramError(f"step {step} uses the yes/no result of {token} as a number")
        return v
    v = str_to_num(token)
    if v is None:
        raise ProgramError(f"step {step}: argument {token!r} is not a number, constant or #reference")
    return v


def _binary(op: str, a: float, b: float) -> Value:
    if op == "add":
        r = a + b
    elif op == "subtract":
        r = a - b
    elif op == "multiply":
        r = a * b
    elif op == "divide":
        if b == 0:
            raise ProgramError("division by zero")
        r = a / b
    elif op == "exp":
        r = _power(a, b)
    else:  # greater
        return "yes" if a > b else "no"
    if not math.isfinite(r):
        raise ProgramError(f"{op} overflowed")
    return r


def _power(a: float, b: float) -> float:
    if abs(b) > MAX_EXPONENT:
        raise ProgramError(f"exponent {b} is larger than {MAX_EXPONENT}")
    if a == 0 and b < 0:
        raise ProgramError("zero to a negative power")
    try:
        r = math.pow(a, b)
    except (OverflowError, ValueError) as e:
        raise ProgramError(f"power {a}**{b} overflowed ({e})") from None
    return r


# -- Program-of-Thoughts arithmetic (parsed by ast, evaluated by hand) -------------------------------
_BIN = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.Div: None, ast.Pow: None, ast.Mod: None, ast.FloorDiv: None}
_FUNCS = {"abs": (1, 1), "min": (1, 16), "max": (1, 16), "round": (1, 2)}
_PCT_LITERAL = re.compile(r"(\d+(?:\.\d+)?)\s*%(?=\s*(?:$|[;,)\n+\-*/]))")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def run_python_arith(program: str, result: str = "ans") -> Value:
    """Evaluate ``x0 = 1 + 2; ans = x0 / 3`` over a whitelist of AST nodes; returns ``ans``.

    A final comparison (``ans = x0 > x1``) gives "yes"/"no", as FinQA's ``greater`` does."""
    if not isinstance(program, str) or not program.strip():
        raise ProgramError("empty program")
    if len(program) > MAX_PROGRAM_CHARS:
        raise ProgramError(f"program longer than {MAX_PROGRAM_CHARS} characters")
    # PoT data writes percent literals ("ans = 23%"), which Python reads as a dangling modulo: a number
    # followed by % and then nothing that could be an operand is read as number/100 (FinQA's convention).
    program = _PCT_LITERAL.sub(r"(\1 / 100)", program)
    try:
        tree = ast.parse(program, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:  # e.g. a literal with too many digits
        raise ProgramError(f"syntax error: {getattr(e, 'msg', e)}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ProgramError(f"program has more than {MAX_NODES} syntax nodes")
    env: dict[str, Value] = {}
    last: str | None = None
    for stmt in tree.body:
        if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
            raise ProgramError(f"line {stmt.lineno}: only `name = expression` statements are allowed")
        name = stmt.targets[0].id
        if not _NAME.match(name) or name in _FUNCS:
            raise ProgramError(f"line {stmt.lineno}: bad variable name {name!r}")
        try:
            env[name] = _compare(stmt.value, env) if isinstance(stmt.value, ast.Compare) else _eval(stmt.value, env)
        except RecursionError:
            raise ProgramError(f"line {stmt.lineno}: expression nested too deeply") from None
        last = name
    if result in env:
        return env[result]
    if last is None:
        raise ProgramError("program assigns nothing")
    return env[last]


_CMP = {ast.Gt: lambda a, b: a > b, ast.Lt: lambda a, b: a < b, ast.GtE: lambda a, b: a >= b,
        ast.LtE: lambda a, b: a <= b, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b}


def _compare(node: ast.Compare, env: dict[str, Value]) -> str:
    if len(node.ops) != 1 or type(node.ops[0]) not in _CMP:
        raise ProgramError("only a single comparison (a > b) is allowed")
    a, b = _eval(node.left, env), _eval(node.comparators[0], env)
    return "yes" if _CMP[type(node.ops[0])](a, b) else "no"


def _eval(node: ast.AST, env: dict[str, Value]) -> float:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ProgramError(f"only numbers are allowed, got {type(node.value).__name__}")
        try:
            return float(node.value)
        except OverflowError:
            raise ProgramError("number literal too large") from None
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise ProgramError(f"name {node.id!r} is not defined")
        v = env[node.id]
        if isinstance(v, str):
            raise ProgramError(f"{node.id!r} holds a yes/no comparison, not a number")
        return v
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand, env)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        a, b = _eval(node.left, env), _eval(node.right, env)
        if isinstance(node.op, ast.Pow):
            r = _power(a, b)
        elif isinstance(node.op, (ast.Div, ast.Mod, ast.FloorDiv)):
            if b == 0:
                raise ProgramError("division by zero")
            r = a / b if isinstance(node.op, ast.Div) else (a % b if isinstance(node.op, ast.Mod) else a // b)
        else:
            r = _BIN[type(node.op)](a, b)
        if not math.isfinite(r):
            raise ProgramError("arithmetic overflowed")
        return r
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS and not node.keywords:
        lo, hi = _FUNCS[node.func.id]
        if not lo <= len(node.args) <= hi:
            raise ProgramError(f"{node.func.id}() takes {lo}..{hi} arguments")
        args = [_eval(a, env) for a in node.args]
        if node.func.id == "round":
            return float(round(args[0], int(args[1]) if len(args) > 1 else 0))
        return float({"abs": lambda xs: abs(xs[0]), "min": min, "max": max}[node.func.id](args))
    raise ProgramError(f"{type(node).__name__} is not allowed in an arithmetic program")


def run_program(program: str, table: Sequence[Sequence[str]] | None = None, dsl: str = "auto") -> Value:
    """Run a program in either layout; ``dsl='auto'`` picks PoT when the text contains ``=``."""
    if dsl == "auto":
        dsl = "python" if "=" in (program or "") else "finqa"
    if dsl == "finqa":
        return run_finqa(program, table)
    if dsl == "python":
        return run_python_arith(program)
    raise ProgramError(f"unknown program layout {dsl!r} (finqa | python)")
