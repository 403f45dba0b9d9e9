"""Teacher annotation of documents for the curation classifiers (FineWeb-Edu style).

A sample of a ``doc`` version is scored by the teacher on two additive 0–5 scales: educational / informational
quality, and finance relevance. The output is a ``doc`` version whose ``scores`` hold ``teacher_quality`` and
``teacher_finance`` (plus ``meta.annotation`` with the reasons): training data for the fastText quality and
finance-domain classifiers of curation (thresholds, e.g. ≥ 3, are chosen when training them).
"""

from __future__ import annotations

import json
import random

from pydantic import BaseModel, Field

from .context import RunContext
from .teach import ask, failure

GENERATOR = "annotate"
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


def generate(run: RunContext) -> None:
    from synthesis.teachers import Request

    cfg = run.recipe
    ref = run.input_version("input")
    m = run.store.resolve(ref)
    if m.kind != "doc":
        raise ValueError(f"annotate reads a doc version, {m.ref} is '{m.kind}'")
    n = int(run.limit or cfg.get("sample", 200))
    max_chars = int(cfg.get("max_chars", 3000))
    docs = list(run.store.iter_records(m))
    random.Random(int(cfg.get("seed", run.seed))).shuffle(docs)
    docs = docs[:n]
    out = run.outputs.open("doc", run.output_name("doc"), "doc")
    out.consider(len(docs))
    reqs = [Request([{"role": "user", "content": PROMPT.format(text=d["text"][:max_chars])}], id=str(d["id"]),
                    schema=Annotation, params={"temperature": 0.0}) for d in docs]
    hist: dict[str, dict[int, int]] = {"quality": {}, "finance": {}}
    for d, rep in zip(docs, ask(run, reqs, "annotate"), strict=True):
        why = failure(rep) or (None if rep.parsed else "teacher_failed: no structured reply")
        if why:
            out.quarantine(why, file=m.ref, record={"id": d["id"]})
            continue
        a = rep.parsed
        meta = json.loads(d.get("meta") or "{}")
        meta["annotation"] = {"reason": a["reason"][:500], "teacher": rep.teacher, "request_hash": rep.request_hash,
                              "recipe": run.recipe_name}
        scores = dict(d.get("scores") or {})
        scores.update({"teacher_quality": float(a["quality"]), "teacher_finance": float(a["finance"])})
        out.keep({**d, "scores": scores, "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True)})
        for k in ("quality", "finance"):
            hist[k][a[k]] = hist[k].get(a[k], 0) + 1
        run.progress(1)
    run.stats["label_histogram"] = {k: dict(sorted(v.items())) for k, v in hist.items()}
