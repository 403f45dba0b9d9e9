"""The answer model: a gold number with its unit, scale, currency and the precision it is written at.

Every numeric reward spec, eval item and decontamination key of a benchmark question is built here, from one
``Answer``, so an RL task and an eval item made from the same question carry identical specs:

* ``written_decimals("3.8%") == 1``, ``written_decimals("22%") == 0``: the precision a human wrote.
* ``finqa_answer(exe_ans, "3.8%")``: FinQA's ``exe_ans`` is sometimes a ratio (0.21651 for "22%") and sometimes
  already the percent number (3.8 for "3.8%"); the unit is the reading of ``exe_ans`` that agrees with the
  written answer at the written precision — never a blind ×100.
* ``question_spec(record, question)``: the reward spec of any FinQA / TAT-QA / ConvFinQA / multiple-choice
  question (``value`` passes a gold computed by the caller, e.g. from the question's program).

A spec with ``precision`` (decimals, in the gold's unit) accepts a prediction written with at least that many
decimals when it is the exact gold rounded to the prediction's own decimals (``synthesis/rewards/numeric.py``):
"22%", "21.7%" and "21.65%" for a gold of 21.651% written "22%"; not "23%", "20%" or "21.6%".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .benchmarks import BenchmarkRecord, BenchQuestion
from .numbers import normalize_text, parse_quantity

SPEC_VERSION = 1
BENCH_TOL = {"rel_tol": 5e-3}  # benchmark answers whose written precision is unknown: annotators round
RATIO_TOL = {"rel_tol": 1e-3, "abs_tol": 1e-4}  # a ratio computed by a program (ConvFinQA turns)
AMOUNT_TOL = {"rel_tol": 1e-3, "abs_tol": 0.01}
FINQA_DECIMALS = 5  # FinQA stores exe_ans rounded to 5 decimals: the exact gold is known that far
TATQA_SCALES = {"thousand", "million", "billion"}
YES_NO = ["yes", "no"]

_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.(\d*))?(?:e([-+]?\d+))?|(?<![\w.])\.(\d+)", re.IGNORECASE)


def written_decimals(text: Any) -> int | None:
    """Decimals of the one number written in ``text`` (``"1,234.50"`` → 2, ``"22%"`` → 0, ``"1.2e3"`` → -2);
    None when the text does not hold exactly one number. A ``float`` counts by its shortest repr."""
    if isinstance(text, bool) or text is None:
        return None
    if isinstance(text, (int, float)):
        text = repr(text) if isinstance(text, float) else str(text)
    t = normalize_text(str(text))
    ms = list(_NUMBER.finditer(t))
    if len(ms) != 1:
        return None
    m = ms[0]
    frac = m.group(1) if m.group(1) is not None else (m.group(3) or "")
    return len(frac) - int(m.group(2) or 0)


@dataclass(frozen=True)
class Answer:
    """A numeric gold: ``value`` in ``unit`` and ``scale``; ``precision`` = decimals of its written form."""

    value: float
    unit: str | None = None  # ratio | percent | bps | currency | multiple | None
    scale: str | None = None  # thousand | million | billion | 万 | 亿 …
    currency: str | None = None
    precision: int | None = None  # None: the written precision is unknown (tolerance decides)
    allow_percent_ratio: bool = False
    tol: tuple[tuple[str, float], ...] = tuple(BENCH_TOL.items())
    text: str | None = None  # the answer as written, when there is one

    def spec(self) -> dict[str, Any]:
        """The ``numeric`` reward spec (``synthesis/rewards/README.md``)."""
        spec: dict[str, Any] = {"spec_version": SPEC_VERSION, "type": "numeric", "answer": clean(self.value)}
        for k in ("unit", "scale", "currency", "precision"):
            if getattr(self, k) is not None and getattr(self, k) != "":
                spec[k] = getattr(self, k)
        if self.allow_percent_ratio:
            spec["allow_percent_ratio"] = True
        spec.update(dict(self.tol))
        return spec

    def key(self) -> str:
        """A decontamination key: the value at its written precision with unit and scale (``3.8|percent|``)."""
        return spec_key(self.spec())


def spec_key(spec: dict[str, Any]) -> str:
    """The key of a gold answer for decontamination: a numeric gold at its written precision with its unit and
    scale (``21.651`` written "22%" → ``22|percent|``), any other gold as lower-cased text."""
    if spec.get("type") != "numeric":
        ans = spec.get("answer")
        return "; ".join(sorted(str(a).strip().lower() for a in ans)) if isinstance(ans, list) else \
            str(ans).strip().lower()
    v = float(spec["answer"])
    if spec.get("precision") is not None:
        v = round(v, int(spec["precision"]))
    return f"{clean(v):.10g}|{spec.get('unit') or ''}|{spec.get('scale') or ''}"


def answer_key(record: BenchmarkRecord, q: BenchQuestion) -> str | None:
    """``spec_key`` of a benchmark question's reward spec; None when its gold cannot become a spec."""
    try:
        return spec_key(question_spec(record, q))
    except (AnswerError, ValueError, TypeError):
        return None


def clean(x: float) -> float:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError("non-finite answer")
    return float(f"{x:.10g}")


def agrees_at(value: float, written: float, decimals: int, slack: float = 0.0) -> bool:
    """``value`` rounded to ``decimals`` is ``written`` (half-way cases either way; ``slack`` for a gold that
    is itself rounded)."""
    half = 0.5 * 10.0 ** -decimals
    return abs(value - written) <= half * (1 + 1e-9) + slack + 1e-12 * max(1.0, abs(value))


def _clean_text(text: Any) -> str:
    t = str(text or "").replace("\\n", " ").strip()
    return t


def finqa_answer(exe_ans: Any, answer_text: str | None = None, scale: str | None = None) -> Answer:
    """FinQA's gold as an ``Answer``: the reading of ``exe_ans`` (as is, or ×100 as a percent) that agrees with
    the written answer at its own precision. ``scale``: the table's scale, kept for amounts.

    ``exe_ans`` 3.8 written "3.8%" → 3.8 percent (1 decimal); 0.21651 written "22%" → 21.651 percent (0 decimals);
    0.73215 written "73.22" → 73.215 percent (2 decimals). When no reading agrees (an annotation slip), the
    closer reading with the benchmark tolerance and no precision."""
    gold = float(exe_ans)
    text = _clean_text(answer_text)
    written = parse_quantity(text) if text else None
    dec = written_decimals(text) if written is not None else None
    is_pct = written is not None and written.unit == "percent"
    # (value, unit, factor): the readings the written form allows, the as-is one first
    readings = [(gold, "percent", 1.0), (gold * 100, "percent", 100.0)] if is_pct else \
        [(gold, None, 1.0), (gold * 100, "percent", 100.0)]
    if written is not None and dec is not None and written.scale == 1.0:
        for value, unit, factor in readings:
            if agrees_at(value, written.value, dec, slack=0.5 * 10.0 ** -FINQA_DECIMALS * factor):
                tol = (("rel_tol", 0.0), ("abs_tol", clean(0.5 * 10.0 ** -FINQA_DECIMALS * factor)))
                if unit == "percent":
                    return Answer(value, "percent", None, None, dec, True, tol, text)
                return Answer(value, None, scale, None, dec, False, tol, text)
    if is_pct:  # no reading agrees: the closer one
        p = written.value
        value = gold if abs(gold - p) <= abs(gold * 100 - p) else gold * 100
        return Answer(value, "percent", None, None, None, True, tuple(BENCH_TOL.items()), text)
    return Answer(gold, None, scale, None, None, False, tuple(BENCH_TOL.items()), text or None)


def amount_scale(question: str, value: float, table_scale: str | None) -> str | None:
    """The table's scale for an amount read from it; none for per-share figures, counts of years, ratios."""
    if re.search(r"per share|per unit|ratio|percent|%|years?\b|how many", question, re.IGNORECASE):
        return None
    if abs(value) < 1:
        return None
    return table_scale


class AnswerError(ValueError):
    """The gold of a question cannot become a reward spec (``reason`` names why)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def exact_spec(answer: str | list[str], labels: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"spec_version": SPEC_VERSION, "type": "exact", "answer": answer}
    if labels:
        spec["labels"] = labels
    return spec


def set_spec(items: list[str]) -> dict[str, Any]:
    return {"spec_version": SPEC_VERSION, "type": "set", "answer": [str(x) for x in items]}


def choice_spec(answer: str, options: list[str]) -> dict[str, Any]:
    return {"spec_version": SPEC_VERSION, "type": "choice", "answer": answer, "options": sorted(options)}


def _yes_no(v: Any) -> bool:
    return isinstance(v, str) and v.strip().lower() in YES_NO


def question_spec(record: BenchmarkRecord, q: BenchQuestion, value: Any = None) -> dict[str, Any]:
    """The reward spec of a benchmark question — the same one for RL import and evaluation.

    ``value``: a gold computed by the caller (a ConvFinQA turn's program result) used where the benchmark ships
    none; the shipped gold wins where there is one. Raises AnswerError when there is no usable gold."""
    if record.dataset == "finqa":
        return finqa_spec(record, q)
    if record.dataset == "tatqa":
        return tatqa_answer_spec(q)
    if record.dataset == "convfinqa":
        return convfinqa_spec(q, value)
    if record.dataset == "mc":
        if not q.options or q.answer is None or not set(str(q.answer)) <= set(q.options):
            raise AnswerError("bad_gold", f"answer {q.answer!r} not among options {sorted(q.options or {})}")
        return choice_spec(str(q.answer), list(q.options))
    raise AnswerError("no_spec", f"{record.dataset} questions have no reward spec")


def finqa_spec(record: BenchmarkRecord, q: BenchQuestion) -> dict[str, Any]:
    gold = q.answer
    if gold is None:
        raise AnswerError("no_gold", "FinQA record without exe_ans")
    if _yes_no(gold):
        return exact_spec(gold.strip().lower(), YES_NO)
    try:
        g = float(gold)
    except (TypeError, ValueError):
        raise AnswerError("bad_gold", f"exe_ans {gold!r} is not a number") from None
    return finqa_answer(g, q.answer_text, amount_scale(q.question, g, record.scale)).spec()


def tatqa_answer(q: BenchQuestion) -> Answer | None:
    """A TAT-QA numeric gold (arithmetic, count, or a span that is one number) as an Answer; None for text."""
    scale = (q.scale or "").lower()
    ans = q.answer
    if q.answer_type == "multi-span":
        return None
    if q.answer_type == "span":
        text = ans[0] if isinstance(ans, list) and len(ans) == 1 else ans
        qty = parse_quantity(text) if isinstance(text, str) else None
        if qty is None or qty.unit not in (None, "currency", "percent"):
            return None
        value, unit = qty.value, qty.unit
    else:
        try:
            value, unit = float(ans[0] if isinstance(ans, list) else ans), None
        except (TypeError, ValueError):
            raise AnswerError("bad_gold", f"{q.answer_type} answer {ans!r} is not a number") from None
    if scale == "percent" or unit == "percent":
        return Answer(value, "percent", tol=tuple(BENCH_TOL.items()))
    return Answer(value, None, scale if scale in TATQA_SCALES else None, tol=tuple(BENCH_TOL.items()))


def tatqa_answer_spec(q: BenchQuestion) -> dict[str, Any]:
    ans = q.answer
    if q.answer_type == "multi-span":
        items = [str(a) for a in (ans if isinstance(ans, list) else [ans]) if str(a).strip()]
        if len(items) < 2:
            raise AnswerError("bad_gold", f"multi-span answer {ans!r}")
        return set_spec(items)
    a = tatqa_answer(q)
    if a is not None:
        return a.spec()
    text = ans[0] if isinstance(ans, list) and len(ans) == 1 else ans
    if not isinstance(text, str) or not text.strip():
        raise AnswerError("bad_gold", f"span answer {ans!r}")
    return exact_spec(text.strip())


def convfinqa_spec(q: BenchQuestion, value: Any = None) -> dict[str, Any]:
    """A ConvFinQA turn: the shipped answer (last turn) or the program's value; a division is a ratio that may
    be answered as a percentage."""
    gold = q.answer if q.answer not in (None, "") else value
    if gold is None:
        raise AnswerError("no_gold", "ConvFinQA turn without an answer or a computed value")
    if _yes_no(gold):
        return exact_spec(gold.strip().lower(), YES_NO)
    try:
        g = float(gold)
    except (TypeError, ValueError):
        raise AnswerError("bad_gold", f"answer {gold!r} is not a number") from None
    final = (q.program or "").rsplit("=", 1)[-1] if q.dsl == "python" else (q.program or "").rsplit("),", 1)[-1]
    if "/" in final or "divide(" in final:
        return Answer(g, "ratio", allow_percent_ratio=True, tol=tuple(RATIO_TOL.items())).spec()
    return Answer(g, None, tol=tuple(AMOUNT_TOL.items())).spec()
