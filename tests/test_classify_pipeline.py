"""The classifier and decontamination steps inside a curation recipe (issue 3's runner, dotted paths):
scores land in the version's ``scores`` column and both steps' drops are counted by reason."""

from __future__ import annotations

import json

from curation.classify.train import TrainConfig, train_classifier
from curation.decontam import load_benchmark
from curation.pipeline import run_recipe


def test_recipe_with_classifier_and_decontamination_steps(shared_data, store, tmp_path):
    wiki = [json.loads(x) for x in (shared_data / "general_text" / "wiki_paragraphs.jsonl").open(encoding="utf-8")]
    en_wiki = [r for r in wiki if r["lang"] == "en" and len(r["text"]) > 400]
    tenk = [json.loads(x) for x in (shared_data / "fin_text" / "sec_10k_items.jsonl").open(encoding="utf-8")]
    fin = [v for r in tenk[:12] for k, v in r.items() if k.startswith("item_") and isinstance(v, str) and len(v) > 2000]
    pos, neg = tmp_path / "pos.jsonl", tmp_path / "neg.jsonl"
    pos.write_text("".join(json.dumps({"text": t, "lang": "en"}) + "\n" for t in fin[:60]))
    neg.write_text("".join(json.dumps({"text": r["text"], "lang": "en"}) + "\n" for r in en_wiki[:200]))
    res = train_classifier("fin-small", [str(pos)], [str(neg)], tmp_path / "clf", store=store,
                           cfg=TrainConfig(epoch=20, chunk_chars=800, quantize=False))  # speed: no PQ
    finqa = str(shared_data / "finqa" / "dev_200.json")
    leaked = load_benchmark("finqa", finqa)[0]
    question = leaked.segments[0][1]
    docs = [fin[-1][:3000], fin[-2][:3000], fin[-3][:3000] + "\n" + question,  # the last one is contaminated
            en_wiki[-1]["text"], en_wiki[-2]["text"]]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(docs)))
    recipe = {"name": "scored", "steps": [
        {"step": "curation.classify.step:ClassifierScoreFilter", "label": "finance",
         "params": {"model": res.artifact_ref, "store": str(store.root), "thresholds": {"en": 0.5, "zh": 0.5},
                    "default_threshold": 0.5}},
        {"step": "curation.decontam.step:DecontaminationFilter", "label": "decontam",
         "params": {"benchmarks": {"finqa": finqa}, "mode": "remove"}},
    ]}
    m = run_recipe(recipe, [str(inp)], name="scored", store=store)
    assert m.inputs == 5 == m.rows + sum(m.drops.values()) + sum(m.quarantined.values())
    rows = list(store.iter_records(m))
    assert sorted(json.loads(r["meta"])["source_id"] for r in rows) == ["d0", "d1"]
    assert all(dict(r["scores"])["fin-small"] >= 0.5 for r in rows)
    assert sum(n for k, n in m.drops.items() if k.startswith("finance")) == 2
    assert sum(n for k, n in m.drops.items() if k.startswith("decontam")) == 1
    # which benchmark items leaked is in the manifest, not only the drop count
    assert m.stats["contamination"] == {"finqa": 1}
    items = m.stats["contaminated_items"]  # (a sibling question of the same report page matches too)
    assert items[f"finqa:{leaked.item_id}"] == 1 and all(k.startswith("finqa:V/2008/") for k in items)
