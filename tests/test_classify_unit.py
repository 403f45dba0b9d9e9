"""Classifier machinery without shared data: normalisation, chunking, metrics, grouped split, inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curation.classify.metrics import best_f1_threshold, binary_report, roc_auc
from curation.classify.normalize import normalize_text
from curation.classify.records import InputError, iter_source, parse_source, record_text
from curation.classify.train import (
    Example,
    TrainConfig,
    balance,
    chunk_text,
    split_examples,
    train_classifier,
)


def test_normalize_is_spacing_and_width_invariant():
    assert normalize_text("Röntgen , of Germany , who received 150,782 SEK .") == \
        normalize_text("Röntgen, of Germany, who received 150,782 SEK.")
    assert normalize_text("营业收入１２３亿元，同比增长５％。") == normalize_text("营业收入123亿元 同比增长5%")
    assert "\n" not in normalize_text("line one\nline two\r\n\tthree")
    assert len(normalize_text("x " * 50_000, max_chars=1000)) <= 1000


def test_chunk_text_packs_paragraphs_and_cuts_long_ones():
    text = "\n".join(["short para"] * 3 + ["word " * 400])
    chunks = chunk_text(text, chunk_chars=300, min_chars=5)
    assert chunks[0].startswith("short para\nshort para")
    assert all(len(c) <= 300 for c in chunks) and len(chunks) >= 7
    assert chunk_text("tiny", 300, 50) == []


def test_metrics_against_hand_computed_values():
    y = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    p = np.array([0.9, 0.6, 0.4, 0.7, 0.2, 0.1])
    r = binary_report(y, p)
    assert r["confusion"] == {"tp": 2, "fp": 1, "fn": 1, "tn": 2}
    assert r["precision"] == pytest.approx(2 / 3, abs=1e-4) and r["f1"] == pytest.approx(2 / 3, abs=1e-4)
    # 9 positive/negative pairs, 6 ordered correctly (0.9>3, 0.6>2, 0.2>1)
    assert roc_auc(y, p) == pytest.approx(6 / 9)
    assert roc_auc(np.array([1, 0], bool), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert roc_auc(np.array([1, 1], bool), np.array([0.1, 0.2])) is None
    assert best_f1_threshold(y, p) in {0.2, 0.6}


def test_split_keeps_groups_together_and_balance_oversamples_per_language():
    exs = [Example(f"t{i}", i % 2 == 0, "en" if i < 60 else "zh", f"g{i // 5}") for i in range(100)]
    train, test = split_examples(exs, 0.3, seed=1)
    assert {e.group for e in train}.isdisjoint({e.group for e in test}) and test
    skewed = [Example("p", True, "zh", "a")] * 3 + [Example("n", False, "zh", "b")] * 9
    out = balance(skewed, 0)
    assert sum(e.label for e in out) == 9 and len(out) == 18


def test_sources_files_refs_and_filters(tmp_path, store):
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps({"text": "a", "meta": {"label": "keep"}}) + "\n" + json.dumps({"text": "b"}) + "\n")
    assert [r["text"] for _, r in iter_source(f"{f}#meta.label=keep")] == ["a"]
    with store.writer("lab", kind="doc") as w:
        w.write([{"text": "good doc", "meta": {"label": "keep"}}, {"text": "bad doc", "meta": {"label": "drop"}}])
    assert [r["text"] for _, r in iter_source("lab@1#meta.label=drop", store)] == ["bad doc"]
    with pytest.raises(InputError, match="no store"):
        list(iter_source("lab@1"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n[1, 2]\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: expected a JSON object"):
        list(iter_source(str(bad)))
    with pytest.raises(InputError, match="field=value"):
        parse_source("x.jsonl#oops")
    assert record_text({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}) == "q\na"
    with pytest.raises(InputError, match="no 'text'"):
        record_text({"id": 1}, "f:3")


def test_training_needs_both_classes(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps({"text": f"financial statement number {i} " * 10, "lang": "en"}) + "\n"
                         for i in range(20)))
    with pytest.raises(ValueError, match="both positive and negative"):
        train_classifier("x", [str(f)], [str(f) + "#lang=fr"], tmp_path / "m", cfg=TrainConfig(epoch=1))


def test_train_classifier_verb(tmp_path):
    from typer.testing import CliRunner

    from huijin.cli import app

    fin = ["The company reported net revenue of {} million and raised its quarterly dividend to shareholders.",
           "Operating cash flow rose to {} million while long-term debt fell after bond repayments.",
           "央行下调存款准备金率{}个百分点，银行信贷投放和企业融资成本随之改善。"]
    gen = ["The river flows {} kilometres through the valley before reaching the northern mountains.",
           "The festival attracts {} visitors who come for music, food and traditional dances.",
           "这座古城建于{}年前，城墙和寺庙至今保存完好，吸引了许多游客。"]
    pos, neg = tmp_path / "pos.jsonl", tmp_path / "neg.jsonl"
    pos.write_text("".join(json.dumps({"text": (t.format(i) + " ") * 4, "lang": "zh" if "年" in t or "率" in t
                                       else "en"}, ensure_ascii=False) + "\n" for i in range(80) for t in fin))
    neg.write_text("".join(json.dumps({"text": (t.format(i) + " ") * 4, "lang": "zh" if "年" in t else "en"},
                                      ensure_ascii=False) + "\n" for i in range(80) for t in gen))
    r = CliRunner().invoke(app, ["curate", "train-classifier", "--name", "toy", "--positive", str(pos), "--negative",
                                 str(neg), "--output", str(tmp_path / "m"), "--no-quantize", "--epoch", "5",
                                 "--min-chars", "20", "--test-split", "0.2", "--store", str(tmp_path / "st"),
                                 "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["artifact"] == "toy@1" and set(out["per_language"]) == {"en", "zh"}
    assert out["overall"]["f1"] >= 0.95 and (tmp_path / "m" / "classifier.json").exists()
    bad = CliRunner().invoke(app, ["curate", "train-classifier", "--name", "toy", "--positive", str(tmp_path / "no.jsonl"),
                                   "--negative", str(neg), "--store", str(tmp_path / "st")])
    assert bad.exit_code != 0 and "no.jsonl" in bad.output
    # classify an sft version into a version: it stays an sft version (scores land in meta)
    from catalogs import Store

    st = Store.open(tmp_path / "st")
    with st.writer("chat", kind="sft") as w:
        w.write([{"id": f"c{i}", "messages": [{"role": "user", "content": (fin[0].format(i) + " ") * 3},
                                              {"role": "assistant", "content": "ok"}]} for i in range(3)])
    r = CliRunner().invoke(app, ["curate", "classify", "--model", "toy@1", "--input", "chat@1", "--name",
                                 "chat-scored", "--output", str(tmp_path / "c.jsonl"), "--store", str(st.root)])
    assert r.exit_code == 0, r.output
    m = st.resolve("chat-scored@1")
    assert m.kind == "sft" and m.rows == 3 and m.parents[0]["name"] == "chat"
    assert all(json.loads(rec["meta"])["scores"]["toy"] > 0.5 for rec in st.iter_records(m))


def test_balance_is_the_same_in_every_process():
    """The oversampling draws language by language; a set of language codes iterates in a per-process hash order,
    so the demo's classifier (and every version scored by it) came out different on each run."""
    import os
    import subprocess
    import sys

    code = ("from curation.classify.train import Example, balance\n"
            "exs = [Example(f'{l}{i}', i % 4 == 0, l, f'g{i}') for l in ('en', 'zh', 'fr', 'de', 'ja') for i in range(12)]\n"
            "print(','.join(e.text for e in balance(exs, 0)))\n")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout for h in (1, 2, 3, 4)}
    assert len(outs) == 1, outs
    assert len(next(iter(outs)).split(",")) == 5 * 18  # each language balanced to 9 + 9
