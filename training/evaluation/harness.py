"""Run a suite: build prompts, generate (greedy, the model's own ``generate``), score with the verifier library,
and summarise per task, per taxonomy leaf and per language.

Scoring is the RL reward path (``synthesis.rewards.score``); on FinQA/ConvFinQA a completion whose answer is a
program (``divide(637, const_5)`` or ``x0 = 60.94 - 25.14; ans = x0 / 25.14``) is executed by the safe
interpreter and its value compared — so a model that writes programs is scored on what they compute.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .loaders import EvalItem
from .suites import Suite, load_suite

INSTRUCTION = {
    "en": "Answer the question. Put the final answer in \\boxed{}.",
    "zh": "请回答问题，并把最终答案写在 \\boxed{} 中。",
}
MC_INSTRUCTION = {
    "en": "Choose the correct option. Put its letter in \\boxed{}.",
    "zh": "请回答下列单项选择题，把正确选项的字母写在 \\boxed{} 中。",
}
_PROGRAM = re.compile(r"^\s*(?:[a-z_]+\(|[A-Za-z_]\w*\s*=)")

Generate = Callable[[Sequence[EvalItem], Suite], list[str]]


def user_text(item: EvalItem) -> str:
    lang = "zh" if item.lang == "zh" else "en"
    parts = [item.context.strip()] if item.context.strip() else []
    if item.options:
        opts = "\n".join(f"{k}. {v}" for k, v in sorted(item.options.items()))
        parts += [f"{item.question}\n{opts}", MC_INSTRUCTION[lang]]
    else:
        parts += [item.question, INSTRUCTION[lang]]
    return "\n\n".join(parts)


def chat_messages(item: EvalItem) -> list[dict[str, str]]:
    """Zero-shot chat: earlier turns (ConvFinQA) as user/assistant pairs, the context in the first user turn."""
    msgs: list[dict[str, str]] = []
    if item.history:
        first = f"{item.context.strip()}\n\n{item.history[0][0]}"
        msgs += [{"role": "user", "content": first}, {"role": "assistant", "content": item.history[0][1]}]
        for q, a in item.history[1:]:
            msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        lang = "zh" if item.lang == "zh" else "en"
        msgs.append({"role": "user", "content": f"{item.question}\n\n{INSTRUCTION[lang]}"})
        return msgs
    return [{"role": "user", "content": user_text(item)}]


def plain_prompt(item: EvalItem) -> str:
    """Zero-shot completion prompt for base models without a chat template; the completion follows 'Answer:'."""
    hist = "".join(f"Question: {q}\nAnswer: {a}\n" for q, a in item.history)
    return f"{user_text(item)}\n{hist}Question: {item.question}\nAnswer:" if item.history else \
        f"{user_text(item)}\nAnswer:"


@dataclass
class ItemResult:
    id: str
    task: str
    taxonomy: str
    lang: str
    score: float | None
    pred: Any
    gold: Any
    reason: str
    via: str  # answer | program
    completion: str = ""


def score_item(item: EvalItem, completion: str, prompt: str = "chat") -> ItemResult:
    from synthesis.rewards import extract_answer, score
    from synthesis.rewards.extract import strip_thinking

    # a base model's plain answer gets the "Answer:" cue unless it boxed one; a \boxed inside its reasoning trace
    # is not an answer (the scorer never reads the trace), so the cue is decided on the text after the trace
    boxed = "\\boxed" in strip_thinking(completion)
    text = f"Answer: {completion}" if prompt == "plain" and not boxed else completion
    res, via = score(item.spec, text), "answer"
    if item.program_spec and not res.score:
        ans, _ = extract_answer(text)
        if ans and _PROGRAM.match(ans):
            r2 = score(item.program_spec, text)
            if r2.score is not None:
                res, via = r2, "program"
    pred = res.pred if isinstance(res.pred, (int, float, str, list, type(None))) else str(res.pred)
    return ItemResult(item.id, item.task, item.taxonomy, item.lang, res.score, pred, res.gold, res.reason, via,
                      completion)


@dataclass
class EvalReport:
    suite: str
    model: str
    results: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        def agg(key: Callable[[ItemResult], str]) -> dict[str, dict[str, Any]]:
            groups: dict[str, list[ItemResult]] = defaultdict(list)
            for r in self.results:
                groups[key(r)].append(r)
            out = {}
            for k, rs in sorted(groups.items()):
                scored = [r.score for r in rs if r.score is not None]
                out[k] = {"n": len(rs), "scored": len(scored),
                          "accuracy": round(sum(scored) / len(scored), 6) if scored else None}
            return out

        tasks = agg(lambda r: r.task)
        accs = [t["accuracy"] for t in tasks.values() if t["accuracy"] is not None]
        return {"suite": self.suite, "model": self.model, "n": len(self.results),
                "overall": round(sum(accs) / len(accs), 6) if accs else None,  # macro average over tasks
                "tasks": tasks, "taxonomy": agg(lambda r: r.taxonomy), "lang": agg(lambda r: r.lang),
                "via_program": sum(r.via == "program" for r in self.results),
                "unscorable": sum(r.score is None for r in self.results), "seconds": round(self.seconds, 2)}

    def rows(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.results]


def run_suite(suite: Suite | str, generate: Generate, model: str = "", limit: int | None = None,
              tasks: list[str] | None = None, progress: bool = False) -> EvalReport:
    s = load_suite(suite) if isinstance(suite, (str, Path)) else suite
    items = s.items(limit, tasks)
    t0 = time.perf_counter()
    completions: list[str] = []
    bs = max(1, s.batch_size)
    batches = range(0, len(items), bs)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc=f"eval {s.name}", unit="batch")
    for i in batches:
        completions += generate(items[i:i + bs], s)
    rep = EvalReport(s.name, model, [score_item(it, c, s.prompt) for it, c in zip(items, completions, strict=True)])
    rep.seconds = time.perf_counter() - t0
    return rep


class HFGenerator:
    """Greedy generation with a local HF model (KV cache, left-padded batches), prompts cut to fit; with
    ``server_url``, the same prompts go to an OpenAI-compatible server instead (``training.generation``)."""

    def __init__(self, model_path: str | Path, server_url: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(str(model_path))
        if server_url:
            from ..generation import ServerBackend

            self.model = ServerBackend(server_url, self.tok)
        else:
            self.model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32).eval()

    def encode(self, item: EvalItem, suite: Suite) -> list[int]:
        ctx = item.context
        for _ in range(12):  # cut the context from the front (questions and recent text matter most)
            it = EvalItem(**{**item.__dict__, "context": ctx})
            if suite.prompt == "chat" and self.tok.chat_template:
                text = self.tok.apply_chat_template(chat_messages(it), add_generation_prompt=True, tokenize=False)
            else:
                text = plain_prompt(it)
            ids = self.tok(text, add_special_tokens=False)["input_ids"]
            if len(ids) <= suite.max_prompt_tokens or not ctx:
                return ids[-suite.max_prompt_tokens:]
            ctx = ctx[len(ctx) // 3:]
        return ids[-suite.max_prompt_tokens:]

    def __call__(self, items: Sequence[EvalItem], suite: Suite) -> list[str]:
        from ..rl.rollout import GenConfig, generate_batch

        prompts = [self.encode(it, suite) for it in items]
        outs = generate_batch(self.model, self.tok, prompts, GenConfig(max_new_tokens=suite.max_new_tokens,
                                                                       temperature=0.0))
        return [self.tok.decode(new, skip_special_tokens=True) for new, _ in outs]


def evaluate_model(model_path: str | Path, suite: Suite | str, limit: int | None = None,
                   tasks: list[str] | None = None, progress: bool = False,
                   server_url: str | None = None) -> EvalReport:
    return run_suite(suite, HFGenerator(model_path, server_url), str(model_path), limit, tasks, progress)


def scripted(answers: dict[str, str] | Callable[[EvalItem], str]) -> Generate:
    """A generator that returns fixed completions (by item id, or from a function): tests and dry runs."""
    def gen(items: Sequence[EvalItem], suite: Suite) -> list[str]:
        return [answers(it) if callable(answers) else answers.get(it.id, "") for it in items]
    return gen
