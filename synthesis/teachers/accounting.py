"""Accounting of teacher calls: requests, tokens and cost per endpoint and model, live and in the manifest."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Usage:
    """Counters for one ``endpoint:model``."""

    requests: int = 0  # HTTP calls actually sent (retries included): what is paid for
    replies: int = 0  # rows finished by a call (ok or failed)
    ok: int = 0
    failed: int = 0
    cached: int = 0  # rows answered from the cache or an identical call in flight (no call, no cost)
    cached_failed: int = 0  # of those, rows whose answer is a failure
    coalesced: int = 0  # of those, rows answered by an identical request in flight at the same time
    retries: int = 0
    parse_retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0  # summed over successful calls
    finish_reasons: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("requests", "replies", "ok", "failed", "cached", "cached_failed",
                                            "coalesced", "retries", "parse_retries", "input_tokens",
                                            "output_tokens")}
        d["cost_usd"] = round(self.cost_usd, 6)
        d["mean_latency_s"] = round(self.latency_s / self.ok, 4) if self.ok else None
        d["finish_reasons"] = dict(self.finish_reasons)
        d["errors"] = dict(self.errors)
        return d


class Accounting:
    """Shared by every client of a run; ``to_dict()`` goes to the output version's manifest ``extra``."""

    def __init__(self) -> None:
        self.by_teacher: dict[str, Usage] = {}
        self.started = time.monotonic()

    def of(self, teacher: str) -> Usage:
        if teacher not in self.by_teacher:
            self.by_teacher[teacher] = Usage()
        return self.by_teacher[teacher]

    def total(self) -> Usage:
        t = Usage()
        for u in self.by_teacher.values():
            for k in ("requests", "replies", "ok", "failed", "cached", "cached_failed", "coalesced", "retries",
                      "parse_retries", "input_tokens", "output_tokens", "cost_usd", "latency_s"):
                setattr(t, k, getattr(t, k) + getattr(u, k))
            t.finish_reasons.update(u.finish_reasons)
            t.errors.update(u.errors)
        return t

    def all_failed(self) -> bool:
        """Whether rows were asked and not one got an answer (fresh, cached or coalesced)."""
        t = self.total()
        return t.replies + t.cached > 0 and t.ok == 0 and t.cached_failed == t.cached

    def rates(self) -> dict[str, float]:
        el = max(1e-9, time.monotonic() - self.started)
        t = self.total()
        return {"elapsed_s": round(el, 3), "req_per_s": t.requests / el,
                "tokens_per_s": (t.input_tokens + t.output_tokens) / el, "rows_per_s": (t.replies + t.cached) / el}

    def to_dict(self) -> dict[str, Any]:
        r = self.rates()
        return {"by_teacher": {k: u.to_dict() for k, u in sorted(self.by_teacher.items())},
                "total": self.total().to_dict(), "elapsed_s": r["elapsed_s"],
                "req_per_s": round(r["req_per_s"], 3), "tokens_per_s": round(r["tokens_per_s"], 1)}

    def summary_rows(self) -> list[dict[str, Any]]:
        rows = []
        for k, u in sorted(self.by_teacher.items()):
            rows.append({"teacher": k, "rows": u.replies + u.cached, "ok": u.ok, "failed": u.failed, "cached": u.cached,
                         "requests": u.requests, "retries": u.retries, "in_tok": u.input_tokens,
                         "out_tok": u.output_tokens, "cost_usd": round(u.cost_usd, 4)})
        return rows

    def status_line(self, done: int, total: int | None) -> str:
        r, t = self.rates(), self.total()
        eta = ""
        if total and done and done < total:
            eta = f" ETA {(total - done) / max(r['rows_per_s'], 1e-9):.0f}s"
        return (f"{r['req_per_s']:.1f} req/s  {r['tokens_per_s']:.0f} tok/s  ${t.cost_usd:.4f}  "
                f"failed {t.failed}  cached {t.cached}{eta}")


def _stderr_console():
    """A pipe or CI log is not a terminal: give the live line and table room (rich defaults to 80 columns)."""
    import sys

    from rich.console import Console

    return Console(stderr=True, width=None if sys.stderr.isatty() else 150)


PLAIN_EVERY_S = 10.0  # seconds between progress lines when stderr is not a terminal


class LiveProgress:
    """rows done / total, req/s, tokens/s, $ and ETA on stderr while a run goes (rich), then a summary table."""

    def __init__(self, accounting: Accounting, total: int | None, title: str = "teacher", enabled: bool = True) -> None:
        self.acc, self.total, self.title, self.enabled = accounting, total, title, enabled
        self.done = 0
        self._progress = None
        self._task = None
        self._last = 0.0
        self._plain = None

    def __enter__(self) -> LiveProgress:
        import sys

        self._plain = None
        if self.enabled and not sys.stderr.isatty():  # rich draws nothing to a pipe until the end
            self._plain, self._last = _stderr_console(), time.monotonic()
            return self
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("{task.fields[status]}"),
                                      console=_stderr_console(), transient=False)
            self._progress.start()
            self._task = self._progress.add_task(self.title, total=self.total, status="")
        return self

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self._progress is not None and (now - self._last > 0.2 or self.done == self.total):
            self._last = now
            self._progress.update(self._task, completed=self.done, status=self.acc.status_line(self.done, self.total))
        elif self._plain and now - self._last > PLAIN_EVERY_S:  # a pipe or log file: one plain line now and then
            self._last = now
            of = f"/{self.total}" if self.total else ""
            self._plain.print(f"{self.title}: {self.done}{of} rows  {self.acc.status_line(self.done, self.total)}",
                              highlight=False)

    def __exit__(self, *exc) -> None:
        if self._plain is not None:
            self._plain.print(f"{self.title}: {self.done} rows  {self.acc.status_line(self.done, self.total)}",
                              highlight=False)
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, status=self.acc.status_line(self.done, self.total))
            self._progress.stop()
        if self._progress is not None or self._plain is not None:
            from rich.table import Table

            rows = self.acc.summary_rows()
            if rows:
                t = Table(title=f"{self.title}: teacher accounting")
                for c in rows[0]:
                    t.add_column(c)
                for r in rows:
                    t.add_row(*[str(v) for v in r.values()])
                _stderr_console().print(t)
