"""The ``annotate`` recipe: teacher labels (quality, finance relevance) for a sample of a ``doc`` version.

Writes a ``doc`` version whose ``scores`` hold ``teacher_quality`` and ``teacher_finance`` (0–5, see
``synthesis.annotate``) and ``meta.annotation`` the reason, teacher and request hash: training data for the
curation classifiers (thresholds, e.g. >= 3, are chosen when training them). Failed replies are quarantined.
"""

from __future__ import annotations

import json
import random

from synthesis.annotate import annotation_request, read_annotation

from .context import RunContext
from .teach import ask, failure

GENERATOR = "annotate"


def generate(run: RunContext) -> None:
    cfg = run.recipe
    m = run.input_manifest("input", "doc")
    sample = cfg.get("sample", 200)  # read even when --limit wins, so it is not reported as an unused key
    n = int(run.limit or sample)
    docs = list(run.store.iter_records(m))
    random.Random(int(cfg.get("seed", run.seed))).shuffle(docs)
    docs = docs[:n]
    out = run.outputs.open("doc", run.output_name("doc"), "doc")
    out.consider(len(docs))
    reqs = [annotation_request(d["text"], str(d["id"]), int(cfg.get("max_chars", 3000))) for d in docs]
    hist: dict[str, dict[int, int]] = {"quality": {}, "finance": {}}
    for d, rep in zip(docs, ask(run, reqs, "annotate"), strict=True):
        labels = read_annotation(rep)
        if labels is None:
            out.quarantine(failure(rep) or "teacher_failed: no structured reply", file=m.ref, record={"id": d["id"]})
            continue
        reason = labels.pop("reason")
        meta = json.loads(d.get("meta") or "{}")
        meta["annotation"] = {"reason": reason, "teacher": rep.teacher, "request_hash": rep.request_hash,
                              "recipe": run.recipe_name}
        scores = dict(d.get("scores") or {})
        scores.update(labels)
        out.keep({**d, "scores": scores, "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True)})
        for k, key in (("quality", "teacher_quality"), ("finance", "teacher_finance")):
            hist[k][int(labels[key])] = hist[k].get(int(labels[key]), 0) + 1
        run.progress(1)
    run.stats["label_histogram"] = {k: dict(sorted(v.items())) for k, v in hist.items()}
