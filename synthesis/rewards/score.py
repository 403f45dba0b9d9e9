"""``score(reward_spec, completion) -> Result``: one code path for filtering synthesized data and RL rewards.

``reward_spec`` is data (DESIGN.md): ``{"spec_version": 1, "type": ..., "answer": ...}``, given as a dict or
its JSON string. ``Result.score`` is a float in [0, 1], or ``None`` when the item cannot be scored (unreadable
gold, no judge configured): callers skip ``None`` (TRL accepts ``None`` rewards) instead of scoring 0.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .extract import extract_answer
from .numeric import GoldError, compare_numeric
from .program import ProgramError, run_program

SPEC_VERSION = 1
TYPES = ("numeric", "choice", "exact", "set", "program", "tool_env", "judge")


@dataclass(frozen=True)
class Result:
    score: float | None
    pred: Any = None
    gold: Any = None
    reason: str = ""


class SpecError(ValueError):
    """A reward spec is malformed (wrong version, unknown type, missing answer)."""


Scorer = Callable[[dict[str, Any], Any], Result]
_SCORERS: dict[str, Scorer] = {}


def register_scorer(spec_type: str, fn: Scorer) -> None:
    """Plug in the scorer of a type filled by later work (``tool_env`` environments, the ``judge``)."""
    if spec_type not in TYPES:
        raise SpecError(f"unknown reward type {spec_type!r}; one of {TYPES}")
    _SCORERS[spec_type] = fn


def load_spec(spec: dict[str, Any] | str) -> dict[str, Any]:
    """Parse and check a reward spec (dict or JSON string); raises SpecError naming the problem."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as e:
            raise SpecError(f"reward_spec is not JSON: {e.msg}") from None
    if not isinstance(spec, dict):
        raise SpecError("reward_spec must be an object")
    if spec.get("spec_version") != SPEC_VERSION:
        raise SpecError(f"reward_spec spec_version must be {SPEC_VERSION}, got {spec.get('spec_version')!r}")
    if spec.get("type") not in TYPES:
        raise SpecError(f"reward_spec type must be one of {TYPES}, got {spec.get('type')!r}")
    return spec


def score(reward_spec: dict[str, Any] | str, completion: Any) -> Result:
    """Score one completion (text, or chat messages) against a reward spec. Never raises on bad completions."""
    try:
        spec = load_spec(reward_spec)
    except SpecError as e:
        return Result(None, reason=f"bad spec: {e}")
    t = spec["type"]
    if t in _SCORERS:
        return _SCORERS[t](spec, completion)
    if t == "tool_env":
        return Result(None, reason="tool_env scorer not registered (provided by synthesis.envs)")
    if t == "judge":
        return Result(None, reason="judge needs an endpoint: none configured")
    try:
        return _BUILTIN[t](spec, completion)
    except GoldError as e:
        return Result(None, gold=spec.get("answer"), reason=f"gold unreadable: {e}")


def score_batch(specs: list[Any], completions: list[Any]) -> list[Result]:
    return [score(s, c) for s, c in zip(specs, completions, strict=True)]


def _answer(spec: dict[str, Any], completion: Any) -> tuple[str | None, str]:
    if spec.get("extract") == "raw":  # the whole completion is the answer (classifier-style outputs)
        text = completion if isinstance(completion, str) else extract_answer(completion)[0]
        return (text.strip() if text else None), "raw"
    return extract_answer(completion)


def _numeric(spec: dict[str, Any], completion: Any) -> Result:
    ans, how = _answer(spec, completion)
    if ans is None:
        return Result(0.0, None, spec.get("answer"), "no answer found")
    s, pred, reason = compare_numeric(ans, spec)
    return Result(s, pred, spec.get("answer"), f"{reason} [{how}]")


# -- choice ---------------------------------------------------------------------------------------
def _choices(text: str, options: list[str]) -> list[str]:
    t = unicodedata.normalize("NFKC", text).strip().rstrip(".。")
    opts = "".join(options)
    if re.fullmatch(rf"[{opts}]+", t, re.IGNORECASE) and len(t) <= len(options):  # "AC" as in Chinese exams
        return sorted({c.upper() for c in t})
    found = re.findall(rf"(?<![A-Za-z])([{opts}])(?![A-Za-z])", t)
    return sorted(set(found))


def _choice(spec: dict[str, Any], completion: Any) -> Result:
    gold_raw = spec.get("answer")
    gold = sorted({str(g).strip().upper() for g in (gold_raw if isinstance(gold_raw, list) else [gold_raw])
                   if g is not None and str(g).strip()})
    options = [str(o).upper() for o in spec.get("options") or list("ABCDEFGH")]
    if not gold or any(g not in options for g in gold):
        raise GoldError(f"gold choice {gold_raw!r} is not among options {options}")
    multi = bool(spec.get("multi", len(gold) > 1))
    ans, how = _answer(spec, completion)
    if ans is None:
        return Result(0.0, None, gold, "no answer found")
    pred = _choices(ans, options)
    if not pred:
        return Result(0.0, ans, gold, f"no option letter in answer [{how}]")
    if not multi and len(pred) > 1:
        return Result(0.0, pred, gold, f"several options given to a single-answer question [{how}]")
    ok = pred == gold
    return Result(1.0 if ok else 0.0, pred, gold, ("match" if ok else "wrong option") + f" [{how}]")


# -- exact / set ----------------------------------------------------------------------------------
_PUNCT = re.compile(r"[\s\"'`.,;:!?()\[\]{}。，；：！？（）【】「」“”‘’]+")


def normalize_label(text: str, case_sensitive: bool = False) -> str:
    t = unicodedata.normalize("NFKC", str(text))
    t = _PUNCT.sub(" ", t).strip()
    t = re.sub(r"^(?:the|a|an)\s+", "", t if case_sensitive else t.lower())
    return " ".join(t.split())


def _exact(spec: dict[str, Any], completion: Any) -> Result:
    cs = bool(spec.get("case_sensitive", False))
    gold_raw = spec.get("answer")
    golds = [g for g in (gold_raw if isinstance(gold_raw, list) else [gold_raw]) if g is not None and str(g).strip()]
    if not golds:
        raise GoldError("exact spec has no answer")
    ans, how = _answer(spec, completion)
    if ans is None:
        return Result(0.0, None, gold_raw, "no answer found")
    pred = normalize_label(ans, cs)
    labels = spec.get("labels")
    if labels and pred not in {normalize_label(x, cs) for x in labels}:
        return Result(0.0, pred, gold_raw, f"not one of the {len(labels)} labels [{how}]")
    ok = pred in {normalize_label(g, cs) for g in golds}
    return Result(1.0 if ok else 0.0, pred, gold_raw, ("match" if ok else "different label") + f" [{how}]")


# Separators between set items. A comma between digits is a thousands separator ("$1,073.3"), not one.
_ITEM_SPLIT = re.compile(r"(\s*(?:[;\n、，；|]|(?<!\d),|,(?!\d)|\band\b|和)\s*)")


def _set_items(ans: str, gold: set[str], cs: bool) -> set[str]:
    """Split an answer into items; adjacent pieces are re-joined when together they are a gold item
    ("Software and other" stays one item when that is what the gold holds)."""
    parts = _ITEM_SPLIT.split(ans)[:2001]
    items, seps = parts[0::2], parts[1::2]
    out, i = [], 0
    while i < len(items):
        end = i
        for j in range(min(len(items) - 1, i + 8), i, -1):
            joined = items[i] + "".join(seps[k] + items[k + 1] for k in range(i, j))
            if normalize_label(joined, cs) in gold:
                end = j
                break
        out.append(normalize_label(items[i] + "".join(seps[k] + items[k + 1] for k in range(i, end)), cs))
        i = end + 1
    return set(out) - {""}


def _set(spec: dict[str, Any], completion: Any) -> Result:
    gold_raw = spec.get("answer")
    if not isinstance(gold_raw, list) or not gold_raw:
        raise GoldError("set spec needs a non-empty list answer")
    cs = bool(spec.get("case_sensitive", False))
    gold = {normalize_label(g, cs) for g in gold_raw} - {""}
    ans, how = _answer(spec, completion)
    if ans is None:
        return Result(0.0, None, sorted(gold), "no answer found")
    pred = _set_items(ans, gold, cs)
    tp = len(pred & gold)
    if not tp:
        return Result(0.0, sorted(pred), sorted(gold), f"no item in common [{how}]")
    p, r = tp / len(pred), tp / len(gold)
    f1 = 2 * p * r / (p + r)
    return Result(f1, sorted(pred), sorted(gold), f"F1 {f1:.3f} (P {p:.2f} R {r:.2f}) [{how}]")


# -- program --------------------------------------------------------------------------------------
_CODE = re.compile(r"```(?:[a-z]*)\n(.*?)```", re.DOTALL)


def _program(spec: dict[str, Any], completion: Any) -> Result:
    """The completion holds a program (answer block or code fence); its value is compared to the gold."""
    table, dsl = spec.get("table"), spec.get("dsl", "auto")
    gold = spec.get("answer")
    if gold is None and spec.get("program"):
        try:
            gold = run_program(spec["program"], table, dsl)
        except ProgramError as e:
            raise GoldError(f"gold program fails: {e}") from None
    if gold is None:
        raise GoldError("program spec needs an answer or a gold program")
    ans, how = _answer(spec, completion)
    if ans is None:
        fences = _CODE.findall(completion if isinstance(completion, str) else "")
        ans, how = (fences[-1], "code_fence") if fences else (None, "none")
    if ans is None:
        return Result(0.0, None, gold, "no program found")
    try:
        value = run_program(ans.strip(), table, dsl)
    except ProgramError as e:
        return Result(0.0, ans[:200], gold, f"program error: {e}")
    if isinstance(gold, str) and gold.strip().lower() in ("yes", "no"):
        ok = value == gold.strip().lower()
        return Result(1.0 if ok else 0.0, value, gold, "match" if ok else "different yes/no")
    if isinstance(value, str):
        return Result(0.0, value, gold, "program gives yes/no, gold is a number")
    num_spec = {"answer": gold, "unit": spec.get("unit"), "rel_tol": spec.get("rel_tol", 1e-5),
                "abs_tol": spec.get("abs_tol", 1e-5), "round": spec.get("round")}
    s, pred, reason = compare_numeric(repr(value), num_spec)
    return Result(s, value, gold, f"{reason} [{how}]")


_BUILTIN: dict[str, Scorer] = {"numeric": _numeric, "choice": _choice, "exact": _exact, "set": _set,
                               "program": _program}
