"""New questions over a table, written as FinQA programs: differences, growth, ratios, margins, averages, CAGR.

Each template picks rows and columns of a ``Grid``, writes the question (en or zh), the FinQA-DSL program over
the cell values, and the unit of the answer. The answer is never computed here: the generator runs the program
with the safe interpreter of ``synthesis.rewards`` so the question, the program and the gold cannot disagree.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .tables import Grid, NumericRow

REVENUE = re.compile(r"^(total\s+)?(net\s+)?(revenues?|sales|net sales|total net sales|operating revenues?)\b",
                     re.IGNORECASE)
INCOME = {
    "gross": re.compile(r"^gross (profit|margin)\b", re.IGNORECASE),
    "operating": re.compile(r"^(operating income|income from operations|operating profit)\b", re.IGNORECASE),
    "net": re.compile(r"^net (income|earnings|profit)\b", re.IGNORECASE),
}


@dataclass
class Candidate:
    """A generated question with its program (FinQA DSL) and how its answer is read."""

    template: str
    question: str
    program: str
    unit: str  # percent (answer is a ratio asked as %) | points (difference of percentages) | amount
    lang: str
    leaf_key: str  # which taxonomy leaf of the recipe this kind of question belongs to
    facts: list[tuple[str, str, float]] = field(default_factory=list)  # (row, column, value) read from the table

    @property
    def key(self) -> str:
        return f"{self.template}|{self.program}"


def num(x: float) -> str:
    """A cell value as a program argument (no separators: FinQA's DSL reads ``1234.5``)."""
    s = f"{x:.10g}"
    return s if "e" not in s else f"{x:f}"


def _col(g: Grid, j: int) -> str:
    return g.columns.get(j) or f"column {j}"


def _plain(r: NumericRow) -> bool:
    return not any(c.percent for c in r.cells.values())


def _pair_of_columns(rng: random.Random, g: Grid, r: NumericRow, years_only: bool) -> tuple[int, int] | None:
    """(newer, older) column indices, by year when the header has years."""
    years = g.years()
    cols = [j for j in r.cells if (j in years or not years_only) and _col(g, j)]
    if len(cols) < 2:
        return None
    a, b = rng.sample(cols, 2)
    if years and a in years and b in years:
        if years[a] == years[b]:
            return None
        return (a, b) if years[a] > years[b] else (b, a)
    return (a, b) if not years_only else None


def t_difference(rng: random.Random, g: Grid, lang: str) -> Candidate | None:
    rows = [r for r in g.rows if len(r.cells) >= 2]
    if not rows:
        return None
    r = rng.choice(rows)
    pair = _pair_of_columns(rng, g, r, years_only=False)
    if not pair:
        return None
    a, b = pair
    va, vb = r.cells[a].value, r.cells[b].value
    unit = "amount" if _plain(r) else "points"
    ca, cb = _col(g, a), _col(g, b)
    if lang == "zh":
        q = f"{r.label}从{cb}到{ca}变化了多少？"
    else:
        q = f"What was the change in {r.label} from {cb} to {ca}?"
    return Candidate("difference", q, f"subtract({num(va)}, {num(vb)})", unit, lang, "calculation",
                     [(r.label, ca, va), (r.label, cb, vb)])


def t_growth(rng: random.Random, g: Grid, lang: str) -> Candidate | None:
    rows = [r for r in g.rows if _plain(r) and len(r.cells) >= 2]
    if not rows:
        return None
    r = rng.choice(rows)
    pair = _pair_of_columns(rng, g, r, years_only=True)
    if not pair:
        return None
    a, b = pair
    va, vb = r.cells[a].value, r.cells[b].value
    if vb == 0:
        return None
    ca, cb = _col(g, a), _col(g, b)
    q = (f"{r.label}从{cb}到{ca}的增长率是多少？" if lang == "zh"
         else f"What was the percentage change in {r.label} from {cb} to {ca}?")
    return Candidate("growth", q, f"subtract({num(va)}, {num(vb)}), divide(#0, {num(vb)})", "percent", lang,
                     "growth", [(r.label, ca, va), (r.label, cb, vb)])


def t_share(rng: random.Random, g: Grid, lang: str) -> Candidate | None:
    """One row as a percentage of another in the same column (totals are the natural denominators)."""
    plain = [r for r in g.rows if _plain(r)]
    if len(plain) < 2:
        return None
    totals = [r for r in plain if r.label.lower().startswith("total")]
    den = rng.choice(totals) if totals and rng.random() < 0.7 else rng.choice(plain)
    nums = [r for r in plain if r is not den and set(r.cells) & set(den.cells)]
    if not nums:
        return None
    r = rng.choice(nums)
    j = rng.choice(sorted(set(r.cells) & set(den.cells)))
    vn, vd = r.cells[j].value, den.cells[j].value
    if vd == 0:
        return None
    c = _col(g, j)
    when = f" in {c}" if c else ""
    q = (f"在{c}，{r.label}占{den.label}的百分比是多少？" if lang == "zh"
         else f"What was {r.label} as a percentage of {den.label}{when}?")
    return Candidate("share", q, f"divide({num(vn)}, {num(vd)})", "percent", lang, "ratio",
                     [(r.label, c, vn), (den.label, c, vd)])


def t_margin(rng: random.Random, g: Grid, lang: str) -> Candidate | None:
    rev = next((r for r in g.rows if REVENUE.match(r.label) and _plain(r)), None)
    if rev is None:
        return None
    found = [(k, r) for r in g.rows for k, pat in INCOME.items() if pat.match(r.label) and _plain(r)]
    if not found:
        return None
    kind, inc = rng.choice(found)
    cols = sorted(set(rev.cells) & set(inc.cells))
    if not cols:
        return None
    j = rng.choice(cols)
    vi, vr = inc.cells[j].value, rev.cells[j].value
    if vr == 0:
        return None
    c = _col(g, j)
    kind_zh = {"gross": "毛利率", "operating": "营业利润率", "net": "净利率"}[kind]
    q = (f"{c}的{kind_zh}（{inc.label} / {rev.label}）是多少？" if lang == "zh"
         else f"What was the {kind} margin ({inc.label} divided by {rev.label}) in {c}?")
    return Candidate("margin", q, f"divide({num(vi)}, {num(vr)})", "percent", lang, "ratio",
                     [(inc.label, c, vi), (rev.label, c, vr)])


def t_average(rng: random.Random, g: Grid, lang: str) -> Candidate | None:
    rows = [r for r in g.rows if len(r.cells) >= 2]
    if not rows:
        return None
    r = rng.choice(rows)
    cols = sorted(r.cells)
    vals = [r.cells[j].value for j in cols]
    prog = [f"add({num(vals[0])}, {num(vals[1])})"] + [f"add(#{i}, {num(v)})" for i, v in enumerate(vals[2:])]
    prog.append(f"divide(#{len(prog) - 1}, const_{len(vals)})")
    names = ", ".join(_col(g, j) for j in cols)
    q = (f"{r.label}在{names}的平均值是多少？" if lang == "zh"
         else f"What was the average {r.label} over {names}?")
    return Candidate("average", q, ", ".join(prog), "amount" if _plain(r) else "points", lang, "calculation",
                     [(r.label, _col(g, j), r.cells[j].value) for j in cols])


def t_cagr(rng: random.Random, g: Grid, lang: str) -> Candidate | None:
    years = g.years()
    rows = [r for r in g.rows if _plain(r) and sum(j in years for j in r.cells) >= 2]
    if not rows:
        return None
    r = rng.choice(rows)
    ys = sorted((years[j], j) for j in r.cells if j in years)
    (y0, j0), (y1, j1) = ys[0], ys[-1]
    n = y1 - y0
    v0, v1 = r.cells[j0].value, r.cells[j1].value
    if n < 2 or v0 <= 0 or v1 <= 0 or n > 50:
        return None
    q = (f"{r.label}从{y0}年到{y1}年的年复合增长率（CAGR）是多少？" if lang == "zh"
         else f"What was the compound annual growth rate (CAGR) of {r.label} from {y0} to {y1}?")
    prog = f"divide({num(v1)}, {num(v0)}), divide(const_1, const_{n}), exp(#0, #1), subtract(#2, const_1)"
    return Candidate("cagr", q, prog, "percent", lang, "growth",
                     [(r.label, _col(g, j1), v1), (r.label, _col(g, j0), v0)])


def t_sum(rng: random.Random, g: Grid, lang: str) -> Candidate | None:
    plain = [r for r in g.rows if _plain(r) and not r.label.lower().startswith("total")]
    if len(plain) < 2:
        return None
    a, b = rng.sample(plain, 2)
    common = sorted(set(a.cells) & set(b.cells))
    if not common:
        return None
    j = rng.choice(common)
    c = _col(g, j)
    q = (f"在{c}，{a.label}与{b.label}合计是多少？" if lang == "zh"
         else f"What was the combined total of {a.label} and {b.label} in {c}?")
    return Candidate("sum", q, f"add({num(a.cells[j].value)}, {num(b.cells[j].value)})", "amount", lang,
                     "calculation", [(a.label, c, a.cells[j].value), (b.label, c, b.cells[j].value)])


TEMPLATES: dict[str, Callable[[random.Random, Grid, str], Candidate | None]] = {
    "difference": t_difference, "growth": t_growth, "share": t_share, "margin": t_margin,
    "average": t_average, "cagr": t_cagr, "sum": t_sum,
}
