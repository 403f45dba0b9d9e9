"""Test helpers reusable by generators, the demo and RL training: a real OpenAI-compatible local server."""

from .server import FakeOpenAIServer, Scripted, default_reply, example_for_schema

__all__ = ["FakeOpenAIServer", "Scripted", "default_reply", "example_for_schema"]
