"""The one tiny model: a BPE tokenizer trained on local text and a random-init small Llama (offline, seconds).

Used by the `--model tiny` path, the RL toy task, benchmarks, and tests (including ``transformers serve`` as a
real OpenAI-compatible teacher: ``tiny_chat_model``). Nothing is downloaded: the tokenizer is trained with `tokenizers` on the snapshot's CPT text and given a
ChatML-style chat template that renders tools and tool calls and marks assistant turns with
``{% generation %}`` so `apply_chat_template(..., return_assistant_tokens_mask=True)` works.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"]

# Assistant turns (content, tool calls, the closing <|im_end|>) are inside {% generation %}: they carry the loss.
# A turn's reasoning trace (``reasoning_content``) is rendered Qwen3/R1-style as a leading <think>…</think> block.
# Tool-call arguments are JSON strings in huijin records and are emitted verbatim.
CHAT_TEMPLATE = (
    "{%- set sys = messages[0].content if messages and messages[0].role == 'system' else none -%}"
    "{%- if tools or sys -%}{{- '<|im_start|>system\\n' -}}"
    "{%- if sys -%}{{- sys -}}{%- endif -%}"
    "{%- if tools -%}{%- if sys -%}{{- '\\n\\n' -}}{%- endif -%}{{- '# Tools' -}}"
    "{%- for t in tools -%}{{- '\\n' -}}{{- t | tojson -}}{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- for m in messages -%}"
    "{%- if m.role == 'system' -%}"
    "{%- elif m.role == 'assistant' -%}{{- '<|im_start|>assistant\\n' -}}{%- generation -%}"
    "{%- if m.reasoning_content -%}{{- '<think>\\n' ~ m.reasoning_content ~ '\\n</think>\\n\\n' -}}{%- endif -%}"
    "{{- m.content or '' -}}"
    "{%- for tc in (m.tool_calls or []) -%}"
    "{%- set f = tc.function if tc.function is defined and tc.function else tc -%}"
    "{{- '<tool_call>{\"name\": \"' ~ f.name ~ '\", \"arguments\": ' -}}"
    "{{- f.arguments if f.arguments is string else (f.arguments | tojson) -}}{{- '}</tool_call>' -}}"
    "{%- endfor -%}{{- '<|im_end|>\\n' -}}{%- endgeneration -%}"
    "{%- elif m.role == 'tool' -%}{{- '<|im_start|>tool\\n' ~ (m.content or '') ~ '<|im_end|>\\n' -}}"
    "{%- else -%}{{- '<|im_start|>' ~ m.role ~ '\\n' ~ (m.content or '') ~ '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# names what train_tokenizer builds: a tokenizer cached under a key that includes it is rebuilt when this changes
TOKENIZER_RECIPE = "byte-level BPE, numbers split from the space before them"

TINY_MODEL = {"hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "max_position_embeddings": 4096}


def train_tokenizer(texts: Iterable[str], out_dir: str | Path, vocab_size: int = 2048) -> Path:
    """Train a byte-level BPE tokenizer on ``texts`` and save it (with the chat template) to ``out_dir``."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # a number is the same token wherever it stands: the space before it is split off (byte-level BPE would
    # otherwise learn " 2019" in a table header and "2019" in a cell reference as two unrelated tokens, and a small
    # model must learn that mapping for every year before it can copy a column name into a program)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}+"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>",
                                   bos_token=None, unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    return out


def build_tiny_model(tokenizer_dir: str | Path, out_dir: str | Path, seed: int = 0,
                     overrides: dict[str, Any] | None = None) -> Path:
    """A random-init Llama-architecture model sized by TINY_MODEL, saved in HF format with its tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    cfg = LlamaConfig(vocab_size=len(tok), bos_token_id=None, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, tie_word_embeddings=True, **{**TINY_MODEL, **(overrides or {})})
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    out = Path(out_dir)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


DEFAULT_TEXT = [
    "Revenue rose 12% to $1.2 million in 2023 while operating margin fell to 8.5%.",
    "The bank's net interest income increased by 25 basis points year over year.",
    "Total assets were 3,456 million and liabilities were 2,100 million at year end.",
    "Answer: 42. The ratio of debt to equity is 0.6 and the dividend yield is 3.1%.",
]


def tiny_chat_model(out_dir: str | Path, texts: Iterable[str] | None = None, vocab_size: int = 512, seed: int = 0,
                    overrides: dict[str, Any] | None = None) -> Path:
    """Tokenizer (trained on ``texts``, default a few financial sentences) and model saved together in ``out_dir``:
    one folder that ``from_pretrained`` and ``transformers serve`` load."""
    out = Path(out_dir)
    tok_dir = train_tokenizer(list(texts or DEFAULT_TEXT) * 20, out / "_tokenizer", vocab_size=vocab_size)
    return build_tiny_model(tok_dir, out, seed=seed, overrides=overrides)
