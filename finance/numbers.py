"""Financial number parsing: units, scales, accounting negatives, separators, currency symbols.

``parse_quantity("($1,234.5) million")`` → ``Quantity(value=-1234.5, unit="currency", scale=1e6, currency="USD")``.
Hand-written because no library reads the accounting conventions of financial text (parentheses for
negatives, "bps", "3.2x", scale words, 万/亿) into a value *and* a unit; TAT-QA's answer ``scale`` is the model.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

# percent-like units are one family (ratio, percent, bps) whose conversions are explicit, never guessed
UNIT_FACTORS_TO_RATIO = {"ratio": 1.0, "percent": 0.01, "bps": 0.0001}
SCALES = {
    None: 1.0, "": 1.0, "one": 1.0, "unit": 1.0,
    "thousand": 1e3, "k": 1e3, "thousands": 1e3,
    "million": 1e6, "m": 1e6, "mn": 1e6, "mm": 1e6, "millions": 1e6,
    "billion": 1e9, "b": 1e9, "bn": 1e9, "billions": 1e9,
    "trillion": 1e12, "t": 1e12, "tn": 1e12, "trillions": 1e12,
    "万": 1e4, "亿": 1e8, "万亿": 1e12, "千": 1e3, "百万": 1e6,
}
CURRENCY_SYMBOLS = {"$": "USD", "us$": "USD", "€": "EUR", "£": "GBP", "¥": "CNY", "￥": "CNY", "₹": "INR",
                    "hk$": "HKD", "元": "CNY", "人民币": "CNY"}
CURRENCY_CODES = {"usd", "eur", "gbp", "cny", "rmb", "jpy", "hkd", "inr", "chf", "cad", "aud"}
MAX_TEXT = 512  # answer strings longer than this are not a single number

_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+|\d+(?:\.\d+)?"
# sign, currency prefix, number, exponent, scale word, unit suffix — one linear pass. A match never starts on a
# space, and every space run is possessive (``\s*+``): none of the optional parts starts with a space, so giving
# spaces back can never help, and with plain ``\s*`` a run of 200 spaces took minutes (the runs between the
# optional parts were re-split at every start position).
_QTY = re.compile(
    r"(?!\s)(?P<open>\()?\s*+(?P<sign>[-+])?\s*+"
    r"(?P<cur>us\$|hk\$|[$€£¥￥₹]|(?:usd|eur|gbp|cny|rmb|jpy|hkd|inr|chf|cad|aud)\b)?\s*+"
    r"(?P<sign2>[-+])?(?P<num>" + _NUM + r")(?P<exp>e[-+]?\d+)?"
    r"\s*+(?P<scale>万亿|百万|千|万|亿|thousands?|millions?|billions?|trillions?|mn|mm|bn|tn|[kmbt](?![a-z]))?"
    r"\s*+(?P<unit>%|％|percent(?:age points?)?|pct|basis points?|bps?|x(?![a-z])|×|times\b|"
    r"(?:usd|eur|gbp|cny|rmb|jpy|hkd)\b|元|人民币|dollars?\b)?\s*+(?P<close>\))?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Quantity:
    """A parsed number: ``value`` as written (sign applied), its ``scale`` multiplier and unit."""

    value: float
    unit: str | None = None  # ratio | percent | bps | currency | multiple | None (bare)
    scale: float = 1.0
    currency: str | None = None

    @property
    def base(self) -> float:
        """The value with its scale applied (``1.2 million`` → 1.2e6)."""
        return self.value * self.scale


class NumberError(ValueError):
    pass


def normalize_text(text: str) -> str:
    """NFKC (full-width digits, ％), unicode minus/dashes → '-', thin/no-break spaces → ' '."""
    t = unicodedata.normalize("NFKC", text)
    for ch in "\u2212\u2012\u2013\u2014\u2010\u2011\ufe63\uff0d":
        t = t.replace(ch, "-")
    for ch in "\u00a0\u2009\u202f\u2007":
        t = t.replace(ch, " ")
    return t.strip()


def find_quantities(text: str) -> list[Quantity]:
    """Every number in ``text`` with the unit and scale written next to it (non-finite ones left out)."""
    return [q for q in _scan(text) if q is not None]


def _scan(text: str) -> list[Quantity | None]:
    t = normalize_text(text)
    if len(t) > 20 * MAX_TEXT:
        t = t[: 20 * MAX_TEXT]
    return [_to_quantity(m) for m in _QTY.finditer(t)]


def parse_quantity(text: str | float | int, strict: bool = False) -> Quantity | None:
    """Parse one number with its unit; ``None`` when there is no number or more than one.

    ``strict``: the text must be nothing but the number and its unit (used for gold answers, where
    "see note 4" is not the number 4)."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return Quantity(float(text)) if math.isfinite(float(text)) else None
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return None
    t = normalize_text(text).rstrip(".。")
    if strict:
        m = _QTY.fullmatch(t)
        return _to_quantity(m) if m else None
    qs = _scan(t)
    if len(qs) != 1:  # none, several, or one that is not finite (1e999) → not one number
        return None
    return qs[0]


def _to_quantity(m: re.Match) -> Quantity | None:
    raw = m.group("num").replace(",", "")
    try:
        value = float(raw + (m.group("exp") or ""))
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    neg = (m.group("sign") == "-") ^ (m.group("sign2") == "-")
    if m.group("open") and m.group("close"):  # accounting negative: (1,234)
        neg = not neg
    if neg:
        value = -value
    scale_word = (m.group("scale") or "").lower()
    scale = SCALES.get(scale_word, 1.0)
    unit_word = (m.group("unit") or "").lower()
    cur_word = (m.group("cur") or "").lower()
    currency = CURRENCY_SYMBOLS.get(cur_word) or (cur_word.upper() if cur_word in CURRENCY_CODES else None)
    unit: str | None = None
    if unit_word in ("%", "％", "pct") or unit_word.startswith("percent"):
        unit = "percent"
    elif unit_word.startswith("basis") or unit_word in ("bp", "bps"):
        unit = "bps"
    elif unit_word in ("x", "×", "times"):
        unit = "multiple"
    elif unit_word:
        unit = "currency"
        currency = currency or CURRENCY_SYMBOLS.get(unit_word) or (
            "USD" if unit_word.startswith("dollar") else unit_word.upper().replace("RMB", "CNY"))
    if currency and unit is None:
        unit = "currency"
    if currency == "RMB":
        currency = "CNY"
    if not math.isfinite(value * scale):
        return None
    return Quantity(value, unit, scale, currency)


def to_ratio(q: Quantity) -> float | None:
    """The value of a percent-family quantity as a plain ratio (12.5% → 0.125); None for other units."""
    f = UNIT_FACTORS_TO_RATIO.get(q.unit or "")
    return None if f is None else q.base * f


def round_half_away(x: float, ndigits: int) -> float:
    """Round half away from zero (accounting convention), not Python's banker's rounding.

    Total on floats: a value with no digits left at that precision (beyond 2**53 once scaled, or not finite)
    is returned as it is, instead of overflowing in ``floor``."""
    try:
        q = 10.0**ndigits
    except OverflowError:
        return x
    if q == 0.0:
        return 0.0 * x
    y = abs(x) * q
    if not math.isfinite(y) or y >= 2.0**53:
        return x
    return math.copysign(math.floor(y + 0.5) / q, x)
