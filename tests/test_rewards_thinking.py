"""Scoring never reads the reasoning: a marker or a number inside ``<think>…</think>`` is not the answer."""

from __future__ import annotations

import pytest

from synthesis.rewards import extract_answer, score
from synthesis.rewards.extract import strip_thinking

NUM = {"spec_version": 1, "type": "numeric", "answer": 42}
CHOICE = {"spec_version": 1, "type": "choice", "answer": "B", "choices": ["A", "B", "C", "D"]}


@pytest.mark.parametrize(("completion", "answer", "method"), [
    # the trace tries the right number out; the completion gives no final answer: nothing to score
    ("<think>12 + 30 = 42, so \\boxed{42}</think>\nI am not sure.", None, "none"),
    ("<think>Answer: 42</think>", None, "none"),
    ("<think>maybe <answer>42</answer></think> no idea", None, "none"),
    # the answer after the trace is read, not the one inside it
    ("<think>first guess \\boxed{41}</think>\n\nSo the sum is \\boxed{42}.", "42", "boxed"),
    ("<think>\\boxed{42}</think>\nAnswer: 41", "41", "answer_line"),
    ("<THINK>\\boxed{42}</THINK> Answer: 40", "40", "answer_line"),
    # the generation prompt opened the block: the completion starts inside it
    ("12 + 30 makes \\boxed{42}\n</think>\n\nAnswer: 43", "43", "answer_line"),
    ("12 + 30 makes \\boxed{42}\n</think>\n\nno marker", None, "none"),
    # cut off by the token budget inside the trace: no answer
    ("<think>now \\boxed{42} and still thinking", None, "none"),
    ("Answer: 7\n<think>now \\boxed{42} and still thinking", "7", "answer_line"),  # what came before it stands
    # two traces, a nested tag inside one, the answer between and after
    ("<think>a <think> \\boxed{1} </think> Answer: 2\n<think>\\boxed{3}</think> done", "2", "answer_line"),
    # no trace: unchanged
    ("So the sum is \\boxed{42}.", "42", "boxed"),
])
def test_extract_answer_ignores_the_trace(completion, answer, method):
    assert extract_answer(completion) == (answer, method)


@pytest.mark.parametrize(("spec", "completion", "want"), [
    (NUM, "<think>30 + 12 = 42 → \\boxed{42}</think>\nI could not decide.", 0.0),
    (NUM, "<think>\\boxed{41}</think> The total is \\boxed{42}.", 1.0),
    (NUM, [{"role": "assistant", "content": "<think>\\boxed{42}</think>no final answer"}], 0.0),
    (NUM, [{"role": "assistant", "content": "\\boxed{42}", "reasoning_content": "\\boxed{41}"}], 1.0),
    (CHOICE, "<think>Answer: B looks right</think>\nAnswer: C", 0.0),
    (CHOICE, "<think>Answer: C?</think>\nAnswer: B", 1.0),
    ({**NUM, "extract": "raw"}, "<think>it is 41</think>42", 1.0),
])
def test_scores_read_the_answer_not_the_trace(spec, completion, want):
    assert score(spec, completion).score == want


def test_strip_thinking_is_linear_on_hostile_input():
    assert strip_thinking("<think>" * 50_000 + "\\boxed{1}") == ""
    assert strip_thinking("</think>" * 50_000 + "x") == "x"
    assert extract_answer("<think></think>" * 50_000 + "\\boxed{5}") == ("5", "boxed")
