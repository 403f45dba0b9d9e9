"""Record validation and defaults for the doc / sft / rl kinds."""

import json

import pytest

from catalogs import SchemaError, content_hash, normalize_record, parse_ref
from catalogs.refs import RefError


def test_doc_defaults_and_stable_id():
    a = normalize_record("doc", {"text": "Revenue rose 5%."})
    b = normalize_record("doc", {"text": "Revenue rose 5%.", "lang": "en"})
    assert a["id"] == b["id"] == content_hash("Revenue rose 5%.")
    assert a["scores"] is None and a["meta"] is None
    c = normalize_record("doc", {"text": "x", "meta": {"b": 1, "a": [1, 2]}, "scores": {"fin": 1}})
    assert c["meta"] == '{"a":[1,2],"b":1}' and c["scores"] == [("fin", 1.0)]


@pytest.mark.parametrize(
    "kind,rec,msg",
    [
        ("doc", {"text": ""}, "'text' must be a non-empty string"),
        ("doc", {"text": "x", "body": "y"}, "unknown fields ['body']"),
        ("doc", {"text": "x", "scores": {"fin": "high"}}, "'scores' must map names to numbers"),
        ("doc", {"text": "x", "meta": "{not json"}, "'meta' is not valid JSON"),
        ("sft", {"messages": []}, "non-empty list of messages"),
        ("sft", {"messages": [{"role": "bot", "content": "hi"}]}, "role 'bot'"),
        ("sft", {"messages": [{"role": "user"}]}, "neither content nor tool_calls"),
        ("sft", {"messages": [{"role": "user", "content": "q"}], "source": {"who": 1}}, "unknown keys"),
        ("rl", {"prompt": [{"role": "user", "content": "q"}]}, "'reward_spec' is required"),
        ("rl", {"prompt": [{"role": "user", "content": "q"}], "reward_spec": {"type": "numeric"}}, "spec_version 1"),
        ("rl", {"prompt": [{"role": "user", "content": "q"}], "reward_spec": {"spec_version": 1, "type": "vibes"}},
         "spec_version 1 and a type"),
        ("rl", {"prompt": [{"role": "user", "content": "q"}], "reward_spec": {"spec_version": 1, "type": "exact"},
                "difficulty": "hard"}, "'difficulty' must be a number"),
        ("tokens", {"text": "x"}, "unknown record kind"),
    ],
)
def test_schema_errors_name_record_and_field(kind, rec, msg):
    with pytest.raises(SchemaError) as e:
        normalize_record(kind, rec, where="data.jsonl:7")
    assert msg in str(e.value)
    if kind != "tokens":
        assert "data.jsonl:7" in str(e.value)


def test_sft_and_rl_storage_form():
    sft = normalize_record("sft", {
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "calc", "arguments": {"expr": "2+2"}}}]},
            {"role": "tool", "content": "4", "tool_call_id": "c1"},
            {"role": "assistant", "content": "4"},
        ],
        "tools": [{"type": "function", "function": {"name": "calc"}}],
        "source": {"generator": "seeded", "teacher": "t1", "request_hash": "abc"},
        "quality": {"judge": 4.5},
    })
    call = sft["messages"][1]["tool_calls"][0]
    assert call == {"id": "c1", "name": "calc", "arguments": '{"expr":"2+2"}'}
    assert json.loads(sft["tools"])[0]["function"]["name"] == "calc"
    assert sft["source"]["generator"] == "seeded" and sft["source"]["recipe"] is None
    rl = normalize_record("rl", {"prompt": [{"role": "user", "content": "q"}],
                                 "reward_spec": {"spec_version": 1, "type": "numeric", "answer": 1.5}})
    rl2 = normalize_record("rl", {"prompt": [{"role": "user", "content": "q"}],
                                  "reward_spec": {"type": "numeric", "answer": 1.5, "spec_version": 1}})
    assert rl["id"] == rl2["id"], "id must not depend on key order of the spec"


def test_refs():
    assert str(parse_ref("fin-web")) == "fin-web@latest"
    assert parse_ref("fin-web@latest").version is None
    assert parse_ref("fin-web@12").version == 12
    for bad in ["fin web@1", "fin@0", "fin@x", "@1", ""]:
        with pytest.raises(RefError):
            parse_ref(bad)
