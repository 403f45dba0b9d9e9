"""classify → decontaminate → mix in one call, on catalog versions, with lineage back to the inputs."""

from __future__ import annotations

import json

from curation.classify.train import TrainConfig
from curation.decontam import load_benchmark
from curation.mixture.chain import cpt_chain


def test_cpt_chain_end_to_end(shared_data, store, tmp_path):
    tenk = [json.loads(x) for x in (shared_data / "fin_text" / "sec_10k_items.jsonl").open(encoding="utf-8")]
    fin = [v[:4000] for r in tenk[:20] for k, v in r.items() if k.startswith("item_") and isinstance(v, str)
           and len(v) > 1500]
    wiki = [json.loads(x) for x in (shared_data / "general_text" / "wiki_paragraphs.jsonl").open(encoding="utf-8")]
    gen = [r["text"] for r in wiki if r["lang"] == "en"]
    finqa = str(shared_data / "finqa" / "dev_200.json")
    leak = load_benchmark("finqa", finqa)[1].segments[0][1]
    with store.writer("fin-train", kind="doc") as w:
        w.write([{"text": t, "lang": "en"} for t in fin[:60]])
    with store.writer("gen-train", kind="doc") as w:
        w.write([{"text": t, "lang": "en"} for t in gen[:200]])
    with store.writer("curated", kind="doc") as w:  # what the curation recipe produced: mostly finance
        w.write([{"text": t, "lang": "en"} for t in fin[60:80]] + [{"text": fin[80] + "\n" + leak, "lang": "en"}]
                + [{"text": t, "lang": "en"} for t in gen[-5:]])
    with store.writer("general", kind="doc") as w:
        w.write([{"text": t, "lang": "en"} for t in gen[300:500]])
    out = cpt_chain(store, "curated@1", "general@1", ["fin-train@1"], ["gen-train@1"], {"finqa": finqa},
                    tmp_path, name="cpt", general_share=0.4, train_config=TrainConfig(epoch=20, chunk_chars=800, quantize=False))
    assert out["dropped_by_classifier"] >= 4 and out["kept_by_classifier"] >= 18
    assert out["contaminated_removed"] == 1
    mix = store.resolve(out["mixture"])
    by = {s["source"]: s for s in out["mixture_report"]["sources"]}
    assert abs(by["general"]["achieved_share"] - 0.4) < 0.02
    names = {x["name"] for x in store.lineage(mix.ref)}
    assert {"cpt-finance-clean", "cpt-finance-scored", "curated", "general", "cpt-general-clean"} <= names
    texts = [r["text"] for r in store.iter_records(mix)]
    assert not any(leak in t for t in texts)
