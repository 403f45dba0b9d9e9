"""The financial number normaliser: property-based round trips and the conventions of financial text."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance.numbers import find_quantities, parse_quantity

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


@FAST
@given(finite)
def test_thousands_separators_round_trip(x):
    text = f"{x:,.2f}"
    q = parse_quantity(text)
    assert q is not None and q.unit is None
    assert _close(q.value, float(f"{x:.2f}"))


@FAST
@given(st.floats(min_value=0, max_value=1e9, allow_nan=False), st.sampled_from(["$", "€", "£", "¥"]))
def test_accounting_negative_with_currency(x, sym):
    q = parse_quantity(f"({sym}{x:,.2f})")
    assert q is not None
    assert q.unit == "currency" and q.currency in {"USD", "EUR", "GBP", "CNY"}
    assert _close(q.value, -float(f"{x:.2f}"))


@FAST
@given(finite, st.sampled_from(["\u2212", "-", "\u2013"]))
def test_unicode_minus(x, minus):
    text = f"{minus}{abs(x):.3f}"
    q = parse_quantity(text)
    assert q is not None and _close(q.value, -float(f"{abs(x):.3f}"))


@FAST
@given(st.floats(min_value=-1000, max_value=1000, allow_nan=False))
def test_percent_and_bps_units(x):
    p = parse_quantity(f"{x:.2f}%")
    b = parse_quantity(f"{x:.1f} bps")
    assert p.unit == "percent" and _close(p.value, float(f"{x:.2f}"))
    assert b.unit == "bps" and _close(b.value, float(f"{x:.1f}"))


@FAST
@given(st.floats(min_value=0.001, max_value=1e6, allow_nan=False),
       st.sampled_from([("thousand", 1e3), ("million", 1e6), ("billion", 1e9), ("bn", 1e9), ("亿", 1e8), ("万", 1e4)]))
def test_scale_words(x, scale):
    word, mult = scale
    q = parse_quantity(f"{x:.3f} {word}")
    assert q is not None and q.scale == mult
    assert _close(q.base, float(f"{x:.3f}") * mult)


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text):
    q = parse_quantity(text)
    assert q is None or (math.isfinite(q.value) and math.isfinite(q.base))
    for q in find_quantities(text):
        assert math.isfinite(q.base)


@pytest.mark.parametrize("text,value,unit,scale", [
    ("1,234.5", 1234.5, None, 1.0),
    ("(1,234)", -1234.0, None, 1.0),
    ("$1.2 million", 1.2, "currency", 1e6),
    ("USD 3.5bn", 3.5, "currency", 1e9),
    ("3.2x", 3.2, "multiple", 1.0),
    ("12.5 percent", 12.5, "percent", 1.0),
    ("－３．５％", -3.5, "percent", 1.0),  # full-width forms
    ("25 basis points", 25.0, "bps", 1.0),
    ("1.5e3", 1500.0, None, 1.0),
    ("¥ 2.3亿", 2.3, "currency", 1e8),
    ("4.9\n", 4.9, None, 1.0),
])
def test_examples(text, value, unit, scale):
    q = parse_quantity(text)
    assert q is not None, text
    assert _close(q.value, value) and q.unit == unit and q.scale == scale


@pytest.mark.parametrize("text", ["", "n/a", "between 5 and 10", "1e999999", "9" * 400 + "e9999", "x" * 10_000,
                                  "1, 2, 3"])
def test_not_one_finite_number(text):
    assert parse_quantity(text) is None


def test_huge_digit_strings_are_fast_and_finite():
    qs = find_quantities("9" * 100_000)
    assert all(math.isfinite(q.base) for q in qs)
