"""Extraction quality: ours (trafilatura, markdown tables, EDGAR envelope, recall fallback) vs
``trafilatura.extract`` defaults on ../shared/data/html_extraction. Prints JSON.

- aeb: token-level F1 against the reference article text (all 60 pages and the 11 financial ones);
- trafilatura_eval: share of must-contain snippets found and of must-not-contain snippets avoided;
- sec_8k: token recall of the filings' item text (rule-based reference), and tables kept: pages where our
  text has table rows with figures while the default has none.
    python bench/extraction.py
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "html_extraction"
TOK = re.compile(r"\w+")


def f1(pred: str | None, ref: str) -> float:
    p, r = Counter(TOK.findall((pred or "").lower())), Counter(TOK.findall(ref.lower()))
    ov = sum((p & r).values())
    return 0.0 if not ov else 2 * ov / (sum(p.values()) + sum(r.values()))


def recall(pred: str | None, ref: str) -> float:
    p, r = Counter(TOK.findall((pred or "").lower())), Counter(TOK.findall(ref.lower()))
    return sum((p & r).values()) / max(1, sum(r.values()))


def table_rows(text: str | None) -> int:
    return sum(1 for ln in (text or "").splitlines() if ln.startswith("|") and re.search(r"\d", ln))


def norm(s: str) -> str:
    return " ".join(s.split())


def main() -> None:
    import trafilatura

    from curation.extract import extract_text

    ours_fn = extract_text
    default_fn = trafilatura.extract
    res: dict = {"bench": "extraction"}
    times = {"ours": 0.0, "default": 0.0}
    n_pages = 0

    def run(html: str, url: str | None = None) -> tuple[str | None, str | None]:
        nonlocal n_pages
        n_pages += 1
        t0 = time.perf_counter()
        a = ours_fn(html, url)
        t1 = time.perf_counter()
        b = default_fn(html, url=url)
        times["ours"] += t1 - t0
        times["default"] += time.perf_counter() - t1
        return a, b

    gt = json.loads((DATA / "aeb" / "ground-truth.json").read_text())
    scores: dict[str, list[float]] = {"ours": [], "default": [], "ours_fin": [], "default_fin": []}
    tables = {"ours": 0, "default": 0}
    for k, v in gt.items():
        html = gzip.open(DATA / "aeb" / "html" / f"{k}.html.gz").read().decode("utf-8", "replace")
        a, b = run(html, v["url"])
        scores["ours"].append(f1(a, v["articleBody"]))
        scores["default"].append(f1(b, v["articleBody"]))
        if v["is_financial"]:
            scores["ours_fin"].append(scores["ours"][-1])
            scores["default_fin"].append(scores["default"][-1])
    res["aeb_f1"] = {k: round(sum(x) / len(x), 4) for k, x in scores.items()} | {"pages": len(gt)}

    ev = json.loads((DATA / "trafilatura_eval" / "evaldata_subset.json").read_text())
    found = {"ours": [0, 0], "default": [0, 0]}
    for url, v in ev.items():
        html = gzip.open(DATA / "trafilatura_eval" / v["stored_file"].removeprefix("trafilatura_eval/")).read()
        a, b = run(html.decode("utf-8", "replace"), url)
        for name, text in (("ours", a), ("default", b)):
            t = norm(text or "")
            found[name][0] += sum(norm(s) in t for s in v["with"])
            found[name][1] += sum(norm(s) not in t for s in v["without"])
    n_with = sum(len(v["with"]) for v in ev.values())
    n_without = sum(len(v["without"]) for v in ev.values())
    res["trafilatura_eval"] = {name: {"with_found": round(w / n_with, 4), "without_avoided": round(wo / n_without, 4)}
                               for name, (w, wo) in found.items()} | {"pages": len(ev)}

    ref = json.loads((DATA / "sec_8k" / "extracted_items.json").read_text())
    rec = {"ours": [], "default": []}
    pages_tables_only_ours = 0
    for name, r in ref.items():
        raw = (DATA / "sec_8k" / "html" / name).read_text(encoding="utf-8", errors="replace")
        a, b = run(raw)
        items = " ".join(v for k, v in r.items() if k.startswith("item_") and v)
        rec["ours"].append(recall(a, items))
        rec["default"].append(recall(b, items))
        tables["ours"] += table_rows(a)
        tables["default"] += table_rows(b)
        pages_tables_only_ours += table_rows(a) > 0 and table_rows(b) == 0
    res["sec_8k"] = {"item_recall": {k: round(sum(x) / len(x), 4) for k, x in rec.items()},
                     "table_rows_with_figures": tables, "pages_with_tables_only_in_ours": pages_tables_only_ours,
                     "filings": len(ref)}
    res["pages_per_s"] = {k: round(n_pages / t, 1) for k, t in times.items()}
    res["goal"] = {"f1_at_least_default": res["aeb_f1"]["ours"] >= res["aeb_f1"]["default"],
                   "tables_kept_where_default_drops": pages_tables_only_ours > 0}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
