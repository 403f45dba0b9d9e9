"""Small helpers for generators that call the teacher: run a batch, classify failures, build provenance."""

from __future__ import annotations

from typing import Any

from .context import RunContext
from .records import provenance


def ask(run: RunContext, requests: list[Any], title: str) -> list[Any]:
    """Every reply, in request order (cached calls cost nothing; see synthesis.teachers)."""
    if not requests:
        return []
    return run.teacher.run(requests, progress=run.show_progress, title=title)


def failure(reply: Any) -> str | None:
    """Why a reply cannot be used (quarantine reason), or None."""
    if reply is None:
        return "teacher_failed: no reply"
    if not reply.ok:
        return f"teacher_failed: {reply.error}"
    if reply.finish_reason == "length":
        return "truncated: finish_reason length (regenerate with --regenerate length)"
    if reply.content is None and not reply.tool_calls:
        return "teacher_failed: empty reply"
    return None


def source(run: RunContext, generator: str, reply: Any) -> dict[str, Any]:
    return provenance(generator, run.recipe_name, getattr(reply, "teacher", None),
                      getattr(reply, "request_hash", None))


def judge_for(run: RunContext, rubrics: list[str], thresholds: dict[str, int] | None = None):
    """A Judge on the run's teacher client (so verdicts share its request cache and accounting)."""
    from synthesis.judge import Judge, get_rubrics

    return Judge(run.teacher, get_rubrics(rubrics, thresholds))
