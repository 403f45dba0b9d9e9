"""Check benchmark programs with the safe interpreter: does each gold program reproduce its gold answer?

``verify_finqa(records)`` runs ``qa.program`` (FinQA DSL, with the record's table) against ``qa.exe_ans``;
``verify_convfinqa(records)`` runs the last of ``programs`` (PoT arithmetic) against ``answer``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from finance.arith import ProgramError, Value, run_finqa, run_python_arith
from finance.benchmarks import read_records


def agrees(value: Value, gold: Any, ndigits: int = 5) -> bool:
    """FinQA's convention: answers are stored rounded to 5 decimals; yes/no compare as text."""
    if isinstance(gold, str) or isinstance(value, str):
        return str(value).strip().lower() == str(gold).strip().lower()
    if gold is None or not math.isfinite(float(gold)):
        return False
    return math.isclose(round(value, ndigits), float(gold), rel_tol=1e-5, abs_tol=10.0**-ndigits)


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """A JSON array (FinQA/ConvFinQA releases) or JSON Lines file of records (``finance.benchmarks.read_records``)."""
    return read_records(path)


def _check(records: Iterable[dict[str, Any]], run) -> dict[str, Any]:
    total, agree, disagree, errors = 0, 0, [], {}
    for i, rec in enumerate(records):
        total += 1
        rid = str(rec.get("id", i)) if isinstance(rec, dict) else str(i)
        try:
            value, gold = run(rec)
        except (ProgramError, KeyError, TypeError, IndexError) as e:
            disagree.append(rid)
            errors[rid] = f"{type(e).__name__}: {e}"
            continue
        if agrees(value, gold):
            agree += 1
        else:
            disagree.append(rid)
            errors[rid] = f"program gives {value!r}, gold is {gold!r}"
    return {"total": total, "agree": agree, "disagree": disagree, "reasons": errors,
            "agreement": round(agree / total, 5) if total else None}


def _require_layout(records: list[Any], has: Any, layout: str, hint: str) -> None:
    """A file in another layout is a usage error, not N disagreements with ``KeyError: 'qa'`` each."""
    if records and not any(isinstance(r, dict) and has(r) for r in records):
        raise ValueError(f"no record has the {layout} layout; {hint}")


def verify_finqa(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    records = list(records)
    _require_layout(records, lambda r: isinstance(r.get("qa"), dict) and "program" in r["qa"],
                    "FinQA (qa.program, qa.exe_ans)",
                    "for ConvFinQA's Program-of-Thoughts layout (programs, answer) use `huijin verify convfinqa`")
    return _check(records, lambda r: (run_finqa(r["qa"]["program"], r.get("table")), r["qa"]["exe_ans"]))


def verify_convfinqa(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """PoT layout: every turn's program must run; the last one must reproduce ``answer``."""
    records = list(records)
    _require_layout(records, lambda r: isinstance(r.get("programs"), list) and "answer" in r,
                    "ConvFinQA Program-of-Thoughts (programs, answer)",
                    "for FinQA's layout (qa.program, qa.exe_ans) use `huijin verify finqa`")

    def run(r: dict[str, Any]):
        progs = r["programs"]
        for k, p in enumerate(progs[:-1]):
            try:
                run_python_arith(p)
            except ProgramError as e:
                raise ProgramError(f"turn {k}: {e}") from None
        return run_python_arith(progs[-1]), r["answer"]

    return _check(records, run)
