"""Write the demo's raw input: HTML pages (plain and gzipped), one WARC file, general-text JSONL, and a
FinQA-format benchmark file (some of whose items are planted in pages, to show decontamination).

Mix: filings-style pages with statement tables, en/zh financial news, forum spam, boilerplate-only pages,
exact and near duplicates, non-financial pages and pages with PII. Deterministic for a seed.
"""

from __future__ import annotations

import gzip
import html
import io
import json
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import text as T


@dataclass
class Page:
    url: str
    title: str
    paragraphs: list[str]
    table: list[list[str]] | None = None
    lang: str = "en"
    kind: str = "filing"


@dataclass
class Corpus:
    root: Path
    pages_dir: Path
    warc: Path
    general: Path
    benchmark: Path
    tables: Path
    clf_finance: Path
    clf_general: Path
    counts: dict[str, int] = field(default_factory=dict)


def render(page: Page, rng: random.Random) -> str:
    """An HTML page with the boilerplate that extraction must remove (menu, cookie banner, footer)."""
    nav = "".join(f'<li><a href="/{n.lower().replace(" ", "-")}">{n}</a></li>' for n in T.NAV)
    body = "".join(f"<p>{html.escape(p)}</p>" for p in page.paragraphs)
    table = ""
    if page.table:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in page.table[0])
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in page.table[1:])
        table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        body = body.replace("</p>", "</p>" + table, 1) if body else table
    return (
        f'<!DOCTYPE html><html lang="{page.lang}"><head><meta charset="utf-8"><title>{html.escape(page.title)}</title>'
        f'</head><body><header><nav><ul>{nav}</ul></nav></header>'
        '<div class="cookie-banner">We use cookies to improve your experience. <button>Accept all</button></div>'
        f'<main><article><h1>{html.escape(page.title)}</h1>{body}</article></main>'
        f'<footer><p>© {2020 + rng.randint(0, 5)} Example Media Group. All rights reserved.</p>'
        '<p><a href="/privacy">Privacy policy</a> | <a href="/terms">Terms of use</a></p></footer></body></html>'
    )


def make_pages(rng: random.Random, n_filings: int, bench: list[dict]) -> list[Page]:
    pages: list[Page] = []
    for i in range(n_filings):
        company, year = rng.choice(T.COMPANIES), 2016 + i % 8
        rows, nums = T.statement_rows(rng, year)
        pages.append(Page(f"https://filings.example.com/{i}", f"{company} {year} annual report",
                          T.filing_text(rng, company, year, nums), rows, "en", "filing"))
        pages.append(Page(f"https://news.example.com/{i}", f"{company} beats estimates", T.news_en(rng, company),
                          None, "en", "news_en"))
        zc = rng.choice(T.ZH_COMPANIES)
        pages.append(Page(f"https://news.example.cn/{i}", f"{zc}发布年度报告", T.news_zh(rng, zc, year), None, "zh", "news_zh"))
    for i in range(max(2, n_filings // 4)):
        pages.append(Page(f"https://forum.example.net/t/{i}", "hot deals", [rng.choice(T.SPAM) for _ in range(6)],
                          None, "en", "spam"))
        pages.append(Page(f"https://portal.example.com/empty/{i}", "Welcome", [], None, "en", "boilerplate"))
        pages.append(Page(f"https://travel.example.org/{i}", "A weekend away",
                          rng.sample(T.GENERAL_EN, 4), None, "en", "general"))
        pages.append(Page(f"https://support.example.com/case/{i}", "Case notes", T.pii_paragraphs(rng), None, "en", "pii"))
    for j, item in enumerate(bench[: max(2, len(bench) // 3)]):  # leak some benchmark test items into the web
        intro = ("Stuck on a corporate finance assignment? Below is a practice question with the company's "
                 "reported figures; work through the percentage change step by step, then compare with the model "
                 "answer posted by our tutors. Remember to state whether the change is an increase or a decrease.")
        pages.append(Page(f"https://homework.example.com/q/{j}", "Finance homework help",
                          [intro] + item["pre_text"] + [item["qa"]["question"]] + item["post_text"]
                          + T.filing_text(rng, T.COMPANIES[j % len(T.COMPANIES)], 2020, T.statement_rows(rng, 2020)[1])[1:],
                          item["table"], "en", "contaminated"))
    originals = [p for p in pages if p.kind in ("filing", "news_en", "news_zh")]
    for j, p in enumerate(rng.sample(originals, max(2, len(originals) // 10))):
        pages.append(Page(p.url.replace("https://", "https://mirror.") + f"?copy={j}", p.title, list(p.paragraphs),
                          p.table, p.lang, "exact_dup"))
        near = list(p.paragraphs)
        near[-1] = near[-1] + (" 本文仅供参考。" if p.lang == "zh" else " This article was updated with analyst comments.")
        pages.append(Page(p.url + f"/amp{j}", p.title, near, p.table, p.lang, "near_dup"))
    rng.shuffle(pages)
    return pages


def write_warc(path: Path, pages: list[tuple[Page, str]]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for page, doc in pages:
            payload = doc.encode("utf-8")
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                                  ("Content-Length", str(len(payload)))], protocol="HTTP/1.1")
            # fixed record ids and dates: the same seed gives the same WARC records (and the same curated version)
            rid = uuid.uuid5(uuid.NAMESPACE_URL, page.url)
            warc_headers = {"WARC-Record-ID": f"<urn:uuid:{rid}>", "WARC-Date": "2024-06-01T00:00:00Z"}
            writer.write_record(writer.create_warc_record(page.url, "response", payload=io.BytesIO(payload),
                                                          http_headers=headers, warc_headers_dict=warc_headers))


def generate(root: str | Path, n_filings: int = 24, seed: int = 0, n_tables: int = 40) -> Corpus:
    """Write the corpus under ``root`` (idempotent: same seed, same bytes) and return where things are."""
    rng = random.Random(seed)
    root = Path(root)
    pages_dir = root / "pages"
    if pages_dir.exists():  # a smaller rerun must not leave pages of a bigger one behind
        for f in pages_dir.iterdir():
            f.unlink()
    pages_dir.mkdir(parents=True, exist_ok=True)
    bench = [T.benchmark_item(rng, i) for i in range(12)]
    tables = [T.benchmark_item(rng, 100 + i) for i in range(40)]  # table+text records for programmatic RL tasks
    extra = random.Random(seed + 1)  # more tables from their own stream: the rest of the corpus stays byte-identical
    tables += [T.benchmark_item(extra, 140 + i) for i in range(max(0, n_tables - 40))]
    pages = make_pages(rng, n_filings, bench)
    in_warc = pages[: len(pages) // 2]
    counts: dict[str, int] = {}
    for i, p in enumerate(pages):
        counts[p.kind] = counts.get(p.kind, 0) + 1
        if i < len(in_warc):
            continue
        doc = render(p, rng)
        name = pages_dir / f"page-{i:04d}.html"
        if i % 3 == 0:
            with gzip.GzipFile(name.with_suffix(".html.gz"), "wb", mtime=0) as f:
                f.write(doc.encode("utf-8"))
        else:
            name.write_text(doc, encoding="utf-8")
    warc = root / "crawl.warc.gz"
    write_warc(warc, [(p, render(p, rng)) for p in in_warc])
    general = root / "general.jsonl"
    with open(general, "w", encoding="utf-8") as f:
        for i in range(n_filings * 3):
            lang = "zh" if i % 2 else "en"
            pool = T.GENERAL_ZH if lang == "zh" else T.GENERAL_EN
            text = ("" if lang == "zh" else " ").join(rng.sample(pool, 3))
            f.write(json.dumps({"text": text, "lang": lang, "source": "demo-general", "id": f"gen-{i}"},
                               ensure_ascii=False) + "\n")
    benchmark = root / "benchmark_test.json"
    benchmark.write_text(json.dumps(bench, indent=1), encoding="utf-8")
    tables_path = root / "tables_train.json"
    tables_path.write_text(json.dumps(tables, indent=1), encoding="utf-8")
    clf = root / "classifier"
    clf.mkdir(exist_ok=True)
    crng = random.Random(seed + 1)  # labelled examples for the finance-domain classifier, not the pages above
    with open(clf / "finance.jsonl", "w", encoding="utf-8") as f:
        for i in range(n_filings * 4):
            company, year = crng.choice(T.COMPANIES), 2010 + i % 12
            if i % 3 == 0:
                _, nums = T.statement_rows(crng, year)
                paras, lang = T.filing_text(crng, company, year, nums), "en"
            elif i % 3 == 1:
                paras, lang = T.news_en(crng, company), "en"
            else:
                paras, lang = T.news_zh(crng, crng.choice(T.ZH_COMPANIES), year), "zh"
            f.write(json.dumps({"text": ("" if lang == "zh" else " ").join(paras), "lang": lang}, ensure_ascii=False) + "\n")
    with open(clf / "general.jsonl", "w", encoding="utf-8") as f:
        for i in range(n_filings * 4):
            lang = "zh" if i % 2 else "en"
            pool = T.GENERAL_ZH if lang == "zh" else T.GENERAL_EN
            f.write(json.dumps({"text": ("" if lang == "zh" else " ").join(crng.sample(pool, 3)), "lang": lang},
                               ensure_ascii=False) + "\n")
    return Corpus(root, pages_dir, warc, general, benchmark, tables_path, clf / "finance.jsonl", clf / "general.jsonl",
                  counts)
