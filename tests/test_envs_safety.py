"""Agent environment safety: every refused SQL form, time and row limits, hostile calculator expressions."""

from __future__ import annotations

import json
import time

import pytest

from synthesis.envs import ToolEnv, evaluate
from synthesis.envs.calculator import CalcError

TABLES = {"facts": {"columns": [["report_id", "VARCHAR"], ["row_label", "VARCHAR"], ["column_label", "VARCHAR"],
                                ["value", "DOUBLE"]],
                    "rows": [["r1", "Total revenue", "2019", 7109.0], ["r1", "Total revenue", "2018", 5989.0],
                             ["r2", "Net income", "2019", 12.5]]}}


@pytest.fixture
def env(tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    e = ToolEnv({"tools": ["sql_query", "calculator", "search_docs"], "max_calls": 100,
                 "sql": {"tables": TABLES, "max_rows": 5, "timeout_s": 1.0},
                 "search": {"passages": [{"id": "d#p0", "text": "The board approved a dividend of $0.50."}]}})
    e.secret = str(secret)
    yield e
    e.close()


def sql(env, q):
    out = json.loads(env.step({"id": "c", "name": "sql_query", "arguments": json.dumps({"sql": q})})["content"])
    return out


def test_select_works_and_rows_are_limited(env):
    out = sql(env, "SELECT value FROM facts WHERE row_label = 'Total revenue' ORDER BY column_label")
    assert out == {"ok": True, "result": {"columns": ["value"], "rows": [[5989.0], [7109.0]], "truncated": False}}
    big = sql(env, "SELECT * FROM range(1000)")
    assert big["ok"] and len(big["result"]["rows"]) == 5 and big["result"]["truncated"]


REFUSED = {
    "insert": "INSERT INTO facts VALUES ('x', 'y', 'z', 1)",
    "update": "UPDATE facts SET value = 0",
    "delete": "DELETE FROM facts",
    "create": "CREATE TABLE t AS SELECT 1",
    "create_view": "CREATE VIEW v AS SELECT 1",
    "drop": "DROP TABLE facts",
    "alter": "ALTER TABLE facts ADD COLUMN x INT",
    "attach": "ATTACH '{secret}.db' AS x",
    "detach": "DETACH memory",
    "copy_to": "COPY facts TO '{secret}.out'",
    "copy_from": "COPY facts FROM '{secret}'",
    "export": "EXPORT DATABASE '{secret}.dir'",
    "import": "IMPORT DATABASE '{secret}.dir'",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "pragma": "PRAGMA database_list",
    "set": "SET threads = 8",
    "reset": "RESET memory_limit",
    "call": "CALL pragma_version()",
    "checkpoint": "CHECKPOINT",
    "vacuum": "VACUUM",
    "use": "USE memory",
    "begin": "BEGIN TRANSACTION",
    "multi_statement": "SELECT 1; DROP TABLE facts",
    "read_csv": "SELECT * FROM read_csv('{secret}')",
    "read_csv_auto": "SELECT * FROM read_csv_auto('{secret}')",
    "read_text": "SELECT * FROM read_text('{secret}')",
    "read_blob": "SELECT * FROM read_blob('{secret}')",
    "read_parquet": "SELECT * FROM read_parquet('{secret}')",
    "read_json": "SELECT * FROM read_json('{secret}')",
    "glob": "SELECT * FROM glob('/*')",
    "quoted_file": "SELECT * FROM '{secret}'",
    "join_file": "SELECT * FROM facts JOIN '{secret}' ON true",
    "query_fn": "SELECT * FROM query('DROP TABLE facts')",
    "subquery_file": "SELECT (SELECT count(*) FROM read_csv_auto('{secret}'))",
    "empty": "   ",
}


@pytest.mark.parametrize("form", sorted(REFUSED))
def test_refused_sql_forms(env, form):
    out = sql(env, REFUSED[form].format(secret=env.secret))
    assert out["ok"] is False, (form, out)
    assert "hunter2" not in json.dumps(out)
    # the database is unchanged after every refused statement
    assert sql(env, "SELECT count(*) FROM facts")["result"]["rows"] == [[3]]


def test_sandbox_blocks_file_access_even_past_the_name_check(env):
    # a file function the name list does not know still meets DuckDB's disabled external access
    con = env._db()
    with pytest.raises(Exception, match="(?i)permission|disabled|not exist|catalog"):
        con.execute(f"SELECT * FROM parquet_metadata('{env.secret}')").fetchall()
    with pytest.raises(Exception, match="(?i)lock|configuration|cannot"):
        con.execute("SET enable_external_access = true")


def test_time_limit_interrupts_long_queries(env):
    t0 = time.time()
    out = sql(env, "SELECT count(*) FROM range(1000000000000) a")
    assert not out["ok"] and "time limit" in out["error"]
    assert time.time() - t0 < 5
    assert sql(env, "SELECT 1 AS x")["result"]["rows"] == [[1]]  # the connection still works afterwards


def test_bad_tool_calls_are_reported_not_raised(env):
    bad = [{"id": "1", "name": "rm_rf", "arguments": "{}"},
           {"id": "2", "name": "sql_query", "arguments": "not json"},
           {"id": "3", "name": "sql_query", "arguments": json.dumps({"query": "SELECT 1"})},
           {"id": "4", "name": "calculator", "arguments": json.dumps({"expression": 5})},
           {"id": "5", "name": "search_docs", "arguments": json.dumps({"query": "x", "k": 99})},
           # JSON that Python cannot hold (found by the fuzzer): a 5,000-digit integer, nesting past the stack
           {"id": "6", "name": "calculator", "arguments": "9" * 5000},
           {"id": "7", "name": "calculator", "arguments": "[" * 9000 + "]" * 9000}]
    for c in bad:
        m = env.step(c)
        assert m["role"] == "tool" and m["tool_call_id"] == c["id"]
        assert json.loads(m["content"])["ok"] is False
    assert [o.ok for o in env.outcomes] == [False] * 7
    assert "cannot be read" in json.loads(env.step(bad[5])["content"])["error"]


def test_call_budget(env):
    small = ToolEnv({"tools": ["calculator"], "max_calls": 2})
    for _ in range(2):
        assert json.loads(small.step({"id": "a", "name": "calculator",
                                      "arguments": '{"expression": "1+1"}'})["content"])["ok"]
    out = json.loads(small.step({"id": "b", "name": "calculator", "arguments": '{"expression": "1+1"}'})["content"])
    assert not out["ok"] and "budget" in out["error"]


def test_unknown_tool_in_config_is_an_error():
    with pytest.raises(ValueError, match="unknown tools"):
        ToolEnv({"tools": ["shell"]})


@pytest.mark.parametrize("expr,value", [("(7109 - 5989) / 5989", 0.18700951745), ("1,234 + 1", 1235),
                                        ("12% * 200", 24), ("2 ^ 10", 1024), ("sqrt(16) + abs(-2)", 6),
                                        ("round(2.675, 2)", 2.67), ("-(3)", -3), ("10 % 3", 1), ("pi", 3.14159265),
                                        ("max(1, 5, 3)", 5), ("log(e)", 1.0)])
def test_calculator_values(expr, value):
    assert evaluate(expr) == pytest.approx(value, rel=1e-6)


HOSTILE = ["__import__('os').system('id')", "open('/etc/passwd').read()", "().__class__.__bases__", "lambda: 1",
           "[1] * 10**9", "'a' * 10**9", "9 ** 9 ** 9", "10 ** 100000", "2 ** 5000", "exp(1000)",
           "(" * 300 + "1" + ")" * 300, "1 +" * 200 + "1", "x + 1", "f'{1}'", "print(1)", "1 if 1 else 2",
           "{1: 2}", "1 / 0", "sqrt(-1)", "log(0)", "eval('1')", "a := 1", "1e308 * 10", "", "abs(x=1)",
           "round(1, 2, 3)", "min()", "True + 1", "b'1'", "1j"]


@pytest.mark.parametrize("expr", HOSTILE)
def test_calculator_refuses_hostile_expressions(expr):
    t0 = time.time()
    with pytest.raises(CalcError):
        evaluate(expr)
    assert time.time() - t0 < 1.0


def test_search_finds_passages(env):
    out = json.loads(env.step({"id": "s", "name": "search_docs",
                               "arguments": json.dumps({"query": "dividend approved", "k": 2})})["content"])
    assert out["ok"] and out["result"][0]["id"] == "d#p0"


def test_search_over_a_doc_version(store):
    with store.writer("fin-docs", kind="doc") as w:
        w.write([{"id": "a", "text": "The bank raised its dividend to $1.20 per share. " * 3},
                 {"id": "b", "text": "Rainfall in the valley was above average this spring. " * 3}])
    cfg = {"tools": ["search_docs"], "search": {"doc_version": "fin-docs@1"}}
    with ToolEnv(cfg, store) as env:
        out = json.loads(env.step({"id": "s", "name": "search_docs",
                                   "arguments": json.dumps({"query": "dividend per share"})})["content"])
        assert out["ok"] and out["result"][0]["id"] == "a#p0" and len(out["result"]) == 1
    with ToolEnv(cfg) as env:  # without the store the tool reports the problem instead of raising
        out = json.loads(env.step({"id": "s", "name": "search_docs", "arguments": '{"query": "x"}'})["content"])
        assert not out["ok"] and "needs the store" in out["error"]
