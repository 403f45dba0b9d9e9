"""The finance-domain classifier trained on real shared data: held-out quality per language, artifact
lineage in the catalog, scoring as a datatrove step and as a verb."""

from __future__ import annotations

import json
import pickle

import pytest
from datatrove.data import Document
from typer.testing import CliRunner

from curation.classify.finance_data import write_finance_training_files
from curation.classify.model import FastTextModel
from curation.classify.step import ClassifierScoreFilter, score_records
from curation.classify.train import TrainConfig, train_classifier
from huijin.cli import app


@pytest.fixture(scope="module")
def trained(shared_data, tmp_path_factory):
    from catalogs import Store

    tmp = tmp_path_factory.mktemp("fin-clf")
    files = write_finance_training_files(shared_data, tmp / "data")
    store = Store.open(tmp / "store")
    res = train_classifier("fin-domain", [str(p) for p in files["positive"]], [str(p) for p in files["negative"]],
                           tmp / "model", cfg=TrainConfig(), store=store)
    return store, res, files


def test_held_out_f1_per_language_meets_goal(trained):
    _, res, _ = trained
    per = res.report["per_language"]
    assert set(per) == {"en", "zh"}
    for lang, r in per.items():
        assert r["f1"] >= 0.97, (lang, r)
        assert r["roc_auc"] >= 0.99, (lang, r)
        assert r["positives"] >= 25 and r["n"] - r["positives"] >= 100, (lang, r)  # a real held-out split
        c = r["confusion"]
        assert c["tp"] + c["fp"] + c["fn"] + c["tn"] == r["n"]
    # the split is by company / article group: no group on both sides
    assert res.report["data"]["test_examples"] > 500
    assert res.report["model_bytes"] < 5_000_000  # quantised


def test_artifact_registered_with_lineage(trained):
    store, res, _ = trained
    m = store.resolve(res.artifact_ref)
    assert m.kind == "artifact" and m.extra["artifact_kind"] == "classifier"
    assert {p["name"] for p in m.parents} == {"fin-domain-train-positive-fin_en", "fin-domain-train-positive-fin_zh",
                                              "fin-domain-train-negative-general"}
    assert m.extra["metrics"]["per_language"]["en"]["f1"] == res.report["per_language"]["en"]["f1"]
    (row,) = [a for a in store.artifacts.ls() if a["name"] == "fin-domain"]
    assert row["artifact_kind"] == "classifier" and len(row["sha256"]) == 64
    lineage = {(x["name"], x["kind"]) for x in store.lineage(res.artifact_ref)}
    assert ("fin-domain-train-positive-fin_en", "doc") in lineage
    # the stored copy loads and scores like the trained one
    stored = FastTextModel(store.artifacts.path(res.artifact_ref) / "model.ftz")
    assert stored.name == "fin-domain"
    rows = list(store.iter_records("fin-domain-train-positive-fin_zh@1"))[:5]
    assert (stored.predict_proba([r["text"] for r in rows]) > 0.5).all()


def test_tokenised_spacing_is_normalised_away(trained):
    _, res, _ = trained
    model = FastTextModel(res.model_dir / "model.ftz")
    qed = "Maria Skłodowska - Curie also won two Nobel Prizes , for physics in 1903 and chemistry in 1911 ."
    natural = "Maria Skłodowska-Curie also won two Nobel Prizes, for physics in 1903 and chemistry in 1911."
    p = model.predict_proba([qed, natural])
    assert p[0] == pytest.approx(p[1]) and p[0] < 0.5


def test_datatrove_step_scores_and_filters_per_language(trained):
    _, res, _ = trained
    docs = [
        Document("Net interest income rose 8% as the bank's loan portfolio grew and deposit costs fell; the board "
                 "declared a quarterly dividend of $0.42 per share and repurchased 2.1 million shares.", "fin-en",
                 metadata={"language": "en"}),
        Document("The cathedral was rebuilt in the Gothic style after the fire of 1194, and its stained glass "
                 "windows are among the best preserved of the period.", "gen-en", metadata={"language": "en"}),
        Document("中国人民银行宣布下调金融机构存款准备金率0.25个百分点，此次降准释放长期资金约5000亿元，"
                 "有助于保持银行体系流动性合理充裕，降低实体经济融资成本。", "fin-zh", metadata={"language": "zh"}),
        Document("长城是中国古代的军事防御工程，修筑历史可上溯到西周时期，现存的长城遗迹主要为明代修建。", "gen-zh",
                 metadata={"language": "zh"}),
    ]
    step = ClassifierScoreFilter(str(res.model_dir), thresholds={"en": 0.5, "zh": 0.5}, batch_size=3)
    step = pickle.loads(pickle.dumps(step))  # workers receive a pickled step; the model loads lazily there
    assert step.classifier._model is None
    kept = [d.id for d in step.run(iter(docs))]
    assert kept == ["fin-en", "fin-zh"]
    assert all(0.0 <= d.metadata["scores"]["fin-domain"] <= 1.0 for d in docs)
    assert step.stats["dropped_fin-domain_below_threshold"].total == 2
    # annotate-only: no threshold keeps everything
    keep_all = ClassifierScoreFilter(str(res.model_dir))
    assert len(list(keep_all.run(iter(docs)))) == 4


def test_recipe_dotted_path_imports():
    import importlib

    mod, _, cls = "curation.classify.step:ClassifierScoreFilter".partition(":")
    assert getattr(importlib.import_module(mod), cls) is ClassifierScoreFilter


def test_score_records_and_classify_verb(trained, tmp_path):
    store, res, files = trained
    recs = [json.loads(line) for line in open(files["negative"][0], encoding="utf-8")][:20]
    recs += [json.loads(line) for line in open(files["positive"][1], encoding="utf-8")][:20]
    model = FastTextModel(res.model_dir / "model.ftz")
    out = list(score_records(((str(i), dict(r)) for i, r in enumerate(recs)), model, batch_size=7))
    assert len(out) == 40 and all("fin-domain" in r["scores"] and r["meta"] for r in out)
    assert sum(r["scores"]["fin-domain"] >= 0.5 for r in out[20:]) >= 19
    assert sum(r["scores"]["fin-domain"] < 0.5 for r in out[:20]) >= 18

    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    r = CliRunner().invoke(app, ["curate", "classify", "--model", res.artifact_ref, "--input", str(inp),
                                 "--output", str(tmp_path / "out.jsonl"), "--store", str(store.root)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in open(tmp_path / "out.jsonl", encoding="utf-8")]
    assert [x["id"] for x in rows] == [x["id"] for x in recs]
    assert rows[0]["scores"]["fin-domain"] == pytest.approx(out[0]["scores"]["fin-domain"], abs=1e-6)
    # on a catalog ref, with a threshold, writing a version: counts add up
    r = CliRunner().invoke(app, ["curate", "classify", "--model", res.artifact_ref, "--input",
                                 "fin-domain-train-positive-fin_zh@1", "--name", "zh-fin-scored",
                                 "--threshold", "zh=0.5", "--store", str(store.root)])
    assert r.exit_code == 0, r.output
    m = store.resolve("zh-fin-scored@1")
    assert m.inputs == 218 and m.rows + m.drops.get("fin-domain_below_threshold", 0) == 218 and m.rows >= 210
    assert [p["name"] for p in m.parents] == ["fin-domain-train-positive-fin_zh"]
    assert all(dict(x["scores"])["fin-domain"] >= 0.5 for x in store.iter_records(m))


def test_language_from_catalog_reader_key(trained):
    """The curation reader passes a catalog record's lang on as metadata['in_lang']."""
    _, res, _ = trained
    step = ClassifierScoreFilter(str(res.model_dir), thresholds={"en": 0.5})
    docs = [Document("The cathedral's stained glass windows date from the thirteenth century and survived the war.",
                     "g", metadata={"in_lang": "en"}),
            Document("The cathedral's stained glass windows date from the thirteenth century and survived the war.",
                     "h", metadata={})]
    assert [d.id for d in step.run(iter(docs))] == ["h"]  # no language and no default threshold: annotate only
    assert step.stats["no_language"].total == 1
