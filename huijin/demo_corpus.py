"""A small deterministic sample corpus written by huijin itself (no downloads): financial filings-style
text with statement tables, financial news in English and Chinese, and general (non-financial) text."""

from __future__ import annotations

import json
import random
from pathlib import Path

COMPANIES = ["Northwind Capital", "Harbor Bancorp", "Lumen Insurance Group", "Cobalt Asset Management",
             "Redwood Securities", "Meridian Payments"]
ZH_COMPANIES = ["华泰银行", "东方证券投资", "嘉和保险", "远景基金管理", "瑞丰支付", "新海信托"]
TOPICS_GENERAL = [
    "The river delta supports a wide range of migratory birds that arrive each spring.",
    "Early printing presses used movable type cast from a lead alloy.",
    "The mountain railway climbs more than two thousand metres through a series of tunnels.",
    "Composers of the baroque period often wrote for small chamber ensembles.",
]
ZH_GENERAL = ["这座古城的城墙始建于明代，全长约十二公里。", "该湖泊是候鸟迁徙途中的重要停歇地。",
              "这位诗人的作品多描写山水田园风光。", "这条铁路穿越多座隧道，海拔落差超过两千米。"]


def filing(rng: random.Random, i: int) -> dict:
    c = rng.choice(COMPANIES)
    year = 2018 + i % 6
    rev = rng.randint(800, 9000)
    growth = rng.uniform(-0.08, 0.22)
    prev = round(rev / (1 + growth))
    ni = round(rev * rng.uniform(0.05, 0.2))
    table = "\n".join([
        "| (in millions of USD) | " + f"{year} | {year - 1} |",
        "|---|---|---|",
        f"| Total revenue | {rev:,} | {prev:,} |",
        f"| Net income | {ni:,} | ({rng.randint(5, 90)}) |" if rng.random() < 0.2 else f"| Net income | {ni:,} | {round(ni * 0.9):,} |",
        f"| Diluted EPS | {rng.uniform(0.5, 9):.2f} | {rng.uniform(0.5, 9):.2f} |",
    ])
    text = (f"{c} Annual Report {year}. Item 7. Management's Discussion and Analysis of Financial Condition and "
            f"Results of Operations. Total revenue was ${rev:,} million in fiscal {year}, compared with ${prev:,} "
            f"million in {year - 1}, a change of {growth:.1%}. Net interest margin was {rng.uniform(1.5, 3.9):.2f}% "
            f"and the common equity tier 1 ratio stood at {rng.uniform(9, 14):.1f}%.\n\n{table}\n\n"
            "Liquidity and capital resources remained adequate to meet contractual obligations, including debt "
            "maturities and lease commitments, over the next twelve months.")
    return {"text": text, "url": f"https://example.com/filings/{i}", "lang": "en", "source": "demo-filings"}


def news_zh(rng: random.Random, i: int) -> dict:
    c = rng.choice(ZH_COMPANIES)
    text = (f"{c}发布{2019 + i % 5}年年度报告，全年实现营业收入{rng.randint(50, 900)}亿元，同比增长"
            f"{rng.uniform(1, 25):.1f}%；归属于母公司股东的净利润{rng.randint(5, 120)}亿元。公司表示，将继续优化资产负债结构，"
            f"不良贷款率降至{rng.uniform(0.8, 1.9):.2f}%，资本充足率保持在{rng.uniform(11, 16):.2f}%。分析师认为，净息差收窄仍是行业面临的主要压力。")
    return {"text": text, "url": f"https://example.cn/news/{i}", "lang": "zh", "source": "demo-news-zh"}


def general(rng: random.Random, i: int) -> dict:
    if i % 2:
        return {"text": " ".join(rng.sample(ZH_GENERAL, 3)), "lang": "zh", "source": "demo-general", "url": None}
    return {"text": " ".join(rng.sample(TOPICS_GENERAL, 3)), "lang": "en", "source": "demo-general", "url": None}


def write_docs_jsonl(out: Path, n: int = 60, seed: int = 0) -> dict[str, Path]:
    """Write finance and general JSONL files; returns {name: path}."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    fin = [filing(rng, i) if i % 2 == 0 else news_zh(rng, i) for i in range(n)]
    gen = [general(rng, i) for i in range(n // 2)]
    paths = {"fin": out / "fin_docs.jsonl", "general": out / "general_docs.jsonl"}
    for key, recs in (("fin", fin), ("general", gen)):
        with open(paths[key], "w", encoding="utf-8") as f:
            for r in recs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return paths
