"""`huijin catalog select`: rows of a version chosen by SQL become a new version with its parent, the query in
its recipe and the left-out rows counted; the same query again reuses that version."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from huijin.cli import app

runner = CliRunner()


@pytest.fixture
def rl_store(store):
    from synthesis.generators.records import provenance, rl_record

    recs = []
    for i in range(20):
        lang = "zh" if i % 4 == 0 else "en"
        recs.append(rl_record([{"role": "user", "content": f"Task {i}: what is {i} plus 1?"}],
                              {"spec_version": 1, "type": "numeric", "answer": i + 1},
                              "numerical_reasoning/financial_math/ratio_growth" if i % 2 else "general/math/add", lang,
                              provenance("test", "t"), {"teacher_pass@k": 1 - i / 20}, difficulty=i / 20))
    with store.writer("tasks", kind="rl", recipe={"generator": "test"}) as w:
        w.write(recs)
    return store


def cli(*args, store):
    return runner.invoke(app, ["catalog", *args, "--store", str(store.root)])


def test_select_where_writes_a_child_version_and_reuses_it(rl_store):
    store = rl_store
    res = cli("select", "tasks@1", "--where", "difficulty between 0.2 and 0.8", "--name", "tasks-mid", "--json",
              store=store)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["version"] == "tasks-mid@1" and out["rows"] == 13 and out["dropped"] == 7 and not out["reused"]
    m = store.resolve("tasks-mid@1")
    assert m.kind == "rl" and m.inputs == 20 and m.drops == {"not_selected": 7}
    assert m.recipe["select"]["where"] == "difficulty between 0.2 and 0.8"
    assert "rows('tasks@1')" in m.recipe["select"]["query"]
    rows = list(store.iter_records(m))
    assert sorted(r["difficulty"] for r in rows) == [i / 20 for i in range(4, 17)]
    src = {r["id"]: r for r in store.iter_records("tasks@1")}
    assert all(r == src[r["id"]] for r in rows)  # rows are copied unchanged
    lineage = cli("lineage", "tasks-mid@1", "--json", store=store)
    assert [(x["name"], x["version"]) for x in json.loads(lineage.stdout)] == [("tasks", 1)]
    again = json.loads(cli("select", "tasks@1", "--where", "difficulty between 0.2 and 0.8", "--name", "tasks-mid",
                           "--json", store=store).stdout)
    assert again["version"] == "tasks-mid@1" and again["reused"] and again["hash"] == out["hash"]
    other = json.loads(cli("select", "tasks@1", "--where", "difficulty > 0.5", "--name", "tasks-mid", "--json",
                           store=store).stdout)
    assert other["version"] == "tasks-mid@2" and other["rows"] == 9


def test_select_full_sql_by_language_and_leaf(rl_store):
    from catalogs.select import select

    store = rl_store
    m = select(store, "tasks", "tasks-zh-fin", sql="SELECT * FROM rows('tasks@1') WHERE lang = 'zh' "
               "AND taxonomy LIKE 'general/%' ORDER BY difficulty DESC")
    rows = list(store.iter_records(m))
    assert [r["difficulty"] for r in rows] == [0.8, 0.6, 0.4, 0.2, 0.0]
    assert {r["lang"] for r in rows} == {"zh"} and m.drops == {"not_selected": 15}
    assert m.recipe["select"]["sql"].startswith("SELECT * FROM rows('tasks@1')")


def test_select_refuses_writes_foreign_files_and_bad_rows(rl_store, tmp_path):
    from catalogs import QueryError, SchemaError
    from catalogs.select import select

    store = rl_store
    with pytest.raises(QueryError, match="read-only"):
        select(store, "tasks@1", "x", sql="SELECT * FROM rows('tasks@1'); COPY (SELECT 1) TO '/tmp/x.csv'")
    (tmp_path / "secret.csv").write_text("a\n1\n")
    with pytest.raises(QueryError):
        select(store, "tasks@1", "x", where=f"id IN (SELECT a FROM read_csv('{tmp_path / 'secret.csv'}'))")
    with pytest.raises(QueryError, match=r"must read the version it selects from"):
        select(store, "tasks@1", "x", sql="SELECT * FROM rows('tasks-other@1')")
    with pytest.raises(SchemaError, match="unknown columns"):
        select(store, "tasks@1", "x", sql="SELECT *, 1 AS extra FROM rows('tasks@1')")
    with pytest.raises(QueryError, match="more than the 20 of tasks@1"):
        select(store, "tasks@1", "x", sql="SELECT * FROM rows('tasks@1') UNION ALL SELECT * FROM rows('tasks@1')")
    assert [v["name"] for v in store.ls()] == ["tasks"]  # nothing half-written
    res = cli("select", "tasks@1", "--name", "x", store=store)
    assert res.exit_code == 2 and "--where" in res.output
    res = cli("select", "tasks@1", "--where", "nosuchcolumn > 1", "--name", "x", store=store)
    assert res.exit_code == 1 and "nosuchcolumn" in res.output
