"""Issue 19 item 8: identical in-flight requests are paid once; failures cached by an earlier run are asked
again by default (those the endpoint's absence caused); a run in which every teacher request failed exits non-zero and writes no version."""

from __future__ import annotations

import asyncio
import socket

import pytest
import yaml
from typer.testing import CliRunner

from huijin.cli import app
from synthesis.generators import run
from synthesis.generators.runner import AllRequestsFailed
from synthesis.teachers import Request, RequestCache, TeacherClient, TeacherError
from synthesis.testing import FakeOpenAIServer

PASSAGE = "Granite Trust reported total revenue of $7,109 million in fiscal 2019, up from $5,989 million. " * 3


def same(n: int, text: str = "same question", **kw) -> list[Request]:
    return [Request([{"role": "user", "content": text}], id=f"r{i}", **kw) for i in range(n)]


def client(srv: FakeOpenAIServer, cache=None, **ep) -> TeacherClient:
    return TeacherClient(srv.endpoint(**ep), cache=cache, backoff_base=0.01, backoff_cap=0.05)


# -- coalescing ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("with_cache", [False, True])
def test_identical_requests_in_flight_are_paid_once(tmp_path, with_cache):
    with FakeOpenAIServer(latency=0.2) as srv:
        c = client(srv, RequestCache(tmp_path / "c.sqlite") if with_cache else None)
        out = c.run(same(20) + same(5, "other"))
        assert srv.n_requests == 2  # was 25: 19 + 4 paid duplicates
        assert [r.request_id for r in out] == [f"r{i}" for i in range(20)] + [f"r{i}" for i in range(5)]
        assert all(r.ok for r in out) and len({r.content for r in out[:20]}) == 1
        t = c.accounting.to_dict()["total"]
        assert t["requests"] == 2 and t["coalesced"] == 23 and t["ok"] == 2


def test_different_samples_budgets_and_params_are_not_coalesced():
    with FakeOpenAIServer(latency=0.1) as srv:
        c = client(srv)
        reqs = [Request([{"role": "user", "content": "q"}], id=f"s{i}", sample=i) for i in range(4)]
        reqs += [Request([{"role": "user", "content": "q"}], id="t", params={"temperature": 0.3}),
                 Request([{"role": "user", "content": "q"}], id="b", params={"max_tokens": 7})]
        c.run(reqs)
        assert srv.n_requests == 6 and c.accounting.to_dict()["total"]["coalesced"] == 0


def test_a_coalesced_failure_is_shared_and_counted_once():
    with FakeOpenAIServer(latency=0.2) as srv:
        srv.enqueue("400")
        c = client(srv)
        out = c.run(same(6))
        assert srv.n_requests == 1 and not any(r.ok for r in out) and all("400" in r.error for r in out)
        t = c.accounting.to_dict()["total"]
        assert t["failed"] == 1 and t["coalesced"] == 5 and t["cached_failed"] == 5


def test_a_fatal_error_reaches_every_waiter():
    with FakeOpenAIServer(latency=0.2) as srv:
        srv.enqueue(*["401"] * 5)
        with pytest.raises(TeacherError, match="401"):
            client(srv).run(same(5))
        assert srv.n_requests == 1


def test_coalescing_in_concurrent_complete_calls():
    with FakeOpenAIServer(latency=0.2) as srv:
        c = client(srv)

        async def go():
            try:
                return await asyncio.gather(*(c.complete(r) for r in same(8)))
            finally:
                await c.aclose()

        out = asyncio.run(go())
        assert srv.n_requests == 1 and [r.request_id for r in out] == [f"r{i}" for i in range(8)]
        assert sum(r.cached for r in out) == 7


# -- failed cache entries -----------------------------------------------------------------------------------

def test_failures_cached_by_an_earlier_run_are_asked_again_by_default(tmp_path):
    path = tmp_path / "cache.sqlite"
    with FakeOpenAIServer() as srv:
        srv.enqueue("500", "500", "500")
        first = client(srv, RequestCache(path), max_retries=0).run(same(3, "a") + same(1, "b") + same(1, "c"))
        assert sum(not r.ok for r in first) == 5 and srv.n_requests == 3  # "a" x3 coalesced
        kept = TeacherClient(srv.endpoint(), cache=RequestCache(path), retry_failed="none")
        assert sum(not r.ok for r in kept.run(same(1, "a") + same(1, "b") + same(1, "c"))) == 3
        assert srv.n_requests == 3 and kept.accounting.all_failed()
        again = client(srv, RequestCache(path)).run(same(1, "a") + same(1, "b") + same(1, "c"))
        assert all(r.ok for r in again) and srv.n_requests == 6
        # a success is reused as before
        assert all(r.ok and r.cached for r in client(srv, RequestCache(path)).run(same(1, "a")))
        assert srv.n_requests == 6


@pytest.mark.parametrize("policy, asked", [("transient", 0), ("all", 2), ("none", 0)])
def test_the_models_own_failures_are_kept_unless_asked(tmp_path, policy, asked):
    path = tmp_path / "cache.sqlite"
    with FakeOpenAIServer() as srv:
        srv.enqueue("400", "400")
        assert not any(r.ok for r in client(srv, RequestCache(path)).run(same(1, "a") + same(1, "b")))
        c = TeacherClient(srv.endpoint(), cache=RequestCache(path), retry_failed=policy)
        out = c.run(same(1, "a") + same(1, "b"))
        assert srv.n_requests == 2 + asked and all(r.ok for r in out) == (asked == 2)
    with pytest.raises(ValueError, match="retry_failed"):
        TeacherClient(srv.endpoint(), retry_failed="sometimes")


def test_within_one_client_a_failed_request_is_not_asked_twice(tmp_path):
    with FakeOpenAIServer() as srv:
        srv.enqueue("400")
        c = client(srv, RequestCache(tmp_path / "cache.sqlite"))

        async def go():
            try:
                a = await c.complete(same(1)[0])
                b = await c.complete(same(1)[0])
                return a, b
            finally:
                await c.aclose()

        a, b = asyncio.run(go())
        assert not a.ok and not b.ok and b.cached and srv.n_requests == 1


# -- a run with every request failed ------------------------------------------------------------------------

@pytest.fixture
def docs(store):
    with store.writer("fin-docs", kind="doc") as w:
        w.write([{"text": PASSAGE, "lang": "en", "id": "d1"}, {"text": PASSAGE + " More.", "lang": "en", "id": "d2"}])
    return w.manifest.ref


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _recipe(docs: str) -> dict:
    return {"generator": "annotate", "input": docs, "outputs": {"doc": "ann"}}


def test_endpoint_down_writes_no_version_and_a_later_run_recovers(store, docs):
    with FakeOpenAIServer() as srv:
        srv.enqueue(*["500"] * 2)
        with pytest.raises(AllRequestsFailed, match="all 2 teacher requests .* failed"):
            run(_recipe(docs), store, endpoint=srv.endpoint(max_retries=0, max_concurrency=1))
        assert [m["name"] for m in store.ls()] == ["fin-docs"]
        staging = store.root / "staging"
        assert not staging.exists() or not any(staging.iterdir())
        # the endpoint is back: the cached failures are asked again, the version is written
        rep = run(_recipe(docs), store, endpoint=srv.endpoint(max_retries=0))
        assert srv.n_requests == 4 and rep.outputs["doc"]["kept"] == 2
        assert "ann" in [m["name"] for m in store.ls()]


def test_reusing_cached_failures_also_writes_no_version(store, docs):
    with FakeOpenAIServer() as srv:
        srv.enqueue(*["500"] * 2)
        with pytest.raises(AllRequestsFailed):
            run(_recipe(docs), store, endpoint=srv.endpoint(max_retries=0, max_concurrency=1))
        with pytest.raises(AllRequestsFailed):
            run(_recipe(docs), store, endpoint=srv.endpoint(max_retries=0), retry_failed="none")
        assert srv.n_requests == 2 and [m["name"] for m in store.ls()] == ["fin-docs"]


def test_some_failures_still_write_the_version(store, docs):
    with FakeOpenAIServer() as srv:
        srv.enqueue("400")
        rep = run(_recipe(docs), store, endpoint=srv.endpoint(max_retries=0, max_concurrency=1))
        assert rep.outputs["doc"]["kept"] == 1 and rep.outputs["doc"]["quarantined"] == 1


def test_cli_exits_non_zero_when_the_endpoint_is_down(store, docs, tmp_path):
    teachers = tmp_path / "teachers.yaml"
    teachers.write_text(yaml.safe_dump({"endpoints": [{
        "name": "down", "base_url": f"http://127.0.0.1:{_dead_port()}/v1", "model": "m", "max_retries": 0,
        "timeout": 2}]}))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(_recipe(docs)))
    r = CliRunner().invoke(app, ["synth", "run", str(recipe), "--endpoint", "down", "--teachers", str(teachers),
                                 "--store", str(store.root), "--json"])
    assert r.exit_code != 0, r.output
    # issue 18: the preflight stops it before any request, naming the endpoint
    assert "'down'" in r.output and "unreachable" in r.output and "no version written" in r.output
    assert [m["name"] for m in store.ls()] == ["fin-docs"]
