"""The offline rubric scorer: programmatic checks that score a ``judge`` spec without an endpoint.

A business-scenario prompt (``synthesis/generators/scenarios.py``) carries, besides the rubric text an LLM judge
reads, a ``checks`` map that a program can verify. With no judge configured, general RL and the ``general_score``
stage metric score these checks; with a judge, the judge scores the rubrics and the same hard rules still cap it.

    checks:
      language: zh            # the answer is in the question's language (script share, finance.text)
      figures: [1198, 1087]   # the context's figures: every figure the answer states must be one of them
      cite: [1198]            # at least one of these must be stated (the answer uses the context)
      risk_disclosure: true   # a risk statement is required (investment advice, product explanations)
      no_guarantee: true      # no promise of returns (synthesis.judge.compliance)
      verdict: [non-compliant, 不合规]   # one of these phrases must appear (compliance reviews)
      min_chars: 40           # an answer, not a stub
      unit_scale: 1000000     # the figures' unit (millions): "$1.2 billion" is read as 1,200 (optional)

Each check scores 0 or 1 (``figures`` the share of stated figures found in the context); the score is their
mean, so it lies in [0, 1] like the judge's, and ``reason`` names the failed checks. ``cite`` (else ``verdict``)
gates the rest: an answer that uses no figure of the context, or gives no verdict, scores 0 — otherwise text that
merely avoids promises in the right script would collect most of the points. Written here because no
library checks financial-advice text against a context; the number reading is ``finance.numbers``'.
"""

from __future__ import annotations

import math
import re
from typing import Any

from finance.numbers import find_quantities
from finance.text import script_of

from .compliance import guarantee_violations

CHECKS = ("language", "figures", "cite", "risk_disclosure", "no_guarantee", "verdict", "min_chars")
PARAMS = ("unit_scale",)  # settings of the checks, not checks

RISK_DISCLOSURE = re.compile(
    r"(?:investments?|investing|the value|prices?|returns?)\b[^.]{0,60}\b(?:may|can|could)\s+(?:fall|go down|"
    r"decline|lose|vary|fluctuate)|past performance[^.]{0,40}not[^.]{0,20}(?:guarantee|indicat)|"
    r"(?:carries|involves|has|bears)\s+(?:some\s+|significant\s+|market\s+)?risks?|\brisk of loss\b|"
    r"not (?:a )?guarantee[ds]?|capital (?:is )?at risk|"
    r"投资有风险|市场有风险|存在风险|可能(?:出现)?(?:亏损|下跌|损失)|过往业绩不代表|不代表未来|本金(?:可能)?(?:亏损|损失)|风险提示",
    re.IGNORECASE)
_YEAR = re.compile(r"^(?:19|20)\d{2}$")


def check_names(checks: dict[str, Any]) -> list[str]:
    """The checks a spec asks for, in a fixed order (unknown keys are refused by ``validate_checks``)."""
    return [c for c in CHECKS if checks.get(c) not in (None, False, [], "")]


def validate_checks(checks: Any) -> str | None:
    """Why ``checks`` is not a valid checks map, or None."""
    if not isinstance(checks, dict):
        return f"field 'checks' must be a mapping, got {type(checks).__name__}"
    unknown = sorted(set(checks) - set(CHECKS) - set(PARAMS))
    if unknown:
        return f"field 'checks': unknown check(s) {unknown}; known: {list(CHECKS)}"
    if checks.get("language") not in (None, "en", "zh"):
        return f"field 'checks.language' must be 'en' or 'zh', got {checks['language']!r}"
    for f in ("figures", "cite"):
        v = checks.get(f)
        if v is not None and not (isinstance(v, list) and all(_finite(x) for x in v)):
            return f"field 'checks.{f}' must be a list of finite numbers"
    v = checks.get("verdict")
    if v is not None and not (isinstance(v, list) and v and all(isinstance(x, str) and x for x in v)):
        return "field 'checks.verdict' must be a non-empty list of phrases"
    if checks.get("min_chars") is not None and not (isinstance(checks["min_chars"], int)
                                                    and 0 <= checks["min_chars"] <= 100_000):
        return "field 'checks.min_chars' must be an integer in [0, 100000]"
    us = checks.get("unit_scale")
    if us is not None and not (_finite(us) and us > 0):
        return "field 'checks.unit_scale' must be a positive number"
    if not check_names(checks):
        return "field 'checks' asks for no check"
    return None


def _finite(x: Any) -> bool:
    try:
        return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)
    except OverflowError:  # 10**400
        return False


def stated_figures(text: str, unit_scale: float | None = None) -> list[float]:
    """The figures a text states, in the context's unit when ``unit_scale`` is given ("$1.2 billion" → 1,200
    for millions); years and small bare numbers ("in 2019", "1.", "3 points") are left out."""
    out = []
    for q in find_quantities(text):
        if q.unit is None and q.scale == 1 and (_YEAR.match(f"{q.value:g}") or abs(q.value) < 10):
            continue
        out.append(q.base / unit_scale if unit_scale and q.scale != 1 else q.value)
    return out


def _matches(x: float, figures: list[float]) -> bool:
    # as written in the context (1,198), a sign dropped ("fell by 23" for -23), or rounded to 3 significant digits
    return any(math.isclose(abs(x), abs(f), rel_tol=5e-3, abs_tol=1e-9) for f in figures)


def score_checks(checks: dict[str, Any], text: str) -> tuple[float, list[str]]:
    """``(score in [0, 1], failed check names)`` of ``text`` under ``checks``."""
    text = text or ""
    results: dict[str, float] = {}
    body = text.strip()
    if checks.get("min_chars"):
        results["min_chars"] = float(len(body) >= int(checks["min_chars"]))
    if checks.get("language"):
        results["language"] = float(script_of(body) == checks["language"])
    stated = stated_figures(body, checks.get("unit_scale")) if checks.get("figures") or checks.get("cite") else []
    if checks.get("figures"):
        figs = [float(f) for f in checks["figures"]]
        results["figures"] = sum(_matches(x, figs) for x in stated) / len(stated) if stated else 1.0
    if checks.get("cite"):
        results["cite"] = float(any(_matches(x, [float(c) for c in checks["cite"]]) for x in stated))
    if checks.get("risk_disclosure"):
        results["risk_disclosure"] = float(bool(RISK_DISCLOSURE.search(body)))
    if checks.get("no_guarantee"):
        results["no_guarantee"] = float(not guarantee_violations(body))
    if checks.get("verdict"):
        low = body.lower()
        results["verdict"] = float(any(v.lower() in low for v in checks["verdict"]))
    if not results:
        return 0.0, ["no checks"]
    failed = [k for k in CHECKS if k in results and results[k] < 1.0]
    gate = "cite" if "cite" in results else "verdict" if "verdict" in results else None
    if gate and results[gate] < 1.0:
        return 0.0, failed
    return sum(results.values()) / len(results), failed
