"""A real OpenAI-compatible HTTP server on 127.0.0.1 with scripted replies and fault injection.

The ``openai`` 3.x client uses ``httpx2``, which httpx mocks (respx) do not intercept, so tests, the
benchmark and the demo talk to this server over real sockets. Stdlib only (``ThreadingHTTPServer`` with a
raised ``request_queue_size``: bursts of hundreds of connections otherwise fail).

    with FakeOpenAIServer(latency=0.2, jitter=0.02, slow_every=20) as srv:
        ep = srv.endpoint(max_concurrency=64)          # an Endpoint pointing at it
        srv.enqueue("429", "500", "drop")              # the next requests fail this way, in order
        ...
        srv.calls_by_body()                            # Counter: how often each exact body was sent

Faults: ``429`` (with Retry-After), ``500``/``503``, ``400``/``401``/``404``, ``malformed`` (a 200 whose body is
not JSON), ``drop`` (connection closed without a reply), ``slow`` (one long reply), ``length`` (a truncated
reply, ``finish_reason: length``), ``badjson`` (content that does not parse as the requested JSON).

Reasoning: a responder returns ``Scripted(content, reasoning="...")`` for an R1-style reply with a separate
``reasoning_content`` field, or writes ``<think>…</think>`` at the head of ``content`` for an inline trace.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Scripted:
    """What the server answers to one request (returned by a responder)."""

    content: str | None = None
    finish_reason: str = "stop"
    tool_calls: list[dict[str, Any]] | None = None
    fault: str | None = None
    delay: float | None = None  # overrides the server's latency for this reply
    reasoning: str | None = None  # sent as the message's separate ``reasoning_content`` (R1-style endpoints)
    reasoning_field: str = "reasoning_content"  # some servers (newer vLLM) name it ``reasoning``


Responder = Callable[[dict[str, Any]], "Scripted | str | dict | None"]


def default_reply(body: dict[str, Any]) -> Scripted:
    """Deterministic replies: JSON built from the schema when one is asked for, else an echo with an answer."""
    rf = body.get("response_format") or {}
    last = next((m.get("content") or "" for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
    if rf.get("type") == "json_schema":
        return Scripted(json.dumps(example_for_schema(rf["json_schema"]["schema"])))
    if rf.get("type") == "json_object":
        return Scripted(json.dumps({"answer": last[:40]}))
    digest = int(hashlib.sha256(last.encode()).hexdigest()[:6], 16) % 1000
    return Scripted(f"Echo: {last[:60]}\nAnswer: {digest}")


def last_user(body: dict[str, Any]) -> str:
    """The last user message of a request body (what a scripted responder usually reacts to)."""
    return next((m.get("content") or "" for m in reversed(body["messages"]) if m["role"] == "user"), "")


class RepeatCounter:
    """Tells identical request bodies apart (k samples of one prompt) by how often each was seen before;
    thread-safe, as the server answers concurrently."""

    def __init__(self) -> None:
        import threading
        from collections import Counter

        self.lock = threading.Lock()
        self.seen: Counter[str] = Counter()

    def count(self, body: dict[str, Any]) -> int:
        key = json.dumps(body["messages"], sort_keys=True)
        with self.lock:
            self.seen[key] += 1
            return self.seen[key] - 1


def example_for_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A value that satisfies a (simple) JSON schema: first enum value, empty strings, zeros."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return example_for_schema(defs[schema["$ref"].split("/")[-1]], defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return example_for_schema(schema["anyOf"][0], defs)
    t = schema.get("type")
    if t == "object":
        return {k: example_for_schema(v, defs) for k, v in (schema.get("properties") or {}).items()}
    if t == "array":
        return [example_for_schema(schema.get("items") or {"type": "string"}, defs)] * max(1, schema.get("minItems", 1))
    if t == "string":  # honour minLength, so a schema with `min_length=10` gets a reply that validates
        return "x" * max(1, schema.get("minLength", 1))
    if t in ("integer", "number"):
        v = 1 if t == "integer" else 0.5
        if "minimum" in schema:
            v = max(v, schema["minimum"])
        if "exclusiveMinimum" in schema:
            v = max(v, schema["exclusiveMinimum"] + 1)
        return v
    return {"boolean": True, "null": None}.get(t, "x")


class _Server(ThreadingHTTPServer):
    request_queue_size = 512
    daemon_threads = True
    allow_reuse_address = True
    handler_errors = 0

    def handle_error(self, request, client_address) -> None:  # a client that hung up (timeouts): count, stay quiet
        self.handler_errors += 1


class BackgroundServer:
    """An HTTP server (``self._httpd``, on 127.0.0.1) answering from a daemon thread; ``with`` starts and stops it.
    Shared by the fake teacher and the generation test server (``training.generation.testserver``)."""

    _httpd: ThreadingHTTPServer

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self):  # returns self, of the subclass' type
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class FakeOpenAIServer(BackgroundServer):
    def __init__(self, responder: Responder | None = None, latency: float = 0.0, jitter: float = 0.0,
                 slow_every: int = 0, slow_latency: float = 1.0, retry_after: float = 0.05, seed: int = 0,
                 api_key: str | None = None, port: int = 0) -> None:
        self.responder = responder or default_reply
        self.latency, self.jitter, self.slow_every, self.slow_latency = latency, jitter, slow_every, slow_latency
        self.retry_after = retry_after
        self.api_key = api_key  # when set, other keys get 401
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._faults: deque[str] = deque()
        self.bodies: list[str] = []  # canonical JSON of every request received
        self.auth_seen: set[str] = set()
        self.statuses: Counter[str] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0
        self._httpd = _Server(("127.0.0.1", port), self._handler())
        self._thread: threading.Thread | None = None

    # -- control -------------------------------------------------------------------------------
    def enqueue(self, *faults: str) -> None:
        """The next len(faults) requests (in arrival order) get these faults."""
        with self._lock:
            self._faults.extend(faults)

    def calls_by_body(self) -> Counter[str]:
        with self._lock:
            return Counter(hashlib.sha256(b.encode()).hexdigest() for b in self.bodies)

    @property
    def n_requests(self) -> int:
        with self._lock:
            return len(self.bodies)

    def endpoint(self, **overrides: Any):
        """An ``Endpoint`` pointing at this server (api_key_env from ``overrides``, else open)."""
        from synthesis.teachers import Endpoint

        cfg = {"name": "fake", "base_url": self.base_url, "model": "fake-model", "max_concurrency": 16,
               "timeout": 10.0, "price": {"input": 1.0, "output": 2.0}, **overrides}
        return Endpoint.model_validate(cfg)

    # -- serving -------------------------------------------------------------------------------
    def _next_fault(self) -> str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _delay(self) -> float:
        with self._lock:
            d = self.latency + (self._rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0)
            if self.slow_every and self._rng.random() < 1.0 / self.slow_every:
                d = self.slow_latency
        return max(0.0, d)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
                with server._lock:
                    server.statuses[str(status)] += 1

            def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
                body = {"error": {"message": message, "type": "fake_error", "code": status}}
                self._send(status, json.dumps(body).encode(), headers)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": [{"id": "fake-model", "object": "model"}]}).encode())
                else:
                    self._error(404, f"no route {self.path}")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    return self._error(400, "request body is not JSON")
                auth = self.headers.get("Authorization", "")
                with server._lock:
                    server.bodies.append(json.dumps(body, sort_keys=True))
                    server.auth_seen.add(auth)
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                try:
                    self._answer(body, auth)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, body: dict[str, Any], auth: str) -> None:
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._error(404, f"no route {self.path}")
                if server.api_key is not None and auth != f"Bearer {server.api_key}":
                    return self._error(401, "Incorrect API key provided")
                fault = server._next_fault()
                got = server.responder(body)
                sc = got if isinstance(got, Scripted) else Scripted(got if isinstance(got, str) else json.dumps(got))
                fault = fault or sc.fault
                delay = sc.delay if sc.delay is not None else server._delay()
                if fault == "slow":
                    delay = server.slow_latency
                if delay:
                    time.sleep(delay)
                if fault == "429":
                    return self._error(429, "Rate limit reached", {"Retry-After": str(server.retry_after)})
                if fault in ("500", "503", "400", "401", "404", "422"):
                    return self._error(int(fault), f"injected {fault}")
                if fault == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if fault == "malformed":
                    return self._send(200, b'{"id": "x", "choices": [ {"message": ')
                content, finish = sc.content, sc.finish_reason
                if fault == "length":
                    content, finish = (content or "")[: max(1, len(content or "") // 3)], "length"
                if fault == "badjson":
                    content = "Sure! Here is the JSON you asked for: {oops"
                words = sum(len(str(m.get("content") or "").split()) for m in body.get("messages", []))
                out_tokens = len((content or "").split()) + len((sc.reasoning or "").split()) + 1
                msg: dict[str, Any] = {"role": "assistant", "content": content}
                if sc.reasoning is not None:
                    msg[sc.reasoning_field] = sc.reasoning
                if sc.tool_calls:
                    msg["tool_calls"] = sc.tool_calls
                resp = {"id": f"chatcmpl-{len(server.bodies)}", "object": "chat.completion", "created": int(time.time()),
                        "model": body.get("model", "fake-model"),
                        "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
                        "usage": {"prompt_tokens": words + 5, "completion_tokens": out_tokens,
                                  "total_tokens": words + 5 + out_tokens}}
                self._send(200, json.dumps(resp).encode())

        return Handler


def main() -> None:  # python -m synthesis.testing.server --port 8001 --latency 0.2
    import argparse

    ap = argparse.ArgumentParser(description="OpenAI-compatible fake teacher on 127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--jitter", type=float, default=0.0)
    ap.add_argument("--slow-every", type=int, default=0)
    ap.add_argument("--slow-latency", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--api-key-env", default=None,
                    help="answer 401 unless the request carries the key held in this environment variable")
    a = ap.parse_args()
    import os

    key = os.environ.get(a.api_key_env) if a.api_key_env else None  # from the environment, never from argv
    if a.api_key_env and not key:
        ap.error(f"environment variable {a.api_key_env} is not set")
    srv = FakeOpenAIServer(latency=a.latency, jitter=a.jitter, slow_every=a.slow_every, slow_latency=a.slow_latency,
                           seed=a.seed, port=a.port, api_key=key).start()
    print(srv.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":
    main()
