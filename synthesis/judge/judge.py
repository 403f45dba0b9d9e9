"""An LLM judge with rubrics and thresholds, on the teacher client (so every verdict is cached by request).

    judge = Judge(client, get_rubrics(["correctness", "compliance", "language_match"]))
    verdicts = judge.run(list_of_message_lists)        # Verdict(scores, passed, failed, rationale, ...)

One request per conversation scores every rubric 1–5 (structured output). Two deterministic checks sit under
the LLM: a promise of guaranteed returns caps ``compliance`` at 1, and an answer in another script than the
question (Chinese vs. Latin) caps ``language_match`` at 1 — a judge cannot talk either of them up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .compliance import guarantee_violations
from .rubrics import Rubric

JUDGE_SYSTEM = ("You are a strict reviewer of training data for a financial assistant. Score the conversation "
                "on each rubric from 1 (worst) to 5 (best). Reply with JSON only: "
                '{"scores": {"<rubric>": <1-5>, ...}, "rationale": "<one or two sentences>"}.')
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
MAX_TRANSCRIPT = 12_000


def script_of(text: str) -> str | None:
    """'zh' or 'en' by the share of Han characters among letters; None for text without letters."""
    han, latin = len(_CJK.findall(text or "")), len(_LATIN.findall(text or ""))
    if han + latin < 4:
        return None
    return "zh" if han / (han + latin / 4) > 0.5 else "en"


def transcript(messages: list[dict[str, Any]], max_chars: int = MAX_TRANSCRIPT) -> str:
    parts = []
    for m in messages:
        role = m.get("role", "?").upper()
        content = m.get("content") or ""
        if m.get("tool_calls"):
            content += " [tool calls: " + ", ".join(f"{c.get('name')}({c.get('arguments')})"
                                                    for c in m["tool_calls"]) + "]"
        if role == "TOOL":
            content = content[:800]
        parts.append(f"{role}: {content}")
    text = "\n\n".join(parts)
    return text if len(text) <= max_chars else text[: max_chars // 2] + "\n…\n" + text[-max_chars // 2:]


def verdict_schema(rubrics: list[Rubric]) -> dict[str, Any]:
    props = {r.name: {"type": "integer", "minimum": 1, "maximum": 5} for r in rubrics}
    return {"title": "JudgeVerdict", "type": "object", "additionalProperties": False,
            "properties": {"scores": {"type": "object", "properties": props, "required": list(props),
                                      "additionalProperties": False},
                           "rationale": {"type": "string"}},
            "required": ["scores", "rationale"]}


@dataclass
class Verdict:
    scores: dict[str, int] = field(default_factory=dict)
    passed: bool = False
    failed: list[str] = field(default_factory=list)
    rationale: str = ""
    rule_flags: list[str] = field(default_factory=list)
    request_hash: str | None = None
    teacher: str | None = None
    error: str | None = None

    def quality(self) -> dict[str, float]:
        """The scores as the ``quality`` map of an sft record (``judge_<rubric>``)."""
        return {f"judge_{k}": float(v) for k, v in self.scores.items()}


class Judge:
    def __init__(self, client: Any, rubrics: list[Rubric], params: dict[str, Any] | None = None) -> None:
        self.client, self.rubrics = client, rubrics
        self.params = {"temperature": 0.0, **(params or {})}

    def request(self, messages: list[dict[str, Any]], rid: str | None = None):
        from synthesis.teachers import Request

        rub = "\n".join(f"- {r.name}: {r.question}" for r in self.rubrics)
        user = f"Rubrics:\n{rub}\n\nConversation to review:\n<<<\n{transcript(messages)}\n>>>"
        return Request([{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}], id=rid,
                       params=self.params, schema=verdict_schema(self.rubrics))

    def verdict(self, messages: list[dict[str, Any]], reply: Any) -> Verdict:
        v = Verdict(request_hash=getattr(reply, "request_hash", None), teacher=getattr(reply, "teacher", None))
        if reply is None or not reply.ok or reply.parsed is None:
            v.error = (reply.error if reply is not None and reply.error else
                       f"judge reply unusable (finish_reason {getattr(reply, 'finish_reason', None)})")
            return v
        raw = reply.parsed.get("scores") or {}
        for r in self.rubrics:
            s = raw.get(r.name)
            if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 5:
                v.error = f"judge gave no valid 1-5 score for {r.name!r}"
                return v
            v.scores[r.name] = s
        v.rationale = str(reply.parsed.get("rationale") or "")[:1000]
        self._rules(messages, v)
        v.failed = [r.name for r in self.rubrics if v.scores[r.name] < r.threshold]
        v.passed = not v.failed
        return v

    def _rules(self, messages: list[dict[str, Any]], v: Verdict) -> None:
        if "compliance" in v.scores:  # the suitability rule is the dialogue generator's; here: promised returns
            problems = [f"promises returns: {g!r}" for m in messages if m.get("role") == "assistant"
                        for g in guarantee_violations(m.get("content") or "")]
            if problems:
                v.scores["compliance"] = 1
                v.rule_flags += problems
        if "language_match" in v.scores:
            users = [script_of(m.get("content") or "") for m in messages if m.get("role") == "user"]
            answers = [script_of(m.get("content") or "") for m in messages
                       if m.get("role") == "assistant" and m.get("content")]
            want = next((s for s in reversed(users) if s), None)
            got = next((s for s in reversed(answers) if s), None)
            if want and got and want != got:
                v.scores["language_match"] = 1
                v.rule_flags.append(f"answer in {got}, question in {want}")

    def run(self, conversations: list[list[dict[str, Any]]], progress: bool = False) -> list[Verdict]:
        replies = self.client.run([self.request(m, str(i)) for i, m in enumerate(conversations)],
                                  progress=progress, title="judge")
        return [self.verdict(m, r) for m, r in zip(conversations, replies, strict=True)]


def judge_scorer(judge: Judge, rubric: str = "correctness"):
    """A ``judge`` reward scorer for ``synthesis.rewards.register_scorer``: score (s − 1) / 4 of one rubric.

    ``spec`` may carry ``question`` (the prompt messages) so the judge sees what was asked."""
    from synthesis.rewards import Result

    def scorer(spec: dict[str, Any], completion: Any) -> Result:
        prompt = spec.get("prompt") or []
        msgs = list(prompt) + (completion if isinstance(completion, list) else
                               [{"role": "assistant", "content": str(completion)}])
        v = judge.run([msgs])[0]
        if v.error:
            return Result(None, reason=f"judge failed: {v.error}")
        s = v.scores[spec.get("rubric", rubric)]
        return Result((s - 1) / 4, s, None, f"judge {rubric} {s}/5")

    return scorer
