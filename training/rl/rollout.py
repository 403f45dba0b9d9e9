"""Rollouts with the policy's own ``generate`` (KV cache) and the token-level view the loss needs.

A ``Sample`` keeps the exact token ids the policy produced (never a re-tokenised string, which can split
differently) with a loss mask aligned to them: 1 on policy tokens, 0 on the prompt and on anything the
environment wrote (tool outputs and the template glue around them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from finance.messages import parse_tools, template_messages

from .grpo import token_logprobs


@dataclass
class GenConfig:
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    max_turns: int = 4  # agentic rollouts: assistant turns before the episode is cut
    max_total_tokens: int = 1024  # agentic rollouts: prompt + all turns


@dataclass
class Sample:
    prompt_index: int  # index of the prompt in the step's batch (its group)
    ids: list[int]  # prompt + completion (+ tool turns), exactly as fed to the model
    mask: list[int]  # 1 = policy token with loss, aligned to ids
    prompt_len: int
    text: str = ""  # the policy's text (all assistant turns joined)
    messages: list[dict[str, Any]] = field(default_factory=list)  # assistant/tool messages of the episode
    truncated: bool = False  # hit max_new_tokens / max_total_tokens without a stop token
    turns: int = 1
    tool_calls: int = 0
    invalid_tool_calls: int = 0
    reward: float | None = None
    reward_reason: str = ""
    skipped: str = ""  # why no rollout was made (e.g. prompt_too_long): reward stays None

    @property
    def completion_tokens(self) -> int:
        return int(sum(self.mask))


def render_prompt(tok, messages: Any, tools: Any = None) -> list[int]:
    """Token ids of the chat-templated prompt ending with the assistant generation prompt."""
    text = tok.apply_chat_template(template_messages(messages), tools=parse_tools(tools), add_generation_prompt=True,
                                   tokenize=False)
    return tok(text, add_special_tokens=False)["input_ids"]


def stop_token_ids(tok) -> list[int]:
    """End-of-turn ids: the tokenizer's eos plus the chat template's turn terminator when it is a token."""
    ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    for t in ("<|im_end|>", "<|eot_id|>", "<|end|>", "</s>"):
        i = tok.convert_tokens_to_ids(t)
        if isinstance(i, int) and i != tok.unk_token_id and i >= 0:
            ids.add(i)
    return sorted(ids)


@torch.no_grad()
def generate_batch(model, tok, prompts: list[list[int]], cfg: GenConfig,
                   max_new_tokens: int | None = None) -> list[tuple[list[int], bool]]:
    """Sample one continuation per prompt (left-padded batch, KV cache). Returns ``(new_ids, stopped)`` with the
    continuation cut after its first stop token; ``stopped`` is False when it ran out of tokens.
    ``model`` may instead be a generation backend (``training.generation``: e.g. a vLLM/SGLang server)."""
    if hasattr(model, "generate_ids"):
        return model.generate_ids(prompts, cfg, max_new_tokens)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    att = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
        att[i, width - len(p):] = 1
    stops = stop_token_ids(tok)
    was_training = model.training
    model.eval()
    sampling = {"do_sample": True, "temperature": cfg.temperature, "top_p": cfg.top_p, "top_k": 0} \
        if cfg.temperature > 0 else {"do_sample": False}  # temperature 0: greedy (evaluation)
    out = model.generate(input_ids=ids, attention_mask=att, max_new_tokens=max_new_tokens or cfg.max_new_tokens,
                         eos_token_id=stops, pad_token_id=pad, use_cache=True, **sampling)
    if was_training:
        model.train()
    res = []
    stop_set = set(stops)
    for row in out[:, width:].tolist():
        cut = next((j for j, t in enumerate(row) if t in stop_set), None)
        res.append((row[:cut + 1], True) if cut is not None else (row, False))
    return res


def single_turn_rollouts(model, tok, records: list[dict[str, Any]], group_size: int, cfg: GenConfig) -> list[Sample]:
    """``group_size`` sampled completions for each record's prompt; samples of a group are consecutive.
    A prompt that leaves no room under ``max_total_tokens`` is not generated for: its samples are marked
    skipped (reward None, counted), never silently cut."""
    prompt_ids = [render_prompt(tok, r["prompt"], r.get("tools")) for r in records]
    flat = [p for p in prompt_ids for _ in range(group_size)]
    fits = [i for i, p in enumerate(flat) if len(p) < cfg.max_total_tokens]
    outs: dict[int, tuple[list[int], bool]] = {}
    if fits:
        room = cfg.max_total_tokens - max(len(flat[i]) for i in fits)
        got = generate_batch(model, tok, [flat[i] for i in fits], cfg, max_new_tokens=min(cfg.max_new_tokens, room))
        outs = dict(zip(fits, got, strict=True))
    samples = []
    for k, p in enumerate(flat):
        if k not in outs:
            samples.append(Sample(k // group_size, list(p), [0] * len(p), len(p), skipped="prompt_too_long"))
            continue
        new, stopped = outs[k]
        text = tok.decode(new, skip_special_tokens=True)
        samples.append(Sample(k // group_size, p + new, [0] * len(p) + [1] * len(new), len(p), text,
                              [{"role": "assistant", "content": text}], truncated=not stopped))
    return samples


@dataclass
class Batch:
    """Samples laid out as ``[left-padded prompt | completion, right-padded]`` so every completion starts at
    column ``prompt_width``: the LM head then runs only over the completion window (``logits_to_keep``) instead
    of every position, which saves the vocabulary-sized logits of the prompts (memory and time)."""
    ids: torch.Tensor  # [B, P + C]
    att: torch.Tensor
    pos: torch.Tensor  # position ids restarting at 0 after the left padding
    mask: torch.Tensor  # [B, C] loss mask of the completion window (aligned with the log-probs)
    prompt_width: int

    def rows(self, c: slice) -> Batch:
        return Batch(self.ids[c], self.att[c], self.pos[c], self.mask[c], self.prompt_width)

    @property
    def keep(self) -> int:
        return self.ids.shape[1] - self.prompt_width + 1


def pad_samples(samples: list[Sample], pad_id: int) -> Batch:
    p_w = max(s.prompt_len for s in samples)
    c_w = max(max(len(s.ids) - s.prompt_len for s in samples), 1)
    ids = torch.full((len(samples), p_w + c_w), pad_id, dtype=torch.long)
    att = torch.zeros_like(ids)
    mask = torch.zeros((len(samples), c_w), dtype=torch.float32)
    for i, s in enumerate(samples):
        start = p_w - s.prompt_len
        ids[i, start:start + len(s.ids)] = torch.tensor(s.ids)
        att[i, start:start + len(s.ids)] = 1
        comp = s.mask[s.prompt_len:]
        mask[i, :len(comp)] = torch.tensor(comp, dtype=torch.float32)
    pos = (att.cumsum(-1) - 1).clamp(min=0)
    return Batch(ids, att, pos, mask, p_w)


def forward_logits(model, b: Batch) -> torch.Tensor:
    """Logits of the completion window only (the position before each completion token and onwards)."""
    return model(input_ids=b.ids, attention_mask=b.att, position_ids=b.pos, logits_to_keep=b.keep,
                 use_cache=False).logits


def sequence_logprobs(model, b: Batch, temperature: float = 1.0) -> torch.Tensor:
    """``[B, C]`` log-probs of the completion-window tokens under ``model``."""
    return token_logprobs(forward_logits(model, b), b.ids, temperature)
