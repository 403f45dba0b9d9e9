"""A run killed with SIGKILL and started again makes zero repeated calls for finished requests;
the API key value never appears in any file the run writes (cache, store, manifests, logs)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from synthesis.testing import FakeOpenAIServer

N = 80
RUN = r"""
import sys
from catalogs import Store
from synthesis.teachers import Endpoint, Request, TeacherClient

base_url, cache, store_root, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ep = Endpoint(name="fake", base_url=base_url, model="fake-model", api_key_env="HUIJIN_TEST_TEACHER_KEY",
              max_concurrency=4, timeout=10, params={"max_tokens": 32})
client = TeacherClient(ep, cache=cache)
reqs = [Request([{"role": "user", "content": f"question {i}"}], id=str(i)) for i in range(n)]
replies = client.run(reqs, progress=True)
store = Store.open(store_root)
with store.writer("crash-sft", "sft", recipe={"endpoint": ep.public()},
                  extra={"teacher_accounting": client.accounting.to_dict()}) as w:
    w.write([{"messages": [{"role": "user", "content": "q"}, r.message()], "lang": "en",
              "source": {"generator": "crash-test", "teacher": r.teacher, "request_hash": r.request_hash}}
             for r in replies if r.ok])
print("DONE", w.manifest.ref, w.manifest.rows, flush=True)
"""


def _cached_questions(cache: Path) -> set[str]:
    if not cache.exists():
        return set()
    con = sqlite3.connect(str(cache), timeout=30)
    try:
        rows = con.execute("SELECT request FROM replies").fetchall()
    except sqlite3.OperationalError:
        return set()
    finally:
        con.close()
    return {json.loads(r[0])["messages"][-1]["content"] for r in rows}


def test_sigkill_then_resume_makes_no_repeated_calls_and_leaks_no_key(tmp_path):
    key = f"sk-test-{uuid.uuid4().hex}"
    env = {**os.environ, "HUIJIN_TEST_TEACHER_KEY": key, "PYTHONUNBUFFERED": "1"}
    script = tmp_path / "run.py"
    script.write_text(RUN)
    cache, store_root = tmp_path / "work" / "cache.sqlite", tmp_path / "store"
    with FakeOpenAIServer(latency=0.05, api_key=key) as srv:
        args = [sys.executable, str(script), srv.base_url, str(cache), str(store_root), str(N)]
        log1 = open(tmp_path / "run1.log", "w")
        p = subprocess.Popen(args, env=env, stdout=log1, stderr=subprocess.STDOUT, cwd=Path(__file__).parent.parent)
        deadline = time.monotonic() + 60
        while len(_cached_questions(cache)) < N // 3 and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.wait()
        log1.close()
        finished = _cached_questions(cache)
        assert N // 3 <= len(finished) < N, len(finished)
        calls_before = srv.n_requests

        with open(tmp_path / "run2.log", "w") as log2:
            p2 = subprocess.run(args, env=env, stdout=log2, stderr=subprocess.STDOUT, timeout=120,
                                cwd=Path(__file__).parent.parent)
        assert p2.returncode == 0, (tmp_path / "run2.log").read_text()[-2000:]
        per_question = Counter(json.loads(b)["messages"][-1]["content"] for b in srv.bodies)
        assert {q for q in finished if per_question[q] != 1} == set()  # zero repeated calls for finished rows
        assert set(per_question) == {f"question {i}" for i in range(N)}
        # only the requests in flight at the kill (≤ max_concurrency) were sent twice
        assert srv.n_requests - N <= 4 and calls_before < N
        assert srv.auth_seen == {f"Bearer {key}"}  # the key was used...

    assert "DONE crash-sft@1 80" in (tmp_path / "run2.log").read_text()
    # ...and never written anywhere: cache (+ WAL), store, manifests, catalog, logs
    leaks = []
    for f in tmp_path.rglob("*"):
        if f.is_file() and f.name != "run.py" and key.encode() in f.read_bytes():
            leaks.append(str(f.relative_to(tmp_path)))
    assert leaks == []
    files = {f.name for f in tmp_path.rglob("*") if f.is_file()}
    assert "cache.sqlite" in files and "manifest.json" in files and "catalog.duckdb" in files


SHARD = r"""
import sys
from synthesis.teachers import Endpoint, Request, TeacherClient

base_url, cache, rank, world, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ep = Endpoint(name="fake", base_url=base_url, model="fake-model", max_concurrency=8, timeout=10)
reqs = [Request([{"role": "user", "content": f"question {i}"}], id=str(i)) for i in range(n) if i % world == rank]
out = TeacherClient(ep, cache=cache).run(reqs)
print("OK", sum(r.ok for r in out), flush=True)
"""


def test_several_processes_share_one_cache(tmp_path):
    """datatrove-style tasks: each process runs its shard against one SQLite cache file at the same time."""
    script = tmp_path / "shard.py"
    script.write_text(SHARD)
    cache = tmp_path / "shared.sqlite"
    n, world = 120, 3
    with FakeOpenAIServer(latency=0.01) as srv:
        procs = [subprocess.Popen([sys.executable, str(script), srv.base_url, str(cache), str(r), str(world), str(n)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  cwd=Path(__file__).parent.parent) for r in range(world)]
        outs = [p.communicate(timeout=120)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        assert sum(int(o.split("OK")[1]) for o in outs) == n and srv.n_requests == n
        assert len(_cached_questions(cache)) == n
        # the whole set, from one process, is now answered by the cache
        p = subprocess.run([sys.executable, str(script), srv.base_url, str(cache), "0", "1", str(n)],
                           capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
        assert "OK 120" in p.stdout and srv.n_requests == n
