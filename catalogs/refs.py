"""Dataset references: ``name@N``, ``name@latest`` and ``name`` (= latest)."""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class RefError(ValueError):
    """A reference is malformed or names no version."""


@dataclass(frozen=True)
class Ref:
    name: str
    version: int | None  # None means latest

    def __str__(self) -> str:
        return f"{self.name}@{'latest' if self.version is None else self.version}"


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise RefError(f"invalid dataset name {name!r}: use letters, digits, '.', '_', '-' (max 128)")
    return name


def parse_ref(ref: str) -> Ref:
    name, _, ver = ref.strip().partition("@")
    check_name(name)
    if ver in ("", "latest"):
        return Ref(name, None)
    if not ver.isdigit() or int(ver) < 1:
        raise RefError(f"invalid version in {ref!r}: expected name@N (N >= 1), name@latest or name")
    return Ref(name, int(ver))
