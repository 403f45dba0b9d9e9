"""The quality classifier recipe: a version labelled by datatrove's heuristics (keep vs drop), a fastText
classifier trained on it through REF#meta.label=... specs, measured on a held-out split."""

from __future__ import annotations

from curation.classify.quality_data import write_quality_labelled
from curation.classify.train import TrainConfig, train_classifier


def test_quality_classifier_from_labelled_version(shared_data, store, tmp_path):
    m, counts = write_quality_labelled(store, shared_data, max_per_source=400)
    assert m.rows == 1600 and m.recipe["heuristics"]["GopherQualityFilter"]["max_non_alpha_words_ratio"] == 0.5
    # the heuristics keep most filing chunks (tables survive the finance-friendly ratio), drop tweets/queries
    assert counts["sec-10k:keep"] > 0.8 * 400 and counts["tweets:drop"] == 400 and counts["banking77:drop"] >= 390
    cfg = TrainConfig(min_chars=20, chunk_chars=1500, test_split=0.25, length_token=True, epoch=10,
                      quantize=False)  # speed; bench/classify.py measures the quantised model
    res = train_classifier("quality", [f"{m.ref}#meta.label=keep"], [f"{m.ref}#meta.label=drop"], tmp_path / "q",
                           cfg=cfg, store=store)
    r = res.report["overall"]
    assert r["n"] >= 300 and r["roc_auc"] >= 0.97 and r["f1"] >= 0.85, r
    art = store.resolve(res.artifact_ref)
    assert [p["name"] for p in art.parents] == ["quality-labelled"]
    assert art.recipe["positive"] == [f"{m.ref}#meta.label=keep"]
