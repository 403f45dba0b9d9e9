"""Flow control for teacher calls: token buckets (RPM/TPM), an adaptive concurrency limit, backoff.

Hosted APIs publish RPM/TPM limits and answer 429: token buckets keep us under them, reserving an
estimate before a call and reconciling with the real usage after (as curator's request processor does).
Self-hosted vLLM/SGLang never answer 429: there the number of requests in flight is the control, and it
adapts — multiplicative decrease on errors or when latency per token climbs far above its best level,
additive increase after a run of healthy replies (AIMD, the rule TCP and Data Designer use).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque


class TokenBucket:
    """``rate`` units per minute, burst up to one minute's worth. ``acquire`` waits; ``adjust`` reconciles."""

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = per_minute
        self.level = per_minute
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    async def acquire(self, n: float = 1.0) -> None:
        n = min(n, self.capacity)  # a request larger than the bucket still goes, alone
        async with self._lock:  # FIFO: big requests are not starved by small ones
            while True:
                self._refill()
                if self.level >= n:
                    self.level -= n
                    return
                await asyncio.sleep((n - self.level) / self.rate)

    def adjust(self, delta: float) -> None:
        """Give back (negative delta) or take more (positive) once the real usage is known."""
        self._refill()
        self.level = min(self.capacity, self.level - delta)

    def drain(self, seconds: float) -> None:
        """After a 429 the server says we are over: empty the bucket for ``seconds`` worth of refill."""
        self._refill()
        self.level = min(self.level, -seconds * self.rate)


class AdaptiveLimit:
    """A semaphore whose size moves between ``minimum`` and ``maximum`` (fixed when ``adaptive`` is False)."""

    def __init__(self, maximum: int, minimum: int = 1, adaptive: bool = True, initial: int | None = None,
                 decrease: float = 0.75, increase_after: int = 10, latency_tolerance: float = 4.0) -> None:
        self.maximum, self.minimum = maximum, max(1, min(minimum, maximum))
        self.adaptive = adaptive
        self.limit = float(initial if initial is not None else maximum)
        self.in_flight = 0
        self.decrease, self.increase_after, self.latency_tolerance = decrease, increase_after, latency_tolerance
        self._ok_streak = 0
        self._cond = asyncio.Condition()
        self._lat: deque[float] = deque(maxlen=20)  # recent seconds per (1 + output token)
        self._best = float("inf")
        self.peak_in_flight = 0
        self.changes = 0

    async def acquire(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < int(self.limit))
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    async def release(self, ok: bool, seconds: float | None = None, tokens: int = 0) -> None:
        async with self._cond:
            self.in_flight -= 1
            if self.adaptive:
                self._feedback(ok, seconds, tokens)
            self._cond.notify_all()

    def _feedback(self, ok: bool, seconds: float | None, tokens: int) -> None:
        before = int(self.limit)
        if not ok:
            self.limit = max(self.minimum, self.limit * self.decrease)
            self._ok_streak = 0
        elif seconds is not None:
            per_tok = seconds / (1 + tokens)
            self._lat.append(per_tok)
            self._best = min(self._best, per_tok)
            recent = sorted(self._lat)[len(self._lat) // 2]  # median: one slow reply is not congestion
            if len(self._lat) >= 10 and recent > self.latency_tolerance * self._best:
                self.limit = max(self.minimum, self.limit * 0.9)
                self._lat.clear()
                self._ok_streak = 0
            else:
                self._ok_streak += 1
                if self._ok_streak >= self.increase_after:
                    self.limit = min(self.maximum, self.limit + 1)
                    self._ok_streak = 0
        if int(self.limit) != before:
            self.changes += 1


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 60.0, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; a server's ``Retry-After`` is honoured as the minimum."""
    delay = random.uniform(0, min(cap, base * 2**attempt))
    if retry_after is not None and retry_after >= 0:
        delay = max(delay, retry_after + random.uniform(0, 0.1 * max(retry_after, 0.1)))
    return delay


def parse_retry_after(headers) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date) → seconds."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    v = headers.get("retry-after")
    if not v:
        return None
    try:
        return float(v)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(v).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
