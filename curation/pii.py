"""PII removal for financial text: typed placeholders and counts per type.

datatrove's ``PIIFormatter`` covers e-mail and IP addresses only. Financial pages also carry payment card
numbers, IBANs, US SSNs, Chinese resident ID numbers and bank account numbers; numbers are only replaced
when their checksum holds (Luhn, IBAN mod-97, GB 11643 for resident IDs) or, for account numbers, when
an account keyword stands right before them, so that amounts, dates and phone-like figures in tables
survive. Written by hand: no library in the stack validates these identifiers.
"""

from __future__ import annotations

import re
from collections import Counter

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
CN_ID = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])")
PHONE = re.compile(
    r"(?<![\w+])(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\d)"  # North American
    r"|(?<![\w+])\+\d{1,3}[ .-]?\d{2,4}(?:[ .-]?\d{2,4}){2,3}(?!\d)"  # international with +
    r"|(?<!\d)1[3-9]\d{9}(?!\d)"  # Chinese mobile
)
ACCOUNT = re.compile(
    r"(?i)((?:account|acct|a/c)(?:\s+(?:number|no\.?|#))?\s*[:#]?\s*|(?:账号|账户|卡号|帐号)[:：]?\s*)(\d[\d -]{6,22}\d)"
)
PLACEHOLDERS = {"email": "<EMAIL>", "phone": "<PHONE>", "card": "<CARD_NUMBER>", "iban": "<IBAN>", "ssn": "<US_SSN>",
                "cn_id": "<CN_RESIDENT_ID>", "account": "<BANK_ACCOUNT>"}


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def cn_id_ok(number: str) -> bool:
    """GB 11643-1999 check digit of an 18-character resident identity number."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(c) * w for c, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


def redact(text: str, types: tuple[str, ...] | None = None) -> tuple[str, Counter]:
    """Replace PII by typed placeholders; returns the new text and counts per type."""
    counts: Counter = Counter()
    want = set(types or PLACEHOLDERS)

    def sub(kind: str, pattern: re.Pattern, text: str, check=None, group: int = 0) -> str:
        if kind not in want:
            return text

        def repl(m: re.Match) -> str:
            value = m.group(group)
            if check is not None and not check(value):
                return m.group(0)
            counts[kind] += 1
            return m.group(0).replace(value, PLACEHOLDERS[kind]) if group else PLACEHOLDERS[kind]

        return pattern.sub(repl, text)

    if "@" in text:  # cheap guards: most documents have no e-mail and no IBAN-like token
        text = sub("email", EMAIL, text)
    text = sub("iban", IBAN, text, iban_ok)
    text = sub("cn_id", CN_ID, text, cn_id_ok)
    text = sub("account", ACCOUNT, text, None, group=2)
    text = sub("card", CARD, text, luhn_ok)
    text = sub("ssn", SSN, text)
    text = sub("phone", PHONE, text)
    return text, counts


class PIIRedact(PipelineStep):
    """datatrove step: redact PII in place; ``metadata['pii']`` holds the counts per type."""

    name = "🕵 huijin PII"
    type = "✂️ - FORMAT"

    def __init__(self, types: list[str] | None = None) -> None:
        super().__init__()
        unknown = set(types or []) - set(PLACEHOLDERS)
        if unknown:
            raise ValueError(f"unknown PII types {sorted(unknown)}; known: {sorted(PLACEHOLDERS)}")
        self.types = tuple(types) if types else None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                doc.text, counts = redact(doc.text, self.types)
            if counts:
                doc.metadata["pii"] = dict(counts)
                for k, v in counts.items():
                    self.stat_update(f"pii_{k}", value=v)
            yield doc
