"""finance.text and finance.messages: the one copy of CJK ranges, language detection and message conversion."""

from __future__ import annotations

import json

import pytest

from finance.messages import messages_text, parse_tools, template_messages, tool_calls_of, wire_message
from finance.text import CJK_RE, detect_language, han_share, is_han, normalize_lang, script_of

RECORD_MSGS = [
    {"role": "user", "content": "2+3?", "tool_calls": None, "tool_call_id": None, "name": None},
    {"role": "assistant", "content": None, "tool_call_id": None, "name": None,
     "tool_calls": [{"id": "c1", "name": "calc", "arguments": '{"a": 2, "b": 3}'}]},
    {"role": "tool", "content": "5", "tool_calls": None, "tool_call_id": "c1", "name": "calc"},
]


@pytest.mark.parametrize("code,want", [("wuu", "zh"), ("yue", "zh"), ("cmn", "zh"), ("zh-TW", "zh"), ("zh_hk", "zh"),
                                       ("en", "en"), ("ja", "ja")])
def test_chinese_varieties_are_zh(code, want):
    assert normalize_lang(code) == want


def test_detect_language_en_zh():
    assert detect_language("Net interest margin narrowed to 2.9% as deposit costs rose.")[0] == "en"
    assert detect_language("公司发布年度报告，全年实现营业收入165亿元，同比增长12.4%。")[0] == "zh"


def test_ranges_and_script():
    assert is_han("债") and is_han("\u3400") and not is_han("a") and not is_han("か")
    assert CJK_RE.findall("a债か한") == ["债", "か", "한"]
    assert han_share("债券 ab") == pytest.approx(0.5) and han_share("  ") == 0.0
    assert script_of("什么是债券？") == "zh" and script_of("What is a bond?") == "en" and script_of("12") is None


def test_wire_message_keeps_arguments_as_strings_and_drops_unset_fields():
    wire = [wire_message(m) for m in RECORD_MSGS]
    assert wire[0] == {"role": "user", "content": "2+3?"}
    assert wire[1] == {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": '{"a": 2, "b": 3}'}}]}
    assert wire[2] == {"role": "tool", "content": "5", "tool_call_id": "c1", "name": "calc"}
    assert wire_message(wire[1]) == wire[1]  # already OpenAI-shaped: unchanged


def test_template_messages_parse_arguments_and_fill_content():
    msgs = template_messages(RECORD_MSGS)
    assert msgs[1]["content"] == "" and msgs[1]["tool_calls"][0]["function"]["arguments"] == {"a": 2, "b": 3}
    bad = template_messages([{"role": "assistant", "tool_calls": [{"id": "x", "name": "f", "arguments": "not json"}]}])
    assert bad[0]["tool_calls"][0]["function"]["arguments"] == "not json"
    assert RECORD_MSGS[1]["tool_calls"][0]["arguments"] == '{"a": 2, "b": 3}'  # input untouched


def test_tool_calls_of_reads_both_shapes():
    flat = tool_calls_of(RECORD_MSGS)
    assert flat == [{"id": "c1", "name": "calc", "arguments": '{"a": 2, "b": 3}'}]
    assert tool_calls_of(template_messages(RECORD_MSGS)) == [{"id": "c1", "name": "calc",
                                                              "arguments": json.dumps({"a": 2, "b": 3})}]


def test_parse_tools_and_text():
    assert parse_tools(None) is None and parse_tools("") is None and parse_tools("[]") is None
    assert parse_tools(json.dumps([{"type": "function"}])) == [{"type": "function"}]
    assert messages_text(RECORD_MSGS) == '2+3?\n\n{"a": 2, "b": 3}\n\n5'
    assert messages_text(RECORD_MSGS, sep="\n") == '2+3?\n{"a": 2, "b": 3}\n5'
