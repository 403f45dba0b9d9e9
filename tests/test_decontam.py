"""Decontamination on the shared dev sets: loaders, number/whitespace-tolerant matching, planted-item
recall and clean-document false positives, the datatrove step and the verb on JSONL and sft versions."""

from __future__ import annotations

import json
import random

import pytest
from datatrove.data import Document
from typer.testing import CliRunner

from curation.decontam import DecontaminationFilter, build_index, decontaminate_records, load_benchmark
from curation.decontam.loaders import BenchmarkFormatError
from curation.decontam.planting import plant, reformat
from curation.decontam.tokens import match_tokens
from huijin.cli import app


def _benchmarks(shared):
    return {"finqa": str(shared / "finqa" / "dev_200.json"),
            "tatqa": str(shared / "tatqa" / "tatqa_dataset_dev_80ctx.json"),
            "convfinqa": str(shared / "convfinqa" / "convfinqa_dev_100_pot_format.json"),
            "fineva": str(shared / "fineva_zh_mc" / "SUFE_dev")}


@pytest.fixture(scope="module")
def index(shared_data):
    return build_index(_benchmarks(shared_data))


@pytest.fixture(scope="module")
def clean_docs(shared_data, tmp_path_factory):
    from curation.classify.finance_data import sec_10k_docs, zh_news_docs

    docs = list(sec_10k_docs(shared_data / "fin_text" / "sec_10k_items.jsonl"))
    docs += list(zh_news_docs(shared_data / "fin_text" / "zh_fineva_ant_text_summarization.csv"))
    return docs


def test_loaders_read_every_format(shared_data):
    b = _benchmarks(shared_data)
    finqa = load_benchmark("finqa", b["finqa"])
    assert len(finqa) == 200 and len({i.item_id for i in finqa}) == 200
    assert finqa[0].segments[0][0] == "question" and finqa[0].segments[0][1].endswith("?")
    tatqa = load_benchmark("tatqa", b["tatqa"])
    assert sum(i.item_id.startswith("context:") for i in tatqa) == 80 and len(tatqa) == 80 + 480
    conv = load_benchmark("convfinqa", b["convfinqa"])
    assert len(conv) == 100 and conv[0].item_id.startswith(("Single_", "Double_"))
    mc = load_benchmark("fineva", b["fineva"])
    assert len(mc) == 170 and "\nA. " in mc[0].segments[0][1] and "/" in mc[0].item_id


def test_loader_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"foo": 1}]))
    with pytest.raises(BenchmarkFormatError, match="bad.json"):
        load_benchmark("x", bad)
    broken = tmp_path / "b.jsonl"
    broken.write_text('{"text": "ok"}\n{not json\n')
    with pytest.raises(BenchmarkFormatError, match="b.jsonl:2"):
        load_benchmark("x", broken)


def test_reformatted_numbers_and_whitespace_tokenise_alike():
    a = "What was the change in net sales from $1,234.50 million in 2019 to 12% of revenue?"
    b = "what   was the change in\nnet sales from $ 1234.5 million in 2019 to 12 percent of revenue ?"
    assert match_tokens(a) == match_tokens(b)
    assert match_tokens("营业收入为１２３，４５６元，增长１２％") == match_tokens("营业收入 为 123456 元 ， 增长 12%")
    rng = random.Random(3)
    q = "what is the percentage change in total revenue from 2,517 in 2018 to 3,001.5 in 2019?"
    assert all(match_tokens(reformat(q, rng)) == match_tokens(q) for _ in range(50))


def test_planted_recall_and_clean_false_positive_rate(index, clean_docs, shared_data):
    """The acceptance goal: >= 99% of planted (reformatted) items found, <= 1% of clean filings flagged."""
    items = [it for n, p in _benchmarks(shared_data).items() for it in load_benchmark(n, p)]
    texts, langs = [d["text"] for d in clean_docs], [d["lang"] for d in clean_docs]
    planted_docs, planted = plant(items, texts, langs, seed=7, index=index)
    assert len(planted) >= 1000 and {p.benchmark for p in planted} == {"finqa", "tatqa", "convfinqa", "fineva"}
    matches = [index.match(t) for t in planted_docs]
    found = sum(any((m.benchmark, m.item_id) == (p.benchmark, p.item_id) for m in matches[p.doc_index])
                for p in planted)
    assert found / len(planted) >= 0.99, found / len(planted)
    zh = [p for p in planted if p.benchmark == "fineva"]
    assert all(any(m.item_id == p.item_id for m in matches[p.doc_index]) for p in zh)
    hit = {p.doc_index for p in planted}
    clean = [i for i in range(len(texts)) if i not in hit]
    assert len(clean) >= 150
    fp = sum(bool(index.match(texts[i])) for i in clean) / len(clean)
    assert fp <= 0.01, fp
    # and over every clean filing / article (unplanted originals)
    assert sum(bool(index.match(t)) for t in texts) / len(texts) <= 0.01


def test_datatrove_step_remove_and_flag(shared_data):
    b = _benchmarks(shared_data)
    q = load_benchmark("finqa", b["finqa"])[3].segments[0][1]
    docs = lambda: [Document(f"Annual report.\n{q}\nMore text.", "leak"),  # noqa: E731
                    Document("The company sells storage systems to enterprises worldwide.", "clean")]
    step = DecontaminationFilter({"finqa": b["finqa"]}, mode="remove")
    kept = list(step.run(iter(docs())))
    assert [d.id for d in kept] == ["clean"] and step.stats["contaminated_finqa"].total == 1
    flag = DecontaminationFilter({"finqa": b["finqa"]}, mode="flag")
    out = list(flag.run(iter(docs())))
    assert len(out) == 2 and out[0].metadata["contamination"][0]["benchmark"] == "finqa"
    assert "contamination" not in out[1].metadata


def test_sft_and_rl_records_use_message_text(index, shared_data):
    q = load_benchmark("fineva", _benchmarks(shared_data)["fineva"])[10].segments[0][1]
    recs = [("a", {"id": "a", "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "B"}]}),
            ("b", {"id": "b", "prompt": [{"role": "user", "content": "计算某公司2023年的流动比率。"}]}),
            ("c", {"id": "c", "prompt": [{"role": "system", "content": "You are an analyst."},
                                         {"role": "user", "content": q.replace("\n", "  ")}]})]
    kept = list(decontaminate_records(recs, index, mode="remove"))
    assert [r["id"] for r in kept] == ["b"]


def test_verb_on_jsonl_and_on_sft_version(tmp_path, shared_data):
    from catalogs import Store

    b = _benchmarks(shared_data)
    store = Store.open(tmp_path / "store")
    tq = [i for i in load_benchmark("tatqa", b["tatqa"]) if not i.item_id.startswith("context:")][5]
    fq = load_benchmark("finqa", b["finqa"])[0]
    docs = [{"id": "d1", "text": "Intro.\n" + tq.segments[0][1].upper()},
            {"id": "d2", "text": "Revenue grew on strong demand for our products in all segments."},
            {"id": "d3", "text": fq.segments[0][1].replace(" ", "  ")}]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(d) + "\n" for d in docs))
    args = ["curate", "decontaminate", "--benchmark", f"tatqa={b['tatqa']}", "--benchmark", f"finqa={b['finqa']}"]
    r = CliRunner().invoke(app, [*args, "--input", str(inp), "--output", str(tmp_path / "out.jsonl"),
                                 "--report", str(tmp_path / "rep.json"), "--store", str(store.root)])
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["id"] for x in open(tmp_path / "out.jsonl")] == ["d2"]
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["counts"] == {"input": 3, "clean": 1, "flagged": 2, "removed": 2}
    flagged = {f["id"]: f for f in rep["flagged"]}
    assert tq.item_id in {m["item"] for m in flagged["d1"]["matches"]}
    assert fq.item_id in {m["item"] for m in flagged["d3"]["matches"]}
    assert rep["benchmarks"]["tatqa"]["flagged_docs"] == 1 and rep["benchmarks"]["finqa"]["items_matched"] >= 1
    assert tq.item_id in rep["matched_items"]["tatqa"] and fq.item_id in rep["matched_items"]["finqa"]

    with store.writer("synth-sft", kind="sft") as w:
        w.write([{"messages": [{"role": "user", "content": fq.segments[0][1]}, {"role": "assistant", "content": "1"}]},
                 {"messages": [{"role": "user", "content": "Define EBITDA."}, {"role": "assistant", "content": "..."}]}])
    r = CliRunner().invoke(app, [*args, "--input", "synth-sft@1", "--name", "synth-sft-clean", "--report",
                                 str(tmp_path / "rep2.json"), "--store", str(store.root)])
    assert r.exit_code == 0, r.output
    m = store.resolve("synth-sft-clean@1")
    assert m.kind == "sft" and m.rows == 1 and m.inputs == 2 and m.drops == {"contaminated:finqa": 1}
    assert [p["name"] for p in m.parents] == ["synth-sft"]
    assert fq.item_id in m.extra["decontamination"]["matched_items"]["finqa"]  # which items leaked, in the catalog


def test_verb_rejects_bad_benchmark_arg(tmp_path):
    r = CliRunner().invoke(app, ["curate", "decontaminate", "--benchmark", "nopath", "--input", "x.jsonl",
                                 "--output", str(tmp_path / "o.jsonl"), "--report", str(tmp_path / "r.json")])
    assert r.exit_code != 0 and "expected KEY=VALUE" in r.output
    r = CliRunner().invoke(app, ["curate", "decontaminate", "--benchmark", "a=b", "--mode", "zap", "--input",
                                 "x.jsonl", "--output", str(tmp_path / "o.jsonl"), "--report", str(tmp_path / "r.json")])
    assert r.exit_code != 0 and "--mode 'zap'" in r.output
