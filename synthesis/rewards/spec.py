"""Reward specs as data: parse and validate a ``reward_spec`` (versions, types, fields, gold), raising
:class:`SpecError` with the field named. ``score()`` (``score.py``) turns the same error into a ``None`` score;
generators call :func:`validate_spec` so that a bad spec is refused when an ``rl`` version is written."""

from __future__ import annotations

import json
import math
from typing import Any

from finance.arith import ProgramError, run_program
from finance.numbers import MAX_TEXT, SCALES, parse_quantity

from .numeric import GoldError, gold_quantity

SPEC_VERSION = 1
TYPES = ("numeric", "choice", "exact", "set", "program", "tool_env", "judge")
UNITS = ("ratio", "percent", "bps", "currency", "count", "multiple")
MAX_ROUND = 12  # ``round`` decimals: beyond this a float has no digits left to compare (and 10**N overflows)
MAX_SPEC_CHARS = 1_000_000


class SpecError(ValueError):
    """A reward spec is malformed (wrong version, unknown type, a field of the wrong type, an unreadable gold)."""


def load_spec(spec: dict[str, Any] | str) -> dict[str, Any]:
    """Parse a reward spec (dict or JSON string) and check its version and type; raises SpecError."""
    if isinstance(spec, (bytes, bytearray)):
        spec = spec.decode("utf-8", "replace")
    if isinstance(spec, str):
        if len(spec) > MAX_SPEC_CHARS:
            raise SpecError(f"reward_spec longer than {MAX_SPEC_CHARS} characters")
        try:
            spec = json.loads(spec)
        except (ValueError, RecursionError) as e:  # JSONDecodeError, huge integers, nesting too deep
            raise SpecError(f"reward_spec is not JSON: {getattr(e, 'msg', None) or type(e).__name__}") from None
    if not isinstance(spec, dict):
        raise SpecError(f"reward_spec must be an object, got {type(spec).__name__}")
    if spec.get("spec_version") != SPEC_VERSION or isinstance(spec.get("spec_version"), bool):
        raise SpecError(f"reward_spec spec_version must be {SPEC_VERSION}, got {_short(spec.get('spec_version'))}")
    if not isinstance(spec.get("type"), str) or spec["type"] not in TYPES:
        raise SpecError(f"reward_spec type must be one of {TYPES}, got {_short(spec.get('type'))}")
    return spec


def validate_spec(spec: dict[str, Any] | str, _depth: int = 0) -> dict[str, Any]:
    """Check every field a scorer reads; returns the parsed spec or raises SpecError (a ValueError) naming it."""
    spec = load_spec(spec)
    t = spec["type"]
    _one_of(spec, "extract", (None, "auto", "raw"))
    for f in ("rel_tol", "abs_tol"):
        _tolerance(spec, f)
    if spec.get("round") is not None:
        nd = spec["round"]
        if isinstance(nd, bool) or not isinstance(nd, (int, float)) or not math.isfinite(nd) or nd != int(nd) \
                or abs(nd) > MAX_ROUND:
            raise SpecError(f"field 'round' must be an integer number of decimals within ±{MAX_ROUND}, "
                            f"got {_short(nd)}")
    for f in ("allow_percent_ratio", "case_sensitive", "multi"):
        if spec.get(f) is not None and not isinstance(spec[f], bool):
            raise SpecError(f"field {f!r} must be true or false, got {_short(spec[f])}")
    _one_of(spec, "unit", (None, *UNITS))
    if spec.get("scale") not in (None, "") and (not isinstance(spec["scale"], str) or spec["scale"] not in SCALES):
        raise SpecError(f"field 'scale' must be one of {sorted(k for k in SCALES if k)}, got {_short(spec['scale'])}")
    if spec.get("currency") is not None and not (isinstance(spec["currency"], str) and len(spec["currency"]) <= 16):
        raise SpecError(f"field 'currency' must be a currency code, got {_short(spec['currency'])}")
    ans = spec.get("answer")
    try:
        if t == "numeric":
            _scalar(ans, "answer")
            gold_quantity(spec)  # raises GoldError when the gold is not one number
        elif t == "choice":
            opts = spec.get("options")
            if opts is not None and not (isinstance(opts, list) and opts and all(_is_label(o) for o in opts)):
                raise SpecError(f"field 'options' must be a non-empty list of letters, got {_short(opts)}")
            _choice_gold(spec)
        elif t in ("exact", "set"):
            items = ans if isinstance(ans, list) else [ans]
            if not items or not all(_is_label(a) for a in items) or (t == "set" and not isinstance(ans, list)):
                kind = "a non-empty list of strings" if t == "set" else "a string or a list of strings"
                raise SpecError(f"field 'answer' of a {t} spec must be {kind}, got {_short(ans)}")
            labels = spec.get("labels")
            if labels is not None and not (isinstance(labels, list) and all(_is_label(x) for x in labels)):
                raise SpecError(f"field 'labels' must be a list of strings, got {_short(labels)}")
        elif t == "program":
            _one_of(spec, "dsl", (None, "auto", "finqa", "python"))
            table = spec.get("table")
            if table is not None and not (isinstance(table, list) and all(
                    isinstance(r, list) and all(isinstance(c, str) or c is None or _finite_number(c) for c in r)
                    for r in table)):
                raise SpecError("field 'table' must be a list of rows (lists of strings or numbers)")
            if ans is not None:
                _scalar(ans, "answer")
                if isinstance(ans, str) and ans.strip().lower() not in ("yes", "no") \
                        and parse_quantity(ans, strict=True) is None:
                    raise SpecError(f"gold answer {_short(ans)} is neither a number nor yes/no")
            elif not isinstance(spec.get("program"), str):
                raise SpecError("a program spec needs an 'answer' or a gold 'program' (string)")
            else:
                _gold_of_program(spec)
        elif t == "tool_env":
            if not isinstance(ans, dict):
                raise SpecError(f"field 'answer' of a tool_env spec must be a reward spec object, got {_short(ans)}")
            if _depth >= 2 or ans.get("type") == "tool_env":
                raise SpecError("a tool_env spec cannot nest another tool_env spec")
            try:
                validate_spec(ans, _depth + 1)
            except SpecError as e:
                raise SpecError(f"in 'answer': {e}") from None
            tools = spec.get("gold_tools")
            if tools is not None and not (isinstance(tools, list) and all(isinstance(x, str) for x in tools)):
                raise SpecError(f"field 'gold_tools' must be a list of tool names, got {_short(tools)}")
            mc = spec.get("max_calls")
            if mc is not None and (isinstance(mc, bool) or not isinstance(mc, int) or not 0 < mc <= 1000):
                raise SpecError(f"field 'max_calls' must be an integer in 1..1000, got {_short(mc)}")
            for f, keys in (("weights", ("answer", "tools")), ("penalties", ("invalid", "excess", "repeat"))):
                d = spec.get(f)
                if d is not None and not (isinstance(d, dict) and set(d) <= set(keys) and all(
                        _finite_number(v) and 0 <= v <= 1 for v in d.values())):
                    raise SpecError(f"field {f!r} must map {list(keys)} to numbers in [0, 1], got {_short(d)}")
            _one_of(spec, "tool_credit", (None, "correct", "answered"))
            env = spec.get("env")
            if env is not None:
                # imported here, not at the top: synthesis.envs imports this module
                from synthesis.envs.base import TOOL_NAMES

                if not isinstance(env, dict) or not isinstance(env.get("tools", []), list) \
                        or not set(map(str, env.get("tools", []))) <= set(TOOL_NAMES):
                    raise SpecError(f"field 'env' must be an environment config with tools among {TOOL_NAMES}, "
                                    f"got {_short(env)}")
        elif t == "judge":
            for f in ("rubric", "reference"):
                if spec.get(f) is not None and not isinstance(spec[f], str):
                    raise SpecError(f"field {f!r} must be a string, got {_short(spec[f])}")
            for f in ("rubrics", "criteria"):
                v = spec.get(f)
                if v is not None and not (isinstance(v, list) and all(isinstance(x, str) and x for x in v)):
                    raise SpecError(f"field {f!r} must be a list of strings, got {_short(v)}")
            if spec.get("checks") is not None:
                # imported here: synthesis.judge imports this package
                from synthesis.judge.rubric_checks import validate_checks

                problem = validate_checks(spec["checks"])
                if problem:
                    raise SpecError(problem)
    except GoldError as e:
        raise SpecError(f"gold unreadable: {e}") from None
    # an optional field written as null means "not given" (its default), never float(None) inside a scorer
    return {k: v for k, v in spec.items() if v is not None or k == "answer"}


def _short(v: Any) -> str:
    r = repr(v) if not isinstance(v, str) or len(v) <= 80 else repr(v[:80]) + "…"
    return r if len(r) <= 120 else r[:120] + "…"


def _finite_number(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond float range (10**400) is no usable number either
        return False


def _tolerance(spec: dict[str, Any], field: str) -> None:
    v = spec.get(field)
    if v is not None and not (_finite_number(v) and 0 <= v <= 1e12):
        raise SpecError(f"field {field!r} must be a finite number ≥ 0, got {_short(v)}")


def _one_of(spec: dict[str, Any], field: str, allowed: tuple) -> None:
    v = spec.get(field)
    if not (isinstance(v, str) or v is None) or v not in allowed:
        raise SpecError(f"field {field!r} must be one of {[a for a in allowed if a is not None]}, got {_short(v)}")


def _scalar(v: Any, field: str) -> None:
    ok = (isinstance(v, str) and len(v) <= MAX_TEXT) or _finite_number(v)
    if not ok:
        raise SpecError(f"field {field!r} must be a number or a short string, got {_short(v)}")


def _is_label(v: Any) -> bool:
    return (isinstance(v, str) and 0 < len(v) <= 10_000) or _finite_number(v)


def _gold_of_program(spec: dict[str, Any]) -> Any:
    try:
        return run_program(spec["program"], spec.get("table"), spec.get("dsl", "auto"))
    except ProgramError as e:
        raise GoldError(f"gold program fails: {e}") from None


def _choice_gold(spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``(gold letters, options)``; raises GoldError when the gold is not among the options."""
    gold_raw = spec.get("answer")
    gold = sorted({str(g).strip().upper() for g in (gold_raw if isinstance(gold_raw, list) else [gold_raw])
                   if g is not None and str(g).strip()})
    options = [str(o).strip().upper() for o in spec.get("options") or list("ABCDEFGH")]
    if any(len(o) != 1 or not o.isalnum() for o in options):
        raise GoldError(f"options must be single letters or digits, got {_short(spec.get('options'))}")
    if not gold or any(g not in options for g in gold):
        raise GoldError(f"gold choice {_short(gold_raw)} is not among options {options}")
    return gold, options
