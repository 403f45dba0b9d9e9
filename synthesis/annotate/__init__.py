"""Teacher annotation of documents, FineWeb-Edu style: additive 0–5 scores for quality and finance relevance.

    from synthesis.annotate import annotation_request, read_annotation
    reqs = [annotation_request(doc["text"], doc["id"]) for doc in docs]
    for doc, reply in zip(docs, client.run(reqs)): scores = read_annotation(reply)   # or None

The labels train the curation classifiers (fastText quality and finance-domain filters); the ``annotate``
synthesis recipe writes them as a ``doc`` version with ``scores`` ``teacher_quality`` / ``teacher_finance``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

PROMPT = """Below is an extract from a web page or filing. Score it on two additive scales.

Quality (0-5), add one point for each that holds:
- the extract has some basic information relevant to a topic, even with ads or boilerplate;
- it covers a topic coherently, even if incompletely or mixed with unrelated content;
- it is well organised and useful to learn from, like a textbook, report or explainer;
- it is highly informative with clear, substantive content and little noise;
- it is outstanding: expert-level, precise, with figures or reasoning one can rely on.

Finance relevance (0-5), add one point for each that holds:
- it mentions money, companies, markets or the economy;
- finance is a main subject (banking, investing, insurance, accounting, markets, regulation);
- it contains financial figures, statements, products or market data;
- it explains financial reasoning (valuation, risk, returns, reporting, compliance);
- it is professional financial material (filings, research, regulation, analyst-grade explanation).

Extract:
<<<
{text}
>>>
Reply with JSON: {{"quality": <0-5>, "finance": <0-5>, "reason": "<one sentence>"}}."""


class Annotation(BaseModel):
    quality: int = Field(ge=0, le=5)
    finance: int = Field(ge=0, le=5)
    reason: str = ""



SCORE_KEYS = {"quality": "teacher_quality", "finance": "teacher_finance"}


def annotation_request(text: str, rid: str | None = None, max_chars: int = 3000):
    from synthesis.teachers import Request

    return Request([{"role": "user", "content": PROMPT.format(text=text[:max_chars])}], id=rid,
                   schema=Annotation, params={"temperature": 0.0})


def read_annotation(reply: Any) -> dict[str, Any] | None:
    """``{"teacher_quality": q, "teacher_finance": f, "reason": ...}`` from a reply, or None if unusable."""
    if reply is None or not reply.ok or reply.parsed is None or reply.finish_reason == "length":
        return None
    a = reply.parsed
    return {SCORE_KEYS["quality"]: float(a["quality"]), SCORE_KEYS["finance"]: float(a["finance"]),
            "reason": str(a.get("reason") or "")[:500]}
