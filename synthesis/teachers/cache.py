"""The request cache: every finished call, keyed by a hash of the exact request, in one SQLite file.

Why keyed on the request and not on a run fingerprint: curator's run-level keys give stale hits when helper
code changes and no reuse after raising ``max_tokens`` (curator #148/#127/#697). Here the key is the model,
messages, sampling parameters, schema, tools and sample index — everything that decides the reply *except*
the token budget, which is stored beside the reply instead: a finished (``stop``) reply is reused under any
budget it fits in, a ``length``-truncated one is re-asked when the budget grows or when the caller asks to
regenerate truncated rows. Each reply is committed as soon as it arrives (WAL mode), so a run killed with
SIGKILL and started again makes no repeated call for anything that finished. Several processes (datatrove
tasks) may share one file. The cache never sees the API key: it is not part of a request.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

BUDGET_PARAMS = ("max_tokens", "max_completion_tokens")
SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
  key TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  status TEXT NOT NULL,            -- ok | failed
  finish_reason TEXT,
  max_tokens INTEGER,
  completion_tokens INTEGER,
  request TEXT NOT NULL,           -- canonical JSON of what was hashed
  reply TEXT NOT NULL,             -- JSON of the Reply
  created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS replies_finish ON replies(finish_reason);
"""


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def request_identity(model: str, messages: list[dict], params: dict[str, Any], schema: Any = None,
                     tools: Any = None, sample: int = 0) -> dict[str, Any]:
    """The exact request as hashed: token-budget parameters are left out (see module docstring)."""
    return {"model": model, "messages": messages, "params": {k: v for k, v in sorted(params.items())
                                                              if k not in BUDGET_PARAMS},
            "schema": schema, "tools": tools, "sample": int(sample)}


def hash_request(identity: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(identity).encode("utf-8")).hexdigest()


class RequestCache:
    """``get(key, max_tokens, regenerate)`` → stored reply dict or None; ``put(...)`` commits at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=NORMAL")  # durable against process kill (not power loss)
        self._con.execute("PRAGMA busy_timeout=60000")
        self._con.executescript(SCHEMA)

    def get(self, key: str, max_tokens: int | None = None, regenerate: Iterable[str] = ()) -> dict[str, Any] | None:
        regenerate = set(regenerate)
        with self._lock:
            row = self._con.execute(
                "SELECT status, finish_reason, max_tokens, completion_tokens, reply FROM replies WHERE key = ?", [key]
            ).fetchone()
        if row is None:
            return None
        status, finish, stored_budget, used, reply = row
        if status == "failed":
            return None if "failed" in regenerate else json.loads(reply)
        if finish == "length":
            if "length" in regenerate:
                return None
            if max_tokens is not None and (stored_budget is None or max_tokens > stored_budget):
                return None  # the budget grew: a truncated reply may now finish
        elif max_tokens is not None and used is not None and used > max_tokens:
            return None  # the stored reply would not fit the smaller budget
        return json.loads(reply)

    def put(self, key: str, model: str, request: dict[str, Any], reply: dict[str, Any], status: str,
            finish_reason: str | None, max_tokens: int | None, completion_tokens: int | None) -> None:
        with self._lock:
            self._con.execute(
                "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [key, model, status, finish_reason, max_tokens, completion_tokens, canonical(request),
                 canonical(reply), time.time()],
            )

    def keys(self, finish_reason: str | None = None, status: str | None = None) -> list[str]:
        sql = "SELECT key FROM replies WHERE (? IS NULL OR finish_reason = ?) AND (? IS NULL OR status = ?)"
        with self._lock:
            return [r[0] for r in self._con.execute(sql, [finish_reason, finish_reason, status, status])]

    def stats(self) -> dict[str, int]:
        with self._lock:
            rows = self._con.execute(
                "SELECT status, coalesce(finish_reason, ''), count(*) FROM replies GROUP BY 1, 2").fetchall()
        out: dict[str, int] = {}
        for status, finish, n in rows:
            k = status if status == "failed" else f"ok:{finish or 'unknown'}"
            out[k] = out.get(k, 0) + n
        return out

    def __len__(self) -> int:
        with self._lock:
            return self._con.execute("SELECT count(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._con.close()
