"""Unit-aware comparison of a predicted number against a gold number (the ``numeric`` reward type).

Rules (DESIGN.md, REFERENCES.md verifier traps):
* an explicit unit on the prediction is converted exactly (``12.5%`` is 0.125 against a ratio gold, ``25 bps``
  is 0.25 against a percent gold); a bare number is read in the gold's unit and scale;
* percent↔ratio equivalence for a *bare* number (``0.125`` against ``12.5%``) only with ``allow_percent_ratio``:
  never a silent ×100, which would let an answer off by 100× score;
* a bare number against a scaled gold (``1.2 million``) may also be the fully written value (``1,200,000``);
* currencies must agree when both sides name one; relative and absolute tolerance, or ``round`` to N decimals;
* ``precision`` (decimals the gold is written at, in its unit): a prediction written with at least that many
  decimals also matches when it is the gold rounded to the prediction's own decimals ("22%" and "21.65%" for
  21.651% written "22%"; not "23%"); ``abs_tol`` covers a gold that is itself rounded (FinQA's 5 decimals).
"""

from __future__ import annotations

import math
from typing import Any

from finance.answers import agrees_at, written_decimals
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
    return [(v, how) for v, how, _ in _readings(pred, gold, allow_percent_ratio)]


def _readings(pred: Quantity, gold: Quantity, allow_percent_ratio: bool) -> list[tuple[float, str, float]]:
    """``(value in the gold's unit and scale, how, factor)``: value = written number × factor."""
    g_unit = gold.unit
    if g_unit in PERCENT_FAMILY:
        g_factor = UNIT_FACTORS_TO_RATIO[g_unit]
        if pred.unit in PERCENT_FAMILY:  # explicit unit: exact conversion
            f = pred.scale * UNIT_FACTORS_TO_RATIO[pred.unit] / g_factor
            return [(pred.value * f, f"{pred.unit}→{g_unit}", f)]
        if pred.unit not in (None, "multiple"):
            return []
        out = [(pred.base, "bare, gold unit", pred.scale)]
        if allow_percent_ratio and g_unit in ("ratio", "percent"):
            other = "percent" if g_unit == "ratio" else "ratio"
            f = pred.scale * UNIT_FACTORS_TO_RATIO[other] / g_factor
            out.append((pred.value * f, f"bare as {other} (allowed)", f))
        return out
    if pred.unit in PERCENT_FAMILY:
        return []  # a percent answer to a currency/count question is wrong, not convertible
    if pred.scale != 1.0:  # explicit scale: compare full values in the gold's scale
        return [(pred.base / gold.scale, "scaled", pred.scale / gold.scale)]
    out = [(pred.value, "bare, gold scale", 1.0)]
    if gold.scale != 1.0:
        out.append((pred.value / gold.scale, "bare, written in full", 1.0 / gold.scale))
    return out


def _decimals_in_gold_unit(written: int | None, factor: float) -> int | None:
    """Decimals of a prediction once read in the gold's unit (``0.22`` as a percent: 2 → 0); None unless the
    conversion is a power of ten."""
    if written is None or factor <= 0:
        return None
    shift = math.log10(factor)
    if abs(shift - round(shift)) > 1e-9:
        return None
    return written - round(shift)


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
    cands = _readings(pred, gold, bool(spec.get("allow_percent_ratio", False)))
    if not cands:
        return 0.0, pred.base, f"unit {pred.unit} cannot be compared with {gold.unit or 'a plain number'}"
    precision = spec.get("precision")
    written = written_decimals(pred_text) if precision is not None else None
    for value, how, factor in cands:
        if close(value, gold.value, rel, abs_, nd):
            return 1.0, value, f"match ({how})"
        d = _decimals_in_gold_unit(written, factor)
        if d is not None and d >= int(precision) and agrees_at(gold.value, value, d, slack=abs_):
            return 1.0, value, f"match ({how}, the gold rounded to {d} decimals)"
    return 0.0, cands[0][0], f"{cands[0][0]:.6g} != {gold.value:.6g} ({cands[0][1]})"
