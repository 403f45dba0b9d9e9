"""Deterministic text makers for the demo corpus: filings with statement tables, en/zh financial news,
forum spam, boilerplate, non-financial pages, PII, and FinQA-style benchmark items. Written for huijin,
not copied from anywhere; every number comes from a seeded RNG."""

from __future__ import annotations

import random

COMPANIES = ["Northwind Capital", "Harbor Bancorp", "Lumen Insurance Group", "Cobalt Asset Management",
             "Redwood Securities", "Meridian Payments", "Granite Trust Company", "Bluewater Leasing"]
ZH_COMPANIES = ["华泰银行", "东方证券投资", "嘉和保险", "远景基金管理", "瑞丰支付", "新海信托", "金桥租赁", "鼎盛期货"]
GENERAL_EN = [
    "The river delta supports a wide range of migratory birds that arrive each spring and leave before the first frost.",
    "Early printing presses used movable type cast from a lead alloy, which made books far cheaper to produce.",
    "The mountain railway climbs more than two thousand metres through a series of spiral tunnels.",
    "Composers of the baroque period often wrote for small chamber ensembles and for the church.",
    "A sourdough starter is a culture of wild yeast and lactic acid bacteria kept alive with flour and water.",
    "The old lighthouse was automated in the nineteen-eighties and now houses a small maritime museum.",
    "Volcanic soils on the island are unusually fertile, which explains the terraced vineyards on its slopes.",
    "The festival closes each year with a procession of lanterns along the canal at dusk.",
]
GENERAL_ZH = ["这座古城的城墙始建于明代，全长约十二公里，至今保存完好。", "该湖泊是候鸟迁徙途中的重要停歇地，每年春季吸引大量观鸟者。",
              "这位诗人的作品多描写山水田园风光，语言清新自然。", "这条铁路穿越多座螺旋隧道，海拔落差超过两千米。",
              "当地的传统手工艺以竹编和刺绣最为著名。", "博物馆收藏了大量青铜器和古代陶瓷，展品按朝代陈列。"]
SPAM = ["BUY CHEAP WATCHES NOW!!! best price click here", "make $$$ fast from home, click here now", "!!! WIN WIN WIN !!!",
        "Hot singles in your area, click here", "cheap pills cheap pills cheap pills"]
NAV = ["Home", "Markets", "Investing", "Personal Finance", "About us", "Contact", "Careers", "Sign in"]


def money(rng: random.Random, lo: int, hi: int) -> int:
    return rng.randint(lo, hi)


def statement_rows(rng: random.Random, year: int) -> tuple[list[list[str]], dict[str, tuple[int, int]]]:
    """An income-statement table (header + rows) and the numbers behind it."""
    rev = money(rng, 900, 9000)
    prev = round(rev / (1 + rng.uniform(-0.08, 0.22)))
    cost = round(rev * rng.uniform(0.4, 0.7))
    pcost = round(prev * rng.uniform(0.4, 0.7))
    opex = round(rev * rng.uniform(0.1, 0.2))
    popex = round(prev * rng.uniform(0.1, 0.2))
    nums = {"Total revenue": (rev, prev), "Cost of revenue": (cost, pcost), "Operating expenses": (opex, popex),
            "Operating income": (rev - cost - opex, prev - pcost - popex)}
    header = ["(in millions of USD)", str(year), str(year - 1)]

    def fmt(v: int) -> str:
        return f"({abs(v):,})" if v < 0 else f"{v:,}"

    return [header] + [[k, fmt(a), fmt(b)] for k, (a, b) in nums.items()], nums


def filing_text(rng: random.Random, company: str, year: int, nums: dict[str, tuple[int, int]]) -> list[str]:
    rev, prev = nums["Total revenue"]
    return [
        f"{company} Annual Report {year}. Item 7. Management's Discussion and Analysis of Financial Condition and "
        f"Results of Operations.",
        f"Total revenue was ${rev:,} million in fiscal {year}, compared with ${prev:,} million in {year - 1}, "
        f"a change of {(rev - prev) / prev:.1%}. Net interest margin was {rng.uniform(1.5, 3.9):.2f}% and the common "
        f"equity tier 1 ratio stood at {rng.uniform(9, 14):.1f}% at year end.",
        "Liquidity and capital resources remained adequate to meet contractual obligations, including debt maturities "
        "and lease commitments, over the next twelve months. We repurchased shares under the authorised programme and "
        f"paid quarterly dividends of ${rng.uniform(0.1, 1.2):.2f} per share.",
        f"Credit quality improved: non-performing loans declined to {rng.uniform(0.4, 1.6):.2f}% of total loans, and "
        f"the allowance for credit losses covered {rng.uniform(120, 260):.0f}% of non-performing loans.",
    ]


def news_en(rng: random.Random, company: str) -> list[str]:
    q = rng.randint(1, 4)
    return [
        f"{company} reported quarterly earnings that beat analyst expectations on Tuesday, sending its shares up "
        f"{rng.uniform(1, 9):.1f}% in early trading.",
        f"Revenue for the {['first', 'second', 'third', 'fourth'][q - 1]} quarter rose to ${rng.randint(200, 3000):,} "
        f"million, while earnings per share came in at ${rng.uniform(0.2, 4):.2f}, against a consensus estimate of "
        f"${rng.uniform(0.2, 4):.2f}.",
        "The company raised its full-year guidance, citing stronger fee income and lower funding costs, although "
        "management cautioned that loan growth could slow if interest rates stay elevated.",
        f"Analysts at several brokerages lifted their price targets; the stock now trades at {rng.uniform(8, 25):.1f} "
        "times forward earnings.",
    ]


def news_zh(rng: random.Random, company: str, year: int) -> list[str]:
    return [
        f"{company}发布{year}年年度报告，全年实现营业收入{rng.randint(50, 900)}亿元，同比增长{rng.uniform(1, 25):.1f}%；"
        f"归属于母公司股东的净利润{rng.randint(5, 120)}亿元。",
        f"公司表示，将继续优化资产负债结构，不良贷款率降至{rng.uniform(0.8, 1.9):.2f}%，资本充足率保持在{rng.uniform(11, 16):.2f}%。",
        "分析师认为，净息差收窄仍是行业面临的主要压力，但财富管理和中间业务收入的增长有望部分抵消这一影响。",
        f"截至报告期末，公司总资产达到{rng.randint(1000, 9000)}亿元，较上年末增长{rng.uniform(2, 12):.1f}%。",
    ]


def luhn_complete(prefix: str) -> str:
    digits = [int(c) for c in prefix]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return prefix + str((10 - total % 10) % 10)


def cn_resident_id(rng: random.Random) -> str:
    body = f"110105{rng.randint(1960, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(100, 999)}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def pii_paragraphs(rng: random.Random) -> list[str]:
    card = luhn_complete("4" + "".join(str(rng.randint(0, 9)) for _ in range(14)))
    return [
        "Customer complaint log (internal). The client disputes a card charge posted after the account was closed.",
        f"Contact: jane.doe{rng.randint(10, 99)}@example.com, phone +1 (415) 555-{rng.randint(1000, 9999)}. "
        f"Card number {card[:4]} {card[4:8]} {card[8:12]} {card[12:]} was used on the disputed transaction.",
        f"Refund to IBAN DE89 3704 0044 0532 0130 00; SSN on file 078-05-{rng.randint(1000, 9999)}. "
        f"居民身份证号码 {cn_resident_id(rng)}，银行账号 6222 0212 3456 7890 123。",
        "The dispute was escalated to the card network under chargeback reason code 13.1 and resolved in the "
        "customer's favour within the statutory forty-five days.",
    ]


def benchmark_item(rng: random.Random, i: int) -> dict:
    """A FinQA-format test record (table + text + question + program + answer)."""
    company = rng.choice(COMPANIES)
    year = 2015 + i % 8
    rows, nums = statement_rows(rng, year)
    rev, prev = nums["Total revenue"]
    return {
        "id": f"demo-bench-{i}",
        "pre_text": [f"{company} reported its results for fiscal {year}."],
        "post_text": ["Amounts are in millions of US dollars."],
        "table": rows,
        "qa": {"question": f"what was the percentage change in total revenue of {company} between {year - 1} and "
                           f"{year}?",
               "program": f"subtract({rev}, {prev}), divide(#0, {prev})",
               "exe_ans": round((rev - prev) / prev, 5)},
    }
