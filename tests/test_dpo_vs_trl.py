"""Our DPO against TRL's ``DPOTrainer`` (independent truth, a library that does the same job): the same pairs are
rendered to TRL's exact token ids and completion masks, and on one batch with a reference model that differs from
the policy our loss equals the loss TRL logs for its first step (sigmoid DPO and IPO). TRL is in the ``dev`` extra
(``make setup`` installs it); the comparison runs in a child process so that no torch.distributed state of another
test reaches TRL's Trainer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

BETA = 5.0  # large: two random-init models differ little, and the loss must be away from log 2 to mean anything
# cDPO (label smoothing) is not compared: TRL 1.16's "sigmoid" ignores label_smoothing (its smoothed losses are
# "robust" and "exo_pair", other formulas); ours is checked against the cDPO formula in tests/test_dpo.py
CASES = [{"loss_type": "sigmoid", "label_smoothing": 0.0}, {"loss_type": "ipo", "label_smoothing": 0.0}]


def compare(work: str) -> dict:
    """Run in the child: tokens compared for every pair, then our loss vs TRL's first-step loss per case."""
    import random

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from training.dpo_loss import dpo_loss, sequence_logps
    from training.pref_data import collate_pairs, encode_pair
    from training.tiny import build_tiny_model, train_tokenizer

    rng = random.Random(0)
    recs = []
    for i in range(12):
        a, b = rng.randrange(10, 999), rng.randrange(10, 999)
        recs.append({"id": f"p{i}", "prompt": [{"role": "user", "content": f"What is {a} plus {b}?"}],
                     "chosen": [{"role": "assistant", "content": f"The answer is {a + b}."}],
                     "rejected": [{"role": "assistant", "content": "Hard to say." if i % 2 else f"It is {a - b}."}]})
    w = Path(work)
    tok_dir = train_tokenizer([json.dumps(r) for r in recs] * 5, w / "tok", vocab_size=400)
    policy_dir, ref_dir = build_tiny_model(tok_dir, w / "policy", seed=0), build_tiny_model(tok_dir, w / "ref", seed=1)
    tok = AutoTokenizer.from_pretrained(str(policy_dir))
    ds = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in recs])
    out: dict = {"cases": []}
    pairs = [encode_pair(tok, r, 256) for r in recs]
    for case in CASES:
        torch.manual_seed(0)
        policy = AutoModelForCausalLM.from_pretrained(str(policy_dir))
        ref = AutoModelForCausalLM.from_pretrained(str(ref_dir))
        cfg = DPOConfig(output_dir=str(w / "trl"), use_cpu=True, per_device_train_batch_size=len(recs), max_steps=1,
                        logging_steps=1, save_strategy="no", report_to="none", learning_rate=1e-6, beta=BETA,
                        loss_type=case["loss_type"], label_smoothing=case["label_smoothing"], bf16=False,
                        disable_tqdm=True)
        tr = DPOTrainer(model=policy, ref_model=ref, args=cfg, train_dataset=ds, processing_class=tok)
        if not out.get("tokens"):
            rows = tr.train_dataset
            out["tokens"] = [all(getattr(p, s).tolist() == row["prompt_ids"] + row[f"{s}_ids"] and
                                 getattr(p, f"{s}_mask").tolist() == [0] * len(row["prompt_ids"]) + [1] * len(row[f"{s}_ids"])
                                 for s in ("chosen", "rejected")) for p, row in zip(pairs, rows, strict=True)]
        tr.train()
        trl_loss = next(h["loss"] for h in tr.state.log_history if "loss" in h)
        b = collate_pairs(pairs, tok.pad_token_id)
        with torch.no_grad():
            lp = {}
            for name, d in (("policy", policy_dir), ("ref", ref_dir)):  # fresh copies: TRL patched its own
                m = AutoModelForCausalLM.from_pretrained(str(d))
                s, n = sequence_logps(m(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits,
                                      b["input_ids"], b["loss_mask"])
                lp[name] = s / n if case["loss_type"] == "ipo" else s  # IPO on per-token means
        k = len(pairs)
        loss, _, _ = dpo_loss(lp["policy"][:k], lp["policy"][k:], lp["ref"][:k], lp["ref"][k:], BETA,
                              case["loss_type"], case["label_smoothing"])
        out["cases"].append({**case, "ours": float(loss.mean()), "trl": float(trl_loss)})
    return out


def test_our_dpo_matches_trl(tmp_path, in_child):
    pytest.importorskip("trl", reason="trl is not installed (pip install -e '.[dev]', as make setup does)")
    got = in_child("test_dpo_vs_trl", "compare", str(tmp_path))
    assert got["tokens"] == [True] * 12  # every pair: TRL's prompt+completion ids and completion mask, exactly
    for c in got["cases"]:
        # the reference differs from the policy: not the value both give when they are equal (log 2; IPO 1/(4β²))
        trivial = math.log(2) if c["loss_type"] == "sigmoid" else 1 / (4 * BETA ** 2)
        assert abs(c["ours"] - trivial) > 1e-4, c
        assert c["ours"] == pytest.approx(c["trl"], rel=1e-5), c
