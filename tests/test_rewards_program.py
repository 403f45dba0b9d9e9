"""The safe program interpreter (FinQA DSL + PoT arithmetic), the program reward type and `huijin verify`."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from synthesis.rewards import (
    ProgramError,
    run_finqa,
    run_program,
    run_python_arith,
    score,
    verify_convfinqa,
    verify_finqa,
)
from synthesis.rewards.verify import load_records

TABLE = [["", "2019", "2018", "2017"], ["net sales", "$ 1,200", "$ 1,000", "800 ( 1 )"],
         ["operating margin", "10%", "12%", "14%"], ["notes", "n/a", "x", "y"]]


@pytest.mark.parametrize("program,expected", [
    ("add(1, 2)", 3.0),
    ("subtract(60.94, 25.14), divide(#0, 25.14)", (60.94 - 25.14) / 25.14),
    ("multiply(45, const_4), add(#0, 44), divide(#1, const_5)", 44.8),
    ("divide(6.9%, const_100), add(const_1, #0), exp(#1, 10), multiply(4273.1, #2)", 4273.1 * (1 + 0.00069) ** 10),
    ("multiply(const_m1, 5)", -5.0),
    ("subtract(62%, 61%)", 0.01),
    ("add(1,234, 1)", None),  # a thousands separator inside a DSL argument is ambiguous: 3 arguments
    ("greater(14, 19)", "no"),
    ("table_sum(net sales, none)", 3000.0),
    ("table_average(Operating Margin, none)", 0.12),
    ("table_max(net sales, none), table_min(net sales, none), subtract(#0, #1)", 400.0),
    ("add(1, 2), EOF", 3.0),
])
def test_finqa_dsl(program, expected):
    if expected is None:
        with pytest.raises(ProgramError):
            run_finqa(program, TABLE)
        return
    got = run_finqa(program, TABLE)
    assert got == expected if isinstance(expected, str) else math.isclose(got, expected, rel_tol=1e-12)


@pytest.mark.parametrize("program,match", [
    ("", "empty"),
    ("add(1)", "2 arguments"),
    ("eval(1, 2)", "unknown operation"),
    ("add(#1, 2)", "not an earlier step"),
    ("add(#0, 2)", "not an earlier step"),
    ("divide(1, 0)", "division by zero"),
    ("exp(10, 5000)", "exponent"),
    ("exp(1e300, 2)", "overflow"),
    ("add(foo, 1)", "not a number"),
    ("table_sum(notes, none)", "non-numeric"),
    ("table_sum(missing row, none)", "no table row"),
    ("greater(1, 2), add(#0, 1)", "yes/no"),
    ("add(1, 2) garbage", "cannot parse"),
    ("add(1, 2)" + ", add(#0, 1)" * 100, "more than"),
])
def test_finqa_errors_are_clear(program, match):
    with pytest.raises(ProgramError, match=match):
        run_finqa(program, TABLE)


def test_python_arithmetic_layout():
    assert math.isclose(run_python_arith("x0 = 60.94 - 25.14; ans = x0 / 25.14"), (60.94 - 25.14) / 25.14)
    assert run_python_arith("ans = 3547 + -319") == 3228.0
    assert run_python_arith("ans = 23%") == 0.23  # PoT percent literal
    assert run_python_arith("ans = 7 % 3") == 1.0  # real modulo stays modulo
    assert run_python_arith("x0 = 17.84 - 4.11; x1 = 60.15 - 41.30; ans = x0 > x1") == "no"
    assert run_python_arith("a = 2\nb = a ** 3\nc = max(a, b, 5)") == 8.0  # no ans: last assignment
    assert run_program("x = 1 + 1") == 2.0 and run_program("add(1, 1)") == 2.0


@pytest.mark.parametrize("program", [
    "__import__('os').system('touch /tmp/pwned')",
    "ans = __import__('os').getcwd()",
    "ans = (1).__class__",
    "ans = open('/etc/passwd')",
    "ans = [x for x in range(10)]",
    "ans = lambda: 1",
    "import os",
    "ans = 'text'",
    "ans = True",
    "ans = 10 ** 10 ** 10",
    "ans = 9" + "9" * 5000,
    "x = 1; ans = y",
    "ans = 1 if 1 else 2",
    "abs = 3",
    "ans = round(1.5, x=1)",
    "def f(): pass",
    "ans = 1 / 0",
    "ans = " + "(" * 500 + "1" + ")" * 500,
    "ans = " + "-" * 50_000 + "1",
    "ans = " + " + ".join(["1"] * 3000),
])
def test_python_layout_refuses_everything_but_arithmetic(program, tmp_path):
    with pytest.raises(ProgramError):
        run_python_arith(program)


def test_program_reward_type():
    spec = {"spec_version": 1, "type": "program", "answer": 1.42403}
    assert score(spec, "<answer>x0 = 60.94 - 25.14; ans = x0 / 25.14</answer>").score == 1.0
    assert score(spec, "```python\nx0 = 60.94 - 25.14\nans = x0 / 25.14\n```").score == 1.0
    assert score(spec, "<answer>ans = 60.94 / 25.14</answer>").score == 0.0
    r = score(spec, "<answer>ans = __import__('os')</answer>")
    assert r.score == 0.0 and "program error" in r.reason
    gold_prog = {"spec_version": 1, "type": "program", "program": "table_sum(net sales, none)", "table": TABLE}
    assert score(gold_prog, "Answer: add(1200, 1800)").score == 1.0
    assert score({**gold_prog, "program": "divide(1, 0)"}, "Answer: add(1, 1)").score is None  # bad gold: skip
    yes = {"spec_version": 1, "type": "program", "answer": "yes"}
    assert score(yes, "Answer: greater(3, 2)").score == 1.0 and score(yes, "Answer: greater(2, 3)").score == 0.0


def test_verify_finqa_and_convfinqa_on_shared_data(shared_data):
    for name in ("dev_200.json", "train_100.json"):
        res = verify_finqa(load_records(shared_data / "finqa" / name))
        assert res["total"] >= 100 and res["agree"] / res["total"] >= 0.99, res["reasons"]
    conv = verify_convfinqa(load_records(shared_data / "convfinqa" / "convfinqa_dev_100_pot_format.json"))
    assert conv["total"] == 100 and conv["agree"] / conv["total"] >= 0.99, conv["reasons"]


def test_verify_reports_disagreements(tmp_path):
    recs = [{"id": "ok", "table": TABLE, "qa": {"program": "table_sum(net sales, none)", "exe_ans": 3000.0}},
            {"id": "wrong", "table": TABLE, "qa": {"program": "add(1, 1)", "exe_ans": 3.0}},
            {"id": "broken", "qa": {"program": "table_sum(net sales, none)", "exe_ans": 1.0}}]
    res = verify_finqa(recs)
    assert (res["total"], res["agree"], res["disagree"]) == (3, 1, ["wrong", "broken"])
    assert "no table" in res["reasons"]["broken"]


def test_cli_verify_json(tmp_path, shared_data):
    from huijin.cli import app

    out = CliRunner().invoke(app, ["verify", "finqa", str(shared_data / "finqa" / "dev_200.json"), "--json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    assert set(d) == {"total", "agree", "disagree"} and d["total"] == 200 and d["agree"] >= 198
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "x", "programs": ["ans = 1 +"], "answer": 1}]))
    out = CliRunner().invoke(app, ["verify", "convfinqa", str(bad), "--json"])
    assert json.loads(out.output) == {"total": 1, "agree": 0, "disagree": ["x"]}
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{nope")
    out = CliRunner().invoke(app, ["verify", "finqa", str(garbage)])
    assert out.exit_code == 1 and "garbage.json" in out.output


def test_verify_names_the_wrong_layout(tmp_path):
    """A FinQA file given to `verify convfinqa` (or the reverse) is one clear error, not N KeyErrors."""
    from huijin.cli import app

    finqa = [{"id": "a", "table": TABLE, "qa": {"program": "add(1, 1)", "exe_ans": 2.0}}]
    pot = [{"id": "b", "programs": ["ans = 1 + 1"], "answer": 2.0}]
    with pytest.raises(ValueError, match="verify convfinqa"):
        verify_finqa(pot)
    with pytest.raises(ValueError, match="verify finqa"):
        verify_convfinqa(finqa)
    assert verify_finqa(finqa)["agree"] == 1 and verify_convfinqa(pot)["agree"] == 1
    f = tmp_path / "pot.json"
    f.write_text(json.dumps(pot))
    out = CliRunner().invoke(app, ["verify", "finqa", str(f), "--json"])
    assert out.exit_code == 1 and "pot.json" in out.output and "convfinqa" in out.output
    assert "Traceback" not in out.output
