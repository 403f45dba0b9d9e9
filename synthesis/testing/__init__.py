"""Test helpers reusable by generators, the demo and RL training: a real OpenAI-compatible local server.

Imported lazily so that ``python -m synthesis.testing.server`` runs the module once (an eager import here
makes runpy warn that the module was already in ``sys.modules``)."""

from __future__ import annotations

from typing import Any

__all__ = ["FakeOpenAIServer", "RepeatCounter", "Scripted", "default_reply", "example_for_schema", "last_user"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
