"""Readers: every input becomes a document, a counted reader drop, or a quarantine entry with file/offset."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.readers import CurationReader, decode_html, read_all
from curation.sources import expand_inputs, text_of


def _balance(docs, ledger):
    acc = ledger.of(0)
    assert acc.inputs == len(docs) + sum(acc.reader_drops.values()) + len(acc.quarantine)
    return acc


def test_real_warcs_including_malformed_ones(shared_data):
    files = sorted(str(p) for p in (shared_data / "warc").rglob("*") if ".warc" in p.name or ".arc" in p.name)
    assert len(files) == 14
    docs, ledger = read_all(files)
    acc = _balance(docs, ledger)
    by_file = {}
    for q in acc.quarantine:
        by_file.setdefault(q["file"].rsplit("/", 1)[-1], []).append(q)
    # the non-chunked gzip and the bad-chunk WARC are quarantined with file, offset and reason, not a crash
    assert by_file["example-bad-non-chunked.warc.gz"][0]["reason"].startswith("bad_warc: ArchiveLoadFailed")
    assert any(q["reason"].startswith("bad_warc") for q in by_file["example-wrong-chunks.warc.gz"])
    assert all(isinstance(q["offset"], int) for q in acc.quarantine)
    # an undecodable page from the Common Crawl excerpt is quarantined with its URL
    assert any(q["reason"].startswith("invalid_encoding") and q["record"].startswith("http") for q in acc.quarantine)
    sources = {d.metadata["source"].rsplit("/", 1)[-1] for d in docs}
    # the truncated WARC and the legacy ARC still give their readable records; ClueWeb's WARC/0.18 quirk too
    assert {"example-trunc.warc", "example.arc.gz", "clueweb-quirk.warc.gz", "sample-0000.warc.gz"} <= sources
    assert all(d.metadata["html"] and d.metadata["url"] and not d.metadata["url"].startswith("<") for d in docs)
    # ClueWeb pages are Shift_JIS-era Japanese: decoded from the page's own charset, not mojibake
    jp = [d for d in docs if "clueweb" in d.metadata["source"]]
    assert jp and all("\ufffd" not in d.text[:5000] for d in jp)
    assert acc.reader_drops["not_html"] >= 1


def test_jsonl_bad_lines_invalid_utf8_empty_and_too_large(tmp_path):
    p = tmp_path / "in.jsonl"
    big = "x" * 5000
    lines = [json.dumps({"text": "fine record", "id": "a", "url": "u1"}).encode(), b"{not json",
             b'{"text": "bad \xff\xfe bytes"}', json.dumps({"text": "   "}).encode(), json.dumps({"text": big}).encode(),
             json.dumps(["not", "an", "object"]).encode(), b"", json.dumps({"text": "second", "lang": "en"}).encode()]
    p.write_bytes(b"\n".join(lines) + b"\n")
    docs, ledger = read_all([str(p)], max_bytes=1000)
    acc = _balance(docs, ledger)
    assert [d.text for d in docs] == ["fine record", "second"]
    assert docs[0].id == "a" and docs[0].metadata["url"] == "u1" and docs[1].metadata["in_lang"] == "en"
    reasons = {q["offset"]: q["reason"] for q in acc.quarantine}
    assert reasons[2].startswith("invalid_json") and reasons[3].startswith("invalid_utf8")
    assert reasons[4] == "empty_document" and reasons[5] == "too_large" and reasons[6] == "not_an_object"
    assert acc.inputs == 7  # the blank line is not a record


def test_json_array_files_are_records_not_lines(tmp_path, shared_data):
    arr = tmp_path / "arr.json"  # pretty-printed: read line by line, every line would be quarantined
    arr.write_text(json.dumps([{"id": "a", "text": "first"}, {"id": "b", "text": "second"}, [1]], indent=2))
    lines = tmp_path / "lines.json"  # JSON Lines under a .json name still work, bad lines quarantined
    lines.write_text('{"text": "one"}\n{broken\n{"text": "two"}\n')
    docs, ledger = read_all([str(arr), str(lines)])
    acc = _balance(docs, ledger)
    assert [d.text for d in docs] == ["first", "second", "one", "two"] and docs[0].id == "a"
    assert [(q["reason"][:12], q["offset"]) for q in acc.quarantine] == [("not_an_objec", 3), ("invalid_json", 2)]
    # a real benchmark dump (FinQA: a JSON array of 200 records without a text field): 200 inputs, not 57k
    docs, ledger = read_all([str(shared_data / "finqa" / "dev_200.json")], text_key="pre_text|id")
    assert ledger.of(0).inputs == 200 == len(docs) + len(ledger.of(0).quarantine)


def test_truncated_gzip_jsonl_is_quarantined(tmp_path):
    p = tmp_path / "cut.jsonl.gz"
    data = gzip.compress(b"".join(json.dumps({"text": f"record {i} " * 50}).encode() + b"\n" for i in range(200)))
    p.write_bytes(data[: len(data) // 2])
    docs, ledger = read_all([str(p)])
    acc = _balance(docs, ledger)
    assert docs and acc.quarantine[-1]["reason"].startswith("unreadable: EOFError")


def test_parquet_csv_text_mapping_and_html(tmp_path, shared_data):
    pq.write_table(pa.table({"body": ["alpha text", "beta text"], "doc_id": ["1", "2"]}), tmp_path / "a.parquet")
    docs, ledger = read_all([str(tmp_path / "a.parquet")], text_key="body", id_key="doc_id")
    _balance(docs, ledger)
    assert [(d.id, d.text) for d in docs] == [("1", "alpha text"), ("2", "beta text")]
    csv_path = shared_data / "fin_text" / "zh_fineva_ant_text_summarization.csv"
    docs, ledger = read_all([str(csv_path)], text_key="question")
    _balance(docs, ledger)
    assert len(docs) == 218 and "公司" in "".join(d.text for d in docs[:20])
    html_dir = shared_data / "html_extraction" / "aeb" / "html"
    docs, ledger = read_all([str(html_dir)])
    _balance(docs, ledger)
    assert len(docs) == 60 and all(d.metadata["html"] for d in docs)


def test_item_segmented_filings_glob_text_key(shared_data):
    docs, ledger = read_all([str(shared_data / "fin_text" / "sec_10k_items.jsonl")], text_key="item_*", id_key="filename")
    _balance(docs, ledger)
    assert len(docs) == 38 and all("ITEM" in d.text.upper() for d in docs)
    dup = [d for d in docs if d.id.startswith(("1000564_", "1000654_"))]
    assert len(dup) == 2 and dup[0].text == dup[1].text  # the same 10-K filed under two company ids


def test_catalog_refs_doc_sft_rl(store):
    with store.writer("docs", kind="doc") as w:
        w.write([{"text": "a filing", "lang": "en"}])
    with store.writer("chats", kind="sft") as w:
        w.write([{"messages": [{"role": "user", "content": "What is EBITDA?"},
                               {"role": "assistant", "content": "Earnings before interest..."}]}])
    with store.writer("tasks", kind="rl") as w:
        w.write([{"prompt": [{"role": "user", "content": "Compute the ratio."}],
                  "reward_spec": {"spec_version": 1, "type": "exact", "answer": "2"}}])
    items = expand_inputs(["docs@1", "chats", "catalog:tasks@latest"], str(store.root))
    assert [f for f, _ in items] == ["catalog"] * 3
    docs, ledger = read_all(["docs@1", "chats@1", "tasks@1"], store_root=str(store.root))
    _balance(docs, ledger)
    assert [d.text for d in docs] == ["a filing", "What is EBITDA?\n\nEarnings before interest...", "Compute the ratio."]
    assert docs[1].metadata["source"] == "chats@1"


def test_text_of_and_errors(tmp_path):
    assert text_of({"prompt": "plain prompt"}) == "plain prompt"
    assert text_of({"item_1": "A", "item_2": "", "item_7": "B"}, text_key="item_*") == "A\n\nB"
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        expand_inputs([str(tmp_path / "nope.jsonl")])
    (tmp_path / "x.bin").write_bytes(b"\0")
    with pytest.raises(ValueError, match="unknown file type"):
        expand_inputs([str(tmp_path / "x.bin")])
    assert decode_html(b'<meta charset="gbk"><p>' + "财务报表".encode("gbk")).endswith("财务报表")


def test_ranks_shard_files_round_robin(shared_data):
    files = [str(p) for p in sorted((shared_data / "html_extraction" / "sec_8k" / "html").iterdir())]
    seen = []
    for rank in range(3):
        r = CurationReader(files)
        seen += [d.metadata["source"] for d in r.run(None, rank, 3)]
    assert sorted(seen) == sorted(files)
