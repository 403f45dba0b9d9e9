"""A toy verifiable task a tiny random-init model learns in a minute on CPU: copy the letter in the prompt.

Used by the learning test (it fails if the policy gradient has the wrong sign), ``bench/rl_step.py`` and the
demo. The tokenizer is a word-level vocabulary of ~20 tokens so a random policy already hits the answer about
1 time in 20 — enough reward variance inside a group of 8 to learn from, which a 2k-token BPE vocabulary
would not give. Rewards go through the real verifier library (``exact`` spec on the raw completion).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from ..tiny import CHAT_TEMPLATE, SPECIAL_TOKENS

LETTERS = list("ABCDEFGH")
WORDS = ["system", "user", "assistant", "tool", "copy", "the", "letter", ":"]


def build_toy_tokenizer(out_dir: str | Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS + ["[UNK]"] + WORDS + LETTERS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>",
                                   unk_token="[UNK]", bos_token=None)
    fast.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[2:]})
    fast.chat_template = CHAT_TEMPLATE
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    return out


def build_toy_model(out_dir: str | Path, seed: int = 0, overrides: dict[str, Any] | None = None) -> Path:
    """Toy tokenizer + a random-init 2-layer Llama (hidden 64) saved together in ``out_dir``."""
    from ..tiny import build_tiny_model

    out = Path(out_dir)
    tok_dir = build_toy_tokenizer(out / "_tokenizer")
    return build_tiny_model(tok_dir, out, seed=seed, overrides=overrides)


def toy_records(n: int, seed: int = 0, letters: int = 4) -> list[dict[str, Any]]:
    """``rl`` records (the catalog's kind) asking to copy one of the first ``letters`` letters."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        c = LETTERS[rng.randrange(letters)]
        out.append({
            "id": f"toy-{seed}-{i}",
            "prompt": [{"role": "user", "content": f"copy the letter : {c}"}],
            "reward_spec": json.dumps({"spec_version": 1, "type": "exact", "answer": c, "extract": "raw",
                                       "case_sensitive": True}),
            "tools": None, "env": None, "taxonomy": "general/toy/copy_letter", "lang": "en", "difficulty": None,
            "source": {"generator": "training.rl.toy", "teacher": None, "request_hash": None, "recipe": None},
            "meta": None,
        })
    return out


def agentic_toy_records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Calculator tasks with a ``tool_env`` spec for the ``synthesis.envs`` environment (agentic RL smoke data)."""
    from synthesis.envs import tool_env_spec

    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.randrange(2, 99), rng.randrange(2, 99)
        spec = tool_env_spec({"spec_version": 1, "type": "numeric", "answer": str(a * b)}, ["calculator"])
        out.append({"id": f"agent-toy-{seed}-{i}", "prompt": [{"role": "user", "content": f"Use the calculator: {a} * {b}?"}],
                    "reward_spec": json.dumps(spec), "env": json.dumps({"tools": ["calculator"]}),
                    "taxonomy": "agentic_tool_use/toy/calculator", "lang": "en",
                    "source": {"generator": "training.rl.toy", "teacher": None, "request_hash": None, "recipe": None}})
    return out


def general_toy_records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Open questions with a ``judge`` spec (scored by a teacher endpoint or a reward model; None without one)."""
    topics = ["saving for retirement", "what a bond is", "diversification", "an emergency fund", "compound interest"]
    return [{"id": f"general-toy-{seed}-{i}",
             "prompt": [{"role": "user", "content": f"In one sentence, explain {topics[i % len(topics)]}."}],
             "reward_spec": json.dumps({"spec_version": 1, "type": "judge", "rubric": "correct, helpful, compliant"}),
             "taxonomy": "general_ability/explain/toy", "lang": "en",
             "source": {"generator": "training.rl.toy", "teacher": None, "request_hash": None, "recipe": None}}
            for i in range(n)]


def write_toy_rl_versions(store, n: int = 40, seed: int = 0) -> dict[str, str]:
    """Three small ``rl`` versions for a CPU demo of the RL stages; returns ``{stage: ref}``-style refs
    (general RL mixes the judge prompts with the verifiable toy ones: weight them in the snapshot)."""
    refs = {}
    for name, rows in [("toy-reasoning-rl", toy_records(n, seed)), ("toy-agentic-rl", agentic_toy_records(n, seed)),
                       ("toy-general-rl", general_toy_records(max(4, n // 2), seed))]:
        with store.writer(name, kind="rl", recipe={"generator": "training.rl.toy", "n": n, "seed": seed}) as w:
            w.write(rows)
        refs[name] = w.manifest.ref
    return refs
