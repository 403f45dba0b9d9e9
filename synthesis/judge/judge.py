"""The one LLM judge: rubrics scored 1–5, compliance rules, scores normalised to [0, 1], verdicts cached.

    judge = Judge(client, get_rubrics(["correctness", "compliance", "language_match"]))
    verdicts = judge.run(list_of_message_lists)        # Verdict(scores, passed, failed, rationale, ...)

One request per conversation scores every rubric 1–5 (structured output) on the teacher client, so every
verdict is cached by request: re-running a filter, or a resumed RL run, asks nothing already judged. Two
deterministic checks sit under the LLM: a promise of guaranteed returns caps ``compliance`` at 1, and an answer
in another script than the question (Chinese vs. Latin) caps ``language_match`` at 1 — a judge cannot talk
either of them up. ``Verdict.score`` is the mean of ``(s − 1) / 4`` over the rubrics: [0, 1].

The same judge serves three callers: filtering (``synthesis/generators/judge_filter.py``: thresholds per
rubric), the ``judge`` reward spec (``score_judge_spec``, a plain function the scorer registry calls) and
general RL (``training/rl/rewards.JudgeReward``, a batch adapter over ``score_judge_specs``). A ``judge`` spec
may carry ``rubric`` / ``rubrics`` (rubric names, or free text judged as one ``overall`` rubric), ``reference``
(a reference answer shown to the judge) and ``prompt`` (the messages that were asked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finance.text import script_of

from .compliance import guarantee_violations
from .rubrics import RUBRICS, Rubric, get_rubrics

JUDGE_SYSTEM = ("You are a strict reviewer of training data for a financial assistant. Score the conversation "
                "on each rubric from 1 (worst) to 5 (best). Reply with JSON only: "
                '{"scores": {"<rubric>": <1-5>, ...}, "rationale": "<one or two sentences>"}.')
MAX_TRANSCRIPT = 12_000


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

    @property
    def score(self) -> float | None:
        """Mean of ``(s − 1) / 4`` over the rubrics: the verdict on [0, 1]; None without scores."""
        return sum((s - 1) / 4 for s in self.scores.values()) / len(self.scores) if self.scores else None

    def quality(self) -> dict[str, float]:
        """The scores as the ``quality`` map of an sft record (``judge_<rubric>``)."""
        return {f"judge_{k}": float(v) for k, v in self.scores.items()}


class Judge:
    def __init__(self, client: Any, rubrics: list[Rubric], params: dict[str, Any] | None = None) -> None:
        self.client, self.rubrics = client, rubrics
        self.params = {"temperature": 0.0, **(params or {})}

    def request(self, messages: list[dict[str, Any]], rid: str | None = None, rubrics: list[Rubric] | None = None,
                reference: str | None = None):
        from synthesis.teachers import Request

        rubrics = rubrics or self.rubrics
        rub = "\n".join(f"- {r.name}: {r.question}" for r in rubrics)
        user = f"Rubrics:\n{rub}\n\nConversation to review:\n<<<\n{transcript(messages)}\n>>>"
        if reference:
            user += f"\n\nReference answer (for correctness):\n<<<\n{reference}\n>>>"
        return Request([{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}], id=rid,
                       params=self.params, schema=verdict_schema(rubrics))

    def verdict(self, messages: list[dict[str, Any]], reply: Any, rubrics: list[Rubric] | None = None) -> Verdict:
        rubrics = rubrics or self.rubrics
        v = Verdict(request_hash=getattr(reply, "request_hash", None), teacher=getattr(reply, "teacher", None))
        if reply is None or not reply.ok or reply.parsed is None:
            v.error = (reply.error if reply is not None and reply.error else
                       f"judge reply unusable (finish_reason {getattr(reply, 'finish_reason', None)})")
            return v
        raw = reply.parsed.get("scores") or {}
        for r in rubrics:
            s = raw.get(r.name)
            if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 5:
                v.error = f"judge gave no valid 1-5 score for {r.name!r}"
                return v
            v.scores[r.name] = s
        v.rationale = str(reply.parsed.get("rationale") or "")[:1000]
        self._rules(messages, v)
        v.failed = [r.name for r in rubrics if v.scores[r.name] < r.threshold]
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

    def run(self, conversations: list[list[dict[str, Any]]], progress: bool = False,
            rubrics: list[list[Rubric] | None] | None = None,
            references: list[str | None] | None = None) -> list[Verdict]:
        """One verdict per conversation; ``rubrics`` / ``references`` (one per conversation) override the
        judge's own rubrics and add a reference answer."""
        n = len(conversations)
        rubs = rubrics or [None] * n
        refs = references or [None] * n
        reqs = [self.request(m, str(i), rubs[i], refs[i]) for i, m in enumerate(conversations)]
        replies = self.client.run(reqs, progress=progress, title="judge")
        return [self.verdict(m, r, rb) for m, r, rb in zip(conversations, replies, rubs, strict=True)]


def spec_rubrics(spec: dict[str, Any]) -> list[Rubric] | None:
    """The rubrics a ``judge`` spec asks for: names from ``RUBRICS`` (a list, or a string naming one rubric or
    several separated by commas), else free text judged as one ``overall`` rubric; None: the judge's own."""
    want = spec.get("rubrics", spec.get("rubric"))
    if not want:
        return None
    names = [str(n).strip() for n in want] if isinstance(want, list) else \
        [n.strip() for n in str(want).split(",") if n.strip()]
    if all(n in RUBRICS for n in names):
        return get_rubrics(names, spec.get("thresholds"))
    return [Rubric("overall", f"How well does the answer meet these criteria: {want}? 1 = not at all, "
                              "5 = fully.", int((spec.get("thresholds") or {}).get("overall", 4)))]


def _conversation(spec: dict[str, Any], completion: Any) -> list[dict[str, Any]]:
    prompt = spec.get("prompt") or []
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    reply = completion if isinstance(completion, list) else [{"role": "assistant", "content": str(completion)}]
    return list(prompt) + reply


def score_judge_specs(judge: Judge | None, specs: list[dict[str, Any]],
                      completions: list[Any]) -> list[tuple[float | None, str]]:
    """``(score in [0, 1] or None, reason)`` for each ``(judge spec, completion)``, in one batch of judge
    requests. Without a judge, a spec's offline ``checks`` (``rubric_checks``) score it; a spec without checks, or an
    unusable reply, is None (skipped, never 0)."""
    if judge is None:
        return [offline_score(s, c) for s, c in zip(specs, completions, strict=True)]
    convs = [_conversation(s, c) for s, c in zip(specs, completions, strict=True)]
    verdicts = judge.run(convs, rubrics=[spec_rubrics(s) for s in specs],
                         references=[s.get("reference") for s in specs])
    out: list[tuple[float | None, str]] = []
    for v in verdicts:
        if v.error:
            out.append((None, f"judge failed: {v.error}"))
        else:
            detail = ", ".join(f"{k} {s}/5" for k, s in v.scores.items())
            out.append((v.score, f"judge {detail}" + (f" ({'; '.join(v.rule_flags)})" if v.rule_flags else "")))
    return out


def offline_score(spec: dict[str, Any], completion: Any) -> tuple[float | None, str]:
    """A judge spec scored without a judge: its programmatic ``checks``, or None when it has none."""
    if not spec.get("checks"):
        return None, "judge needs an endpoint: none configured, and the spec has no offline checks"
    from synthesis.rewards.extract import completion_text

    from .rubric_checks import score_checks

    value, failed = score_checks(spec["checks"], completion_text(completion))
    return value, "offline checks: " + (f"failed {', '.join(failed)}" if failed else "all passed")


def score_judge_spec(spec: dict[str, Any], completion: Any, judge: Judge | None = None) -> tuple[float | None, str]:
    """The ``judge`` reward spec for one completion: ``(score in [0, 1] or None, reason)``."""
    return score_judge_specs(judge, [spec], [completion])[0]


def judge_scorer(judge: Judge | None):
    """``score_judge_spec`` as a reward-registry scorer ``(spec, completion) -> Result``."""
    from synthesis.rewards import Result

    def scorer(spec: dict[str, Any], completion: Any) -> Result:
        value, reason = score_judge_spec(spec, completion, judge)
        return Result(value, reason=reason)

    return scorer
