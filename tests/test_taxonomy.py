"""The financial task taxonomy: structure, CLI, coverage of a version, and the teacher labeller."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from catalogs.schemas import REWARD_TYPES
from synthesis.taxonomy import TaxonomyError, coverage, label_schema, label_version, load_taxonomy
from synthesis.teachers import RequestCache, TeacherClient
from synthesis.testing import FakeOpenAIServer, Scripted

SCENARIOS = {"knowledge_exams", "numerical_reasoning", "statements_disclosures", "market_research", "wealth_advisory",
             "credit_risk_fraud", "compliance_safety", "customer_service_marketing", "financial_nlp",
             "agentic_tool_use", "general_retention"}


def test_three_levels_eleven_scenarios_and_answer_types():
    tax = load_taxonomy()
    assert {s["id"] for s in tax.scenarios} == SCENARIOS
    assert len(tax.leaves) >= 50
    for path, leaf in tax.leaves.items():
        assert path.count("/") == 2 and leaf.description and leaf.languages
        assert leaf.reward_type in REWARD_TYPES  # every answer type decides a valid reward spec type
        assert set(leaf.languages) <= {"en", "zh"}
    used = {lf.answer_type for lf in tax.leaves.values()}
    assert used == {"numeric", "choice", "exact_label", "set", "program", "tool_trajectory", "judged"}
    assert tax.reward_type("numerical_reasoning/table_text_qa/program_generation") == "program"
    assert tax.reward_type("agentic_tool_use/data_tools/market_data_lookup") == "tool_env"
    assert set(tax.tags) == {"sector", "language", "difficulty"} and "insurance" in tax.tags["sector"]


def test_bad_taxonomy_files_name_the_node(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("answer_type_to_reward: {numeric: numeric}\ntags: {language: [en]}\nscenarios:\n"
                 "  - id: s\n    capabilities:\n      - id: c\n        tasks:\n"
                 "          - {id: t, description: d, languages: [en], answer_type: essay}\n")
    with pytest.raises(TaxonomyError, match="s/c/t.*essay"):
        load_taxonomy(p)
    p.write_text("scenarios:\n  - id: Bad-Id\n")
    with pytest.raises(TaxonomyError, match="Bad-Id"):
        load_taxonomy(p)


def test_cli_show_json_and_tree():
    from huijin.cli import app

    r = CliRunner().invoke(app, ["taxonomy", "show", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert len(rows) == len(load_taxonomy().leaves) and {"leaf", "answer_type", "reward"} <= set(rows[0])
    r = CliRunner().invoke(app, ["taxonomy", "show", "--tree"])
    assert r.exit_code == 0 and "numerical_reasoning" in r.output and "single_turn_numeric" in r.output
    tree = json.loads(CliRunner().invoke(app, ["taxonomy", "show", "--tree", "--json"]).output)
    assert len(tree["scenarios"]) == 11


def _sft(i: int, text: str, taxonomy: str | None = None) -> dict:
    return {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}],
            "taxonomy": taxonomy, "lang": "en"}


def test_coverage_counts_leaves_with_zeros(store):
    with store.writer("cov", "sft") as w:
        w.write([_sft(0, "a", "financial_nlp/classification/sentiment"), _sft(1, "b", "financial_nlp/classification/sentiment"),
                 _sft(2, "c", "numerical_reasoning/table_text_qa/single_turn_numeric"), _sft(3, "d"),
                 _sft(4, "e", "made/up/leaf")])
    rows = {r["node"]: r["rows"] for r in coverage(store, "cov@1")}
    assert rows["financial_nlp/classification/sentiment"] == 2
    assert rows["numerical_reasoning/table_text_qa/single_turn_numeric"] == 1
    assert rows["(unlabelled)"] == 1 and rows["(not in taxonomy)"] == 1
    assert rows["knowledge_exams/certification/cfa_frm_mc"] == 0
    top = {r["node"]: r["rows"] for r in coverage(store, "cov@1", depth=1)}
    assert top["financial_nlp"] == 2 and top["numerical_reasoning"] == 1 and len(top) == 11 + 2
    from huijin.cli import app

    r = CliRunner().invoke(app, ["taxonomy", "coverage", "cov@1", "--depth", "1", "--json", "--store", str(store.root)])
    assert r.exit_code == 0 and {"node": "financial_nlp", "rows": 2, "share": 0.4} in json.loads(r.output)


def _labeller_reply(body: dict) -> Scripted:
    """A scripted teacher: sentiment for tweets, numeric QA for questions with numbers, an invalid id otherwise."""
    text = body["messages"][-1]["content"].split("Record:\n", 1)[1]
    enum = body["response_format"]["json_schema"]["schema"]["properties"]["leaf"]["enum"]
    if "bullish" in text or "bearish" in text:
        leaf = "financial_nlp/classification/sentiment"
    elif any(ch.isdigit() for ch in text):
        leaf = "numerical_reasoning/table_text_qa/single_turn_numeric"
    else:
        leaf = "not/a/leaf"
    assert leaf in enum or leaf == "not/a/leaf"
    return Scripted(json.dumps({"leaf": leaf, "confidence": 0.9}))


def test_labeller_writes_a_labelled_version_with_cache(store, tmp_path):
    with store.writer("raw-sft", "sft") as w:
        w.write([_sft(0, "Stocks look bullish today"), _sft(1, "What was revenue growth from 120 to 150?"),
                 _sft(2, "hello there"), _sft(3, "Very bearish on banks")])
    with FakeOpenAIServer(responder=_labeller_reply) as srv:
        cache = RequestCache(tmp_path / "cache.sqlite")
        client = TeacherClient(srv.endpoint(parse_retries=1), cache=cache, backoff_base=0.01)
        m = label_version(store, "raw-sft@1", client, progress=False)
        assert m.ref == "raw-sft@2" and m.rows == 4 and m.inputs == 4 and m.parents[0]["version"] == 1
        rows = store.read_table(m).to_pylist()
        assert [r["messages"][0]["content"] for r in rows] == ["Stocks look bullish today",
                                                                "What was revenue growth from 120 to 150?",
                                                                "hello there", "Very bearish on banks"]
        assert [r["taxonomy"] for r in rows] == ["financial_nlp/classification/sentiment",
                                                 "numerical_reasoning/table_text_qa/single_turn_numeric", None,
                                                 "financial_nlp/classification/sentiment"]
        assert "not match" in json.loads(rows[2]["meta"])["label_error"]
        assert m.extra["labelled"] == 3 and sum(m.extra["label_failures"].values()) == 1
        assert m.extra["teacher_accounting"]["total"]["parse_retries"] == 1
        calls = srv.n_requests
        # relabelling the same records into another dataset is answered from the cache
        client2 = TeacherClient(srv.endpoint(parse_retries=1), cache=cache)
        m2 = label_version(store, "raw-sft@1", client2, name="labelled", progress=False)
        assert srv.n_requests == calls
        assert m2.extra["teacher_accounting"]["total"]["cached"] == 4
        assert m.stats["taxonomy"]["financial_nlp/classification/sentiment"] == 2


def test_label_schema_restricts_leaves():
    tax = load_taxonomy()
    s = label_schema(tax)
    assert s["properties"]["leaf"]["enum"] == tax.leaf_ids() and s["required"] == ["leaf", "confidence"]


def test_doc_versions_get_labels_in_meta(store):
    with store.writer("docs", "doc") as w:
        w.write([{"text": "The outlook is bullish"}, {"text": "Revenue was 5 million"}])
    with FakeOpenAIServer(responder=_labeller_reply) as srv:
        m = label_version(store, "docs@1", TeacherClient(srv.endpoint()), progress=False)
    metas = [json.loads(r["meta"]) for r in store.read_table(m).to_pylist()]
    assert [x["taxonomy"] for x in metas] == ["financial_nlp/classification/sentiment",
                                              "numerical_reasoning/table_text_qa/single_turn_numeric"]
    rows = {r["node"]: r["rows"] for r in coverage(store, m.ref)}
    assert rows["financial_nlp/classification/sentiment"] == 1


def test_cli_synth_label_and_cache(store, tmp_path):
    from huijin.cli import app

    with store.writer("tweets", "sft") as w:
        w.write([_sft(0, "Stocks look bullish"), _sft(1, "Revenue of 5 million")])
    with FakeOpenAIServer(responder=_labeller_reply) as srv:
        eps = tmp_path / "teachers.yaml"
        eps.write_text(f"endpoints:\n  - {{name: local, base_url: '{srv.base_url}', model: fake-model, "
                       f"api_key_env: HUIJIN_TEST_LABEL_KEY}}\n")
        cache = tmp_path / "c.sqlite"
        args = ["synth", "label", "tweets@1", "--endpoint", "local", "--endpoints", str(eps), "--cache", str(cache),
                "--no-progress", "--store", str(store.root)]
        r = CliRunner().invoke(app, args, env={"HUIJIN_TEST_LABEL_KEY": "sk-label-test-key"})
        assert r.exit_code == 0, r.output
        assert "tweets@2" in r.output and srv.auth_seen == {"Bearer sk-label-test-key"}
        r = CliRunner().invoke(app, args, env={})
        assert r.exit_code == 1 and "HUIJIN_TEST_LABEL_KEY" in r.output
    assert [x["taxonomy"] for x in store.read_table("tweets@2").to_pylist()] == [
        "financial_nlp/classification/sentiment", "numerical_reasoning/table_text_qa/single_turn_numeric"]
    r = CliRunner().invoke(app, ["synth", "cache", str(cache), "--json"])
    assert json.loads(r.output) == {"ok:stop": 2}


def test_cli_label_and_cache_default_to_the_store_cache(store, tmp_path):
    """Without --cache, `synth label` and `synth cache` use <store>/cache/teacher.sqlite (as `synth run` does);
    `--teachers` and `--endpoints` name the same endpoints file on every synth command."""
    from huijin.cli import app

    with store.writer("tweets", "sft") as w:
        w.write([_sft(0, "Stocks look bullish")])
    with FakeOpenAIServer(responder=_labeller_reply) as srv:
        eps = tmp_path / "teachers.yaml"
        eps.write_text(f"endpoints:\n  - {{name: local, base_url: '{srv.base_url}', model: fake-model}}\n")
        r = CliRunner().invoke(app, ["synth", "label", "tweets@1", "--endpoint", "local", "--teachers", str(eps),
                                     "--no-progress", "--store", str(store.root)])
        assert r.exit_code == 0, r.output
    assert (store.root / "cache" / "teacher.sqlite").is_file()
    r = CliRunner().invoke(app, ["synth", "cache", "--json", "--store", str(store.root)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"ok:stop": 1}
    r = CliRunner().invoke(app, ["synth", "endpoints", "--teachers", str(eps), "--json"])
    assert [e["name"] for e in json.loads(r.output)] == ["local"]
