"""SFT rendering: loss only on assistant tokens, checked token by token against the rendered text."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from transformers import AutoTokenizer

    from training.tiny import train_tokenizer

    texts = ["Revenue was $4.5 billion. The revenue of Harbor Bancorp grew 12% in 2023."] * 20
    return AutoTokenizer.from_pretrained(str(train_tokenizer(texts, tmp_path_factory.mktemp("sfttok"), 400)))


RECORD = {
    "id": "c1",
    "messages": [
        {"role": "system", "content": "You are a financial analyst."},
        {"role": "user", "content": "What was Harbor Bancorp's revenue in 2023?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "name": "get_revenue", "arguments": json.dumps({"company": "Harbor Bancorp", "year": 2023})}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_revenue", "content": "4.5 billion USD"},
        {"role": "assistant", "content": "Harbor Bancorp's revenue was $4.5 billion in 2023."},
        {"role": "user", "content": "And growth?"},
        {"role": "assistant", "content": "It grew 12%."},
    ],
    "tools": json.dumps([{"type": "function", "function": {"name": "get_revenue", "parameters": {"type": "object"}}}]),
}


def expected_mask(tok, record) -> tuple[list[int], list[int]]:
    """Independent reference: assistant spans located in the rendered string, mapped to tokens by offsets."""
    from finance.messages import parse_tools, template_messages

    text = tok.apply_chat_template(template_messages(record["messages"]), tools=parse_tools(record["tools"]),
                                   tokenize=False)
    spans, pos, head = [], 0, "<|im_start|>assistant\n"
    while (i := text.find(head, pos)) >= 0:
        start = i + len(head)
        end = text.index("<|im_end|>\n", start) + len("<|im_end|>\n")
        spans.append((start, end))
        pos = end
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(s <= a and b <= e for s, e in spans)) for a, b in enc["offset_mapping"]]
    return enc["input_ids"], mask


def test_assistant_mask_token_by_token(tok):
    from training.sft import render

    ids, mask = render(tok, RECORD)
    want_ids, want_mask = expected_mask(tok, RECORD)
    assert ids.tolist() == want_ids
    assert mask.tolist() == want_mask  # every token: 1 exactly on assistant output
    learned = tok.decode(ids[mask == 1])
    assert learned == ('<tool_call>{"name": "get_revenue", "arguments": {"company": "Harbor Bancorp", "year": 2023}}'
                       "</tool_call><|im_end|>\nHarbor Bancorp's revenue was $4.5 billion in 2023.<|im_end|>\n"
                       "It grew 12%.<|im_end|>\n")
    masked = tok.decode(ids[mask == 0])
    for hidden in ("You are a financial analyst.", "What was Harbor", "4.5 billion USD", "And growth?", "get_revenue"):
        assert hidden in masked  # system, user, tool output and tool specs carry no loss
    assert "<|im_start|>assistant\n" in masked  # the role header is the prompt, not the answer


def test_prefix_fallback_agrees_with_generation_tags(tok):
    from finance.messages import parse_tools, template_messages
    from training.sft import render, render_by_prefix

    ids, mask = render(tok, RECORD)
    ids2, mask2 = render_by_prefix(tok, template_messages(RECORD["messages"]), parse_tools(RECORD["tools"]))
    assert ids2.tolist() == ids.tolist() and mask2.tolist() == mask.tolist()


def test_chat_source_labels_and_drops(tok, store):
    from training.data import ChatSource
    from training.packing import collate

    bad = {"id": "no-assistant", "messages": [{"role": "user", "content": "hi"}], "taxonomy": "x/y/z"}
    with store.writer("sft-t", kind="sft") as w:
        w.write([{**RECORD, "taxonomy": "a/b/c"}, bad])
    src = ChatSource(store, w.manifest, tok)
    assert src.drops == {"unrenderable": 1} and "no-assistant" in src.errors[0]
    ids, labels = src.fetch(0, 0, 10_000)
    _, mask = expected_mask(tok, RECORD)
    assert ((labels != -100) == np.asarray(mask, bool)).all()
    batch = collate([[src.fetch(0, 0, 10_000)]], len(ids) + 5, tok.pad_token_id)
    assert int((batch["labels"] != -100).sum()) == sum(mask)  # padding adds no targets
    short = ChatSource(store, w.manifest, tok, seq_len=20)  # truncation would cut every assistant token
    assert short.drops["no_target_within_seq_len"] == 1 and not short.ids
