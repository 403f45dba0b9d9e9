"""Small deterministic training inputs (doc + sft versions and a snapshot) for tests, benches and the demo.

The text is generated here (no downloads): filing-style paragraphs with figures, and tool-using
conversations in the huijin sft record format.
"""

from __future__ import annotations

import json
import random
from typing import Any

from catalogs import Store

COMPANIES = ["Northwind Capital", "Harbor Bancorp", "Lumen Insurance", "Cobalt Asset Management", "Redwood Securities"]
TOOLS = [{"type": "function", "function": {"name": "get_revenue", "description": "Annual revenue of a company",
                                           "parameters": {"type": "object", "properties": {
                                               "company": {"type": "string"}, "year": {"type": "integer"}},
                                               "required": ["company", "year"]}}}]


def filing_text(rng: random.Random) -> str:
    c = rng.choice(COMPANIES)
    y = rng.randint(2015, 2024)
    rev, ni = rng.randint(500, 9000), rng.randint(20, 900)
    parts = [f"{c} reported revenue of ${rev} million for fiscal {y}, and net income of ${ni} million.",
             f"Operating margin was {rng.uniform(5, 30):.1f}% compared with {rng.uniform(5, 30):.1f}% a year earlier.",
             "The board declared a quarterly dividend and authorised a share repurchase programme.",
             f"Total assets were ${rng.randint(1, 90)} billion and the CET1 ratio was {rng.uniform(9, 15):.1f}%."]
    return " ".join(rng.sample(parts, k=rng.randint(1, len(parts))) * rng.randint(1, 3))


def conversation(rng: random.Random, i: int) -> dict[str, Any]:
    c, y, rev = rng.choice(COMPANIES), rng.randint(2015, 2024), rng.randint(500, 9000)
    if i % 2 == 0:
        msgs = [{"role": "system", "content": "You are a financial analyst."},
                {"role": "user", "content": f"What was the revenue of {c} in {y}?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": f"call_{i}", "name": "get_revenue", "arguments": json.dumps({"company": c, "year": y})}]},
                {"role": "tool", "tool_call_id": f"call_{i}", "name": "get_revenue", "content": f"{rev} million USD"},
                {"role": "assistant", "content": f"{c} reported revenue of ${rev} million in {y}."}]
        tools = json.dumps(TOOLS)
    else:
        g = rng.uniform(-5, 20)
        msgs = [{"role": "user", "content": f"Revenue grew from {rev} to {rev * (1 + g / 100):.0f}. Growth rate?"},
                {"role": "assistant", "content": f"The growth rate is {g:.1f}%."}]
        tools = None
    return {"id": f"conv-{i}", "messages": msgs, "tools": tools, "taxonomy": "analysis/revenue/growth", "lang": "en",
            "source": {"generator": "demo", "teacher": "none", "request_hash": f"h{i}", "recipe": "demo"}}


def build_inputs(store: Store, n_docs: int = 300, n_conv: int = 120, seed: int = 0, snapshot: str = "train-demo",
                 tokenizer: str | None = None) -> dict[str, Any]:
    """Write ``fin-docs`` (doc), ``gen-docs`` (doc) and ``fin-sft`` (sft) versions; pin a cpt+sft snapshot."""
    rng = random.Random(seed)
    with store.writer("fin-docs", kind="doc", recipe={"demo": "fin", "seed": seed}) as w:
        w.write([{"id": f"fin-{i}", "text": filing_text(rng), "source": "demo", "lang": "en"} for i in range(n_docs)])
    fin = w.manifest
    with store.writer("gen-docs", kind="doc", recipe={"demo": "general", "seed": seed}) as w:
        w.write([{"id": f"gen-{i}", "text": "The river delta supports migratory birds. " * rng.randint(1, 6),
                  "source": "demo", "lang": "en"} for i in range(max(2, n_docs // 3))])
    gen = w.manifest
    with store.writer("fin-sft", kind="sft", recipe={"demo": "sft", "seed": seed}) as w:
        w.write([conversation(rng, i) for i in range(n_conv)])
    sft = w.manifest
    return store.snapshots.create(snapshot, {"cpt": [(fin.ref, 0.75), (gen.ref, 0.25)], "sft": [(sft.ref, 1.0)]},
                                  tokenizer=tokenizer)
