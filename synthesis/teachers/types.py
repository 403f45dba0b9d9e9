"""What goes to a teacher (``Request``) and what comes back (``Reply``), plus the client's errors."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError


class TeacherError(RuntimeError):
    """A problem that stops the whole run (bad key, unknown model or URL): retrying cannot help."""


@dataclass
class Request:
    """One chat completion to ask for.

    ``params`` override the endpoint's default sampling parameters; ``schema`` (a pydantic model class or a
    JSON schema dict) asks for structured output; ``sample`` distinguishes several samples of one prompt.
    ``id`` and ``meta`` are the caller's and are not part of the request hash."""

    messages: list[dict[str, Any]]
    id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    schema: type[BaseModel] | dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    sample: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def schema_json(self) -> dict[str, Any] | None:
        if self.schema is None:
            return None
        if isinstance(self.schema, dict):
            return self.schema
        return self.schema.model_json_schema()

    def schema_name(self) -> str:
        if isinstance(self.schema, type):
            return self.schema.__name__
        title = (self.schema or {}).get("title") or "reply"
        return re.sub(r"[^A-Za-z0-9_-]", "_", str(title))[:64]

    def parse(self, content: str | None) -> dict[str, Any]:
        """Parse structured content against the schema; raises ValueError with the reason."""
        text = _strip_fence(content or "")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"reply is not JSON ({e.msg} at char {e.pos})") from None
        if isinstance(self.schema, type):
            try:
                return self.schema.model_validate(data).model_dump(mode="json")
            except ValidationError as e:
                raise ValueError(f"reply does not match {self.schema.__name__}: {e.errors()[0]['msg']} "
                                 f"at {'.'.join(str(x) for x in e.errors()[0]['loc'])}") from None
        _check_json_schema(data, self.schema or {})
        return data


@dataclass
class Reply:
    """A finished request: content (or tool calls), why it stopped, tokens, and the error if it failed.

    ``reasoning`` is the teacher's thinking, kept apart from ``content`` (the answer): see ``reasoning.py``."""

    request_id: str | None
    request_hash: str
    teacher: str  # endpoint:model
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    parsed: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    latency_s: float = 0.0
    cached: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    reasoning: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("meta")  # the caller's, not part of what is cached
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reply:
        known = set(cls.__dataclass_fields__)
        r = cls(**{k: v for k, v in d.items() if k in known})
        if "reasoning" not in d and r.content:  # cached before traces were kept apart: split an inline <think>
            from .reasoning import split_reasoning

            r.content, r.reasoning = split_reasoning(r.content)
        return r

    def message(self, reasoning: bool = True) -> dict[str, Any]:
        """The reply as an assistant message of the record schema (with its reasoning trace unless told not)."""
        msg = {"role": "assistant", "content": self.content, "tool_calls": self.tool_calls}
        if reasoning and self.reasoning:
            msg["reasoning_content"] = self.reasoning
        return msg


def _strip_fence(text: str) -> str:
    t = text.strip()
    m = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", t, re.DOTALL)
    return m.group(1) if m else t


def _check_json_schema(data: Any, schema: dict[str, Any]) -> None:
    try:
        import jsonschema
    except ImportError:  # a light check of the top level: type, required keys, enums
        if schema.get("type") == "object":
            if not isinstance(data, dict):
                raise ValueError("reply is not a JSON object") from None
            missing = [k for k in schema.get("required", []) if k not in data]
            if missing:
                raise ValueError(f"reply lacks required keys {missing}") from None
            for k, sub in (schema.get("properties") or {}).items():
                if k in data and "enum" in sub and data[k] not in sub["enum"]:
                    raise ValueError(f"reply field {k!r} = {data[k]!r} is not one of the allowed values") from None
        return
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as e:
        raise ValueError(f"reply does not match the schema: {e.message[:200]}") from None
