"""The manifest of a version: the source of truth that the DuckDB index is rebuilt from."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.I)


@dataclass
class Shard:
    path: str  # relative to the version folder
    rows: int
    bytes: int
    sha256: str
    tokens: int | None = None


@dataclass
class Manifest:
    name: str
    version: int
    kind: str
    hash: str
    shards: list[Shard]
    schema: list[dict[str, str]] = field(default_factory=list)
    parents: list[dict[str, Any]] = field(default_factory=list)  # {"name", "version", "hash"}
    recipe: dict[str, Any] = field(default_factory=dict)
    recipe_hash: str = ""
    code_version: str = ""
    rows: int = 0
    bytes: int = 0
    tokens: int | None = None
    inputs: int | None = None  # records read, when the producer knows: inputs = rows + dropped + quarantined
    drops: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)  # e.g. {"lang": {"en": 10}}
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def dropped(self) -> int:
        return sum(self.drops.values())

    @property
    def n_quarantined(self) -> int:
        return sum(self.quarantined.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        d = dict(d)
        d["shards"] = [Shard(**s) for s in d.get("shards", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write JSON to a temp file beside ``path`` and rename it into place (readers never see half a file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1, sort_keys=True, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def sha256_file(path: str | Path, bufsize: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(bufsize):
            h.update(chunk)
    return h.hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@functools.cache
def code_version() -> str:
    """huijin's version plus the git commit of the checkout it runs from, when there is one."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("huijin")
    except PackageNotFoundError:
        v = "0+unknown"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{v}+g{sha}" if sha else v


def secret_values() -> set[str]:
    """Values of environment variables that look like secrets (API keys, tokens, passwords)."""
    return {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 6}


def scrub_secrets(obj: Any, secrets: set[str] | None = None) -> Any:
    """Replace any secret value found anywhere in ``obj`` by ``***`` (defence in depth for recipes/configs)."""
    secrets = secret_values() if secrets is None else secrets
    if not secrets:
        return obj
    if isinstance(obj, str):
        for s in secrets:
            if s in obj:
                obj = obj.replace(s, "***")
        return obj
    if isinstance(obj, dict):
        return {scrub_secrets(k, secrets): scrub_secrets(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub_secrets(v, secrets) for v in obj]
    return obj


def recipe_hash(recipe: dict[str, Any]) -> str:
    # imported here, not at the top: schemas imports pyarrow (0.3 s of CLI start-up)
    from .schemas import canonical_json

    return hashlib.sha256(canonical_json(recipe).encode()).hexdigest()[:16]
