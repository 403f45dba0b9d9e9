"""``score(reward_spec, completion) -> Result``: one code path for filtering synthesized data and RL rewards.

``reward_spec`` is data (DESIGN.md): ``{"spec_version": 1, "type": ..., "answer": ...}``, given as a dict or
its JSON string. ``Result.score`` is a float in [0, 1], or ``None`` when the item cannot be scored (unreadable
gold, no judge configured): callers skip ``None`` (TRL accepts ``None`` rewards) instead of scoring 0.

``score()`` never raises on policy text or on a bad spec, because one sample must not be able to kill an RL
step or abort ``huijin verify``:

* a hostile or broken completion (a program that overflows, 10,000 nested braces, bytes, a non-string) scores
  0 with the reason;
* a malformed spec (wrong types, ``rel_tol: "x"``, ``round: 1e20``, nested JSON as the answer, a gold that does
  not read) scores ``None`` with the reason. :func:`validate_spec` (``spec.py``) raises the same problem as a
  :class:`SpecError` (a ``ValueError``); it runs when an ``rl`` record is built for a version
  (``synthesis.generators.records.rl_record``), so bad specs are refused when written, not found in training.

Scorers live in an explicit registry: :func:`register_builtin_scorers` registers the built-in ones (numeric,
choice, exact, set, program, tool_env — the replayed agent environment of ``synthesis.envs`` — and judge, which
gives ``None`` until a configured judge is registered with ``register_scorer("judge",
synthesis.judge.judge_scorer(judge))``). It runs on the first :func:`score` call (or explicitly at start-up);
importing a module registers nothing. :func:`register_scorer` / :func:`use_scorer` replace one type's scorer.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from finance.arith import ProgramError, run_program

from .extract import completion_text, extract_answer
from .numeric import GoldError, compare_numeric
from .spec import (  # noqa: F401 — SPEC_VERSION, TYPES, UNITS, load_spec: the public names stay importable here
    SPEC_VERSION,
    TYPES,
    UNITS,
    SpecError,
    _choice_gold,
    _gold_of_program,
    _is_label,
    _short,
    load_spec,
    validate_spec,
)


@dataclass(frozen=True)
class Result:
    score: float | None
    pred: Any = None
    gold: Any = None
    reason: str = ""



Scorer = Callable[[dict[str, Any], Any], Result]
_REGISTRY: dict[str, Scorer] = {}
_builtins_registered = False


# -- the registry ---------------------------------------------------------------------------------
def register_builtin_scorers() -> None:
    """Register the built-in scorer of every type (idempotent; a scorer registered since is not replaced)."""
    global _builtins_registered
    if _builtins_registered:
        return
    _builtins_registered = True
    for t, fn in _BUILTIN.items():
        _REGISTRY.setdefault(t, fn)


def register_scorer(spec_type: str, fn: Scorer) -> Scorer | None:
    """Make ``fn`` the scorer of ``spec_type`` (for example a configured judge); returns the scorer it replaced."""
    if spec_type not in TYPES:
        raise SpecError(f"unknown reward type {spec_type!r}; one of {TYPES}")
    if not callable(fn):
        raise TypeError(f"scorer for {spec_type!r} must be callable (spec, completion) -> Result")
    register_builtin_scorers()
    old = _REGISTRY.get(spec_type)
    _REGISTRY[spec_type] = fn
    return old


def unregister_scorer(spec_type: str) -> Scorer | None:
    """Remove the scorer of ``spec_type`` (its specs then score ``None``); returns the one removed."""
    register_builtin_scorers()
    return _REGISTRY.pop(spec_type, None)


def registered_scorers() -> dict[str, Scorer]:
    """A copy of the registry: type → scorer."""
    register_builtin_scorers()
    return dict(_REGISTRY)


@contextlib.contextmanager
def use_scorer(spec_type: str, fn: Scorer | None) -> Iterator[None]:
    """Within the block, ``spec_type`` is scored by ``fn`` (``None``: by nothing); restored afterwards."""
    old = register_scorer(spec_type, fn) if fn is not None else unregister_scorer(spec_type)
    try:
        yield
    finally:
        if old is None:
            _REGISTRY.pop(spec_type, None)
        else:
            _REGISTRY[spec_type] = old


# -- scoring --------------------------------------------------------------------------------------
def score(reward_spec: dict[str, Any] | str, completion: Any) -> Result:
    """Score one completion (text, or chat messages) against a reward spec. Never raises (module docstring)."""
    try:
        spec = validate_spec(reward_spec)
    except SpecError as e:
        gold = reward_spec.get("answer") if isinstance(reward_spec, dict) else None
        return Result(None, gold=gold, reason=f"bad spec: {e}")
    except Exception as e:  # noqa: BLE001 — a validator bug must not kill an RL step either
        return Result(None, reason=f"bad spec: validation failed ({type(e).__name__}: {_short(str(e))})")
    register_builtin_scorers()
    scorer = _REGISTRY.get(spec["type"])
    if scorer is None:
        return Result(None, gold=spec.get("answer"), reason=f"no scorer registered for type {spec['type']!r}")
    try:
        r = scorer(spec, completion)
    except GoldError as e:
        return Result(None, gold=spec.get("answer"), reason=f"gold unreadable: {e}")
    except ProgramError as e:
        return Result(0.0, gold=spec.get("answer"), reason=f"program error: {e}")
    except (RecursionError, MemoryError, OverflowError, ValueError, TypeError) as e:
        # every known hostile completion is handled inside the scorers; this is the last line of defence
        return Result(0.0, gold=spec.get("answer"),
                      reason=f"completion could not be scored ({type(e).__name__}: {_short(str(e))})")
    except Exception as e:  # noqa: BLE001 — a plug-in scorer (judge, environment) failing is not the policy's fault
        return Result(None, gold=spec.get("answer"), reason=f"scorer failed ({type(e).__name__}: {_short(str(e))})")
    return _checked(r)


def _checked(r: Any) -> Result:
    """A scorer's result as promised: a float in [0, 1] or None, and a string reason."""
    if not isinstance(r, Result):
        return Result(None, reason=f"scorer returned {type(r).__name__}, not a Result")
    s = r.score
    if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s)
                          or not 0.0 <= s <= 1.0):
        return Result(None, r.pred, r.gold, f"scorer returned score {_short(s)} outside [0, 1]: {r.reason}")
    reason = r.reason if isinstance(r.reason, str) else str(r.reason)
    return Result(None if s is None else float(s), r.pred, r.gold, reason)


def score_batch(specs: list[Any], completions: list[Any]) -> list[Result]:
    return [score(s, c) for s, c in zip(specs, completions, strict=True)]


def _answer(spec: dict[str, Any], completion: Any) -> tuple[str | None, str]:
    if spec.get("extract") == "raw":  # the whole completion is the answer (classifier-style outputs)
        text = completion_text(completion) if isinstance(completion, str) else extract_answer(completion)[0]
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
    opts = re.escape("".join(options))
    if re.fullmatch(rf"[{opts}]+", t, re.IGNORECASE) and len(t) <= len(options):  # "AC" as in Chinese exams
        return sorted({c.upper() for c in t})
    found = re.findall(rf"(?<![A-Za-z])([{opts}])(?![A-Za-z])", t)
    return sorted(set(found))


def _choice(spec: dict[str, Any], completion: Any) -> Result:
    gold, options = _choice_gold(spec)
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
        gold = _gold_of_program(spec)
    if gold is None:
        raise GoldError("program spec needs an answer or a gold program")
    ans, how = _answer(spec, completion)
    if ans is None:
        fences = _CODE.findall(completion_text(completion) if isinstance(completion, str) else "")
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


def _tool_env(spec: dict[str, Any], completion: Any) -> Result:
    """The agent environment's reward (``synthesis.envs``), imported on first use: envs imports this module.

    The trajectory is put in shape first (policy text can hold anything), so what fails after that is the
    environment's failure (``None``), not the completion's."""
    from synthesis.envs.reward import score_tool_env

    trajectory = _trajectory(completion)
    try:
        return score_tool_env(spec, trajectory)
    except Exception as e:  # noqa: BLE001 — the environment (database, documents) failed, not the policy
        return Result(None, gold=spec.get("answer"), reason=f"environment failed ({type(e).__name__}: "
                                                            f"{_short(str(e))})")


def _trajectory(completion: Any) -> list[dict[str, Any]]:
    """Messages with the shapes the environment reads; a malformed tool call stays, as an invalid call."""
    if isinstance(completion, str):
        return [{"role": "assistant", "content": completion}]
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)):
        return []
    out = []
    for m in completion:
        if not isinstance(m, dict):
            continue
        msg: dict[str, Any] = {"role": m.get("role") if isinstance(m.get("role"), str) else "assistant",
                               "content": m.get("content") if isinstance(m.get("content"), str) else None}
        if isinstance(m.get("tool_call_id"), (str, int)):
            msg["tool_call_id"] = str(m["tool_call_id"])
        if isinstance(m.get("name"), str):
            msg["name"] = m["name"]
        calls = m.get("tool_calls")
        if isinstance(calls, list) and calls:
            msg["tool_calls"] = [_tool_call(c) for c in calls]
        out.append(msg)
    return out


def _tool_call(c: Any) -> dict[str, Any]:
    c = c if isinstance(c, dict) else {}
    fn = c.get("function", c)
    fn = fn if isinstance(fn, dict) else {}
    args = fn.get("arguments")
    if not isinstance(args, str):
        try:
            args = json.dumps(args if args is not None else {}, sort_keys=True)
        except (TypeError, ValueError, RecursionError):
            args = "{}"
    cid = c.get("id")
    return {"id": str(cid) if isinstance(cid, (str, int)) else None, "type": "function",
            "function": {"name": fn.get("name") if isinstance(fn.get("name"), str) else "", "arguments": args}}


def _judge_offline(spec: dict[str, Any], completion: Any) -> Result:
    """A ``judge`` spec with no judge configured: its programmatic ``checks`` (the judge module's offline path),
    else unscored."""
    from synthesis.judge.judge import offline_score

    value, reason = offline_score(spec, completion)
    return Result(value, gold=spec.get("reference"), reason=reason)


_BUILTIN: dict[str, Scorer] = {"numeric": _numeric, "choice": _choice, "exact": _exact, "set": _set,
                               "program": _program, "tool_env": _tool_env, "judge": _judge_offline}
