"""score() and the RL adapters never raise (issue 19): hostile completions score 0, bad specs None, both with a
reason; non-finite results refused; literal parsing linear; bad specs refused when an rl record is built.
Ends with a property-based fuzz (hypothesis, > 10,000 cases) over completions, programs and specs."""

from __future__ import annotations

import json
import math
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from finance.arith import ProgramError, evaluate, run_finqa, run_python_arith
from finance.numbers import find_quantities, parse_quantity
from synthesis.rewards import Result, SpecError, score, trl_reward, validate_spec, verl_compute_score

PROGRAM = {"spec_version": 1, "type": "program", "answer": 42}
NUMERIC = {"spec_version": 1, "type": "numeric", "answer": "42"}


# -- the reproductions of issue 19 ---------------------------------------------------------------------
def test_overflowing_round_scores_zero_everywhere():
    c = r"\boxed{ans = round(2.5, 1e309)}"
    r = score(PROGRAM, c)
    assert r.score == 0.0 and "program error" in r.reason
    assert trl_reward([c], [json.dumps(PROGRAM)]) == [0.0]
    assert verl_compute_score("finqa", c, json.dumps(PROGRAM)) == 0.0
    with pytest.raises(ProgramError):
        run_python_arith("ans = round(2.5, 1e309)")
    with pytest.raises(ProgramError, match="round"):
        run_python_arith("ans = round(2.5, 1e30)")


@pytest.mark.parametrize("program", ["ans = 1e309", "ans = -1e309", "ans = 1e308 * 10", "ans = 10 ** 300",
                                     "ans = 1e200", "ans = exp(300)", "ans = 1e-320 / 1e-320 * 1e308 * 1e308"])
def test_non_finite_or_huge_results_are_refused(program):
    with pytest.raises(ProgramError):
        run_python_arith(program)
    r = score(PROGRAM, rf"\boxed{{{program}}}")
    assert r.score == 0.0 and r.pred != math.inf


def test_finqa_and_calculator_refuse_non_finite_too():
    with pytest.raises(ProgramError):
        run_finqa("multiply(1e99, 1e99)")
    with pytest.raises(ProgramError):
        run_finqa("add(1e309, 1)")
    with pytest.raises(ProgramError):
        evaluate("1e309")


@pytest.mark.parametrize("completion", [
    r"\boxed{ans = " + "9" * 9990 + "}",
    r"\boxed{ans = " + "9" * 9990 + "%}",
    r"\boxed{ans = 1." + "9" * 9990 + "%}",
    r"\boxed{add(" + "9" * 9990 + "%, 1)}",
    "Answer: " + "9" * 9990,
    "Answer: " + "9" * 9990 + "%",
    "Answer: a" + " " * 9990 + "b",  # a whitespace run used to backtrack for minutes in the number regex
    "Answer: (" + " " * 9990 + "x",
])
def test_long_literals_parse_in_linear_time(completion):
    for spec in (PROGRAM, NUMERIC):
        t0 = time.perf_counter()
        r = score(spec, completion)
        assert time.perf_counter() - t0 < 0.1, (spec["type"], completion[:40])
        assert r.score == 0.0


def test_number_parser_is_linear_on_long_runs():
    for text in ("9" * 9990, "9" * 9990 + "%", " " * 9990 + "x", "( " * 5000, "- $ " * 2500, "1,1" * 3000):
        t0 = time.perf_counter()
        find_quantities(text)
        parse_quantity(text[:512])
        parse_quantity(text[:512], strict=True)
        assert time.perf_counter() - t0 < 1.0, text[:20]  # quadratic takes seconds; generous for a loaded CI box


@pytest.mark.parametrize("spec,field", [
    ({**NUMERIC, "rel_tol": "x"}, "rel_tol"),
    ({**NUMERIC, "rel_tol": -1}, "rel_tol"),
    ({**NUMERIC, "abs_tol": float("nan")}, "abs_tol"),
    ({**NUMERIC, "round": 1e20}, "round"),
    ({**NUMERIC, "round": 1.5}, "round"),
    ({**NUMERIC, "round": "2"}, "round"),
    ({**NUMERIC, "answer": {"value": 42, "unit": {"nested": [1, 2]}}}, "answer"),
    ({**NUMERIC, "answer": [42]}, "answer"),
    ({**NUMERIC, "answer": "see note 4"}, "gold"),
    ({**NUMERIC, "unit": "percentage"}, "unit"),
    ({**NUMERIC, "scale": "zillion"}, "scale"),
    ({**NUMERIC, "allow_percent_ratio": "yes"}, "allow_percent_ratio"),
    ({**PROGRAM, "answer": {"a": 1}}, "answer"),
    ({**PROGRAM, "answer": None, "program": "divide(1, 0)"}, "gold program"),
    ({**PROGRAM, "table": "not a table"}, "table"),
    ({**PROGRAM, "dsl": "lisp"}, "dsl"),
    ({"spec_version": 1, "type": "choice", "answer": "B", "options": ["A", "B]", "C"]}, "option"),
    ({"spec_version": 1, "type": "choice", "answer": {"x": 1}}, "choice"),
    ({"spec_version": 1, "type": "exact", "answer": [[1]]}, "answer"),
    ({"spec_version": 1, "type": "set", "answer": "a"}, "answer"),
    ({"spec_version": 1, "type": "tool_env", "answer": "42"}, "answer"),
    ({"spec_version": 1, "type": "tool_env", "answer": NUMERIC, "max_calls": 1e9}, "max_calls"),
    ({"spec_version": 1, "type": "tool_env", "answer": {**NUMERIC, "rel_tol": "x"}}, "rel_tol"),
    ({"spec_version": 1, "type": "tool_env", "answer": NUMERIC, "env": {"tools": ["shell"]}}, "env"),
    ({"spec_version": True, "type": "numeric", "answer": "1"}, "spec_version"),
    ("[" * 100_000, "JSON"),
    ('{"spec_version": 1, "type": "numeric", "answer": ' + "9" * 5000 + "}", "JSON"),
    (42, "object"),
])
def test_malformed_specs_score_none_and_fail_validation(spec, field):
    r = score(spec, r"\boxed{42}")
    assert r.score is None and r.reason.startswith("bad spec") and field in r.reason, r
    with pytest.raises(ValueError, match=field):
        validate_spec(spec)
    assert trl_reward([r"\boxed{42}"], [spec if isinstance(spec, str) else json.dumps(spec)]) == [None]
    assert verl_compute_score("x", r"\boxed{42}", spec) == 0.0


def test_valid_specs_validate_and_null_fields_mean_default():
    for spec in (NUMERIC, PROGRAM, {**NUMERIC, "round": 0, "unit": "percent", "rel_tol": 0.01},
                 {"spec_version": 1, "type": "choice", "answer": ["A", "C"]},
                 {"spec_version": 1, "type": "tool_env", "answer": NUMERIC, "gold_tools": ["calculator"]}):
        assert validate_spec(spec)["type"] == spec["type"]
    assert score({**NUMERIC, "rel_tol": None, "round": None}, r"\boxed{42}").score == 1.0


def test_rl_records_with_bad_specs_are_refused_when_built():
    from synthesis.generators.records import provenance, rl_record

    prompt = [{"role": "user", "content": "q"}]
    assert rl_record(prompt, NUMERIC, None, "en", provenance("t", None))["reward_spec"]
    with pytest.raises(SpecError, match="rel_tol"):
        rl_record(prompt, {**NUMERIC, "rel_tol": "x"}, None, "en", provenance("t", None))
    with pytest.raises(ValueError, match="gold"):
        rl_record(prompt, {**NUMERIC, "answer": "n/a"}, None, "en", provenance("t", None))


@pytest.mark.parametrize("completion", [
    None, 42, 4.2, b"\\boxed{42}", object(), {"content": None}, {"content": ["x"]}, [1, 2, 3],
    [{"role": "assistant", "content": 42}], [{"role": "assistant", "content": [{"type": "text", "text": "\\boxed{42}"}]}],
    [{"role": "assistant", "tool_calls": "nope"}], [{"role": "assistant", "tool_calls": [1, None, {"function": 3}]}],
    [{"role": "assistant", "tool_calls": [{"function": {"name": ["x"], "arguments": {"a": float("nan")}}}]}],
    [[[[]]]],
])
def test_completions_of_any_shape(completion):
    tool = {"spec_version": 1, "type": "tool_env", "answer": NUMERIC, "gold_tools": ["calculator"],
            "env": {"tools": ["calculator"]}}
    for spec in (NUMERIC, PROGRAM, tool, {"spec_version": 1, "type": "set", "answer": ["a", "b"]}):
        r = score(spec, completion)
        assert r.score in (0.0, 1.0) and isinstance(r.reason, str), (spec["type"], r)


def test_a_raising_plug_in_scorer_gives_none():
    from synthesis.rewards import use_scorer

    def broken(spec, completion):
        raise RuntimeError("endpoint down")

    with use_scorer("judge", broken):
        r = score({"spec_version": 1, "type": "judge"}, "x")
    assert r.score is None and "endpoint down" in r.reason
    with use_scorer("judge", lambda s, c: Result(7.0)):
        assert score({"spec_version": 1, "type": "judge"}, "x").score is None  # out of [0, 1]: not a reward


# -- property-based fuzz: 4,000 + 2,500 + 3,500 = 10,000 generated cases (about 18,000 score/evaluator calls) -------------------------------------
TOKENS = ["0", "1", "42", "2.5", "9" * 400, "1e309", "1e-320", "1e308", "%", " % ", "(", ")", "+", "-", "*", "/",
          "//", "**", "^", ",", ";", "\n", " ", "=", "ans", "x0", "ans =", "x0 =", "round(", "abs(", "min(", "max(",
          "exp(", "log(", "pow(", "sqrt(", "pi", "e", ">", "<", "==", "add(", "subtract(", "divide(", "exp(",
          "greater(", "table_sum(", "net sales", "none", "#0", "#1", "const_100", "const_m1", "__import__('os')",
          "'", '"', "[", "]", "{", "}", "lambda", "True", "1j", "x" * 70, "EOF", "\\boxed{", "}", "$", "€", "million",
          "bps", "(1,234)", "１２", "−", "\x00", "答案：", "<answer>", "</answer>", "```python\n", "```"]
program_text = st.lists(st.sampled_from(TOKENS), max_size=30).map("".join)
wrapped = st.tuples(st.sampled_from(["\\boxed{%s}", "Answer: %s", "<answer>%s</answer>", "```\n%s\n```", "%s",
                                     "\\boxed{\\boxed{%s}", "x\n" * 3 + "Final answer: %s"]), program_text
                    ).map(lambda t: t[0].replace("%s", t[1]))
# hostile JSON values drawn from a table (hypothesis' recursive strategies cost more than the scoring itself)
NESTED: object = 1
for _ in range(50):
    NESTED = [{"k": NESTED}]
HOSTILE_JSON = [None, True, False, 0, -1, 1e20, 1e309, -1e309, float("nan"), 10**400, 2.5, "", "x", "1e309", "n/a",
                "12.5%", "$1.2 million", "yes", "A", "Z", "]", "\\", "(", "9" * 5000, " " * 1000, [], [1], [[1]], ["a", "b"],
                ["A", "C"], {}, {"a": 1}, {"spec_version": 1, "type": "numeric", "answer": "1"},
                {"spec_version": 1, "type": "tool_env", "answer": {}}, {"tools": ["calculator"]},
                {"tools": "calculator"}, {"answer": 1.5}, NESTED]
json_value = st.one_of(st.sampled_from(HOSTILE_JSON), st.integers(), st.floats(), st.text(max_size=10))
message = st.builds(lambda role, content, calls: {"role": role, "content": content, "tool_calls": calls},
                    st.sampled_from(["assistant", "tool", "user", None, 3]), st.one_of(wrapped, json_value),
                    st.one_of(st.none(), json_value, st.lists(st.builds(
                        lambda n, a: {"id": "c1", "function": {"name": n, "arguments": a}},
                        st.sampled_from(["calculator", "sql_query", "", None]), st.one_of(program_text, json_value)),
                        max_size=2)))
completion = st.one_of(wrapped, wrapped, wrapped, st.text(max_size=100), json_value, st.lists(message, max_size=3))
TABLE = [["", "2019", "2018"], ["net sales", "$ 1,200", "1,000"], ["margin", "10%", "x"]]
BASE_SPECS = [
    NUMERIC, {**NUMERIC, "answer": 0.125, "unit": "ratio", "allow_percent_ratio": True},
    {**NUMERIC, "answer": "1.2", "unit": "currency", "scale": "million", "currency": "USD", "round": 1},
    PROGRAM, {**PROGRAM, "answer": "yes"}, {"spec_version": 1, "type": "program", "program": "table_sum(net sales, none)",
                                            "table": TABLE},
    {"spec_version": 1, "type": "program", "program": "x0 = 2 ** 3; ans = x0 % 3", "dsl": "python"},
    {"spec_version": 1, "type": "choice", "answer": ["A", "C"]}, {"spec_version": 1, "type": "exact", "answer": "up"},
    {"spec_version": 1, "type": "set", "answer": ["a", "b"]}, {"spec_version": 1, "type": "judge"},
    {"spec_version": 1, "type": "judge", "checks": {"language": "en", "figures": [1198.0, 87], "cite": [1198.0],
                                                    "risk_disclosure": True, "no_guarantee": True, "min_chars": 10,
                                                    "verdict": ["not compliant"], "unit_scale": 1e6}},
    {"spec_version": 1, "type": "tool_env", "answer": NUMERIC, "gold_tools": ["calculator"]},
]


def _dumps(spec: dict) -> str:
    try:
        return json.dumps(spec)
    except (ValueError, RecursionError):
        return "{}"


FIELDS = ["answer", "unit", "scale", "currency", "rel_tol", "abs_tol", "round", "allow_percent_ratio", "options",
          "multi", "labels", "case_sensitive", "program", "table", "dsl", "extract", "gold_tools", "max_calls",
          "weights", "penalties", "tool_credit", "env", "type", "spec_version"]
mutated_spec = st.builds(lambda base, field, value: {**base, field: value},
                         st.sampled_from(BASE_SPECS), st.sampled_from(FIELDS), json_value)
any_spec = st.one_of(st.sampled_from(BASE_SPECS), mutated_spec, mutated_spec, mutated_spec.map(_dumps), json_value,
                     st.text(max_size=50))


def fuzz(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _check(spec, comp) -> None:
    r = score(spec, comp)
    assert isinstance(r, Result) and isinstance(r.reason, str)
    assert r.score is None or (isinstance(r.score, float) and 0.0 <= r.score <= 1.0), r
    # the last lines of defence in score() are for bugs: no generated input may reach them
    assert not r.reason.startswith(("completion could not be scored", "scorer failed", "bad spec: validation failed",
                                    "environment failed")), (spec, comp, r)


@fuzz(4_000)
@given(spec=st.sampled_from(BASE_SPECS), comp=completion)
# found by this test: tool-call arguments that are JSON Python cannot hold (a 5,000-digit integer)
@example(spec=next(s for s in BASE_SPECS if s["type"] == "tool_env"),
         comp=[{"role": "assistant", "content": None,
                "tool_calls": [{"id": "c1", "function": {"name": "calculator", "arguments": "9" * 5000}}]}])
def test_fuzz_completions(spec, comp):
    _check(spec, comp)


@fuzz(2_500)
@given(prog=program_text)
def test_fuzz_programs(prog):
    for run in (run_python_arith, run_finqa, evaluate):
        try:
            v = run(prog)
        except ProgramError as e:
            assert str(e)
            continue
        assert v in ("yes", "no") or (isinstance(v, float) and math.isfinite(v) and abs(v) <= 1e100)
    _check(PROGRAM, r"\boxed{" + prog + "}")


@fuzz(3_500)
@given(spec=any_spec, comp=completion)
def test_fuzz_specs(spec, comp):
    _check(spec, comp)
    try:
        validate_spec(spec)
    except ValueError as e:
        assert str(e) and score(spec, comp).score is None
