"""``pref`` versions as token pairs for DPO: each side rendered with the chat template, loss on its completion.

The prompt is rendered with the generation prompt; each side is ``prompt + completion`` rendered whole, and
its completion tokens are the ones after the prompt's (the template must render the prompt as a prefix, as
chat templates do; a pair where it does not is dropped and counted, like one whose prompt does not fit in
``seq_len``). Reasoning traces on the completions are rendered only with ``reasoning=True`` (the template's
thinking format, as ``sft.reasoning``). Held-out pairs and the training order come from the one plan rule
(``training.plan.split_and_pick``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from catalogs import Store

from .plan import PlanSpec, split_and_pick
from .sft import chat_ids, chat_messages, check_thinking_template


@dataclass
class TokenPair:
    id: str
    chosen: np.ndarray  # token ids, prompt + completion
    chosen_mask: np.ndarray  # 1 on completion tokens
    rejected: np.ndarray
    rejected_mask: np.ndarray


def encode_pair(tok, rec: dict[str, Any], seq_len: int, reasoning: bool = False) -> TokenPair | str:
    """A pref record → its token pair, or the reason it cannot be trained on (rendered as SFT renders)."""
    prompt = chat_messages(rec["prompt"], reasoning)
    p = chat_ids(tok, prompt, True)
    if len(p) >= seq_len:
        return "prompt_longer_than_seq_len"
    sides = []
    for field in ("chosen", "rejected"):
        full = chat_ids(tok, prompt + chat_messages(rec[field], reasoning), False)
        if full[:len(p)] != p:
            return "template_prompt_not_a_prefix"
        full = full[:seq_len]
        mask = np.zeros(len(full), np.int64)
        mask[len(p):] = 1
        sides += [np.asarray(full, np.int64), mask]
    return TokenPair(str(rec["id"]), *sides)


class PrefSource:
    """The pairs of one ``pref`` version, encoded once in memory; unusable records are counted in ``drops``."""

    def __init__(self, store: Store, ref: str, tok, seq_len: int, reasoning: bool = False) -> None:
        if reasoning:
            check_thinking_template(tok, ref)
        self.ref = ref
        self.pairs: list[TokenPair] = []
        self.drops: Counter[str] = Counter()
        for rec in store.iter_records(ref, columns=["id", "prompt", "chosen", "rejected"]):
            got = encode_pair(tok, rec, seq_len, reasoning)
            if isinstance(got, str):
                self.drops[got] += 1
            else:
                self.pairs.append(got)


@dataclass
class PairPlan:
    train: list[tuple[int, int]]  # (source, pair) in training order
    val: list[tuple[int, int]]


def load_sources(store: Store, spec: PlanSpec, tok, reasoning: bool = False) -> list[PrefSource]:
    """The plan's ``pref`` versions, encoded (their kind was checked when the plan was made: ``Stage.inputs``)."""
    return [PrefSource(store, f"{s['dataset']}@{s['version']}", tok, spec.seq_len, reasoning) for s in spec.sources]


def build_pair_plan(spec: PlanSpec, sources: list[PrefSource]) -> PairPlan:
    picks, val, _ = split_and_pick(spec, [len(s.pairs) for s in sources])
    return PairPlan([(int(a), int(b)) for a, b in picks.tolist()],
                    [(si, int(i)) for si, v in enumerate(val) for i in v.tolist()])


def collate_pairs(pairs: list[TokenPair], pad_id: int) -> dict[str, Any]:
    """``2B`` right-padded rows, chosen first: ``input_ids``, ``attention_mask``, ``loss_mask`` (torch tensors)."""
    import torch

    seqs = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    masks = [p.chosen_mask for p in pairs] + [p.rejected_mask for p in pairs]
    t = max(len(s) for s in seqs)
    ids = np.full((len(seqs), t), pad_id, np.int64)
    att = np.zeros((len(seqs), t), np.int64)
    lm = np.zeros((len(seqs), t), np.int64)
    for i, (s, m) in enumerate(zip(seqs, masks, strict=True)):
        ids[i, :len(s)], att[i, :len(s)], lm[i, :len(s)] = s, 1, m
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(att),
            "loss_mask": torch.from_numpy(lm)}
