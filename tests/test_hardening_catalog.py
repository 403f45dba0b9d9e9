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


# -- item 7: damage detection, committed versions, staging gc ------------------------------------------
def _import(st: str, tmp_path, text: str, name: str = "a"):
    f = tmp_path / f"{name}-{abs(hash(text))}.jsonl"
    f.write_text(json.dumps({"text": text}) + "\n")
    return _cli("catalog", "import", str(f), "--kind", "doc", "--name", name, "--store", st)


def _one_line_rebuild_hint(r) -> None:
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert "damaged" in r.output and "huijin catalog rebuild" in r.output


def test_random_bytes_in_catalog(tmp_path):
    st = str(tmp_path / "s")
    assert _import(st, tmp_path, "one").exit_code == 0
    (tmp_path / "s" / "catalog.duckdb").write_bytes(bytes(range(256)) * 200)
    for args in (["ls"], ["show", "a"], ["lineage", "a"], ["query", "select 1"], ["runs"], ["snapshot", "ls"]):
        _one_line_rebuild_hint(_cli("catalog", *args, "--store", st))
    r = _import(st, tmp_path, "two")
    assert r.exit_code == 0, r.output  # the version is committed: say so, do not fail
    assert "a@2 is committed" in r.output and "huijin catalog rebuild" in r.output
    assert _cli("catalog", "rebuild", "--store", st).exit_code == 0
    listing = json.loads(_cli("catalog", "ls", "--json", "--store", st).stdout)
    assert [v["version"] for v in listing] == [1, 2]


def test_deleted_catalog_is_not_an_empty_store(tmp_path):
    st = str(tmp_path / "s")
    assert _import(st, tmp_path, "one").exit_code == 0
    (tmp_path / "s" / "catalog.duckdb").unlink()
    _one_line_rebuild_hint(_cli("catalog", "ls", "--store", st))
    assert not (tmp_path / "s" / "catalog.duckdb").exists(), "must not be recreated empty"
    assert _cli("catalog", "rebuild", "--store", st).exit_code == 0
    assert len(json.loads(_cli("catalog", "ls", "--json", "--store", st).stdout)) == 1


def test_fresh_store_still_created(tmp_path):
    r = _cli("catalog", "ls", "--json", "--store", str(tmp_path / "new"))
    assert r.exit_code == 0 and json.loads(r.stdout) == []


WRITER = """
import sys, time
from catalogs import Store
s = Store.open(sys.argv[1])
w = s.writer("killed", kind="doc").__enter__()
w.write([{"text": "x" * 1000} for _ in range(2000)])
w._flush()
print("ready", flush=True)
time.sleep(600)
"""


def test_gc_removes_staging_of_killed_jobs_only(store, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "w.py"
    script.write_text(WRITER)
    for _ in range(3):
        p = subprocess.Popen([sys.executable, str(script), str(store.root)], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        p.kill()
        p.wait()
    live = store.writer("live", kind="doc").__enter__()  # this process is alive: its staging stays
    live.write([{"text": "still writing"}])
    legacy = store.root / "staging" / "old-000000000000"  # no owner (e.g. a pipeline work folder): kept a day
    legacy.mkdir()
    staged = sorted(p.name for p in (store.root / "staging").iterdir())
    assert len(staged) == 5
    r = _cli("catalog", "gc", "--dry-run", "--idle", "0", "--json", "--store", str(store.root))
    assert r.exit_code == 0 and len(json.loads(r.stdout)["would_remove"]) == 3
    assert len(list((store.root / "staging").iterdir())) == 5
    r = _cli("catalog", "gc", "--store", str(store.root))  # default idle: an hour, nothing removed yet
    assert r.exit_code == 0 and "removed 0" in r.output
    r = _cli("catalog", "gc", "--idle", "0", "--json", "--store", str(store.root))
    removed = json.loads(r.stdout)["removed"]
    assert len(removed) == 3 and all("is gone" in x["why"] for x in removed) and sum(x["bytes"] for x in removed) > 0
    left = sorted(p.name for p in (store.root / "staging").iterdir())
    assert "old-000000000000" in left and any(n.startswith("live-") for n in left) and len(left) == 2
    live.__exit__(None, None, None)
    assert store.resolve("live").rows == 1 and not (store.path_of(store.resolve("live")) / "_owner.json").exists()
    r = _cli("catalog", "gc", "--idle", "-1", "--store", str(store.root))
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
