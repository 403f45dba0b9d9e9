"""Extraction (tables kept), language ID, finance-safe heuristic filters and PII redaction."""

from __future__ import annotations

import gzip
import json

from datatrove.data import Document
from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter

from curation.extract import Extract, extract_text, strip_envelope
from curation.filters import FinC4Quality, FinFineWebQuality, FinGopherQuality, FinGopherRepetition, MinLength
from curation.langid import LanguageID
from curation.pii import PIIRedact, cn_id_ok, iban_ok, luhn_ok, redact
from finance.text import detect_language

PAGE = """<html><head><title>Q3 results</title></head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/markets">Markets</a></li><li><a href="/about">About us</a></li></ul></nav>
<div id="cookie-banner">We use cookies to improve your experience. Accept all cookies.</div>
<article><h1>Harbor Bancorp third-quarter results</h1>
<p>Harbor Bancorp reported net interest income of $1,234.5 million for the quarter, up 4.2% from a year earlier,
while provisions for credit losses rose as the bank built reserves against commercial real estate exposure.</p>
<p>The board declared a quarterly dividend of $0.32 per share, payable on November 15 to holders of record.</p>
<table><tr><th>(in millions)</th><th>Q3 2024</th><th>Q3 2023</th></tr>
<tr><td>Net interest income</td><td>1,234.5</td><td>1,184.7</td></tr>
<tr><td>Provision for credit losses</td><td>(87.3)</td><td>(41.0)</td></tr>
<tr><td>Net income</td><td>-12.6</td><td>310.2</td></tr></table>
<p>Management said deposit costs should stabilise in the fourth quarter as rate cuts feed through to funding.</p>
</article><footer>© 2024 Harbor Media. All rights reserved. Privacy Policy | Terms of Use</footer></body></html>"""


def test_extraction_keeps_tables_numbers_and_signs_drops_boilerplate():
    text = extract_text(PAGE)
    assert "| Provision for credit losses | (87.3) | (41.0) |" in text
    assert "| Net income | -12.6 | 310.2 |" in text and "$1,234.5 million" in text
    for junk in ("Accept all cookies", "All rights reserved", "About us"):
        assert junk not in text


def test_edgar_envelope_is_stripped(shared_data):
    import re
    from collections import Counter

    import trafilatura

    d = shared_data / "html_extraction" / "sec_8k"
    ref = json.loads((d / "extracted_items.json").read_text())
    tok = re.compile(r"\w+")
    ours, default = [], []
    for name, rec in ref.items():
        raw = (d / "html" / name).read_text(encoding="utf-8", errors="replace")
        items = Counter(tok.findall(" ".join(v for k, v in rec.items() if k.startswith("item_") and v).lower()))

        def recall(text, items=items):
            return sum((Counter(tok.findall((text or "").lower())) & items).values()) / sum(items.values())

        ours.append(recall(extract_text(raw)))
        default.append(recall(trafilatura.extract(raw)))
    assert strip_envelope("<DOCUMENT>\n<TYPE>8-K\n<TEXT>\n<HTML><p>x</p></HTML>\n</TEXT>") == "<HTML><p>x</p></HTML>"
    # EDGAR's SGML envelope makes trafilatura return nothing; the item text of the filings is recovered
    assert sum(ours) / len(ours) > 0.85 and sum(default) / len(default) < 0.4


def test_extract_step_counts_pages_without_text():
    docs = [Document(text=PAGE, id="1", metadata={"html": True}),
            Document(text="<html><body><script>var x = 1;</script></body></html>", id="2", metadata={"html": True}),
            Document(text="already text", id="3", metadata={})]
    step = Extract()
    out = list(step.run(iter(docs)))
    assert [d.id for d in out] == ["1", "3"] and out[1].text == "already text"
    assert step.stats.stats["dropped_no_text"].total == 1


def test_language_id_en_zh_mixed():
    assert detect_language("Net interest margin narrowed to 2.9% as deposit costs rose.")[0] == "en"
    assert detect_language("公司发布年度报告，全年实现营业收入165亿元，同比增长12.4%。")[0] == "zh"
    assert detect_language("腾讯控股(00700.HK)公布2023年第四季度业绩，收入1,552亿元，NASDAQ 和 NYSE 投资者关注。")[0] == "zh"
    f = LanguageID(languages=["en", "zh"])
    ja = Document(text="東京証券取引所は本日、新しい上場基準を発表しました。投資家の皆様にお知らせします。", id="j", metadata={})
    assert f.filter(ja) == (False, "other_language") and ja.metadata["language"] == "ja"


def _keeps(f, text, lang="en"):
    r = f.filter(Document(text=text, id="x", metadata={"language": lang}))
    return r is True or (isinstance(r, tuple) and r[0])


def test_filters_keep_financial_tables_that_datatrove_defaults_drop(shared_data):
    table = "\n".join(f"| Segment {i} revenue | {1000 + 37 * i:,} | ({12 + i}.5) | {3.1 + i / 10:.1f}% |"
                      for i in range(40))
    doc = ("Item 7. Management's discussion and analysis. Revenue by segment is shown below and the company "
           "expects margins to improve in the next fiscal year as costs decline.\n\n" + table +
           "\n\nThe decrease in operating income was primarily due to higher interest expense and the impairment "
           "of goodwill in the retail segment, partly offset by lower tax expense.")
    assert not _keeps(GopherQualityFilter(), doc)  # datatrove's default: < 80% of words with a letter
    assert _keeps(FinGopherQuality(), doc) and _keeps(FinFineWebQuality(), doc) and _keeps(FinGopherRepetition(), doc)
    c4 = FinC4Quality()
    d = Document(text=doc, id="x", metadata={"language": "en"})
    assert c4.filter(d) is True and table in d.text  # C4's line rules never touch the table
    assert not _keeps(C4QualityFilter(), doc) or table not in doc
    zh = [json.loads(x) for x in (shared_data / "general_text" / "wiki_paragraphs.jsonl").open()][-1]["text"]
    assert _keeps(FinGopherQuality(), zh * 2, "zh")


def test_filters_drop_junk():
    nav = "\n".join(["Home", "Markets", "About us", "Contact", "Privacy Policy", "Log in", "Subscribe"] * 2)
    spam = " ".join(["cheap loans", "click here", "best rates"][i % 3] for i in range(200))
    repeated = "\n".join(["Shares of the company rose after the announcement."] * 40)
    assert not _keeps(MinLength(), nav)
    assert not _keeps(FinGopherRepetition(), spam) or not _keeps(FinGopherQuality(), spam)
    assert not _keeps(FinGopherRepetition(), repeated)
    assert not _keeps(MinLength(), "页面不存在", "zh") and _keeps(MinLength(), "公司发布年度报告，" * 10, "zh")


def test_pii_types_checksums_and_counts():
    text = ("Mail ir@harbor-bank.com, call +1 212-555-0187. Card 4111 1111 1111 1111 (not 4111 1111 1111 1112). "
            "IBAN GB82 WEST 1234 5698 7654 32. SSN 078-05-1120. 身份证号 11010519491231002X。 "
            "Account No. 0012345678901 and 账号：6222020200112233445. Revenue was 1,234,567,890 in 2023-06-30.")
    out, counts = redact(text)
    assert counts == {"email": 1, "phone": 1, "card": 1, "iban": 1, "ssn": 1, "cn_id": 1, "account": 2}
    for ph in ("<EMAIL>", "<PHONE>", "<CARD_NUMBER>", "<IBAN>", "<US_SSN>", "<CN_RESIDENT_ID>", "<BANK_ACCOUNT>"):
        assert ph in out
    assert "4111 1111 1111 1112" in out and "1,234,567,890" in out and "2023-06-30" in out
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89370400440532013000") and not iban_ok("DE89370400440532013001")
    assert cn_id_ok("11010519491231002X") and not cn_id_ok("110105194912310021")
    step = PIIRedact(types=["email"])
    d = list(step.run(iter([Document(text="a@b.com 4111 1111 1111 1111", id="1", metadata={})])))[0]
    assert d.text == "<EMAIL> 4111 1111 1111 1111" and d.metadata["pii"] == {"email": 1}


def test_extraction_f1_not_below_default_on_finance_pages(shared_data):
    import re
    from collections import Counter

    import trafilatura

    gt = json.loads((shared_data / "html_extraction" / "aeb" / "ground-truth.json").read_text())
    tok = re.compile(r"\w+")

    def f1(pred, ref):
        p, r = Counter(tok.findall((pred or "").lower())), Counter(tok.findall(ref.lower()))
        ov = sum((p & r).values())
        return 0.0 if not ov else 2 * ov / (sum(p.values()) + sum(r.values()))

    ours, default = [], []
    for k, v in gt.items():
        if not v["is_financial"]:
            continue
        html = gzip.open(shared_data / "html_extraction" / "aeb" / "html" / f"{k}.html.gz").read().decode("utf-8", "replace")
        ours.append(f1(extract_text(html, v["url"]), v["articleBody"]))
        default.append(f1(trafilatura.extract(html, url=v["url"]), v["articleBody"]))
    assert len(ours) == 11 and sum(ours) / 11 >= sum(default) / 11 - 0.005
