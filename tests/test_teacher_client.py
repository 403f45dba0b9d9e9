"""The teacher client against a real local OpenAI-compatible server: faults, retries, cache, accounting."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from synthesis.teachers import (
    Accounting,
    Request,
    RequestCache,
    TeacherClient,
    TeacherConfigError,
    TeacherError,
    TokenBucket,
    load_endpoints,
)
from synthesis.testing import FakeOpenAIServer, Scripted


class Verdict(BaseModel):
    label: str
    score: float


def reqs(n: int, prefix: str = "q", **kw) -> list[Request]:
    return [Request([{"role": "user", "content": f"{prefix}{i}"}], id=f"{prefix}{i}", **kw) for i in range(n)]


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


def client_for(srv: FakeOpenAIServer, tmp_path=None, **ep) -> TeacherClient:
    cache = RequestCache(tmp_path / "cache.sqlite") if tmp_path is not None else None
    return TeacherClient(srv.endpoint(**ep), cache=cache, backoff_base=0.01, backoff_cap=0.05)


def test_plain_run_in_input_order_with_accounting(server, tmp_path):
    c = client_for(server, tmp_path)
    out = c.run(reqs(12))
    assert [r.request_id for r in out] == [f"q{i}" for i in range(12)]
    assert all(r.ok and r.finish_reason == "stop" and r.content.startswith(f"Echo: q{i}") for i, r in enumerate(out))
    u = c.accounting.to_dict()["by_teacher"]["fake:fake-model"]
    assert u["requests"] == 12 and u["ok"] == 12 and u["input_tokens"] == 12 * 6 and u["output_tokens"] > 0
    assert u["cost_usd"] == pytest.approx((u["input_tokens"] * 1.0 + u["output_tokens"] * 2.0) / 1e6)


@pytest.mark.parametrize("fault", ["429", "500", "503", "drop", "malformed", "slow"])
def test_transient_faults_are_retried(fault, tmp_path):
    with FakeOpenAIServer(slow_latency=2.0, retry_after=0.3) as srv:
        c = client_for(srv, tmp_path, timeout=0.5)
        srv.enqueue(fault)
        t0 = time.monotonic()
        (r,) = c.run(reqs(1))
        took = time.monotonic() - t0
        assert r.ok and r.attempts == 2 and srv.n_requests == 2, r
        acc = c.accounting.to_dict()["total"]
        assert acc["retries"] == 1 and sum(acc["errors"].values()) == 1
        if fault == "429":
            assert took >= 0.3  # Retry-After honoured over the (tiny) backoff


def test_retries_give_up_with_the_reason(server, tmp_path):
    c = client_for(server, tmp_path, max_retries=2)
    server.enqueue("500", "500", "500")
    (r,) = c.run(reqs(1))
    assert not r.ok and "gave up after 3 attempts" in r.error and "500" in r.error
    assert server.n_requests == 3


@pytest.mark.parametrize("fault,words", [("401", "key"), ("404", "base_url")])
def test_auth_and_not_found_stop_the_run_naming_the_endpoint(server, tmp_path, fault, words):
    c = client_for(server, tmp_path)
    server.enqueue(*[fault] * 50)
    with pytest.raises(TeacherError, match=rf"endpoint 'fake'.*{fault}.*{words}"):
        c.run(reqs(3))
    assert server.n_requests <= 3  # no retries


def test_bad_request_fails_the_row_without_retry(server, tmp_path):
    c = client_for(server, tmp_path)
    server.enqueue("400")
    (r,) = c.run(reqs(1))
    assert not r.ok and r.error.startswith("endpoint 'fake': 400") and server.n_requests == 1


def test_structured_output_parse_retry_then_failure(server, tmp_path):
    c = client_for(server, tmp_path, parse_retries=2)
    server.enqueue("badjson")
    (r,) = c.run(reqs(1, schema=Verdict))
    assert r.ok and r.parsed == {"label": "x", "score": 0.5} and server.n_requests == 2
    body = server.bodies[-1]
    assert '"json_schema"' in body and '"Verdict"' in body
    server.enqueue("badjson", "badjson", "badjson")
    (r,) = c.run(reqs(1, prefix="z", schema=Verdict))
    assert not r.ok and "unparseable after 3 replies" in r.error and "not JSON" in r.error
    assert c.accounting.to_dict()["total"]["parse_retries"] == 3


def test_schema_mismatch_is_a_parse_failure(tmp_path):
    with FakeOpenAIServer(responder=lambda body: Scripted('{"label": 3}')) as srv:
        c = client_for(srv, tmp_path, parse_retries=0)
        (r,) = c.run(reqs(1, schema=Verdict))
        assert not r.ok and "Verdict" in r.error


def test_cache_makes_second_run_free_and_keys_exact_request(server, tmp_path):
    c = client_for(server, tmp_path)
    first = c.run(reqs(5))
    assert server.n_requests == 5
    c2 = client_for(server, tmp_path)
    again = c2.run(reqs(5))
    assert server.n_requests == 5 and all(r.cached for r in again)
    assert [r.content for r in again] == [r.content for r in first]
    assert c2.accounting.to_dict()["total"]["cached"] == 5 and c2.accounting.to_dict()["total"]["requests"] == 0
    # any change to the exact request is a new key: params, sample index, schema, tools
    variants = [Request([{"role": "user", "content": "q0"}], params={"temperature": 0.1}),
                Request([{"role": "user", "content": "q0"}], sample=1),
                Request([{"role": "user", "content": "q0"}], schema=Verdict),
                Request([{"role": "user", "content": "q0"}], tools=[{"type": "function", "function": {"name": "f"}}])]
    hashes = {c2.prepare(v)[0] for v in variants} | {first[0].request_hash}
    assert len(hashes) == 5


def test_length_rows_reused_until_budget_grows_or_regenerate(tmp_path):
    with FakeOpenAIServer() as srv:
        srv.enqueue("length")
        c = client_for(srv, tmp_path, params={"max_tokens": 16})
        out = c.run(reqs(3))
        assert [r.finish_reason for r in out].count("length") == 1 and srv.n_requests == 3
        assert client_for(srv, tmp_path, params={"max_tokens": 16}).run(reqs(3)) and srv.n_requests == 3
        # a bigger budget re-asks only the truncated row; finished rows are reused
        bigger = client_for(srv, tmp_path, params={"max_tokens": 64}).run(reqs(3))
        assert srv.n_requests == 4 and all(r.finish_reason == "stop" for r in bigger)
        srv.enqueue("length")
        client_for(srv, tmp_path, params={"max_tokens": 64}).run(reqs(2, prefix="L"))
        assert srv.n_requests == 6
        regen = TeacherClient(srv.endpoint(params={"max_tokens": 64}), cache=RequestCache(tmp_path / "cache.sqlite"),
                              regenerate={"length"})
        regen.run(reqs(2, prefix="L"))
        assert srv.n_requests == 7  # only the one truncated row


def test_failed_rows_are_cached_and_asked_again_by_a_later_run(server, tmp_path):
    c = client_for(server, tmp_path, max_retries=0)
    server.enqueue("500")
    assert not c.run(reqs(1))[0].ok
    kept = TeacherClient(server.endpoint(), cache=RequestCache(tmp_path / "cache.sqlite"), retry_failed="none")
    assert not kept.run(reqs(1))[0].ok and server.n_requests == 1  # retry_failed="none": the cached failure
    r = client_for(server, tmp_path).run(reqs(1))  # the default: a transient failure is asked again
    assert r[0].ok and server.n_requests == 2
    server.enqueue("400")  # a failure that is the endpoint's answer to the request is kept by default…
    assert not client_for(server, tmp_path).run(reqs(1, prefix="b"))[0].ok
    assert not client_for(server, tmp_path).run(reqs(1, prefix="b"))[0].ok and server.n_requests == 3
    r = TeacherClient(server.endpoint(), cache=RequestCache(tmp_path / "cache.sqlite"), regenerate={"failed"})
    assert r.run(reqs(1, prefix="b"))[0].ok and server.n_requests == 4  # …and asked again on demand


def test_sliding_window_is_not_lock_step():
    """While one slow request holds its slot, the other slots keep taking new requests.

    No wall-clock bound (it flaked under load): the fake server holds the slow request ``q3`` until every other
    request has *started*, and records whether it was released that way. A sliding window of 8 does that — the 7
    free slots work through all 63 others while ``q3`` waits. A lock-step client (batches of 8, the next batch
    only after the whole batch is done) cannot: ``q8`` onwards would start only after ``q3`` finished, so the
    gate is never opened, ``q3`` is let go by the give-up wait instead and ``released_by_others`` stays False
    (checked by running this test against a lock-step ``map``). The give-up wait only bounds how long a broken
    client takes to fail; a correct one never reaches it."""
    import threading

    n, slow = 64, "q3"
    lock, gate = threading.Lock(), threading.Event()
    order: list[tuple[str, str]] = []  # ("start" | "end", request) in the order the server saw them
    released_by_others: list[bool] = []

    def responder(body):
        last = body["messages"][-1]["content"]
        with lock:
            order.append(("start", last))
            if sum(1 for ev, q in order if ev == "start" and q != slow) == n - 1:
                gate.set()  # every other request has started while the slow one is still held
        if last == slow:
            released_by_others.append(gate.wait(timeout=30))
            with lock:
                order.append(("end", slow))
        return Scripted(f"Answer: {last}", delay=0)

    with FakeOpenAIServer(responder=responder) as srv:
        c = client_for(srv, max_concurrency=8, timeout=120)  # the client never times the held request out
        out = c.run(reqs(n))
        assert all(r.ok for r in out) and srv.n_requests == n
        assert 2 <= srv.peak_in_flight <= 8  # the window never exceeds the endpoint's concurrency
    assert released_by_others == [True]
    # every other request, q8-q63 included (a lock-step client's later batches), started before q3 finished
    before_slow_end = {q for ev, q in order[:order.index(("end", slow))] if ev == "start"}
    assert before_slow_end == {f"q{i}" for i in range(n)}


def test_adaptive_concurrency_backs_off_on_errors(tmp_path):
    with FakeOpenAIServer(latency=0.02) as srv:
        c = client_for(srv, max_concurrency=32, concurrency="adaptive", max_retries=10)
        srv.enqueue(*["503"] * 20)
        out = c.run(reqs(40))
        assert all(r.ok for r in out)
        assert c.limit.limit < 32 and c.limit.changes > 0
    # fixed endpoints (rpm/tpm set) keep their limit
    assert not srv.endpoint(rpm=100).adaptive and srv.endpoint().adaptive


def test_adaptive_limit_object():
    from synthesis.teachers import AdaptiveLimit

    async def go():
        lim = AdaptiveLimit(16, adaptive=True, increase_after=2)
        for _ in range(3):
            await lim.acquire()
            await lim.release(False)
        low = lim.limit
        for _ in range(20):
            await lim.acquire()
            await lim.release(True, 0.1, 10)
        return low, lim.limit

    low, recovered = asyncio.run(go())
    assert low == pytest.approx(16 * 0.75**3) and recovered > low


def test_token_bucket_limits_rate():
    async def go():
        b = TokenBucket(per_minute=600)  # 10/s, burst 600
        b.level = 0
        t0 = time.monotonic()
        for _ in range(5):
            await b.acquire(1)
        return time.monotonic() - t0

    assert 0.35 <= asyncio.run(go()) <= 1.5


def test_rpm_limited_endpoint_end_to_end(server, tmp_path):
    c = client_for(server, rpm=1200)  # 20/s after the burst
    c._rpm.level = 0
    t0 = time.monotonic()
    c.run(reqs(10))
    assert time.monotonic() - t0 >= 0.4


def test_endpoint_config_refuses_keys_and_names_the_file(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("endpoints:\n  - {name: a, base_url: http://x/v1, model: m, api_key: sk-123}\n")
    with pytest.raises(TeacherConfigError, match="t.yaml.*'a'.*credential"):
        load_endpoints(p)
    p.write_text("endpoints:\n  - {name: a, base_url: http://x/v1, model: m, max_concurrency: 0}\n")
    with pytest.raises(TeacherConfigError, match="t.yaml: endpoint 'a'"):
        load_endpoints(p)
    eps = load_endpoints()  # the shipped recipes/teachers.yaml
    assert {"deepseek-chat", "vllm-local"} <= set(eps) and eps["vllm-local"].adaptive
    ep = eps["deepseek-chat"].model_copy(update={"api_key_env": "HUIJIN_TEST_UNSET_KEY"})
    with pytest.raises(TeacherConfigError, match="HUIJIN_TEST_UNSET_KEY"):
        ep.api_key()


def test_accounting_merges_teachers():
    acc = Accounting()
    acc.of("a:m").requests += 2
    acc.of("b:m").requests += 3
    acc.of("b:m").cost_usd += 0.5
    d = acc.to_dict()
    assert d["total"]["requests"] == 5 and d["total"]["cost_usd"] == 0.5 and set(d["by_teacher"]) == {"a:m", "b:m"}


def test_adaptive_limit_backs_off_when_latency_per_token_climbs():
    from synthesis.teachers import AdaptiveLimit

    async def go():
        lim = AdaptiveLimit(32, adaptive=True, increase_after=1000)
        for _ in range(20):
            await lim.acquire()
            await lim.release(True, 0.1, 100)  # 1 ms per token
        steady = lim.limit
        for _ in range(15):
            await lim.acquire()
            await lim.release(True, 1.0, 100)  # 10x slower per token: the server is overloaded
        return steady, lim.limit

    steady, after = asyncio.run(go())
    assert steady == 32 and after < 32


def test_none_fields_in_messages_do_not_change_the_request_hash(server):
    c = client_for(server)
    a = Request([{"role": "user", "content": "hi"}])
    b = Request([{"role": "user", "content": "hi", "tool_calls": None, "tool_call_id": None, "name": None}])
    assert c.prepare(a)[0] == c.prepare(b)[0]


def test_error_texts_never_carry_the_key(monkeypatch):
    key = "sk-echoed-secret-0123456789"
    monkeypatch.setenv("HUIJIN_TEST_ECHO_KEY", key)

    def responder(body):
        return Scripted(None, fault="400")

    with FakeOpenAIServer(api_key="something-else") as srv:  # 401 whose text we make echo the key below
        c = TeacherClient(srv.endpoint(api_key_env="HUIJIN_TEST_ECHO_KEY"))
        srv_msg = f"Incorrect API key provided: {key}"
        import synthesis.teachers.client as mod

        monkeypatch.setattr(mod, "_msg", lambda e: srv_msg)
        with pytest.raises(TeacherError) as ei:
            c.run(reqs(1))
        assert key not in str(ei.value) and "***" in str(ei.value)
    with FakeOpenAIServer(responder=responder) as srv:
        c = TeacherClient(srv.endpoint(api_key_env="HUIJIN_TEST_ECHO_KEY"))
        monkeypatch.setattr(mod, "_msg", lambda e: srv_msg)
        (r,) = c.run(reqs(1))
        assert not r.ok and key not in r.error and "***" in r.error


def test_preflight_error_never_carries_the_key(monkeypatch):
    """The preflight's 401 text goes through the client's own scrubber: a server that echoes the refused key
    (as OpenAI's "Incorrect API key provided: sk-...") does not put it in the error."""
    import httpx
    import openai

    import synthesis.teachers.preflight as pre
    from synthesis.teachers import Endpoint
    from synthesis.teachers.client import key_scrubber

    key = "sk-echoed-secret-0123456789"
    monkeypatch.setenv("HUIJIN_TEST_ECHO_KEY", key)

    class EchoingOpenAI:  # GET /models answered 401 with the key it was sent, as the real API does
        def __init__(self, api_key: str, **kw) -> None:
            self.models = self
            self.api_key = api_key

        def list(self):
            text = f"Incorrect API key provided: {self.api_key}"
            resp = httpx.Response(401, request=httpx.Request("GET", "http://127.0.0.1:9/v1/models"))
            raise openai.AuthenticationError(text, response=resp, body={"error": {"message": text}})

        def close(self) -> None:
            pass

    monkeypatch.setattr(pre.openai, "OpenAI", EchoingOpenAI)
    ep = Endpoint(name="echo", base_url="http://127.0.0.1:9/v1", model="m", api_key_env="HUIJIN_TEST_ECHO_KEY")
    with pytest.raises(TeacherError, match=r"'echo'.*401 Incorrect API key provided: \*\*\*.*HUIJIN_TEST_ECHO_KEY"):
        pre.preflight(ep)
    for k, text, want in [(key, f"bad {key}!", "bad ***!"), ("EMPTY", "EMPTY reply", "EMPTY reply"),
                          ("sk-abc", "no key here", "no key here")]:
        assert key_scrubber(k)(text) == want


def test_default_replies_satisfy_schema_constraints():
    """The server's default structured reply validates against min lengths and bounds (so recipes run against
    `python -m synthesis.testing.server` get past parsing instead of failing every row)."""
    from pydantic import BaseModel, Field

    from synthesis.testing import example_for_schema

    class Constrained(BaseModel):
        text: str = Field(min_length=10)
        n: int = Field(ge=3)
        x: float = Field(gt=2.0)
        items: list[int] = Field(min_length=2)
        score: float = Field(ge=0, le=5)
        plain: str

    value = example_for_schema(Constrained.model_json_schema())
    assert Constrained.model_validate(value).text == "x" * 10 and value["plain"] == "x"
