"""The agent environment: tools in OpenAI function-calling format behind ``reset`` / ``step`` / ``reward``.

    env = ToolEnv.from_record(rl_record)                 # the record's `env` JSON says which tools and data
    messages = env.reset(rl_record)                      # the prompt (system + user)
    # policy turn → assistant message with tool_calls; for each call:
    messages.append(env.step(call))                      # {"role": "tool", "tool_call_id", "name", "content"}
    result = env.reward(messages)                        # Result(score, pred, gold, reason), replayed

Tool outputs are messages with role ``tool`` (trainers mask them out of the loss) whose content is JSON:
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``. ``reward`` replays every call of the
trajectory in a fresh copy of the environment, so a trajectory always gets the same reward and forged tool
messages earn nothing. Config (the record's ``env`` column)::

    {"tools": ["sql_query", "calculator", "search_docs"], "max_calls": 8,
     "sql": {"tables": {"facts": {"columns": [["report_id", "VARCHAR"], ...], "rows": [[...], ...]}},
             "max_rows": 50, "timeout_s": 2.0},
     "search": {"passages": [{"id": "...", "text": "..."}]} | {"doc_version": "fin-docs@1", "max_docs": 2000}}
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from catalogs.sql import QueryError
from finance.messages import tool_calls_of
from synthesis.rewards import Result

from .calculator import CalcError, evaluate, format_result
from .reward import CallOutcome, result_of, terms
from .search import BM25Index, passages_from_version
from .sql import SqlRefused, build_database, run_query, schema_text

if TYPE_CHECKING:
    from catalogs import Store

TOOL_NAMES = ("sql_query", "calculator", "search_docs")


class ToolArgumentError(ValueError):
    pass


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required, "additionalProperties": False}}}


class ToolEnv:
    def __init__(self, config: dict[str, Any] | str | None = None, store: Store | None = None) -> None:
        cfg = json.loads(config) if isinstance(config, str) else dict(config or {})
        unknown = set(cfg.get("tools") or []) - set(TOOL_NAMES)
        if unknown:
            raise ValueError(f"unknown tools {sorted(unknown)} in env config; known: {list(TOOL_NAMES)}")
        self.config = cfg
        self.tool_names = list(cfg.get("tools") or TOOL_NAMES)
        self.max_calls = int(cfg.get("max_calls", 8))
        self.store = store
        self._con = None
        self._index: BM25Index | None = None
        self._schema: str | None = None
        self.outcomes: list[CallOutcome] = []
        self.spec: dict[str, Any] | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any], store: Store | None = None) -> ToolEnv:
        return cls(record.get("env") or {}, store)

    # -- tools -------------------------------------------------------------------------------------
    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tools in OpenAI function-calling format (what goes in a request's ``tools``)."""
        out = []
        if "sql_query" in self.tool_names:
            out.append(_fn("sql_query", "Run one read-only SQL SELECT over the financial database (DuckDB). "
                           f"Tables:\n{self.schema()}\nAt most {self._sql_cfg().get('max_rows', 50)} rows "
                           "are returned.", {"sql": {"type": "string", "description": "one SELECT statement"}},
                           ["sql"]))
        if "calculator" in self.tool_names:
            out.append(_fn("calculator", "Evaluate an arithmetic expression: + - * / ** ( ), 12% = 0.12, "
                           "abs round min max sqrt log exp pow.",
                           {"expression": {"type": "string", "description": "e.g. (7109 - 5989) / 5989"}},
                           ["expression"]))
        if "search_docs" in self.tool_names:
            out.append(_fn("search_docs", "Search the report text and filings; returns the best passages.",
                           {"query": {"type": "string"}, "k": {"type": "integer", "minimum": 1, "maximum": 10}},
                           ["query"]))
        return out

    def schema(self) -> str:
        if self._schema is None:
            self._schema = schema_text(self._db()) if "sql_query" in self.tool_names else ""
        return self._schema

    def _sql_cfg(self) -> dict[str, Any]:
        return self.config.get("sql") or {}

    def _db(self):
        if self._con is None:
            self._con = build_database(self._sql_cfg().get("tables") or {})
        return self._con

    def _search_index(self) -> BM25Index:
        if self._index is None:
            s = self.config.get("search") or {}
            items = list(s.get("passages") or [])
            if s.get("doc_version"):
                if self.store is None:
                    raise ToolArgumentError("search over a doc version needs the store")
                items += passages_from_version(self.store, s["doc_version"], int(s.get("max_docs", 2000)))
            self._index = BM25Index(items)
        return self._index

    # -- API ---------------------------------------------------------------------------------------
    def reset(self, task: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Start an episode: forget earlier calls; returns the task's prompt messages (a copy)."""
        self.outcomes = []
        self.spec = None
        if not task:
            return []
        spec = task.get("reward_spec")
        self.spec = json.loads(spec) if isinstance(spec, str) else spec
        return [dict(m) for m in task.get("prompt") or []]

    def step(self, tool_call: dict[str, Any]) -> dict[str, Any]:
        """Run one tool call; returns the tool message (never raises on bad calls: they are reported)."""
        fn = tool_call.get("function", tool_call)
        name, raw_args, call_id = str(fn.get("name") or ""), fn.get("arguments"), tool_call.get("id")
        args_text = raw_args if isinstance(raw_args, str) else json.dumps(raw_args or {}, sort_keys=True)
        try:
            if len(self.outcomes) >= self.max_calls:
                raise ToolArgumentError(f"call budget of {self.max_calls} tool calls is used up; answer now")
            if name not in self.tool_names:
                raise ToolArgumentError(f"unknown tool {name!r}; available: {self.tool_names}")
            args = _parse_args(args_text)
            result = self._run(name, args)
            content, ok = {"ok": True, "result": result}, True
        except (ToolArgumentError, SqlRefused, QueryError, CalcError) as e:
            content, ok = {"ok": False, "error": str(e)[:500]}, False
        self.outcomes.append(CallOutcome(call_id, name, args_text, ok))
        return {"role": "tool", "tool_call_id": call_id, "name": name,
                "content": json.dumps(content, ensure_ascii=False, default=str)}

    def _run(self, name: str, args: dict[str, Any]) -> Any:
        if name == "sql_query":
            sql = _required(args, "sql", str)
            cfg = self._sql_cfg()
            return run_query(self._db(), sql, int(cfg.get("max_rows", 50)), float(cfg.get("timeout_s", 2.0)))
        if name == "calculator":
            return format_result(evaluate(_required(args, "expression", str)))
        query = _required(args, "query", str)
        k = args.get("k", 3)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 10:
            raise ToolArgumentError("k must be an integer from 1 to 10")
        return [{"id": h.id, "score": h.score, "text": h.text[:700]} for h in self._search_index().search(query, k)]

    def replay(self, trajectory: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run every tool call of ``trajectory`` again in this (reset) environment; returns the tool messages."""
        self.outcomes = []
        return [self.step({"id": c["id"], "name": c["name"], "arguments": c["arguments"]})
                for c in tool_calls_of(trajectory)]

    def reward(self, trajectory: list[dict[str, Any]], spec: dict[str, Any] | str | None = None) -> Result:
        """Score a trajectory: its calls are replayed here, then the ``tool_env`` spec is applied."""
        spec = json.loads(spec) if isinstance(spec, str) else (spec or self.spec)
        if not spec:
            raise ValueError("reward needs the task's tool_env spec (pass it, or reset(task) first)")
        self.replay(trajectory)
        return result_of(terms(spec, trajectory, self.outcomes))

    def reward_terms(self, trajectory: list[dict[str, Any]], spec: dict[str, Any] | None = None) -> dict[str, Any]:
        self.replay(trajectory)
        return terms(spec or self.spec or {}, trajectory, self.outcomes)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> ToolEnv:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _parse_args(text: str) -> dict[str, Any]:
    if len(text) > 20_000:
        raise ToolArgumentError("arguments longer than 20000 characters")
    try:
        args = json.loads(text or "{}")
    except json.JSONDecodeError as e:
        raise ToolArgumentError(f"arguments are not JSON ({e.msg})") from None
    except (ValueError, RecursionError) as e:  # an integer past Python's 4,300-digit limit, nesting past the stack
        raise ToolArgumentError(f"arguments cannot be read ({type(e).__name__}: {str(e)[:80]})") from None
    if not isinstance(args, dict):
        raise ToolArgumentError("arguments must be a JSON object")
    return args


def _required(args: dict[str, Any], key: str, typ: type) -> Any:
    if key not in args:
        raise ToolArgumentError(f"missing argument {key!r}")
    if not isinstance(args[key], typ):
        raise ToolArgumentError(f"argument {key!r} must be a {typ.__name__}")
    return args[key]
