"""Token counts for mixture shares: a real tokenizer when one is given, else a documented estimate."""

from __future__ import annotations

import math
from pathlib import Path

from finance.text import CJK_RE as _CJK

CHARS_PER_TOKEN = 4.0  # non-CJK text, typical of BPE tokenizers on English
CJK_CHARS_PER_TOKEN = 1.5  # Chinese with a tokenizer that has CJK merges (Qwen/Llama-3 class)


def estimate_tokens(text: str) -> int:
    cjk = len(_CJK.findall(text))
    return math.ceil((len(text) - cjk) / CHARS_PER_TOKEN + cjk / CJK_CHARS_PER_TOKEN)


class TokenCounter:
    """``count(texts) -> list[int]``; ``method`` says how (goes into the manifest)."""

    def __init__(self, tokenizer: str | None = None) -> None:
        self.tokenizer_path = tokenizer
        self._tok = None
        if tokenizer:
            self._tok = _load_tokenizer(tokenizer)
            self.method = f"tokenizer:{Path(tokenizer).name}"
        else:
            self.method = f"estimate:{CHARS_PER_TOKEN:g}_chars_per_token+{CJK_CHARS_PER_TOKEN:g}_cjk_chars_per_token"

    def count(self, texts: list[str]) -> list[int]:
        if self._tok is None:
            return [estimate_tokens(t) for t in texts]
        if hasattr(self._tok, "encode_batch"):  # tokenizers.Tokenizer
            return [len(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]
        return [len(ids) for ids in self._tok(texts, add_special_tokens=False)["input_ids"]]


def _load_tokenizer(path: str):
    p = Path(path)
    if p.is_file():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(p))
    if (p / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(p / "tokenizer.json"))
    if p.is_dir():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    raise FileNotFoundError(f"tokenizer {path}: no such file or folder (offline: give a local path)")
