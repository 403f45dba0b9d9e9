"""The teacher client: the ``openai`` async client driven as a sliding window over many requests.

    client = TeacherClient(get_endpoint("vllm-local"), cache="work/teacher-cache.sqlite")
    async for reply in client.map(requests):      # completion order; reply.request_id says which
        ...
    replies = client.run(requests)                # the same, synchronously, in input order

A request is started as soon as a slot frees (never lock-step batches: one slow reply does not idle the
others). Retries with exponential backoff, jitter and ``Retry-After`` on 429, 5xx, timeouts, dropped
connections and unreadable bodies; 401/403/404 stop the run with a message naming the endpoint; 400/422 fail
that row at once. Structured replies that do not parse are asked again up to ``parse_retries`` times, then
the row is recorded as failed with its reason. Every finished row (ok or failed) goes to the cache at once.

Identical requests in flight at the same time (same cache key and token budget) are coalesced: one call is
sent and paid, the others wait for it and get a copy (``Usage.coalesced``). Failed rows cached by an earlier
run are asked again by ``retry_failed``: ``"transient"`` (default: rows that failed because the endpoint was
unreachable, overloaded or kept erroring — an endpoint that was down is not remembered as down; a reply the
model got wrong, 400/422 or unparseable, is kept), ``"all"`` (the same as ``regenerate={"failed"}``) or
``"none"``. Within one client a request that already failed is not asked again.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import openai

from finance.messages import wire_message

from .accounting import Accounting, LiveProgress
from .cache import BUDGET_PARAMS, RequestCache, hash_request, request_identity
from .config import Endpoint
from .limits import AdaptiveLimit, TokenBucket, backoff_delay, parse_retry_after
from .reasoning import reasoning_of, split_reasoning
from .types import Reply, Request, TeacherError

_CREATE_PARAMS = set(inspect.signature(openai.resources.chat.completions.AsyncCompletions.create).parameters)
RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError, openai.ConflictError,
             openai.APIResponseValidationError, ValueError)  # ValueError: a body that is not JSON
FAIL_ROW = (openai.BadRequestError, openai.UnprocessableEntityError)
FATAL = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)
GAVE_UP = "gave up after"  # the error of a row whose retries ran out (transient: asked again on a later run)
RETRY_FAILED = ("transient", "all", "none")


class TeacherClient:
    """One endpoint, one cache, one accounting. Safe to share between coroutines of one event loop."""

    def __init__(self, endpoint: Endpoint, cache: RequestCache | str | Path | None = None,
                 accounting: Accounting | None = None, regenerate: Iterable[str] = (),
                 backoff_base: float = 0.5, backoff_cap: float = 60.0, retry_failed: str = "transient") -> None:
        self.endpoint = endpoint
        self.cache = RequestCache(cache) if isinstance(cache, (str, Path)) else cache
        self.accounting = accounting or Accounting()
        self.regenerate = set(regenerate)  # {"length", "failed"}: ask again instead of using the cache
        if retry_failed not in RETRY_FAILED:
            raise ValueError(f"retry_failed must be one of {RETRY_FAILED}, got {retry_failed!r}")
        self.retry_failed = "all" if "failed" in self.regenerate else retry_failed
        self._failed_here: set[str] = set()  # keys that failed in this client: not re-asked within the run
        self.last_error = ""  # the reason of the latest failed row (fresh, cached or coalesced)
        self._inflight: dict[tuple[str, int | None], asyncio.Future] = {}  # identical calls in flight, coalesced
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self._client: openai.AsyncOpenAI | None = None
        self._limit: AdaptiveLimit | None = None
        self._scrub = lambda text: text  # replaced in _ensure: error texts never carry the key value
        self._down = 0  # connection failures in a row, over all requests (a success resets it)
        self._rpm = TokenBucket(endpoint.rpm) if endpoint.rpm else None
        self._tpm = TokenBucket(endpoint.tpm) if endpoint.tpm else None

    # -- plumbing ------------------------------------------------------------------------------
    def _ensure(self) -> None:
        if self._client is None:
            import httpx2

            n = self.endpoint.max_concurrency
            http = openai.DefaultAsyncHttpxClient(limits=httpx2.Limits(max_connections=n + 8, max_keepalive_connections=n))
            key = self.endpoint.api_key()
            self._scrub = key_scrubber(key)
            self._client = openai.AsyncOpenAI(base_url=self.endpoint.base_url, api_key=key,
                                              timeout=self.endpoint.timeout, max_retries=0, http_client=http)
            self._limit = AdaptiveLimit(n, self.endpoint.min_concurrency, adaptive=self.endpoint.adaptive)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def limit(self) -> AdaptiveLimit | None:
        return self._limit

    def prepare(self, req: Request) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """``(request_hash, identity, create_kwargs)`` for a request (no network)."""
        params = {**self.endpoint.params, **req.params}
        schema = req.schema_json()
        wire = [wire_message(m) for m in req.messages]  # hash what is sent: None fields do not change the key
        identity = request_identity(self.endpoint.model, wire, params, schema, req.tools, req.sample)
        kwargs: dict[str, Any] = {"model": self.endpoint.model, "messages": wire}
        extra_body = {}
        for k, v in params.items():
            (kwargs if k in _CREATE_PARAMS else extra_body)[k] = v
        if extra_body:
            kwargs["extra_body"] = extra_body
        if req.tools:
            kwargs["tools"] = req.tools
        if schema is not None and self.endpoint.structured_output != "none":
            kwargs["response_format"] = (
                {"type": "json_schema", "json_schema": {"name": req.schema_name(), "schema": schema}}
                if self.endpoint.structured_output == "json_schema" else {"type": "json_object"})
        return hash_request(identity), identity, kwargs

    # -- one request ---------------------------------------------------------------------------
    async def complete(self, req: Request) -> Reply:
        """Answer one request from the cache or the endpoint; raises TeacherError only for run-stopping errors."""
        self._ensure()
        key, identity, kwargs = self.prepare(req)
        budget = next((kwargs.get(k) or kwargs.get("extra_body", {}).get(k) for k in BUDGET_PARAMS
                       if kwargs.get(k) or kwargs.get("extra_body", {}).get(k)), None)
        usage = self.accounting.of(self.endpoint.label)
        if self.cache is not None:
            hit = self.cache.get(key, budget, self.regenerate - {"failed"})
            if hit is not None and hit.get("error") and key not in self._failed_here and (
                    self.retry_failed == "all"
                    or (self.retry_failed == "transient" and str(hit["error"]).startswith(GAVE_UP))):
                hit = None  # a failure from an earlier run: ask again
            if hit is not None:
                usage.cached += 1
                reply = Reply.from_dict(hit)
                if not reply.ok:
                    usage.cached_failed += 1
                    self.last_error = reply.error or self.last_error
                reply.request_id, reply.cached, reply.meta = req.id, True, req.meta
                return reply
        slot = (key, budget)
        leader = self._inflight.get(slot)
        if leader is not None:  # the same request is being asked right now: wait for it, pay once
            shared = await asyncio.shield(leader)
            usage.cached += 1
            usage.coalesced += 1
            if not shared.ok:
                usage.cached_failed += 1
            reply = Reply.from_dict(shared.to_dict())
            reply.request_id, reply.cached, reply.meta = req.id, True, req.meta
            return reply
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_consume)
        self._inflight[slot] = fut
        try:
            reply = await self._fetch(req, key, identity, kwargs, budget)
        except BaseException as e:
            if isinstance(e, asyncio.CancelledError):
                fut.cancel()
            else:
                fut.set_exception(e)
            raise
        else:
            fut.set_result(reply)
        finally:
            self._inflight.pop(slot, None)
        return reply

    async def _fetch(self, req: Request, key: str, identity: dict[str, Any], kwargs: dict[str, Any],
                     budget: int | None) -> Reply:
        """Ask the endpoint (with retries), account for the row and cache it."""
        usage = self.accounting.of(self.endpoint.label)
        reply = await self._call_with_retries(req, key, kwargs, budget)
        usage.replies += 1
        usage.finish_reasons[reply.finish_reason or ("error" if reply.error else "unknown")] += 1
        if reply.ok:
            usage.ok += 1
        else:
            usage.failed += 1
            self._failed_here.add(key)
            self.last_error = reply.error or self.last_error
        if self.cache is not None:
            self.cache.put(key, self.endpoint.model, identity, reply.to_dict(), "ok" if reply.ok else "failed",
                           reply.finish_reason, budget, reply.output_tokens)
        return reply

    async def _call_with_retries(self, req: Request, key: str, kwargs: dict[str, Any], budget: int | None) -> Reply:
        ep, usage = self.endpoint, self.accounting.of(self.endpoint.label)
        reply = Reply(req.id, key, ep.label, meta=req.meta)
        estimate = sum(len(str(m.get("content") or "")) for m in req.messages) // 4 + (budget or 1024)
        attempt, parse_failures, last_error = 0, 0, ""
        while True:
            reply.attempts += 1
            if self._tpm:
                await self._tpm.acquire(estimate)
            if self._rpm:
                await self._rpm.acquire(1)
            assert self._limit is not None and self._client is not None
            await self._limit.acquire()
            usage.requests += 1
            t0 = time.monotonic()
            ok, seconds, out_tok = False, None, 0
            try:
                resp = await self._client.chat.completions.create(**kwargs)
                if isinstance(resp, str) or not getattr(resp, "choices", None):
                    raise ValueError("reply body has no choices")
                ok, seconds = True, time.monotonic() - t0
                out_tok = _tokens(resp)[1]
                self._down = 0
            except FATAL as e:
                raise TeacherError(self._scrub(f"endpoint {ep.name!r} ({ep.base_url}, model {ep.model}): "
                                               f"{e.status_code} {_msg(e)}" + _hint(e, ep))) from None
            except FAIL_ROW as e:
                reply.error = self._scrub(f"endpoint {ep.name!r}: {e.status_code} {_msg(e)}")
                usage.errors[str(e.status_code)] += 1
                return reply
            except RETRYABLE as e:
                last_error = self._scrub(_describe(e))
                usage.errors[last_error.split(":")[0]] += 1
                retry_after = parse_retry_after(getattr(getattr(e, "response", None), "headers", None))
                if isinstance(e, openai.RateLimitError) and self._rpm and retry_after:
                    self._rpm.drain(retry_after)
                if isinstance(e, openai.APIConnectionError):  # timeouts included
                    self._down += 1
                    if self._down >= ep.max_consecutive_failures:
                        raise TeacherError(self._down_message()) from None
            finally:
                await self._limit.release(ok, seconds, out_tok)
            if ok:
                fill = self._fill(reply, resp, req, seconds)
                if fill is None:
                    return reply
                parse_failures += 1
                if parse_failures > ep.parse_retries:
                    reply.error = self._scrub(f"unparseable after {parse_failures} replies: {fill}")
                    return reply
                usage.parse_retries += 1
                continue
            if attempt >= ep.max_retries:
                reply.error = f"{GAVE_UP} {attempt + 1} attempts: {last_error}"
                return reply
            usage.retries += 1
            await asyncio.sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap, retry_after))
            attempt += 1

    def _down_message(self) -> str:
        ep, t = self.endpoint, self.accounting.of(self.endpoint.label)
        top = ", ".join(f"{k} ×{v}" for k, v in t.errors.most_common(3))
        return (f"endpoint {ep.name!r} ({ep.base_url}): {self._down} connection failures in a row "
                f"(max_consecutive_failures), stopping; top errors: {top}; {t.ok} rows answered before. "
                "Is the server up? No version written")

    def _fill(self, reply: Reply, resp: Any, req: Request, seconds: float) -> str | None:
        """Copy the response into the reply and account for it; returns a parse error, or None when done."""
        usage = self.accounting.of(self.endpoint.label)
        tin, tout = _tokens(resp)
        usage.input_tokens += tin
        usage.output_tokens += tout
        usage.cost_usd += self.endpoint.price.cost(tin, tout)
        usage.latency_s += seconds
        if self._tpm:
            est = sum(len(str(m.get("content") or "")) for m in req.messages) // 4
            self._tpm.adjust((tin + tout) - est)
        choice = resp.choices[0]
        msg = choice.message
        reply.input_tokens += tin
        reply.output_tokens += tout
        reply.latency_s = round(seconds, 4)
        reply.finish_reason = choice.finish_reason
        reply.content, reply.reasoning = split_reasoning(msg.content, reasoning_of(msg))  # trace apart from answer
        reply.tool_calls = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                            for c in (msg.tool_calls or [])] or None
        if req.schema is None or choice.finish_reason == "length":
            return None  # a truncated structured reply is kept as length (regenerate it with a bigger budget)
        try:
            reply.parsed = req.parse(reply.content)
        except ValueError as e:
            return str(e)
        return None

    # -- many requests ---------------------------------------------------------------------------
    async def map(self, requests: Iterable[Request], window: int | None = None,
                  progress: LiveProgress | None = None) -> AsyncIterator[Reply]:
        """Yield replies as they finish, keeping up to ``window`` requests started (default 2× concurrency)."""
        self._ensure()
        window = window or 2 * self.endpoint.max_concurrency
        it = iter(requests)
        pending: set[asyncio.Task] = set()
        exhausted = False

        def fill() -> None:
            nonlocal exhausted
            while not exhausted and len(pending) < window:
                try:
                    r = next(it)
                except StopIteration:
                    exhausted = True
                    return
                pending.add(asyncio.ensure_future(self.complete(r)))

        fill()
        try:
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    pending.discard(t)
                    reply = t.result()  # a TeacherError propagates and cancels the rest below
                    if progress is not None:
                        progress.advance()
                    yield reply
                fill()
        finally:
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    def run(self, requests: Iterable[Request], progress: bool = False, title: str = "teacher") -> list[Reply]:
        """Synchronous form of ``map``: every reply, in input order."""
        reqs = list(requests)

        async def go() -> list[Reply]:
            out: dict[int, Reply] = {}
            indexed = [Request(r.messages, i, r.params, r.schema, r.tools, r.sample, {"_id": r.id, **r.meta})
                       for i, r in enumerate(reqs)]
            try:
                with LiveProgress(self.accounting, len(reqs), title, enabled=progress) as live:
                    async for rep in self.map(indexed, progress=live):
                        i = rep.request_id
                        rep.request_id = rep.meta.pop("_id")
                        out[i] = rep
            finally:
                await self.aclose()
            return [out[i] for i in range(len(reqs))]

        return asyncio.run(go())


def _consume(fut: asyncio.Future) -> None:
    """Mark a coalescing future's exception as retrieved (no 'never retrieved' warning when nobody waited)."""
    if not fut.cancelled():
        fut.exception()


def key_scrubber(key: str) -> Callable[[str], str]:
    """A function that writes ``***`` for the API key's value in a text: error texts (a server may echo the key
    it refused) never carry it. A key under 6 characters is a placeholder (``EMPTY`` for open servers), not a
    secret, and replacing it would mangle ordinary words."""
    if len(key) < 6:
        return lambda text: text
    return lambda text: text.replace(key, "***")


def _tokens(resp: Any) -> tuple[int, int]:
    u = getattr(resp, "usage", None)
    return (int(getattr(u, "prompt_tokens", 0) or 0), int(getattr(u, "completion_tokens", 0) or 0)) if u else (0, 0)


def _msg(e: openai.APIStatusError) -> str:
    body = e.body if isinstance(e.body, dict) else {}
    err = body.get("error", body) if isinstance(body, dict) else {}
    text = err.get("message") if isinstance(err, dict) else None
    return str(text or e.message)[:300]


def _describe(e: Exception) -> str:
    if isinstance(e, openai.APIStatusError):
        return f"{e.status_code}: {_msg(e)}"
    if isinstance(e, openai.APITimeoutError):
        return "timeout: no reply in time"
    if isinstance(e, openai.APIConnectionError):
        return f"connection: {e.__cause__ or e}"
    return f"bad body: {e}"


def _hint(e: Exception, ep: Endpoint) -> str:
    if isinstance(e, openai.AuthenticationError):
        return f" — check the key in ${ep.api_key_env}" if ep.api_key_env else " — the endpoint wants a key (api_key_env)"
    if isinstance(e, openai.NotFoundError):
        return " — check base_url and model"
    return ""
