"""Charts drawn on the server as inline SVG: categorical bars (funnel, language and taxonomy distributions),
values with confidence intervals (stage metrics), the lineage graph and heat-map colours.

Line charts over steps (loss, reward, lr) are drawn in the browser by uPlot (vendored in ``static/``). These
categorical charts are a few rectangles each; a graph-layout or charting library for them would be a larger
dependency than the code below (hand-written for that reason), and SVG renders with JavaScript off.
"""

from __future__ import annotations

from html import escape
from typing import Any

PALETTE = {"in": "#4c78a8", "drop": "#e45756", "quarantine": "#f58518", "kept": "#54a24b", "bar": "#4c78a8"}
NODE_COLORS = {"doc": "#dbe9f6", "sft": "#e5f5e0", "rl": "#fde0c5", "pref": "#f2e0f7", "tokens": "#eeeeee",
               "artifact": "#f0f0d8", "snapshot": "#fff3b0", "run": "#ffd6d6", "checkpoint": "#d6f0ff",
               "model": "#e8e8ff"}


def hbars(items: list[tuple[str, float]], kinds: list[str] | None = None, width: int = 640, bar_h: int = 18,
          label_w: int = 260, css_class: str = "chart") -> str:
    """Horizontal bars, one per (label, value), the value printed at the bar's end."""
    if not items:
        return ""
    top = max((v for _, v in items), default=0) or 1
    plot_w = width - label_w - 70
    h = len(items) * (bar_h + 6) + 6
    parts = [f'<svg class="{css_class}" width="{width}" height="{h}" viewBox="0 0 {width} {h}" role="img">']
    for i, (label, v) in enumerate(items):
        y = 6 + i * (bar_h + 6)
        w = max(1.0, plot_w * v / top) if v else 0
        color = PALETTE.get((kinds or [])[i] if kinds else "bar", PALETTE["bar"])
        short = label if len(label) <= 40 else "…" + label[-39:]
        parts.append(
            f'<g class="bar" data-label="{escape(label)}" data-value="{_fmt(v)}">'
            f'<title>{escape(label)}: {_fmt(v)}</title>'
            f'<text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 5}">{_fmt(v)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def ci_chart(stages: list[str], cells: dict[str, dict[str, Any]], width: int = 300, height: int = 180) -> str:
    """One metric across stages: a point per stage with its confidence-interval whisker."""
    pts = [(s, cells[s]) for s in stages if s in cells and cells[s].get("value") is not None]
    if not pts:
        return ""
    lo = min(min(c["value"], *(c.get("ci") or [c["value"]])) for _, c in pts)
    hi = max(max(c["value"], *(c.get("ci") or [c["value"]])) for _, c in pts)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad_l, pad_b, pad_t = 44, 48, 10
    pw, ph = width - pad_l - 10, height - pad_b - pad_t

    def y(v: float) -> float:
        return pad_t + ph * (1 - (v - lo) / (hi - lo))

    step = pw / max(1, len(pts))
    parts = [f'<svg class="ci-chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
             f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + ph}" stroke="#999"/>',
             f'<text x="{pad_l - 4}" y="{pad_t + 8}" text-anchor="end" class="tick">{hi:.3g}</text>',
             f'<text x="{pad_l - 4}" y="{pad_t + ph}" text-anchor="end" class="tick">{lo:.3g}</text>']
    prev = None
    for i, (s, c) in enumerate(pts):
        x = pad_l + step * (i + 0.5)
        v = c["value"]
        ci = c.get("ci") or [v, v]
        if prev:
            parts.append(f'<line x1="{prev[0]:.1f}" y1="{prev[1]:.1f}" x2="{x:.1f}" y2="{y(v):.1f}" stroke="#4c78a8"/>')
        parts.append(f'<g class="ci-point" data-stage="{escape(s)}" data-value="{v:.6g}" '
                     f'data-ci="{ci[0]:.6g},{ci[1]:.6g}"><title>{escape(s)}: {v:.4g} [{ci[0]:.4g}, {ci[1]:.4g}]'
                     f'</title><line x1="{x:.1f}" y1="{y(ci[0]):.1f}" x2="{x:.1f}" y2="{y(ci[1]):.1f}" stroke="#333"/>'
                     f'<line x1="{x - 4:.1f}" y1="{y(ci[0]):.1f}" x2="{x + 4:.1f}" y2="{y(ci[0]):.1f}" stroke="#333"/>'
                     f'<line x1="{x - 4:.1f}" y1="{y(ci[1]):.1f}" x2="{x + 4:.1f}" y2="{y(ci[1]):.1f}" stroke="#333"/>'
                     f'<circle cx="{x:.1f}" cy="{y(v):.1f}" r="3.5" fill="#4c78a8"/></g>'
                     f'<text x="{x:.1f}" y="{pad_t + ph + 14}" text-anchor="end" class="tick" '
                     f'transform="rotate(-30 {x:.1f} {pad_t + ph + 14})">{escape(s)}</text>')
        prev = (x, y(v))
    parts.append("</svg>")
    return "".join(parts)


def layers(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering of a DAG: a node sits one column right of its furthest parent."""
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        parents[b].append(a)
    depth: dict[str, int] = {}

    def d(n: str, seen: frozenset = frozenset()) -> int:
        if n not in depth:
            if n in seen:  # not a DAG (should not happen): cut the cycle here
                return 0
            depth[n] = 1 + max((d(p, seen | {n}) for p in parents[n]), default=-1)
        return depth[n]

    for n in nodes:
        d(n)
    return depth


def lineage_svg(graph: dict[str, Any], focus: str | None = None, col_w: int = 230, row_h: int = 46) -> str:
    """The lineage DAG, raw imports on the left and checkpoints on the right; every node links to its page."""
    nodes, edges = graph["nodes"], graph["edges"]
    if not nodes:
        return ""
    depth = layers(list(nodes), edges)
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        parents[b].append(a)
    cols: dict[int, list[str]] = {}
    for n in sorted(nodes, key=lambda n: (depth[n], n)):
        cols.setdefault(depth[n], []).append(n)
    pos: dict[str, tuple[float, float]] = {}
    for c in sorted(cols):  # order a column by its parents' mean row (fewer crossings), then by name
        if c:
            cols[c].sort(key=lambda n: (sum(pos[p][1] for p in parents[n]) / len(parents[n]) if parents[n] else 0, n))
        for i, n in enumerate(cols[c]):
            pos[n] = (10 + c * col_w, 10 + i * row_h)
    related = _related(focus, edges) if focus else set()
    w = 10 + (max(cols) + 1) * col_w
    h = 20 + max(len(v) for v in cols.values()) * row_h
    bw, bh = col_w - 40, row_h - 10
    out = [f'<svg id="lineage" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#888"/></marker></defs>']
    for a, b in edges:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        x1, y1, x2, y2 = x1 + bw, y1 + bh / 2, x2, y2 + bh / 2
        mx = (x1 + x2) / 2
        hot = " hot" if focus and a in related and b in related else ""
        out.append(f'<path class="edge{hot}" data-from="{escape(a)}" data-to="{escape(b)}" '
                   f'd="M{x1:.0f},{y1:.0f} C{mx:.0f},{y1:.0f} {mx:.0f},{y2:.0f} {x2:.0f},{y2:.0f}" '
                   f'marker-end="url(#arrow)"/>')
    for n, info in nodes.items():
        x, y = pos[n]
        cls = "node" + (" focus" if n == focus else " related" if n in related else "")
        label = info["label"] if len(info["label"]) <= 26 else info["label"][:25] + "…"
        box = (f'<rect x="{x}" y="{y}" width="{bw}" height="{bh}" rx="6" fill="{NODE_COLORS.get(info["kind"], "#fff")}"/>'
               f'<text x="{x + 8}" y="{y + 15}" class="nlabel">{escape(label)}</text>'
               f'<text x="{x + 8}" y="{y + 29}" class="nsub">{escape(info["sub"])}</text>')
        title = f'<title>{escape(info["label"])} ({escape(info["sub"])})</title>'
        if info.get("href"):
            out.append(f'<a class="{cls}" data-node="{escape(n)}" href="{escape(info["href"])}">{title}{box}</a>')
        else:
            out.append(f'<g class="{cls}" data-node="{escape(n)}">{title}{box}</g>')
    out.append("</svg>")
    return "".join(out)


def _related(focus: str, edges: list[tuple[str, str]]) -> set[str]:
    """The focus node, its ancestors and its descendants."""
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for a, b in edges:
        up.setdefault(b, []).append(a)
        down.setdefault(a, []).append(b)
    seen = {focus}
    for adj in (up, down):
        stack = [focus]
        while stack:
            for m in adj.get(stack.pop(), []):
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
    return seen


def heat(n: int, top: int) -> str:
    """White → blue by share of the maximum (a zero cell stays white)."""
    if not n or not top:
        return "#ffffff"
    t = 0.15 + 0.85 * n / top
    r, g, b = (int(255 + (c - 255) * t) for c in (49, 130, 189))
    return f"#{r:02x}{g:02x}{b:02x}"


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"
