"""The one safe arithmetic evaluator: FinQA's DSL, Program-of-Thoughts programs and calculator expressions.

One interpreter walks a whitelist of :mod:`ast` nodes (never ``eval``/``exec``); three front-ends feed it:

* **FinQA DSL** (:func:`run_finqa`): ``subtract(60.94, 25.14), divide(#0, 25.14)`` with ``#N`` step references,
  ``const_*`` constants, ``greater`` (yes/no), ``table_max/min/sum/average(row name, none)`` and, as an extension,
  cell references ``ROW@COLUMN`` as arguments (``subtract(revenue@2019, revenue@2018)``). Semantics follow
  FinQA's reference executor (``str_to_num``, ``process_row``): ``1,234`` in a table cell is 1234, a table row is
  found by its first cell and its other cells are read as numbers.
* **Program-of-Thoughts** (:func:`run_python_arith`, ConvFinQA's PoT layout): ``x0 = 60.94 - 25.14; ans = x0 /
  25.14``; only ``name = expression`` statements; the result is ``ans`` (or the last assignment); a top-level
  single comparison (``ans = x0 > x1``) gives "yes"/"no" as FinQA's ``greater`` does.
* **Calculator** (:func:`evaluate`, the agent tool): one expression; also accepts thousands separators
  (``1,234.5``) and ``× ÷ ^`` for ``* / **``; raises :class:`CalcError` (a :class:`ProgramError`).

Every front-end reaches the same node walk, the same operations (``+ - * / // % **``, unary ``+ -``), the same
functions (``abs round min max sqrt log ln log10 exp pow``), the same constants (``pi``, ``e``; they cannot be
reassigned) and the same limits below. Where the two former evaluators (``synthesis/rewards/program.py`` and
``synthesis/envs/calculator.py``) differed, the rule kept is:

* **Percent** — one rule for all front-ends: a number written ``N%`` is ``N/100`` unless what follows the ``%``
  (after spaces) can start an operand (a letter, digit, ``_``, ``.`` or ``(``), in which case ``%`` is modulo.
  So ``23%``, ``12% * 200`` and ``5% > 3%`` are percents, ``7 % 3`` and ``7 % (3)`` are modulo. (The PoT rule
  listed what may follow a percent — so ``5% > 3%`` was a syntax error there; the calculator's rule, which lists
  what may not, is kept.) A ``%`` right after a name (``x1%``) is never a percent literal.
* **Limits** — one set: ``MAX_CHARS`` characters of input, ``MAX_NODES`` syntax nodes, ``MAX_DEPTH`` nesting,
  exponents up to ``MAX_EXPONENT``, ``0 ** -n`` refused, every literal, intermediate and result finite and at
  most ``MAX_MAGNITUDE`` in size (PoT/FinQA used to allow anything finite, the calculator 1e100, its expressions
  400 characters and 200 nodes), ``round``'s digits an integer in ``±MAX_ROUND_DIGITS``, at most ``MAX_ARGS``
  arguments to ``min``/``max``, at most ``MAX_STEPS`` FinQA steps.
* Literal scanning is linear in the input (the percent rewrite starts only at the first digit of a run and never
  backtracks into it), so a 10,000-digit literal costs microseconds, not seconds.

Hand-written because no installed library evaluates untrusted arithmetic safely.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Sequence

MAX_CHARS = 10_000
MAX_NODES = 2_000
MAX_DEPTH = 100
MAX_STEPS = 64
MAX_EXPONENT = 1_000
MAX_MAGNITUDE = 1e100
MAX_ROUND_DIGITS = 100
MAX_ARGS = 32
MAX_PROGRAM_CHARS = MAX_CHARS  # the former name, kept for callers

Value = float | str  # a number, or "yes"/"no" from a comparison


class ProgramError(ValueError):
    """The program does not parse, refers to something undefined, or cannot be evaluated."""


class CalcError(ProgramError):
    """The calculator front-end's error (same reasons, raised by :func:`evaluate`)."""


# -- the core: checked numbers and operations --------------------------------------------------------
def _num(v: float, what: str = "result") -> float:
    if not math.isfinite(v) or abs(v) > MAX_MAGNITUDE:
        raise ProgramError(f"{what} overflowed: not a finite number of at most {MAX_MAGNITUDE:g} in size")
    return v


def power(a: float, b: float) -> float:
    """``a ** b`` with the exponent cap, ``0 ** -n`` refused and overflow reported."""
    if abs(b) > MAX_EXPONENT:
        raise ProgramError(f"exponent {b:g} is larger than {MAX_EXPONENT}")
    if a == 0 and b < 0:
        raise ProgramError("zero to a negative power")
    try:
        r = math.pow(a, b)
    except (OverflowError, ValueError) as e:
        raise ProgramError(f"power {a:g}**{b:g} overflowed or is undefined ({e})") from None
    return _num(r, "power")


def binary(op: str, a: float, b: float) -> float:
    """One arithmetic operation (``+ - * / // % **``) on checked numbers; the result is checked too."""
    if op in ("/", "//", "%") and b == 0:
        raise ProgramError("division by zero")
    if op == "**":
        return power(a, b)
    try:
        if op == "+":
            r = a + b
        elif op == "-":
            r = a - b
        elif op == "*":
            r = a * b
        elif op == "/":
            r = a / b
        elif op == "//":
            r = a // b
        elif op == "%":
            r = a % b
        else:
            raise ProgramError(f"unknown operator {op!r}")
    except (OverflowError, ZeroDivisionError) as e:
        raise ProgramError(f"{op} failed ({e})") from None
    return _num(r, f"{op}")


_CMP: dict[type, Callable[[float, float], bool]] = {
    ast.Gt: lambda a, b: a > b, ast.Lt: lambda a, b: a < b, ast.GtE: lambda a, b: a >= b,
    ast.LtE: lambda a, b: a <= b, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b}


def _log(x: float, base: float | None = None) -> float:
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise ProgramError("log of a non-positive number (or a base of 0 or 1)")
    return math.log(x) if base is None else math.log(x, base)


def _sqrt(x: float) -> float:
    if x < 0:
        raise ProgramError("square root of a negative number")
    return math.sqrt(x)


def _exp(x: float) -> float:
    if x > math.log(MAX_MAGNITUDE):
        raise ProgramError("exp argument too large")
    return math.exp(x)


def _round(x: float, n: float = 0) -> float:
    if n != int(n) or abs(n) > MAX_ROUND_DIGITS:
        raise ProgramError(f"round() digits must be an integer within ±{MAX_ROUND_DIGITS}, got {n:g}")
    return float(round(x, int(n)))


FUNCS: dict[str, tuple[int, int, Callable[..., float]]] = {
    "abs": (1, 1, abs), "round": (1, 2, _round), "min": (1, MAX_ARGS, min), "max": (1, MAX_ARGS, max),
    "sqrt": (1, 1, _sqrt), "log": (1, 2, _log), "ln": (1, 1, _log), "log10": (1, 1, lambda x: _log(x, 10)),
    "exp": (1, 1, _exp), "pow": (2, 2, power),
}
CONSTS = {"pi": math.pi, "e": math.e}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}

# The one percent rule (module docstring). `(?<![\w.])` starts a match only at the first digit of a run, and the
# possessive `\d++` never gives digits back: linear in the input, whatever its length.
_PERCENT = re.compile(r"(?<![\w.])(\d++(?:\.\d++)?+)\s*+%(?!\s*[\w.(])")


def percent_literals(text: str) -> str:
    """Rewrite ``N%`` percent literals to ``(N/100)`` by the one percent rule; other ``%`` stay modulo."""
    return _PERCENT.sub(r"(\1/100)", text)


def _parse(text: str, mode: str) -> ast.AST:
    if len(text) > MAX_CHARS:
        raise ProgramError(f"longer than {MAX_CHARS} characters")
    try:
        tree = ast.parse(percent_literals(text), mode=mode)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:  # e.g. nesting beyond the parser's limit
        raise ProgramError(f"syntax error: {getattr(e, 'msg', None) or type(e).__name__}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ProgramError(f"more than {MAX_NODES} syntax nodes")
    return tree


def _eval(node: ast.AST, env: dict[str, Value], depth: int = 0) -> float:
    """The one node walk: numbers, names, constants, unary ± and binary operators, whitelisted calls."""
    if depth > MAX_DEPTH:
        raise ProgramError(f"expression nested deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ProgramError(f"only numbers are allowed, got {type(node.value).__name__}")
        try:
            return _num(float(node.value), "number literal")
        except OverflowError:
            raise ProgramError("number literal overflowed") from None
    if isinstance(node, ast.Name):
        if node.id in env:
            v = env[node.id]
            if isinstance(v, str):
                raise ProgramError(f"{node.id!r} holds a yes/no comparison, not a number")
            return v
        if node.id in CONSTS:
            return CONSTS[node.id]
        raise ProgramError(f"name {node.id!r} is not defined")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand, env, depth + 1)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a = _eval(node.left, env, depth + 1)
        b = _eval(node.right, env, depth + 1)
        return binary(_BINOPS[type(node.op)], a, b)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCS:
        name = node.func.id
        lo, hi, fn = FUNCS[name]
        if node.keywords:
            raise ProgramError(f"{name}() takes no keyword arguments")
        if not lo <= len(node.args) <= hi:
            raise ProgramError(f"{name}() takes {lo}..{hi} arguments")
        args = [_eval(a, env, depth + 1) for a in node.args]
        try:
            return _num(float(fn(*args)), f"{name}()")
        except (OverflowError, ValueError, TypeError) as e:
            if isinstance(e, ProgramError):
                raise
            raise ProgramError(f"{name}: {e}") from None
    if isinstance(node, ast.Call):
        raise ProgramError("only the functions " + ", ".join(FUNCS) + " can be called")
    raise ProgramError(f"{type(node).__name__} is not allowed in arithmetic")


def _compare(node: ast.Compare, env: dict[str, Value]) -> str:
    if len(node.ops) != 1 or type(node.ops[0]) not in _CMP:
        raise ProgramError("only a single comparison (a > b) is allowed")
    a, b = _eval(node.left, env, 1), _eval(node.comparators[0], env, 1)
    return "yes" if _CMP[type(node.ops[0])](a, b) else "no"


def _guard(fn: Callable[[], Value]) -> Value:
    try:
        return fn()
    except RecursionError:
        raise ProgramError("expression nested too deeply") from None


# -- front-end 1: calculator expressions -------------------------------------------------------------
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def evaluate(expression: str) -> float:
    """Evaluate one arithmetic expression (the calculator tool); raises CalcError with the reason."""
    if not isinstance(expression, str):
        raise CalcError("expression must be a string")
    text = expression.strip()
    if not text:
        raise CalcError("empty expression")
    try:
        if len(text) > MAX_CHARS:
            raise ProgramError(f"expression longer than {MAX_CHARS} characters")
        text = _THOUSANDS.sub("", text.replace("×", "*").replace("÷", "/").replace("^", "**"))
        tree = _parse(text, "eval")
        return float(_guard(lambda: _eval(tree.body, {})))  # type: ignore[attr-defined]
    except CalcError:
        raise
    except ProgramError as e:
        raise CalcError(str(e)) from None


def format_result(v: float) -> str:
    return f"{v:.10g}"


# -- front-end 2: Program-of-Thoughts programs -------------------------------------------------------
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def run_python_arith(program: str, result: str = "ans") -> Value:
    """Evaluate ``x0 = 1 + 2; ans = x0 / 3`` statement by statement; returns ``ans`` (or the last assignment)."""
    if not isinstance(program, str) or not program.strip():
        raise ProgramError("empty program")
    tree = _parse(program, "exec")
    env: dict[str, Value] = {}
    last: str | None = None
    for stmt in tree.body:  # type: ignore[attr-defined]
        if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
            raise ProgramError(f"line {stmt.lineno}: only `name = expression` statements are allowed")
        name = stmt.targets[0].id
        if not _NAME.match(name) or name in FUNCS or name in CONSTS:
            raise ProgramError(f"line {stmt.lineno}: bad variable name {name!r}")
        value = stmt.value
        env[name] = _guard(lambda v=value: _compare(v, env) if isinstance(v, ast.Compare) else _eval(v, env))
        last = name
    if result in env:
        return env[result]
    if last is None:
        raise ProgramError("program assigns nothing")
    return env[last]


# -- front-end 3: FinQA's DSL ------------------------------------------------------------------------
BINARY_OPS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "exp": "**", "greater": ">"}
TABLE_OPS = {"table_max", "table_min", "table_sum", "table_average"}
_STEP = re.compile(r"\s*([a-z_]+)\s*\(([^()]*)\)\s*(?:,|$)")


def str_to_num(text: str) -> float | None:
    """FinQA's number reading: commas dropped, ``N%`` → N/100, ``const_m1`` → -1, ``$`` stripped.

    None for anything else, and for numbers beyond the evaluator's limits."""
    t = str(text).strip().replace(",", "").replace("$", "").strip()
    if t.startswith("const_"):
        c = t[len("const_"):]
        neg = c.startswith("m")
        c = c[1:] if neg else c
        t = ("-" if neg else "") + c.replace("_", ".")
    pct = t.endswith("%")
    if pct:
        t = t[:-1].strip()
    if len(t) > 400:  # float() is linear, but no real number is this long
        return None
    try:
        v = float(t)
    except ValueError:
        return None
    if not math.isfinite(v) or abs(v) > MAX_MAGNITUDE:
        return None
    return v / 100.0 if pct else v


def parse_finqa(program: str) -> list[tuple[str, list[str]]]:
    """Split a FinQA program into ``[(op, [arg, ...]), ...]``; the whole string must be consumed."""
    if not isinstance(program, str) or not program.strip():
        raise ProgramError("empty program")
    if len(program) > MAX_CHARS:
        raise ProgramError(f"program longer than {MAX_CHARS} characters")
    text = program.strip().removesuffix("EOF").strip().rstrip(",")
    steps, pos = [], 0
    while pos < len(text):
        m = _STEP.match(text, pos)
        if not m or m.end() == pos:
            raise ProgramError(f"cannot parse program at character {pos}: {text[pos:pos + 40]!r}")
        op, args = m.group(1), [a.strip() for a in m.group(2).split(",")]
        if op not in BINARY_OPS and op not in TABLE_OPS:
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


def cell_number(cell: str) -> float | None:
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
            nums = [cell_number(str(c)) for c in row[1:]]
            if any(n is None for n in nums) or not nums:
                raise ProgramError(f"table row {name!r} has non-numeric cells: {list(row[1:])}")
            return nums  # type: ignore[return-value]
    raise ProgramError(f"no table row named {name!r}")


def _table_op(op: str, nums: list[float]) -> float:
    if op == "table_max":
        return max(nums)
    if op == "table_min":
        return min(nums)
    total = 0.0
    for x in nums:
        total = binary("+", total, x)
    return total if op == "table_sum" else binary("/", total, float(len(nums)))


def run_finqa(program: str, table: Sequence[Sequence[str]] | None = None) -> Value:
    """Execute a FinQA DSL program; returns the last step's value (a float, or 'yes'/'no')."""
    results: list[Value] = []
    for i, (op, args) in enumerate(parse_finqa(program)):
        if op in TABLE_OPS:
            res: Value = _table_op(op, table_row(table, args[0]))
        else:
            a, b = (_arg(x, results, i, table) for x in args)
            if op == "greater":
                res = "yes" if a > b else "no"
            else:
                try:
                    res = binary(BINARY_OPS[op], a, b)
                except ProgramError as e:
                    raise ProgramError(f"step {i} ({op}): {e}") from None
        results.append(res)
    return results[-1]


def table_cell(table: Sequence[Sequence[str]] | None, ref: str) -> float:
    """A cell reference ``ROW@COLUMN`` (``total revenue@2019``): the row found by its first cell, the column by
    the header row's cell, both compared case- and space-insensitively; the cell read as FinQA reads numbers."""
    row_name, _, col_name = ref.rpartition("@")
    if not table:
        raise ProgramError(f"cell reference {ref!r} but no table was given")
    header = [_norm_row_name(c) for c in table[0]]
    want = _norm_row_name(col_name)
    cols = [j for j, c in enumerate(header) if j > 0 and c == want]
    if len(cols) != 1:
        raise ProgramError(f"cell reference {ref!r}: {'no' if not cols else 'more than one'} column named {col_name!r}")
    rows = [r for r in table[1:] if r and _norm_row_name(r[0]) == _norm_row_name(row_name)]
    if len(rows) != 1:
        raise ProgramError(f"cell reference {ref!r}: {'no' if not rows else 'more than one'} row named {row_name!r}")
    v = cell_number(str(rows[0][cols[0]])) if cols[0] < len(rows[0]) else None
    if v is None:
        raise ProgramError(f"cell reference {ref!r} is not a number")
    return v


def _arg(token: str, results: list[Value], step: int, table: Sequence[Sequence[str]] | None = None) -> float:
    if "@" in token and not token.startswith("#"):  # a cell reference: the interpreter reads the table, so a
        return table_cell(table, token)             # program need not copy the cell's digits
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
        raise ProgramError(f"step {step}: argument {token!r} is not a number, constant or #reference "
                           f"(or it overflowed the limit of {MAX_MAGNITUDE:g})")
    return v


def run_program(program: str, table: Sequence[Sequence[str]] | None = None, dsl: str = "auto") -> Value:
    """Run a program in either layout; ``dsl='auto'`` picks PoT when the text contains ``=``."""
    if dsl == "auto":
        dsl = "python" if "=" in (program if isinstance(program, str) else "") else "finqa"
    if dsl == "finqa":
        return run_finqa(program, table)
    if dsl == "python":
        return run_python_arith(program)
    raise ProgramError(f"unknown program layout {dsl!r} (finqa | python)")
