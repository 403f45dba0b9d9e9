"""Unit-aware comparison of a predicted number against a gold number (the ``numeric`` reward type).

Rules (DESIGN.md, REFERENCES.md verifier traps):
* an explicit unit on the prediction is converted exactly (``12.5%`` is 0.125 against a ratio gold, ``25 bps``
  is 0.25 against a percent gold); a bare number is read in the gold's unit and scale;
* percent↔ratio equivalence for a *bare* number (``0.125`` against ``12.5%``) only with ``allow_percent_ratio``:
  never a silent ×100, which would let an answer off by 100× score;
* a bare number against a scaled gold (``1.2 million``) may also be the fully written value (``1,200,000``);
* currencies must agree when both sides name one; relative and absolute tolerance, or ``round`` to N decimals.
"""

from __future__ import annotations

import math
from typing import Any

from finance.numbers import SCALES, UNIT_FACTORS_TO_RATIO, Quantity, parse_quantity, round_half_away

DEFAULT_REL_TOL = 1e-4
PERCENT_FAMILY = set(UNIT_FACTORS_TO_RATIO)


class GoldError(ValueError):
    """The gold answer of a spec cannot be read: the item is skipped (score None), never scored 0."""


def gold_quantity(spec: dict[str, Any]) -> Quantity:
    """The gold of a numeric spec: ``answer`` (number or string) with ``unit``/``scale``/``currency`` fields."""
    ans = spec.get("answer")
    q = parse_quantity(ans, strict=True) if ans is not None else None
    if q is None:
        raise GoldError(f"gold answer {str(ans)[:80]!r} is not one number")
    unit = spec.get("unit") or q.unit
    if unit == "count":
        unit = None
    if spec.get("scale") not in (None, "") and spec.get("scale") not in SCALES:
        raise GoldError(f"unknown scale {spec.get('scale')!r}")
    scale = SCALES[spec["scale"]] if spec.get("scale") else q.scale
    return Quantity(q.value, unit, scale, spec.get("currency") or q.currency)


def candidates(pred: Quantity, gold: Quantity, allow_percent_ratio: bool) -> list[tuple[float, str]]:
    """Readings of ``pred`` in the gold's unit and scale, each with how it was read."""
    g_unit = gold.unit
    if g_unit in PERCENT_FAMILY:
        g_factor = UNIT_FACTORS_TO_RATIO[g_unit]
        if pred.unit in PERCENT_FAMILY:  # explicit unit: exact conversion
            return [(pred.base * UNIT_FACTORS_TO_RATIO[pred.unit] / g_factor, f"{pred.unit}→{g_unit}")]
        if pred.unit not in (None, "multiple"):
            return []
        out = [(pred.base, "bare, gold unit")]
        if allow_percent_ratio and g_unit in ("ratio", "percent"):
            other = "percent" if g_unit == "ratio" else "ratio"
            out.append((pred.base * UNIT_FACTORS_TO_RATIO[other] / g_factor, f"bare as {other} (allowed)"))
        return out
    if pred.unit in PERCENT_FAMILY:
        return []  # a percent answer to a currency/count question is wrong, not convertible
    if pred.scale != 1.0:  # explicit scale: compare full values in the gold's scale
        return [(pred.base / gold.scale, "scaled")]
    out = [(pred.value, "bare, gold scale")]
    if gold.scale != 1.0:
        out.append((pred.value / gold.scale, "bare, written in full"))
    return out


def close(a: float, b: float, rel_tol: float, abs_tol: float, ndigits: int | None) -> bool:
    if ndigits is not None:
        return round_half_away(a, ndigits) == round_half_away(b, ndigits)
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


def compare_numeric(pred_text: str, spec: dict[str, Any]) -> tuple[float, Any, str]:
    """``(score, pred_value, reason)`` for a predicted answer string; raises GoldError for a bad gold."""
    gold = gold_quantity(spec)
    pred = parse_quantity(pred_text)
    if pred is None:
        return 0.0, pred_text[:200], "prediction is not exactly one number"
    if gold.currency and pred.currency and gold.currency != pred.currency:
        return 0.0, pred.base, f"currency {pred.currency} != {gold.currency}"
    rel = float(spec.get("rel_tol", DEFAULT_REL_TOL if spec.get("round") is None else 0.0))
    abs_ = float(spec.get("abs_tol", 0.0))
    nd = spec.get("round")
    nd = None if nd is None else int(nd)
    cands = candidates(pred, gold, bool(spec.get("allow_percent_ratio", False)))
    if not cands:
        return 0.0, pred.base, f"unit {pred.unit} cannot be compared with {gold.unit or 'a plain number'}"
    for value, how in cands:
        if close(value, gold.value, rel, abs_, nd):
            return 1.0, value, f"match ({how})"
    return 0.0, cands[0][0], f"{cands[0][0]:.6g} != {gold.value:.6g} ({cands[0][1]})"
