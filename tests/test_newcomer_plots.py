"""Issue 18 item 7: the notebooks' charts answer their question at a glance — checked on the figures' content
(texts, labels, legends, panels), built from plain numbers (no demo store needed)."""

from __future__ import annotations

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from huijin import plots  # noqa: E402

WEB = {"ref": "web@1", "inputs": 100, "rows": 70, "steps": ["extract", "langid", "pii", "dedup"],
       "drops": {"extract:no_text": 10, "dedup:exact_duplicate": 12, "dedup:near_duplicate": 6},
       "quarantined": {"bad_warc": 2}}
FIN = {"ref": "fin@1", "inputs": 70, "rows": 60, "steps": ["finance_domain", "decontaminate"],
       "drops": {"finance_domain:below_threshold": 10}, "quarantined": {}}


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_the_funnel_shows_every_step_with_percent_retained_and_a_legend():
    steps = plots.funnel_steps(100, WEB["steps"], WEB["drops"], WEB["quarantined"])
    assert steps == [("quarantined", 98), ("extract", 88), ("langid", 88), ("pii", 88), ("dedup", 70)]
    fig = plots.drop_funnel([WEB, FIN])
    ax1, ax2 = fig.axes
    labels = [t.get_text() for t in ax1.get_yticklabels()]
    assert "web@1 · langid" in labels and "fin@1 · decontaminate" in labels  # steps that dropped nothing too
    assert " 100 (100%)" in _texts(ax1) and " 60 (60%)" in _texts(ax1) and " 88 (88%)" in _texts(ax1)
    assert ax1.get_legend() is not None and "%" in ax1.get_xlabel()
    assert {t.get_text() for t in ax2.get_legend().get_texts()} == {"dedup", "extract", "finance_domain"}
    assert "exact_duplicate (web@1)" in [t.get_text() for t in ax2.get_yticklabels()]


def test_training_curves_have_a_panel_per_stage_with_validation_lr_and_gnorm():
    lm = [{"step": i, "loss": 5 - i / 10, "lr": 1e-3, "grad_norm": 1.0} for i in range(1, 6)]
    lm[2]["val_loss"] = 4.9
    rl = [{"step": i, "reward_mean": 0.1 * i, "reward_std": 0.05, "lr": 1e-4, "grad_norm": 0.5} for i in range(1, 4)]
    fig = plots.training_curves({"cpt": lm, "sft": lm[:3], "reasoning_rl": rl},
                                {"cpt": {"val_loss": 4.7}, "reasoning_rl": {"val_reward": 0.25}})
    tops = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in tops] == ["cpt (5 steps)", "sft (3 steps)", "reasoning_rl (3 steps)"]
    cpt_legend = [t.get_text() for t in tops[0].get_legend().get_texts()]
    assert cpt_legend == ["train loss", "validation (val_loss)", "validation at end: 4.7"]
    assert tops[0].get_xlim() != tops[1].get_xlim()  # no shared step axis
    assert "validation at end: 0.25" in [t.get_text() for t in tops[2].get_legend().get_texts()]
    assert sum(ax.get_ylabel() == "lr" for ax in fig.axes) == 3 and sum(ax.get_ylabel() == "grad norm"
                                                                       for ax in fig.axes) == 3


def test_stage_accuracy_shows_zeros_and_intervals():
    fig = plots.stage_accuracy([("base", 0.0, 8), ("sft", 0.5, 8)], "suite demo")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["0.00\n(0/8)", "0.50\n(4/8)"]
    lo, hi = plots.wilson(0, 8)
    assert lo == 0.0 and 0.3 < hi < 0.35  # a zero out of 8 is not a certain zero
    assert "Wilson" in ax.get_ylabel()


def test_cluster_labels_are_bars_not_overlapping_ticks():
    fig = plots.cluster_sizes([(f"cluster {i}: Revenue rose {i}% in fiscal 2019", 2 + i % 3) for i in range(20)],
                              removed=25, top=15)
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == 15 and "the 15 largest shown" in ax.get_title()
