"""Record kinds of the data contract (DESIGN.md) as Arrow schemas, with validation and defaults.

Every version holds records of one kind. Free-form extras go in ``meta`` (a JSON string);
nested values that vary per record (reward specs, tool lists) are stored as canonical JSON strings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

TOOL_CALL = pa.struct([("id", pa.string()), ("name", pa.string()), ("arguments", pa.string())])
MESSAGE = pa.struct(
    [
        ("role", pa.string()),
        ("content", pa.string()),
        ("tool_calls", pa.list_(TOOL_CALL)),
        ("tool_call_id", pa.string()),
        ("name", pa.string()),
        # an assistant turn's reasoning trace (R1-style ``reasoning_content`` or a ``<think>`` block), kept apart
        # from the answer in ``content``; null elsewhere. Added after the first release: older shards read as null.
        ("reasoning_content", pa.string()),
    ]
)
PROVENANCE = pa.struct(
    [("generator", pa.string()), ("teacher", pa.string()), ("request_hash", pa.string()), ("recipe", pa.string())]
)
SCORES = pa.map_(pa.string(), pa.float64())

SCHEMAS: dict[str, pa.Schema] = {
    "doc": pa.schema(
        [
            ("id", pa.string()),
            ("text", pa.string()),
            ("source", pa.string()),
            ("url", pa.string()),
            ("lang", pa.string()),
            ("scores", SCORES),
            ("meta", pa.string()),
        ]
    ),
    "sft": pa.schema(
        [
            ("id", pa.string()),
            ("messages", pa.list_(MESSAGE)),
            ("tools", pa.string()),
            ("taxonomy", pa.string()),
            ("lang", pa.string()),
            ("source", PROVENANCE),
            ("quality", SCORES),
            ("meta", pa.string()),
        ]
    ),
    "rl": pa.schema(
        [
            ("id", pa.string()),
            ("prompt", pa.list_(MESSAGE)),
            ("reward_spec", pa.string()),
            ("tools", pa.string()),
            ("env", pa.string()),
            ("taxonomy", pa.string()),
            ("lang", pa.string()),
            ("difficulty", pa.float64()),
            ("source", PROVENANCE),
            ("meta", pa.string()),
        ]
    ),
    # preference pairs (DPO): two completions of one prompt, the better one first
    "pref": pa.schema(
        [
            ("id", pa.string()),
            ("prompt", pa.list_(MESSAGE)),
            ("chosen", pa.list_(MESSAGE)),
            ("rejected", pa.list_(MESSAGE)),
            ("scores", SCORES),
            ("margin", pa.float64()),
            ("taxonomy", pa.string()),
            ("lang", pa.string()),
            ("source", PROVENANCE),
            ("meta", pa.string()),
        ]
    ),
}
# Kinds whose payload is files rather than rows of a fixed schema (token shards are added by training).
FILE_KINDS = {"tokens", "artifact"}
KINDS = set(SCHEMAS) | FILE_KINDS
ROLES = {"system", "user", "assistant", "tool"}
REWARD_TYPES = {"numeric", "choice", "exact", "set", "program", "tool_env", "judge"}


class SchemaError(ValueError):
    """A record does not match its kind's schema; the message names the record and the field."""


def loads_json_field(v: Any) -> Any:
    """A JSON-encoded column value (``'{…}'`` / ``'[…]'``: spec, meta, tools) decoded; anything else as it is."""
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def canonical_json(value: Any) -> str:
    """Sorted-key, compact JSON: the form that hashes are computed over."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def content_hash(value: Any, n: int = 32) -> str:
    data = value if isinstance(value, str) else canonical_json(value)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:n]


def _json_field(value: Any, where: str, field: str) -> str | None:
    if value is None or isinstance(value, str):
        if isinstance(value, str) and value:
            try:
                json.loads(value)
            except json.JSONDecodeError as e:
                raise SchemaError(f"{where}: field '{field}' is not valid JSON ({e.msg})") from None
        return value
    return canonical_json(value)


def _scores(value: Any, where: str, field: str) -> list[tuple[str, float]] | None:
    if value is None:
        return None
    items = value.items() if isinstance(value, Mapping) else value
    out = []
    for k, v in items:
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SchemaError(f"{where}: field '{field}' must map names to numbers, got {k!r}: {v!r}")
        out.append((k, float(v)))
    return out


def _messages(value: Any, where: str, field: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise SchemaError(f"{where}: field '{field}' must be a non-empty list of messages")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, Mapping):
            raise SchemaError(f"{where}: {field}[{i}] is not an object")
        role = m.get("role")
        if role not in ROLES:
            raise SchemaError(f"{where}: {field}[{i}].role {role!r} is not one of {sorted(ROLES)}")
        content = m.get("content")
        if content is not None and not isinstance(content, str):
            raise SchemaError(f"{where}: {field}[{i}].content must be a string")
        calls = []
        for c in m.get("tool_calls") or []:
            fn = c.get("function", c)  # accept the OpenAI shape {"function": {"name", "arguments"}} too
            args = fn.get("arguments")
            if not isinstance(fn.get("name"), str):
                raise SchemaError(f"{where}: {field}[{i}].tool_calls has a call without a name")
            calls.append(
                {
                    "id": c.get("id"),
                    "name": fn["name"],
                    "arguments": args if isinstance(args, str) or args is None else canonical_json(args),
                }
            )
        if content is None and not calls:
            raise SchemaError(f"{where}: {field}[{i}] has neither content nor tool_calls")
        reasoning = m.get("reasoning_content")
        if reasoning is not None and (not isinstance(reasoning, str) or role != "assistant"):
            raise SchemaError(f"{where}: {field}[{i}].reasoning_content must be a string on an assistant turn")
        out.append(
            {
                "role": role,
                "content": content,
                "tool_calls": calls or None,
                "tool_call_id": m.get("tool_call_id"),
                "name": m.get("name"),
                "reasoning_content": reasoning or None,
            }
        )
    return out


def _hashable(messages: list[dict]) -> list[dict]:
    """Messages as ids are computed over: an absent reasoning trace leaves the id it had before the field existed."""
    return [{k: v for k, v in m.items() if not (k == "reasoning_content" and v is None)} for m in messages]


def _provenance(value: Any, where: str) -> dict | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"generator": value, "teacher": None, "request_hash": None, "recipe": None}
    if not isinstance(value, Mapping):
        raise SchemaError(f"{where}: field 'source' must be an object (generator, teacher, request_hash)")
    unknown = set(value) - {"generator", "teacher", "request_hash", "recipe"}
    if unknown:
        raise SchemaError(f"{where}: field 'source' has unknown keys {sorted(unknown)}; put extras in meta")
    return {k: (None if value.get(k) is None else str(value.get(k))) for k in PROVENANCE.names}


def _opt_str(value: Any, where: str, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise SchemaError(f"{where}: field '{field}' must be a string, got {type(value).__name__}")


def _check_reward_spec(spec: str | None, where: str) -> None:
    if not spec:
        raise SchemaError(f"{where}: field 'reward_spec' is required for rl records")
    parsed = json.loads(spec)
    if not isinstance(parsed, dict) or parsed.get("spec_version") != 1 or parsed.get("type") not in REWARD_TYPES:
        raise SchemaError(
            f"{where}: reward_spec needs spec_version 1 and a type in {sorted(REWARD_TYPES)}, got {spec[:120]}"
        )


def normalize_record(kind: str, rec: Mapping[str, Any], where: str = "record") -> dict:
    """Validate one record of ``kind`` and return it in storage form (JSON strings, defaults filled).

    ``where`` names the record in error messages (for example ``"data.jsonl:17"``).
    """
    if kind not in SCHEMAS:
        raise SchemaError(f"unknown record kind {kind!r}; expected one of {sorted(SCHEMAS)}")
    schema = SCHEMAS[kind]
    unknown = set(rec) - set(schema.names)
    if unknown:
        raise SchemaError(f"{where}: unknown fields {sorted(unknown)} for kind '{kind}'; put extras in 'meta'")
    out: dict[str, Any] = {}
    out["meta"] = _json_field(rec.get("meta"), where, "meta")
    if kind == "doc":
        text = rec.get("text")
        if not isinstance(text, str) or not text.strip():
            raise SchemaError(f"{where}: field 'text' must be a non-empty string")
        out["text"] = text
        for f in ("source", "url", "lang"):
            out[f] = _opt_str(rec.get(f), where, f)
        out["scores"] = _scores(rec.get("scores"), where, "scores")
        out["id"] = rec.get("id") or content_hash(text)
    elif kind == "pref":
        out["prompt"] = _messages(rec.get("prompt"), where, "prompt")
        out["chosen"] = _messages(rec.get("chosen"), where, "chosen")
        out["rejected"] = _messages(rec.get("rejected"), where, "rejected")
        if _hashable(out["chosen"]) == _hashable(out["rejected"]):
            raise SchemaError(f"{where}: 'chosen' and 'rejected' are the same completion")
        out["scores"] = _scores(rec.get("scores"), where, "scores")
        margin = rec.get("margin")
        if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))):
            raise SchemaError(f"{where}: field 'margin' must be a number")
        out["margin"] = None if margin is None else float(margin)
        for f in ("taxonomy", "lang"):
            out[f] = _opt_str(rec.get(f), where, f)
        out["source"] = _provenance(rec.get("source"), where)
        out["id"] = rec.get("id") or content_hash([_hashable(out[f]) for f in ("prompt", "chosen", "rejected")])
    else:
        msgs_field = "messages" if kind == "sft" else "prompt"
        out[msgs_field] = _messages(rec.get(msgs_field), where, msgs_field)
        out["tools"] = _json_field(rec.get("tools"), where, "tools")
        out["taxonomy"] = _opt_str(rec.get("taxonomy"), where, "taxonomy")
        out["lang"] = _opt_str(rec.get("lang"), where, "lang")
        out["source"] = _provenance(rec.get("source"), where)
        if kind == "sft":
            out["quality"] = _scores(rec.get("quality"), where, "quality")
            key: Any = _hashable(out["messages"])
        else:
            out["reward_spec"] = _json_field(rec.get("reward_spec"), where, "reward_spec")
            _check_reward_spec(out["reward_spec"], where)
            out["env"] = _json_field(rec.get("env"), where, "env") if not isinstance(rec.get("env"), str) else rec["env"]
            diff = rec.get("difficulty")
            if diff is not None and (isinstance(diff, bool) or not isinstance(diff, (int, float))):
                raise SchemaError(f"{where}: field 'difficulty' must be a number")
            out["difficulty"] = None if diff is None else float(diff)
            key = [_hashable(out["prompt"]), out["reward_spec"]]
        out["id"] = rec.get("id") or content_hash(key)
    if not isinstance(out["id"], str):
        out["id"] = str(out["id"])
    return {name: out.get(name) for name in schema.names}


def to_table(kind: str, records: Iterable[Mapping[str, Any]], where: str = "record") -> pa.Table:
    rows = [normalize_record(kind, r, f"{where} {i}") for i, r in enumerate(records)]
    return pa.Table.from_pylist(rows, schema=SCHEMAS[kind])


def conform_table(kind: str, table: pa.Table, where: str = "table") -> pa.Table:
    """Validate an Arrow table against the kind's schema; missing optional columns become nulls."""
    schema = SCHEMAS[kind]
    extra = set(table.column_names) - set(schema.names)
    if extra:
        raise SchemaError(f"{where}: unknown columns {sorted(extra)} for kind '{kind}'; put extras in 'meta'")
    # Round-trip through Python for the full per-record checks; tables here are shard-sized.
    return to_table(kind, table.to_pylist(), where)


def schema_description(kind: str) -> list[dict[str, str]]:
    if kind not in SCHEMAS:
        return []
    return [{"name": f.name, "type": str(f.type)} for f in SCHEMAS[kind]]
