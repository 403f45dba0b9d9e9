"""`metrics_every`: a stage scores its held-out stage metrics during training, so the run shows the curve of its
own metric, not only the end point. The curve's last point must equal the end-of-stage evaluation, which loads
the exported model from disk in another code path (the independent check); scoring mid-run must leave the model
as it was (train mode, cache setting) and the torch RNG untouched (RL samples from it right after; today's greedy
scoring draws nothing, the RNG fork guards a sampling metric added later)."""

from __future__ import annotations

import json
import random

import pytest


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from catalogs import Store
    from synthesis.generators.records import provenance, rl_record
    from training.demo_data import build_inputs, filing_text

    s = Store.open(tmp_path_factory.mktemp("curves") / "store")
    build_inputs(s, n_docs=60, n_conv=24, snapshot="plain")
    rng = random.Random(3)
    with s.writer("fin-heldout", kind="doc") as w:
        w.write([{"id": f"h{i}", "text": filing_text(rng), "source": "demo"} for i in range(4)])
    with s.writer("sums-heldout", kind="rl") as w:
        w.write([rl_record([{"role": "user", "content": f"What is {a} plus 1? Answer in \\boxed{{}}."}],
                           {"spec_version": 1, "type": "numeric", "answer": a + 1}, "general_retention/reasoning/math",
                           "en", provenance("test", "t")) for a in range(5)])
    return s


METRICS = {"bpb_fin": {"kind": "bpb", "version": "fin-heldout@1"},
           "sums": {"kind": "reward", "version": "sums-heldout@1", "max_new_tokens": 6}}


def test_the_stage_scores_its_metrics_during_training(store, tmp_path):
    from training.engine import restored_dist_env
    from training.launch import run_stages

    cfg = {"max_steps": 3, "save_every": 3, "threads": 1, "seq_len": 128, "register_artifact": False,
           "stage_metrics": METRICS, "metrics_every": 2}
    with restored_dist_env():
        (rec,) = run_stages(store, "plain", ["cpt"], model="tiny", output=tmp_path / "out", config=cfg)
    lines = [json.loads(x) for x in (tmp_path / "out" / "cpt" / "metrics.jsonl").read_text().splitlines()]
    scored = {h["step"]: h["stage_metrics"] for h in lines if "stage_metrics" in h}
    assert sorted(scored) == [2, 3]  # every 2 steps, and the last step
    curve = rec["metrics"]["stage_metrics_curve"]
    assert [p[0] for p in curve["bpb_fin"]] == [2, 3] and [p[0] for p in curve["sums"]] == [2, 3]
    for step, value, lo, hi, n in curve["bpb_fin"]:
        assert lo <= value <= hi and n == 4 and value == scored[step]["bpb_fin"]["value"]
    assert curve["bpb_fin"][0][1] != curve["bpb_fin"][1][1]  # training moved the model between the two points
    assert curve["sums"][-1][4] == 5
    # the end point of the curve (the live model) == the end-of-stage evaluation of the exported model on disk
    final = rec["metrics"]["stage_metrics"]
    assert curve["bpb_fin"][-1][1] == pytest.approx(final["bpb_fin"]["value"], rel=1e-5)
    assert curve["sums"][-1][1] == pytest.approx(final["sums"]["value"])


def test_scoring_mid_run_leaves_the_model_and_the_rng_as_they_were(store):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.evaluation.stage_metrics import evaluate_live
    from training.tiny import build_tiny_model, train_tokenizer

    d = store.root.parent / "tiny"
    tok_path = train_tokenizer([f"What is {a} plus 1? {a + 1}" for a in range(200)], d / "tok", vocab_size=300)
    path = build_tiny_model(tok_path, d / "model", seed=0)
    model, tok = AutoModelForCausalLM.from_pretrained(str(path)), AutoTokenizer.from_pretrained(str(path))
    model.train()
    model.config.use_cache = False
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    scores = evaluate_live(model, tok, store, METRICS)
    assert torch.equal(torch.rand(3), expected)  # the evaluation drew nothing from the training RNG
    assert model.training and model.config.use_cache is False
    assert scores["sums"]["n"] == 5 and scores["bpb_fin"]["value"] > 0


def test_metrics_every_is_refused_where_it_cannot_work():
    from training.runner import metric_interval

    assert metric_interval({}) == 0 and metric_interval({"metrics_every": 5, "stage_metrics": METRICS}) == 5
    with pytest.raises(ValueError, match="needs stage_metrics"):
        metric_interval({"metrics_every": 5})
    with pytest.raises(ValueError, match="zero_stage 3"):
        metric_interval({"metrics_every": 5, "stage_metrics": METRICS, "zero_stage": 3})
    with pytest.raises(ValueError, match=">= 0"):
        metric_interval({"metrics_every": -1, "stage_metrics": METRICS})
