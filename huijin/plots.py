"""The notebooks' charts, each built to answer one question at a glance (labels, legends, units, no hidden zero).

- ``drop_funnel``: how many documents survive each step, as a count and a % of the raw input, every step shown
  (a step that dropped nothing too), and which reasons the drops had (one colour per step, with a legend);
- ``training_curves``: one panel per stage (stages do not share a step axis): loss or reward with its spread,
  validation values (per-step when logged, the end-of-stage value as a marker), and lr / grad-norm below;
- ``stage_accuracy``: the suite accuracy after each stage with a 95% Wilson interval and the count written on
  each point, so a zero reads as a zero, not as an empty chart;
- ``cluster_sizes``: duplicate clusters as horizontal bars labelled by their representative's text.

Plain matplotlib (a dev dependency, imported here only): the functions take plain numbers, so they are tested
without a demo store (``tests/test_newcomer_plots.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any


def _plt():
    import matplotlib.pyplot as plt

    return plt


def funnel_steps(inputs: int, steps: Sequence[str], drops: Mapping[str, int],
                 quarantined: Mapping[str, int] | None = None) -> list[tuple[str, int]]:
    """``[(label, documents remaining)]`` after each recipe step, zero-drop steps included; ``drops`` keyed
    ``step:reason``; quarantined records leave first (they never reach a step)."""
    left = inputs - sum((quarantined or {}).values())
    out = [("quarantined", left)] if quarantined and sum(quarantined.values()) else []
    per_step: dict[str, int] = {}
    for key, n in drops.items():
        per_step[key.split(":", 1)[0]] = per_step.get(key.split(":", 1)[0], 0) + n
    for s in [*steps, *[s for s in per_step if s not in steps]]:
        left -= per_step.get(s, 0)
        out.append((s, left))
    return out


def drop_funnel(versions: Sequence[Mapping[str, Any]], raw_label: str = "raw input"):
    """``versions``: dicts with ``ref``, ``inputs``, ``rows``, ``steps`` (recipe order), ``drops``
    (``step:reason`` → n) and ``quarantined``, in chain order (each one's input is the previous one's output).
    Left: documents remaining after every step with the % of the raw input; right: drops by reason."""
    plt = _plt()
    raw = versions[0]["inputs"]
    rows: list[tuple[str, int]] = [(raw_label, raw)]
    for v in versions:
        for step, left in funnel_steps(v["inputs"], v["steps"], v["drops"], v.get("quarantined")):
            rows.append((f"{v['ref']} · {step}", left))
        assert rows[-1][1] == v["rows"], (v["ref"], rows[-1][1], v["rows"])
    reasons = [(v["ref"], k, n) for v in versions for k, n in sorted(v["drops"].items(), key=lambda kv: -kv[1])]
    step_names = sorted({k.split(":", 1)[0] for _, k, _ in reasons})
    colour = {s: plt.cm.tab10(i % 10) for i, s in enumerate(step_names)}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 0.38 * max(len(rows), len(reasons)) + 1.8))
    labels, counts = zip(*rows, strict=True)
    prev = [raw, *counts[:-1]]
    bar_colours = ["tab:blue" if c == p else "tab:orange" for c, p in zip(counts, prev, strict=True)]
    ax1.barh(range(len(counts)), counts, color=bar_colours)
    ax1.set_yticks(range(len(counts)), labels, fontsize=8)
    ax1.invert_yaxis()
    for i, c in enumerate(counts):
        ax1.text(c, i, f" {c} ({100 * c / raw:.0f}%)" if raw else f" {c}", va="center", fontsize=8)
    ax1.set_xlim(0, raw * 1.25 or 1)
    ax1.set_xlabel("documents remaining (% of the raw input)")
    ax1.set_title("drop funnel: documents after each step")
    from matplotlib.patches import Patch

    ax1.legend(handles=[Patch(color="tab:orange", label="step dropped documents"),
                        Patch(color="tab:blue", label="step dropped nothing")], loc="upper center",
               bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8)  # below the axis: never over a bar label
    if reasons:
        ax2.barh(range(len(reasons)), [n for _, _, n in reasons],
                 color=[colour[k.split(":", 1)[0]] for _, k, _ in reasons])
        ax2.set_yticks(range(len(reasons)), [f"{k.split(':', 1)[1]} ({ref})" for ref, k, _ in reasons], fontsize=8)
        ax2.invert_yaxis()
        for i, (_, _, n) in enumerate(reasons):
            ax2.text(n, i, f" {n}", va="center", fontsize=8)
        ax2.legend(handles=[Patch(color=colour[s], label=s) for s in step_names], title="step", fontsize=8,
                   loc="lower right")
    ax2.set_xlabel("documents dropped")
    ax2.set_title("drops by reason (colour: the step)")
    fig.tight_layout()
    return fig


def training_curves(history: Mapping[str, Sequence[Mapping[str, Any]]],
                    final: Mapping[str, Mapping[str, Any]] | None = None):
    """One column per stage. Top: training loss (LM stages) or mean group reward ± sd (RL stages), with the
    validation loss / reward (per-step ``val_loss``/``val_reward`` when logged, the end-of-stage value from
    ``final[stage]`` as a marker). Bottom: learning rate and gradient norm (twin axes)."""
    plt = _plt()
    stages = [s for s, h in history.items() if h]
    fig, axes = plt.subplots(2, len(stages), figsize=(3.6 * len(stages) + 1, 6), squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1]})
    for j, s in enumerate(stages):
        h, top, bottom = history[s], axes[0][j], axes[1][j]
        steps = [x["step"] for x in h]
        rl = "reward_mean" in h[0]
        key, vkey, fkey = ("reward_mean", "val_reward", "val_reward") if rl else ("loss", "val_loss", "val_loss")
        y = [x.get(key) for x in h]
        top.plot(steps, y, "o-", ms=3, color="tab:green" if rl else "tab:blue", label="train reward" if rl else "train loss")
        if rl:
            sd = [x.get("reward_std") or 0.0 for x in h]
            top.fill_between(steps, [a - b for a, b in zip(y, sd, strict=True)],
                             [a + b for a, b in zip(y, sd, strict=True)], alpha=0.2, color="tab:green",
                             label="± sd within groups")
            top.set_ylim(-0.05, 1.05)
        vals = [(x["step"], x[vkey]) for x in h if x.get(vkey) is not None]
        if vals:
            top.plot(*zip(*vals, strict=True), "s--", color="tab:red", label=f"validation ({vkey})")
        end = (final or {}).get(s, {}).get(fkey)
        if end is not None:
            top.plot([steps[-1]], [end], "D", color="tab:red", ms=7, label=f"validation at end: {end:.3g}")
        top.set_title(f"{s} ({len(h)} steps)")
        top.set_xlabel("step")
        top.set_ylabel("reward" if rl else "loss")
        top.legend(fontsize=7)
        bottom.plot(steps, [x.get("lr") for x in h], color="tab:purple", label="lr")
        bottom.set_ylabel("lr", color="tab:purple")
        bottom.set_xlabel("step")
        g = bottom.twinx()
        g.plot(steps, [x.get("grad_norm") for x in h], color="tab:gray", ls=":", label="grad norm")
        g.set_ylabel("grad norm", color="tab:gray")
        bottom.legend(handles=[*bottom.get_lines(), *g.get_lines()], fontsize=7, loc="upper right")
    fig.suptitle("per-stage training curves (each stage has its own step axis)")
    fig.tight_layout()
    return fig


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of k successes in n (scipy's ``binomtest``)."""
    if not n:
        return (0.0, 1.0)
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def stage_accuracy(points: Sequence[tuple[str, float, int]], title: str):
    """``points``: ``(stage, accuracy, n)`` in stage order → accuracy with 95% Wilson intervals, each point
    labelled ``k/n``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.4 * len(points) + 2.5, 3.6))
    for i, (_, acc, n) in enumerate(points):
        k = round(acc * n)
        lo, hi = wilson(k, n)
        ax.errorbar([i], [acc], yerr=[[acc - lo], [hi - acc]], fmt="o", capsize=5, color="tab:orange")
        ax.annotate(f"{acc:.2f}\n({k}/{n})", (i, acc), textcoords="offset points", xytext=(8, 0), fontsize=8,
                    va="center")
    ax.set_xticks(range(len(points)), [p[0] for p in points], rotation=30, ha="right")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlim(-0.5, len(points) - 0.2)
    ax.set_ylabel("accuracy (95% Wilson interval)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+")


def _renderable(text: str) -> str:
    """Matplotlib's default font has no CJK glyphs (boxes, not text): a CJK run becomes ``[zh]``."""
    return _CJK.sub("[zh]", text)


def cluster_sizes(clusters: Sequence[tuple[str, int]], removed: int, top: int = 15):
    """``clusters``: ``(label, size)`` of clusters with duplicates → horizontal bars (labels never overlap)."""
    plt = _plt()
    shown = sorted(clusters, key=lambda c: -c[1])[:top]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(shown) + 1.5))
    ax.barh(range(len(shown)), [c[1] for c in shown], color="tab:purple")
    ax.set_yticks(range(len(shown)), [_renderable(c[0])[:60] for c in shown], fontsize=8)
    ax.invert_yaxis()
    for i, (_, n) in enumerate(shown):
        ax.text(n, i, f" {n}", va="center", fontsize=8)
    ax.set_xlabel("documents in the cluster (1 kept, the rest removed)")
    more = f", the {top} largest shown" if len(clusters) > top else ""
    ax.set_title(f"duplicate clusters: {len(clusters)} clusters, {removed} documents removed{more}")
    fig.tight_layout()
    return fig
