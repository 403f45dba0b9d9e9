"""Plant benchmark items, reformatted, into clean documents: the measurement behind decontamination's
recall (share of planted items found) and false-positive rate (share of clean documents flagged).

Reformatting imitates how test items leak into web text: thousands separators added or dropped, decimal
zeros added, "%" written as "percent" or spaced, whitespace and line breaks changed, spaces inserted in
Chinese, full-width digits.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from finance.text import han_share, is_han

from .loaders import BenchItem

_NUM = re.compile(r"(?<![A-Za-z\d.,])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![A-Za-z\d])")
_FULLWIDTH = str.maketrans("0123456789%", "０１２３４５６７８９％")


def _reformat_number(m: re.Match, rng: random.Random) -> str:
    s = m.group(0)
    plain = s.replace(",", "")
    whole, dot, frac = plain.partition(".")
    r = rng.random()
    if r < 0.3 and len(whole) > 3:
        whole = f"{int(whole):,}"  # add thousands separators
    elif r < 0.5 and dot:
        frac += "0"  # 12.5 -> 12.50
    elif r < 0.6 and not dot and len(whole) <= 3:
        frac, dot = "0", "."  # 12 -> 12.0
    return whole + (dot + frac if dot else "")


def reformat(text: str, rng: random.Random) -> str:
    """A leaked copy of ``text``: same content, different number formatting and whitespace."""
    text = _NUM.sub(lambda m: _reformat_number(m, rng), text)
    if "%" in text and rng.random() < 0.5:
        text = text.replace("%", rng.choice([" percent", " %"]))
    if han_share(text) > 0.3:
        chars = list(text)
        text = "".join(c + (" " if is_han(c) and rng.random() < 0.15 else "") for c in chars)
        if rng.random() < 0.5:
            text = text.translate(_FULLWIDTH)
    words = text.split(" ")
    seps = [rng.choice([" ", " ", " ", "  ", "\n", " \n "]) for _ in words[1:]]
    out = words[0] + "".join(s + w for s, w in zip(seps, words[1:], strict=True))
    return out.upper() if rng.random() < 0.05 else out


@dataclass
class Planted:
    doc_index: int
    benchmark: str
    item_id: str
    text: str


def plantable_text(item: BenchItem, index=None) -> str | None:
    """What a leak of this item looks like: its first question segment (the whole conversation for
    ConvFinQA, question + options for multiple choice), else its first context segment. With an index,
    only segments it could index count (items like "What is Goodwill?" are too short for any n-gram
    method and are reported apart, not planted)."""
    for part in ("question", "context"):
        for p, t in item.segments:
            if p == part and t.strip() and (index is None or index.segment_grams(p, t) is not None):
                return t
    return None


def plant(items: list[BenchItem], docs: list[str], langs: list[str], seed: int = 0,
          index=None) -> tuple[list[str], list[Planted]]:
    """Insert each item (reformatted) at a paragraph boundary of a random clean doc of its script."""
    rng = random.Random(seed)
    by_lang: dict[str, list[int]] = {}
    for i, lang in enumerate(langs):
        by_lang.setdefault("zh" if lang.startswith("zh") else "en", []).append(i)
    paras = [d.split("\n") for d in docs]
    inserts: dict[int, list[tuple[int, str]]] = {}
    planted = []
    for item in items:
        text = plantable_text(item, index)
        if text is None:
            continue
        lang = "zh" if han_share(text) > 0.3 else "en"
        di = rng.choice(by_lang.get(lang) or by_lang[next(iter(by_lang))])
        leak = reformat(text, rng)
        # positions refer to the original paragraphs, so a later leak never splits an earlier one
        inserts.setdefault(di, []).append((rng.randint(0, len(paras[di])), leak))
        planted.append(Planted(di, item.benchmark, item.item_id, leak))
    out = list(docs)
    for di, ins in inserts.items():
        ps = list(paras[di])
        for at, leak in sorted(ins, key=lambda x: -x[0]):
            ps.insert(at, leak)
        out[di] = "\n".join(ps)
    return out, planted
