"""Rewards for the RL stages: the verifier library, an LLM judge through a teacher endpoint, or an HF reward model.

Every path returns ``float | None``; ``None`` (no gold, no judge configured, unparsable verdict) is skipped by
the advantage computation, never counted as 0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .rollout import Sample, clean_messages

JUDGE_SYSTEM = ("You are a strict grader of answers to financial and general questions. Read the rubric, the "
                "question, the optional reference and the answer, then reply with JSON only: "
                '{"score": <integer 0-10>, "reason": "<one sentence>"}.')
_SCORE = re.compile(r'"?score"?\s*[:=]\s*(-?\d+(?:\.\d+)?)', re.IGNORECASE)

Complete = Callable[[list[list[dict[str, str]]]], list[str | None]]  # batch of chats -> replies (None = failed)


def spec_of(record: dict[str, Any]) -> dict[str, Any]:
    spec = record.get("reward_spec")
    return json.loads(spec) if isinstance(spec, str) else dict(spec or {})


def verifier_rewards(records: Sequence[dict[str, Any]], samples: Sequence[Sample]) -> None:
    """``synthesis.rewards.score(reward_spec, completion)`` for each sample, written onto the sample."""
    from synthesis.rewards import score

    for s in samples:
        res = score(records[s.prompt_index]["reward_spec"], s.text)
        s.reward, s.reward_reason = res.score, res.reason


def judge_messages(record: dict[str, Any], completion: str) -> list[dict[str, str]]:
    spec = spec_of(record)
    question = "\n".join(f"[{m.get('role')}] {m.get('content') or ''}" for m in clean_messages(record["prompt"])
                         if m.get("role") != "system")
    parts = [f"Rubric: {spec.get('rubric') or 'correctness, helpfulness, compliance, language match'}",
             f"Question:\n{question}"]
    if spec.get("reference"):
        parts.append(f"Reference answer:\n{spec['reference']}")
    parts.append(f"Answer to grade:\n{completion}")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def parse_verdict(reply: str | None, lo: float = 0.0, hi: float = 10.0) -> float | None:
    """The judge's 0–10 score mapped to [0, 1]; None when the reply holds no score in range."""
    if not reply:
        return None
    val = None
    try:
        obj = json.loads(reply.strip().removeprefix("```json").removesuffix("```"))
        if isinstance(obj, dict) and isinstance(obj.get("score"), (int, float)):
            val = float(obj["score"])
    except (json.JSONDecodeError, ValueError):
        m = _SCORE.search(reply)
        val = float(m.group(1)) if m else None
    if val is None or not lo <= val <= hi:
        return None
    return (val - lo) / (hi - lo)


class JudgeReward:
    """Scores samples with an LLM judge; ``complete`` sends a batch of chats to a teacher endpoint (cached by
    the teacher client's request cache, so a resumed run re-asks nothing already judged)."""

    def __init__(self, complete: Complete | None) -> None:
        self.complete = complete
        self.calls = 0

    def __call__(self, records: Sequence[dict[str, Any]], samples: Sequence[Sample]) -> None:
        if self.complete is None:
            for s in samples:
                s.reward, s.reward_reason = None, "judge needs an endpoint: none configured"
            return
        chats = [judge_messages(records[s.prompt_index], s.text) for s in samples]
        replies = self.complete(chats)
        self.calls += len(chats)
        for s, r in zip(samples, replies, strict=True):
            s.reward = parse_verdict(r)
            s.reward_reason = "judge" if s.reward is not None else f"unparsable verdict: {str(r)[:80]!r}"


def teacher_complete(endpoint: Any, cache_path: str | Path, max_tokens: int = 128) -> Complete:
    """Judge calls through the synthesis teacher client (sliding window, retries, request-keyed SQLite cache):
    ``endpoint`` is an ``Endpoint`` or a name in ``recipes/teachers.yaml``. Judging is greedy (temperature 0),
    so a resumed run, or the same completion seen again, is answered from the cache."""
    from synthesis.teachers import Request, TeacherClient, get_endpoint

    ep = get_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
    client = TeacherClient(ep, cache=cache_path)

    def complete(chats: list[list[dict[str, str]]]) -> list[str | None]:
        reqs = [Request(m, id=str(i), params={"temperature": 0.0, "max_tokens": max_tokens})
                for i, m in enumerate(chats)]
        return [None if r.error else r.content for r in client.run(reqs)]

    complete.client = client  # type: ignore[attr-defined]  # accounting and cache stats for the caller
    return complete


class RewardModel:
    """An HF sequence-classification reward model (one logit per sequence) scoring prompt + completion.
    ``squash`` maps the logit through a sigmoid into [0, 1]."""

    def __init__(self, path: str | Path, batch_size: int = 16, squash: bool = True) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch.float32).eval()
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tok.pad_token_id
        self.batch_size, self.squash = batch_size, squash

    def text(self, record: dict[str, Any], completion: str) -> str:
        msgs = clean_messages(record["prompt"]) + [{"role": "assistant", "content": completion}]
        if self.tok.chat_template:
            return self.tok.apply_chat_template(msgs, tokenize=False)
        return "\n".join(m.get("content") or "" for m in msgs)

    def __call__(self, records: Sequence[dict[str, Any]], samples: Sequence[Sample]) -> None:
        import torch

        texts = [self.text(records[s.prompt_index], s.text) for s in samples]
        for i in range(0, len(texts), self.batch_size):
            enc = self.tok(texts[i:i + self.batch_size], return_tensors="pt", padding=True, truncation=True,
                           max_length=2048)
            with torch.no_grad():
                logits = self.model(**enc).logits[:, 0]
            vals = torch.sigmoid(logits) if self.squash else logits
            for s, v in zip(samples[i:i + self.batch_size], vals.tolist(), strict=True):
                s.reward, s.reward_reason = float(v), "reward_model"


def score_samples(records: Sequence[dict[str, Any]], samples: Sequence[Sample], judge: JudgeReward | None = None,
                  reward_model: RewardModel | None = None) -> None:
    """Route each sample by its record's spec type: ``tool_env`` rewards were set by the environment during the
    rollout; ``judge`` goes to the reward model when one is given, else the judge; the rest to the verifiers."""
    by_kind: dict[str, list[Sample]] = {"verify": [], "judge": [], "rm": []}
    for s in samples:
        if s.skipped:
            s.reward, s.reward_reason = None, f"skipped: {s.skipped}"
            continue
        t = spec_of(records[s.prompt_index]).get("type")
        if t == "tool_env":
            continue
        by_kind["rm" if t == "judge" and reward_model else "judge" if t == "judge" else "verify"].append(s)
    if by_kind["verify"]:
        verifier_rewards(records, by_kind["verify"])
    if by_kind["judge"]:
        (judge or JudgeReward(None))(records, by_kind["judge"])
    if by_kind["rm"]:
        reward_model(records, by_kind["rm"])
