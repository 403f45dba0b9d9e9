"""Teacher endpoints from YAML: where to send requests, how hard, at what price. Never the key itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from recipes import recipes_dir

DEFAULT_FILE = recipes_dir() / "teachers.yaml"
FORBIDDEN_KEYS = {"api_key", "key", "token", "secret", "password"}


class TeacherConfigError(ValueError):
    """An endpoint file or entry is wrong; the message names the file and the endpoint."""


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: float = 0.0  # USD per million input tokens
    output: float = 0.0  # USD per million output tokens

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1e6


class Endpoint(BaseModel):
    """One OpenAI-compatible endpoint (OpenAI, DeepSeek, vLLM, SGLang, ``transformers serve``)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    base_url: str
    model: str
    api_key_env: str | None = None  # the NAME of the environment variable holding the key
    max_concurrency: int = Field(32, ge=1, le=4096)
    min_concurrency: int = Field(1, ge=1)
    concurrency: Literal["adaptive", "fixed", "auto"] = "auto"  # auto: adaptive when no rpm/tpm is set
    rpm: float | None = Field(None, gt=0)
    tpm: float | None = Field(None, gt=0)
    price: Price = Field(default_factory=Price)
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(8, ge=0)
    parse_retries: int = Field(2, ge=0)
    # stop the run after this many connection failures (refused, reset, timeout) in a row, over all requests
    max_consecutive_failures: int = Field(32, ge=1)
    structured_output: Literal["json_schema", "json_object", "none"] = "json_schema"
    params: dict[str, Any] = Field(default_factory=dict)  # default sampling parameters

    @field_validator("params")
    @classmethod
    def _no_secrets_in_params(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = FORBIDDEN_KEYS & {k.lower() for k in v}
        if bad:
            raise ValueError(f"params must not hold credentials ({sorted(bad)}); use api_key_env")
        return v

    @property
    def adaptive(self) -> bool:
        if self.concurrency == "auto":
            return self.rpm is None and self.tpm is None
        return self.concurrency == "adaptive"

    @property
    def label(self) -> str:
        """``name:model``: how the teacher is named in provenance and accounting."""
        return f"{self.name}:{self.model}"

    def api_key(self) -> str:
        """The key from the environment (never stored on this object, never logged)."""
        if not self.api_key_env:
            return "EMPTY"  # open self-hosted servers accept any key
        key = os.environ.get(self.api_key_env)
        if key is None:
            raise TeacherConfigError(f"endpoint {self.name!r}: environment variable {self.api_key_env} is not set "
                                     f"(export {self.api_key_env}=...; an open self-hosted server takes any value, "
                                     f"e.g. EMPTY, or drop api_key_env from its entry)")
        return key

    def public(self) -> dict[str, Any]:
        """What may be written to manifests and caches (the env var name, never its value)."""
        return self.model_dump(mode="json")


def load_endpoints(path: str | Path | None = None) -> dict[str, Endpoint]:
    """Read ``endpoints:`` from a YAML file (default ``recipes/teachers.yaml``) keyed by name."""
    p = Path(path) if path else DEFAULT_FILE
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise TeacherConfigError(f"{p}: cannot read teacher endpoints ({e})") from None
    entries = data.get("endpoints") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise TeacherConfigError(f"{p}: expected a top-level 'endpoints:' list")
    out: dict[str, Endpoint] = {}
    for i, e in enumerate(entries):
        name = e.get("name", f"#{i}") if isinstance(e, dict) else f"#{i}"
        if isinstance(e, dict) and FORBIDDEN_KEYS & {k.lower() for k in e}:
            raise TeacherConfigError(f"{p}: endpoint {name!r} holds a credential; name its variable in api_key_env")
        try:
            ep = Endpoint.model_validate(e)
        except Exception as err:  # pydantic ValidationError: re-raise with the file and endpoint named
            raise TeacherConfigError(f"{p}: endpoint {name!r}: {err}") from None
        if ep.name in out:
            raise TeacherConfigError(f"{p}: endpoint {ep.name!r} is defined twice")
        out[ep.name] = ep
    return out


def get_endpoint(name: str, path: str | Path | None = None) -> Endpoint:
    eps = load_endpoints(path)
    if name not in eps:
        raise TeacherConfigError(f"no endpoint {name!r} in {path or DEFAULT_FILE}; known: {sorted(eps)}")
    return eps[name]
