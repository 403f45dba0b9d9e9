"""Issue 19 reproductions on the catalog: bounded queries, damage detection, committed versions, gc."""

from __future__ import annotations

import json
import threading
import time

import pytest
from typer.testing import CliRunner

from huijin.cli import app

runner = CliRunner()
CROSS = "select count(*) from range(200000) a, range(200000) b where a.range + b.range = 7"


def _cli(*args: str):
    return runner.invoke(app, list(args))


# -- item 1: catalog query limits ---------------------------------------------------------------------
def test_query_row_limit_streams_and_says_so(tmp_path):
    st = str(tmp_path / "s")
    t = time.perf_counter()
    r = _cli("catalog", "query", "select * from range(100000000)", "--csv", "--max-rows", "1000", "--store", st)
    assert r.exit_code == 0, r.output
    assert time.perf_counter() - t < 10
    assert r.stdout.splitlines()[0] == "range" and len(r.stdout.splitlines()) == 1001
    assert "row limit" in r.stderr and "--max-rows" in r.stderr


def test_query_time_limit(tmp_path):
    st = str(tmp_path / "s")
    t = time.perf_counter()
    r = _cli("catalog", "query", CROSS, "--timeout", "1", "--store", st)
    took = time.perf_counter() - t
    assert r.exit_code == 1 and "time limit (1s)" in r.output and "--timeout" in r.output
    assert took < 6, took
    assert len(r.output.strip().splitlines()) == 1


def test_query_memory_limit(tmp_path):
    st = str(tmp_path / "s")
    r = _cli("catalog", "query", "select list(range) from range(100000000)", "--memory-limit", "100MB", "--store", st)
    assert r.exit_code == 1 and "memory limit (100MB)" in r.output and "--memory-limit" in r.output


@pytest.mark.parametrize("opt,val", [("--timeout", "0"), ("--timeout", "nan"), ("--max-rows", "0"),
                                     ("--memory-limit", "lots")])
def test_query_bad_limit_values(tmp_path, opt, val):
    r = _cli("catalog", "query", "select 1", opt, val, "--store", str(tmp_path / "s"))
    assert r.exit_code == 2 and "error:" in r.output and len(r.output.strip().splitlines()) == 1


def test_query_does_not_block_writers(store, tmp_path):
    """A long query runs on a snapshot: the write lock is free while it runs, and a commit is not seen by it."""
    from catalogs import QueryError
    from catalogs.sql import run_query

    with store.writer("a", kind="doc") as w:
        w.write([{"text": "one"}])
    errors: list[Exception] = []

    def long_query() -> None:
        try:
            run_query(store, CROSS, timeout_s=3)
        except QueryError as e:
            errors.append(e)

    th = threading.Thread(target=long_query)
    th.start()
    time.sleep(0.5)
    t = time.perf_counter()
    with store.writer("b", kind="doc") as w:
        w.write([{"text": "two"}])
    assert time.perf_counter() - t < 2.0
    assert th.is_alive()
    th.join()
    assert errors and "time limit" in str(errors[0])
    assert [r["name"] for r in store.ls()] == ["a", "b"]


def test_library_query_unchanged(store):
    from catalogs import query

    with store.writer("a", kind="doc") as w:
        w.write([{"text": "x"}, {"text": "y"}])
    cols, rows = query(store, "select count(*) n from rows('a@1')")
    assert cols == ["n"] and rows == [(2,)]
    out = json.loads(_cli("catalog", "query", "select name from versions", "--json", "--store", str(store.root)).stdout)
    assert out == [{"name": "a"}]
