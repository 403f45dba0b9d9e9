"""Rewards for the RL stages: the verifier library, the one LLM judge (``synthesis.judge``, through a teacher
endpoint), or an HF reward model.

Every path returns ``float | None``; ``None`` (no gold, no judge configured, unparsable verdict) is skipped by
the advantage computation, never counted as 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finance.messages import template_messages

from .rollout import Sample


def spec_of(record: dict[str, Any]) -> dict[str, Any]:
    """The record's reward spec as a dict; ``{}`` for one that does not parse (routed to the verifier, whose
    ``score`` then returns None with the reason — an RL step never dies on one bad record)."""
    spec = record.get("reward_spec")
    try:
        out = json.loads(spec) if isinstance(spec, str) else dict(spec or {})
    except (ValueError, TypeError):
        return {}
    return out if isinstance(out, dict) else {}


def verifier_rewards(records: Sequence[dict[str, Any]], samples: Sequence[Sample]) -> None:
    """``synthesis.rewards.score(reward_spec, completion)`` for each sample, written onto the sample."""
    from synthesis.rewards import score

    for s in samples:
        res = score(records[s.prompt_index]["reward_spec"], s.text)
        s.reward, s.reward_reason = res.score, res.reason


class JudgeReward:
    """General-RL judge rewards: an adapter from (records, samples) to ``synthesis.judge.score_judge_specs``, the
    one judge (rubrics 1–5 normalised to [0, 1], compliance rules, verdicts cached by the teacher client's request
    cache, so a resumed run re-asks nothing already judged). Without a judge, specs with offline ``checks`` are scored
    by them (``synthesis.judge.rubric_checks``) and the others are None (skipped)."""

    def __init__(self, judge: Any | None) -> None:
        self.judge = judge
        self.calls = 0

    def __call__(self, records: Sequence[dict[str, Any]], samples: Sequence[Sample]) -> None:
        from synthesis.judge import score_judge_specs

        specs = [{**spec_of(records[s.prompt_index]), "prompt": list(records[s.prompt_index]["prompt"])}
                 for s in samples]
        results = score_judge_specs(self.judge, specs, [s.text for s in samples])
        self.calls += len(samples) if self.judge is not None else 0
        for s, (value, reason) in zip(samples, results, strict=True):
            s.reward, s.reward_reason = value, reason


def judge_from_endpoint(endpoint: Any, cache_path: str | Path, max_tokens: int = 256,
                        teachers_yaml: str | None = None) -> JudgeReward:
    """A ``JudgeReward`` whose judge asks ``endpoint`` (an ``Endpoint`` or a name in ``recipes/teachers.yaml``)
    through the teacher client (sliding window, retries, request-keyed SQLite cache). Judging is greedy
    (temperature 0), so a resumed run, or the same completion seen again, is answered from the cache."""
    from synthesis.judge import Judge, get_rubrics
    from synthesis.teachers import TeacherClient, get_endpoint

    ep = get_endpoint(endpoint, teachers_yaml) if isinstance(endpoint, str) and teachers_yaml else \
        get_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
    client = TeacherClient(ep, cache=cache_path)
    return JudgeReward(Judge(client, get_rubrics(None), {"max_tokens": max_tokens}))


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
        msgs = template_messages(record["prompt"]) + [{"role": "assistant", "content": completion}]
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
