"""score(reward_spec, completion): numeric units, choice, exact, set, extraction, adversarial completions."""

from __future__ import annotations

import json
import time

import pytest

from synthesis.rewards import (
    Result,
    extract_answer,
    last_boxed,
    register_scorer,
    registered_scorers,
    score,
    trl_reward,
    use_scorer,
)


def S(**k):
    return {"spec_version": 1, **k}


# -- extraction ---------------------------------------------------------------------------------
def test_last_boxed_with_nested_braces():
    text = r"first \boxed{1} then \boxed{\frac{3}{4}} and finally \boxed{x^{2}+{y}}"
    assert last_boxed(text) == "x^{2}+{y}"
    assert extract_answer(r"so \boxed{\dfrac{1}{4}}")[0] == "0.25"
    assert last_boxed(r"\boxed{unbalanced {") is None


@pytest.mark.parametrize("completion,expected,method", [
    ("work...\n<answer>42</answer>", "42", "answer_tag"),
    ("work...\nAnswer: 12.5%", "12.5%", "answer_line"),
    ("**Final answer:** $3.2 million", "$3.2 million", "answer_line"),
    ("推理过程……\n答案：B", "B", "answer_line"),
    (r"<answer>the value is \boxed{7}</answer>", "7", "boxed"),
    ("I think it is 42.", None, "none"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "Answer: 5"}], "5", "answer_line"),
])
def test_extraction_conventions(completion, expected, method):
    assert extract_answer(completion) == (expected, method)


# -- numeric ------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec,completion,expected", [
    (S(type="numeric", answer="12.5", unit="percent"), r"\boxed{12.5\%}", 1.0),
    (S(type="numeric", answer=0.125, unit="ratio"), "Answer: 12.5%", 1.0),  # explicit % converts exactly
    (S(type="numeric", answer=0.125, unit="ratio"), "Answer: 12.5", 0.0),  # bare ×100: never silently
    (S(type="numeric", answer=0.125, unit="ratio", allow_percent_ratio=True), "Answer: 12.5", 1.0),
    (S(type="numeric", answer="12.5", unit="percent"), "Answer: 0.125", 0.0),
    (S(type="numeric", answer="12.5", unit="percent"), "Answer: 1250%", 0.0),  # off by 100x never scores
    (S(type="numeric", answer="25", unit="bps"), "Answer: 0.25%", 1.0),
    (S(type="numeric", answer="1.2", unit="currency", scale="million", currency="USD"), "Answer: $1,200,000", 1.0),
    (S(type="numeric", answer="1.2", unit="currency", scale="million", currency="USD"), "Answer: 1.2 million", 1.0),
    (S(type="numeric", answer="1.2", unit="currency", scale="million", currency="USD"), "Answer: 1.2", 1.0),
    (S(type="numeric", answer="1.2", unit="currency", scale="million", currency="USD"), "Answer: 1.2 billion", 0.0),
    (S(type="numeric", answer="1.2", unit="currency", scale="million", currency="USD"), "Answer: €1.2 million", 0.0),
    (S(type="numeric", answer="-1234"), "Answer: (1,234)", 1.0),
    (S(type="numeric", answer="-1234"), "Answer: \u22121,234", 1.0),
    (S(type="numeric", answer="3.2", unit="multiple"), "Answer: 3.2x", 1.0),
    (S(type="numeric", answer="100", unit="count"), "Answer: 12%", 0.0),
    (S(type="numeric", answer=56.197, unit="percent", round=0), "Answer: 56%", 1.0),
    (S(type="numeric", answer=56.197, unit="percent"), "Answer: 56%", 0.0),  # default rel_tol 1e-4
    (S(type="numeric", answer=56.197, unit="percent", abs_tol=0.5), "Answer: 56%", 1.0),
    (S(type="numeric", answer=1000.0, rel_tol=0.01), "Answer: 1,009", 1.0),
    (S(type="numeric", answer=1000.0, rel_tol=0.01), "Answer: 1,011", 0.0),
])
def test_numeric(spec, completion, expected):
    r = score(spec, completion)
    assert r.score == expected, r


def test_unparseable_gold_gives_none_not_zero():
    r = score(S(type="numeric", answer="see note 4"), "Answer: 4")
    assert r.score is None and "gold" in r.reason
    assert score(S(type="choice", answer="Z", options=["A", "B"]), "Answer: A").score is None
    assert score(S(type="set", answer=[]), "Answer: a").score is None


def test_spec_as_json_string_and_bad_specs():
    spec = json.dumps(S(type="numeric", answer="5"))
    assert score(spec, "Answer: 5").score == 1.0
    assert score({"type": "numeric", "answer": 5}, "Answer: 5").score is None  # no spec_version
    assert score(S(type="regex", answer=5), "Answer: 5").score is None
    assert score("{not json", "Answer: 5").score is None


# -- choice / exact / set -------------------------------------------------------------------------
@pytest.mark.parametrize("spec,completion,expected", [
    (S(type="choice", answer="B"), "Answer: (B)", 1.0),
    (S(type="choice", answer="B"), "Answer: b", 1.0),
    (S(type="choice", answer="B"), "Answer: A", 0.0),
    (S(type="choice", answer="B"), "Answer: A or B", 0.0),  # hedging over options does not score
    (S(type="choice", answer="B"), "Answer: ABCD", 0.0),
    (S(type="choice", answer=["A", "C"]), "答案：AC", 1.0),
    (S(type="choice", answer=["A", "C"]), "Answer: A, C", 1.0),
    (S(type="choice", answer=["A", "C"]), "Answer: A, B, C", 0.0),
    (S(type="exact", answer="bullish", labels=["bullish", "bearish", "neutral"]), "Answer: Bullish.", 1.0),
    (S(type="exact", answer="bullish", labels=["bullish", "bearish", "neutral"]), "Answer: very bullish", 0.0),
    (S(type="exact", answer=["card_arrival", "card arrival"]), "<answer>Card Arrival</answer>", 1.0),
])
def test_choice_and_exact(spec, completion, expected):
    assert score(spec, completion).score == expected


def test_set_f1_and_listing_everything_is_penalised():
    spec = S(type="set", answer=["Apple", "Microsoft"])
    assert score(spec, "Answer: apple, microsoft").score == 1.0
    assert score(spec, "Answer: Apple; Microsoft; Google").score == pytest.approx(0.8)
    assert score(spec, "Answer: Google").score == 0.0
    everything = ", ".join(f"company{i}" for i in range(200)) + ", apple, microsoft"
    assert score(spec, f"Answer: {everything}").score < 0.05


# -- adversarial --------------------------------------------------------------------------------
def test_adversarial_completions_do_not_crash_or_score():
    num = S(type="numeric", answer="42")
    cases = [
        "Answer: 41, 42, 43",  # many answers
        " ".join(rf"\boxed{{{i}}}" for i in range(5000)) + r" \boxed{1, 42}",
        r"\boxed{" * 50_000 + "42",  # nested, never closed
        "Answer: " + "9" * 100_000,  # huge number
        "Answer: 1e999999",
        "Answer: 42" + "\n" * 10 + "Answer:" + " " * 100_000 + "x",
        "<answer>" * 10_000 + "42",
        "\x00\x01\x02" * 1000,
        "",
        None,
    ]
    t0 = time.monotonic()
    for c in cases:
        r = score(num, c)
        assert isinstance(r, Result)
        assert r.score in (0.0, None) or r.score == 0.0, (c if c is None else c[:60], r)
    assert time.monotonic() - t0 < 10


def test_last_boxed_wins_over_earlier_ones():
    assert score(S(type="numeric", answer="42"), r"\boxed{42} no wait \boxed{41}").score == 0.0
    assert score(S(type="numeric", answer="42"), r"\boxed{41} no wait \boxed{42}").score == 1.0


# -- judge / tool_env / plug-ins / TRL ---------------------------------------------------------------
def test_registry_is_explicit_and_complete():
    """Every type has a built-in scorer, registered by the registry itself, not by importing synthesis.envs."""
    import subprocess
    import sys

    code = ("import sys; from synthesis.rewards import score; "
            "r = score({'spec_version': 1, 'type': 'tool_env', 'answer': {'spec_version': 1, 'type': 'numeric', "
            "'answer': '5'}, 'gold_tools': []}, 'Answer: 5'); "
            "assert r.score == 1.0, r; print('synthesis.envs' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert set(registered_scorers()) == {"numeric", "choice", "exact", "set", "program", "tool_env", "judge"}


def test_judge_without_endpoint_and_unregistered_types_return_none():
    r = score(S(type="judge", rubric="helpful"), "anything")
    assert r.score is None and "judge needs an endpoint" in r.reason
    with use_scorer("tool_env", None):  # a type with no scorer: None, never 0
        assert score(S(type="tool_env", answer=S(type="numeric", answer="1")), "anything").score is None
    assert "tool_env" in registered_scorers()  # restored


def test_register_scorer_fills_a_declared_type():
    with use_scorer("tool_env", lambda spec, c: Result(1.0 if "done" in c else 0.0, reason="env")):
        assert score(S(type="tool_env", answer=S(type="numeric", answer="1")), "done").score == 1.0
    old = register_scorer("judge", lambda spec, c: Result(0.5, reason="fake judge"))
    try:
        assert score(S(type="judge"), "x").score == 0.5
    finally:
        register_scorer("judge", old)
    assert score(S(type="judge"), "x").score is None
    with pytest.raises(ValueError):
        register_scorer("not_a_type", lambda s, c: Result(0.0))


def test_trl_reward_function_takes_columns_as_kwargs():
    specs = [json.dumps(S(type="numeric", answer="5")), json.dumps(S(type="numeric", answer="n/a")),
             json.dumps(S(type="choice", answer="A"))]
    completions = [[{"role": "assistant", "content": "Answer: 5"}], [{"role": "assistant", "content": "Answer: 5"}],
                   [{"role": "assistant", "content": "Answer: B"}]]
    assert trl_reward(completions, reward_spec=specs, prompts=None) == [1.0, None, 0.0]


def test_set_items_with_thousands_separators_and_and():
    spec = {"spec_version": 1, "type": "set", "answer": ["$1,073.3", "Software and other"]}
    assert score(spec, "\\boxed{$1,073.3, Software and other}").score == 1.0
    partial = score(spec, "Answer: Software and other; $1,073.3; hardware")
    assert abs(partial.score - 0.8) < 1e-9
    assert score({"spec_version": 1, "type": "set", "answer": ["a", "b"]}, "Answer: a and b").score == 1.0
